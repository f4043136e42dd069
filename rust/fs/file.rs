//! One open file, read through ONE descriptor: its state, bounded positioned
//! reads, and the proof that it did not change while it was read.
//!
//! Files are opened non-blocking so a FIFO swapped in after the walk looked
//! at the path cannot hang the reader, and anything that is not a regular
//! file is refused before a byte is read. No mmap: a file truncated under a
//! mapping would kill the process with SIGBUS.
//!
//! Architecture Invariant: no bundle knowledge here (trailer, manifest and
//! digests are read by `bundle/read.rs` and `verify`, through these
//! primitives); a descriptor opened after a walk's stat is trusted only once
//! [`OpenFile::ensure_unchanged`] or [`OpenFile::ensure_state`] says it has
//! that very file in that very state.

use std::ffi::CStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::error::{ErrorKind, Op, Result, Stage};
use crate::fs::trusted_path::{self, ReopenError};

/// Largest region read into memory whole ([`OpenFile::read_region`]); larger
/// ones are streamed ([`OpenFile::copy_range`]).
pub(crate) const MAX_IN_MEMORY: u64 = 1 << 30;

/// Bytes read and written per piece by [`OpenFile::copy_range`].
pub(crate) const COPY_CHUNK: u64 = 1 << 20;

/// The `fstat` fields that identify one state of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileState {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
    /// `st_size`.
    pub size: u64,
    /// `st_mtime` in nanoseconds.
    pub mtime_ns: i128,
    /// `st_ctime` in nanoseconds.
    pub ctime_ns: i128,
    /// `st_mode` (type and permission bits).
    pub mode: u32,
}

impl FileState {
    /// The file's identity, whatever its state: `(st_dev, st_ino)`.
    pub(crate) fn identity(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }

    /// The state a `stat` call reported.
    pub(crate) fn of_stat(st: &rustix::fs::Stat) -> Self {
        FileState {
            mode: st.st_mode,
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            mtime_ns: i128::from(st.st_mtime) * 1_000_000_000 + i128::from(st.st_mtime_nsec),
            ctime_ns: i128::from(st.st_ctime) * 1_000_000_000 + i128::from(st.st_ctime_nsec),
        }
    }

    fn of(meta: &Metadata) -> Self {
        FileState {
            mode: meta.mode(),
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            ctime_ns: i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
        }
    }
}

/// The last bytes of a file, as [`OpenFile::read_tail`] read them.
#[derive(Debug)]
pub(crate) struct Tail {
    /// Offset of `bytes[0]` in the file.
    start: u64,
    bytes: Vec<u8>,
}

impl Tail {
    /// The whole tail.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Bytes `[offset, offset + len)` of the file, if the tail holds all of them.
    pub(crate) fn region(&self, offset: u64, len: u64) -> Option<&[u8]> {
        let from = usize::try_from(offset.checked_sub(self.start)?).ok()?;
        let to = from.checked_add(usize::try_from(len).ok()?)?;
        self.bytes.get(from..to)
    }
}

/// An open file: its descriptor and the `fstat` of that descriptor.
#[derive(Debug)]
pub struct OpenFile {
    file: File,
    state: FileState,
}

impl OpenFile {
    /// Open `path` read-only, and require a regular file.
    ///
    /// Symlinks are followed (a link to a bundle is legitimate), but nothing
    /// that is not a regular file is ever opened for reading: the name is
    /// first opened `O_PATH` (which never runs a device's or FIFO's open),
    /// that descriptor's `fstat` must say "regular file", and only then is
    /// that same inode re-opened for reading through `/proc/self/fd`. So a
    /// FIFO or device swapped in by symlink is neither blocked on nor woken.
    /// Without `/proc`, the name is opened non-blocking and `O_NOCTTY`, and
    /// the descriptor must be the same regular file the `O_PATH` one was.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_regular(rustix::fs::CWD, path, path)
    }

    /// Open `name` relative to the directory `dir` (a walk's candidate);
    /// `path` is only used in errors.
    ///
    /// The name is opened `O_NOFOLLOW`, non-blocking and `O_NOCTTY` (two
    /// system calls with the `fstat`, as cheap as a plain open). If it has
    /// become a symlink, which could lead to any FIFO or device, it is opened
    /// as [`OpenFile::open`] does instead, so that nothing but a regular file
    /// is ever opened through a link. What `O_NOFOLLOW` can still open is an
    /// entry of the walked directory itself: a FIFO put there by someone who
    /// can write that directory (opened non-blocking, never read or waited
    /// on, and refused by its `fstat`) or a device node (only root can make one).
    pub(crate) fn open_at(dir: BorrowedFd<'_>, name: &CStr, path: &Path) -> Result<Self> {
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => Self::from_file(File::from(fd), path),
            Err(rustix::io::Errno::LOOP) => Self::open_regular(dir, name, path),
            Err(e) => Err(ErrorKind::io(Op::Open, e.into()).at(path)),
        }
    }

    fn open_regular<D: std::os::fd::AsFd, P: rustix::path::Arg + Copy>(
        dir: D,
        name: P,
        path: &Path,
    ) -> Result<Self> {
        let dir = dir.as_fd();
        let located = rustix::fs::openat(dir, name, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| ErrorKind::io(Op::Open, e.into()).at(path))?;
        let st =
            rustix::fs::fstat(&located).map_err(|e| ErrorKind::io(Op::Stat, e.into()).at(path))?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(ErrorKind::NotABundle("not a regular file".into()).at(path));
        }
        let fd = trusted_path::reopen_regular(&located, &st, dir, name, OFlags::empty()).map_err(
            |e| match e {
                ReopenError::Open(e) => ErrorKind::io(Op::Open, e.into()).at(path),
                ReopenError::Stat(e) => ErrorKind::io(Op::Stat, e.into()).at(path),
                ReopenError::Replaced => {
                    ErrorKind::changed(Stage::Open, "the file was replaced while it was opened")
                        .at(path)
                }
            },
        )?;
        Self::from_file(File::from(fd), path)
    }

    /// Open `name` relative to `dir` for a regular file whose `fstatat`
    /// (`stat`) the caller already has: no second stat. The state is the
    /// stat's; [`OpenFile::ensure_unchanged`] (an `fstat` of the descriptor)
    /// later proves the descriptor has that same file, unchanged, before
    /// anything read through it is trusted, and a tail read notices a file
    /// that is no longer a regular one ([`OpenFile::read_tail`]).
    ///
    /// As in [`OpenFile::open_at`], the name is opened `O_NOFOLLOW`; a name
    /// that is a symlink (to a bundle, legitimately) is opened as
    /// [`OpenFile::open`] does, so nothing but a regular file is ever opened
    /// through a link.
    pub(crate) fn open_at_stat(
        dir: BorrowedFd<'_>,
        name: &CStr,
        path: &Path,
        stat: &rustix::fs::Stat,
    ) -> Result<Self> {
        let flags =
            OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => Ok(OpenFile {
                file: File::from(fd),
                state: FileState::of_stat(stat),
            }),
            Err(rustix::io::Errno::LOOP) => Self::open_regular(dir, name, path),
            Err(e) => Err(ErrorKind::io(Op::Open, e.into()).at(path)),
        }
    }

    /// Wrap an already open file (it must be a regular file).
    pub(crate) fn from_file(file: File, path: &Path) -> Result<Self> {
        let meta = file
            .metadata()
            .map_err(|e| ErrorKind::io(Op::Stat, e).at(path))?;
        if !meta.file_type().is_file() {
            return Err(ErrorKind::NotABundle("not a regular file".into()).at(path));
        }
        Ok(OpenFile {
            state: FileState::of(&meta),
            file,
        })
    }

    /// The file's identity as of the open.
    pub fn state(&self) -> FileState {
        self.state
    }

    /// The descriptor, for reads that stream the file (hashing).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Read the last `max` bytes (or the whole file, if shorter) in ONE
    /// `pread`. On a network file system every read is a round trip; a
    /// bundle's tail usually holds its trailer and manifest. `op` names the
    /// read in errors.
    pub(crate) fn read_tail(&self, max: u64, op: Op) -> Result<Tail, ErrorKind> {
        let size = self.state.size;
        let start = size - size.min(max);
        let len = usize::try_from(size - start).unwrap_or(0);
        // One byte more than the file should have: a file that grew since
        // its size was taken (replaced by rename after the walk's stat) is
        // noticed here, in the same call, instead of being misread.
        let mut bytes = vec![0u8; len + 1];
        let mut got = 0;
        // A regular file's pread is short only at its end: stop once the
        // expected bytes are in, without a second call to see the end.
        while got < len {
            match self.file.read_at(&mut bytes[got..], start + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A FIFO or socket swapped in after the walk's stat.
                Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => {
                    return Err(ErrorKind::changed(op.stage(), "no longer a regular file"))
                }
                Err(e) => return Err(ErrorKind::io(op, e)),
            }
        }
        if got > len {
            return Err(ErrorKind::changed(
                op.stage(),
                format!("the file grew past its {size} bytes ({op})"),
            ));
        }
        if got < len {
            return Err(ErrorKind::changed(
                op.stage(),
                format!("file ended before byte {size} ({op})"),
            ));
        }
        bytes.truncate(len);
        Ok(Tail { start, bytes })
    }

    /// Fail with [`ErrorKind::Changed`] if the file's `fstat` differs from the open.
    pub fn ensure_unchanged(&self) -> Result<(), ErrorKind> {
        let now = self
            .file
            .metadata()
            .map_err(|e| ErrorKind::io(Op::Stat, e))?;
        let now = FileState::of(&now);
        if now != self.state {
            return Err(ErrorKind::changed(
                Stage::Stat,
                format!(
                    "size {} -> {}, mtime_ns {} -> {}, ctime_ns {} -> {}",
                    self.state.size,
                    now.size,
                    self.state.mtime_ns,
                    now.mtime_ns,
                    self.state.ctime_ns,
                    now.ctime_ns
                ),
            ));
        }
        Ok(())
    }

    /// Copy bytes `[offset, offset + len)` of this file to `out` in
    /// [`COPY_CHUNK`] pieces (never the region whole in memory), showing each
    /// piece to `inspect` first; a short read means the file shrank.
    pub fn copy_range(
        &self,
        offset: u64,
        len: u64,
        out: &mut impl std::io::Write,
        mut inspect: impl FnMut(&[u8]),
    ) -> Result<(), ErrorKind> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| ErrorKind::Format("region ends beyond 2^64".into()))?;
        let mut at = offset;
        while at < end {
            let chunk = (end - at).min(COPY_CHUNK);
            let buf = self.read_region(at, chunk, Op::Copy)?;
            inspect(&buf);
            out.write_all(&buf)
                .map_err(|e| ErrorKind::io(Op::WriteCopy, e))?;
            at += chunk;
        }
        Ok(())
    }

    /// Read `len` bytes at `offset`; a short read means the file shrank.
    /// Above [`MAX_IN_MEMORY`], or when the allocation fails, this is
    /// [`ErrorKind::TooLarge`], never an abort.
    pub fn read_region(&self, offset: u64, len: u64, op: Op) -> Result<Vec<u8>, ErrorKind> {
        let too_large = |limit: u64, hint: &'static str| ErrorKind::TooLarge {
            what: op,
            len,
            limit,
            hint,
        };
        if len > MAX_IN_MEMORY {
            return Err(too_large(
                MAX_IN_MEMORY,
                "; write it to a file instead (Bundle.write_source)",
            ));
        }
        let size = usize::try_from(len).map_err(|_| too_large(usize::MAX as u64, ""))?;
        // Fallible: a failed allocation is an error, never an abort.
        let mut buf = Vec::new();
        buf.try_reserve_exact(size)
            .map_err(|_| too_large(len, " (the allocation failed)"))?;
        buf.resize(size, 0);
        self.read_exact_at(&mut buf, offset, op)?;
        Ok(buf)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64, op: Op) -> Result<(), ErrorKind> {
        self.file.read_exact_at(buf, offset).map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                ErrorKind::changed(
                    op.stage(),
                    format!(
                        "file ended before byte {} ({op})",
                        offset + buf.len() as u64
                    ),
                )
            } else {
                ErrorKind::io(op, e)
            }
        })
    }
}

/// Resolve symlinks and make `path` absolute; fall back to an absolute
/// spelling if the file vanished meanwhile.
pub(crate) fn resolve(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

impl OpenFile {
    /// The absolute, symlink-free path of the file this descriptor has open
    /// (from `/proc/self/fd`, so it names the file actually read even if
    /// `path` was re-pointed meanwhile); [`resolve`] where `/proc` cannot say.
    pub(crate) fn resolved_path(&self, path: &Path) -> PathBuf {
        let link = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        match std::fs::read_link(link) {
            Ok(target)
                if target.is_absolute()
                    && !target.as_os_str().as_bytes().ends_with(b" (deleted)") =>
            {
                target
            }
            _ => resolve(path),
        }
    }

    /// Whether the caller may execute the file this descriptor has open
    /// (`faccessat` on `/proc/self/fd/N`: the real uid's permission on this
    /// very inode, not on whatever the path names now).
    pub(crate) fn executable(&self) -> bool {
        let link = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        match rustix::fs::accessat(
            rustix::fs::CWD,
            link.as_str(),
            rustix::fs::Access::EXEC_OK,
            rustix::fs::AtFlags::empty(),
        ) {
            Ok(()) => true,
            Err(rustix::io::Errno::NOENT) => self.state.mode & 0o111 != 0,
            Err(_) => false,
        }
    }

    /// Fail unless this descriptor has the same file, in the same state,
    /// as `expected` (device, inode, size, times, mode).
    pub(crate) fn ensure_state(&self, expected: &FileState) -> Result<(), ErrorKind> {
        if &self.state != expected {
            return Err(ErrorKind::changed(
                Stage::Open,
                "the file was replaced or modified since it was read",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_directory_is_refused_before_a_byte_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let err = OpenFile::open(dir.path()).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::NotABundle(_) | ErrorKind::Io { .. }),
            "{err}"
        );
    }

    #[test]
    fn a_tail_holds_the_last_bytes_and_notices_a_file_that_grew() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        let open = OpenFile::open(&path).unwrap();
        let tail = open.read_tail(4, Op::ReadTrailer).unwrap();
        assert_eq!(tail.bytes(), b"6789");
        assert_eq!(tail.region(7, 2), Some(&b"78"[..]));
        assert_eq!(tail.region(5, 2), None);
        assert_eq!(
            open.read_tail(100, Op::ReadTrailer).unwrap().bytes(),
            b"0123456789"
        );
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"!")
            .unwrap();
        let err = open.read_tail(4, Op::ReadTrailer).unwrap_err();
        assert!(
            matches!(
                err,
                ErrorKind::Changed {
                    stage: Stage::Trailer,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_replaced_file_is_not_the_state_it_was_read_in() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"one").unwrap();
        let state = OpenFile::open(&path).unwrap().state();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, b"two").unwrap();
        let again = OpenFile::open(&path).unwrap();
        assert!(again.ensure_state(&state).is_err());
        assert!(again.ensure_unchanged().is_ok());
    }
}
