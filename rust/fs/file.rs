//! One file -> [`Bundle`], following the spec's reader algorithm.
//!
//! Every read of one file goes through ONE open descriptor: the trailer, the
//! hash of the binary region, the manifest, and the `fstat` that keys the
//! digest cache. Files are opened non-blocking so a FIFO swapped in after the
//! walk looked at the path cannot hang the reader, and anything that is not a
//! regular file is refused before a byte is read. No mmap: a file truncated
//! under a mapping would kill the process with SIGBUS.

use std::ffi::CStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::AsRawFd;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::cache::disk::DiskCache;
use crate::cache::memory::{self as cache, DigestKey};
use crate::error::{ErrorKind, Op, Result, Stage};
use crate::format::hex::hex;
use crate::format::manifest::{self, Manifest};
use crate::format::trailer::{Layout, Trailer, TRAILER_SIZE};
use crate::fs::trusted_path::{self, ReopenError};
use crate::verify::hash;
use crate::verify::signature::{self, TrustedSigners};

/// Largest region read into memory whole (`read_source`, `read_manifest`);
/// larger ones are streamed to a file ([`crate::write::pack::extract_region`]).
pub const MAX_IN_MEMORY: u64 = 1 << 30;

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
    /// The state a `stat` call reported.
    pub fn of_stat(st: &rustix::fs::Stat) -> Self {
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

/// A bundle file: trailer, regions and manifest, all read through one descriptor.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// Resolved (symlink-free, absolute) path.
    pub path: PathBuf,
    /// The file's identity when it was read.
    pub state: FileState,
    /// The parsed trailer.
    pub trailer: Trailer,
    /// Region offsets.
    pub layout: Layout,
    /// The parsed manifest.
    pub manifest: Manifest,
    /// Whether the binary region was checked against `binary_sha256`.
    pub verified: bool,
    /// The principals of the trusted signer whose signature was verified
    /// (only when trusted signers were required).
    pub signed_by: Option<String>,
}

/// How much work verification took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyCost {
    /// Bytes fed to SHA-256.
    pub bytes_hashed: u64,
    /// Whether the digest cache answered.
    pub cache_hit: bool,
}

/// How many bytes [`OpenFile::tail`] reads from the end of a file: the
/// trailer plus a manifest of up to 4 KiB minus 64 bytes.
pub const TAIL_READ: u64 = 4096;

/// The last bytes of a file, as [`OpenFile::tail`] read them.
#[derive(Debug)]
pub struct Tail {
    /// Offset of `bytes[0]` in the file.
    start: u64,
    bytes: Vec<u8>,
}

/// An open candidate file: its descriptor and the `fstat` of that descriptor.
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
    pub fn open_at(dir: BorrowedFd<'_>, name: &CStr, path: &Path) -> Result<Self> {
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
    /// that is no longer a regular one ([`OpenFile::tail`]).
    ///
    /// As in [`OpenFile::open_at`], the name is opened `O_NOFOLLOW`; a name
    /// that is a symlink (to a bundle, legitimately) is opened as
    /// [`OpenFile::open`] does, so nothing but a regular file is ever opened
    /// through a link.
    pub fn open_at_stat(
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
    pub fn from_file(file: File, path: &Path) -> Result<Self> {
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

    /// Read and validate the trailer (spec steps 1-5).
    pub fn trailer(&self) -> Result<(Trailer, Layout), ErrorKind> {
        let size = self.state.size;
        if size < TRAILER_SIZE as u64 {
            return Err(ErrorKind::NotABundle(
                "file is shorter than the 64-byte trailer".into(),
            ));
        }
        let mut raw = [0u8; TRAILER_SIZE];
        self.read_exact_at(&mut raw, size - TRAILER_SIZE as u64, Op::ReadTrailer)?;
        let trailer = Trailer::parse(&raw)?;
        let layout = trailer.layout(size)?;
        Ok((trailer, layout))
    }

    /// Read the last [`TAIL_READ`] bytes (or the whole file, if shorter) in
    /// ONE `pread`, and validate the trailer in them (spec steps 1-5). On a
    /// network file system every read is a round trip; the tail usually
    /// holds the manifest too, for [`OpenFile::manifest_in`].
    pub fn tail(&self) -> Result<(Trailer, Layout, Tail), ErrorKind> {
        let size = self.state.size;
        if size < TRAILER_SIZE as u64 {
            return Err(ErrorKind::NotABundle(
                "file is shorter than the 64-byte trailer".into(),
            ));
        }
        let start = size - size.min(TAIL_READ);
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
                    return Err(ErrorKind::changed(
                        Stage::Trailer,
                        "no longer a regular file",
                    ))
                }
                Err(e) => return Err(ErrorKind::io(Op::ReadTrailer, e)),
            }
        }
        if got > len {
            return Err(ErrorKind::changed(
                Stage::Trailer,
                format!("the file grew past its {size} bytes (read trailer)"),
            ));
        }
        if got < len {
            return Err(ErrorKind::changed(
                Stage::Trailer,
                format!("file ended before byte {size} (read trailer)"),
            ));
        }
        bytes.truncate(len);
        let raw: &[u8; TRAILER_SIZE] = bytes[bytes.len() - TRAILER_SIZE..]
            .try_into()
            .expect("the tail is at least one trailer long");
        let trailer = Trailer::parse(raw)?;
        let layout = trailer.layout(size)?;
        Ok((trailer, layout, Tail { start, bytes }))
    }

    /// The manifest (spec step 7), from `tail` when it holds the whole
    /// region, else read with one more `pread`.
    pub fn manifest_in(&self, layout: &Layout, tail: &Tail) -> Result<Manifest, ErrorKind> {
        let end = layout.metadata_start + layout.metadata_len;
        if layout.metadata_start >= tail.start && end <= tail.start + tail.bytes.len() as u64 {
            let from = usize::try_from(layout.metadata_start - tail.start).unwrap_or(usize::MAX);
            let to = usize::try_from(end - tail.start).unwrap_or(usize::MAX);
            if let Some(bytes) = tail.bytes.get(from..to) {
                return manifest::parse(bytes);
            }
        }
        self.manifest(layout)
    }

    /// Read and parse the manifest region (spec step 7).
    pub fn manifest(&self, layout: &Layout) -> Result<Manifest, ErrorKind> {
        if layout.metadata_len > manifest::MAX_MANIFEST_BYTES {
            return Err(ErrorKind::Manifest(format!(
                "metadata_len={} exceeds the {}-byte manifest limit",
                layout.metadata_len,
                manifest::MAX_MANIFEST_BYTES
            )));
        }
        let bytes =
            self.read_region(layout.metadata_start, layout.metadata_len, Op::ReadManifest)?;
        manifest::parse(&bytes)
    }

    /// Check the binary region against the trailer's digest (spec step 6),
    /// through the digest caches (in-process, then `disk`) keyed by this
    /// descriptor's `fstat`.
    pub fn verify(
        &self,
        path: &Path,
        trailer: &Trailer,
        layout: &Layout,
        disk: Option<&DiskCache>,
        cost: &mut VerifyCost,
    ) -> Result<(), ErrorKind> {
        self.verify_signed(path, trailer, layout, disk, None, cost)
            .map(drop)
    }

    /// [`OpenFile::verify`], and with `signers` also require `path`'s
    /// signature sidecar to be a valid signature, by one of them, over the
    /// whole file ([`crate::verify::signature`]). Returns the signer's principals.
    ///
    /// The cheap checks (sidecar, key, namespace, validity window) come
    /// before any hashing; then the file is read ONCE for both the binary
    /// region's SHA-256 and the signed whole-file digest. Both digests are
    /// remembered under the file's state (the whole-file one only in the
    /// persistent cache: it serves the next task's process); the signature
    /// itself is checked on every call, against the signer file and sidecar
    /// as they are now, so a changed `allowed_signers` or sidecar takes
    /// effect at once.
    pub fn verify_signed(
        &self,
        path: &Path,
        trailer: &Trailer,
        layout: &Layout,
        disk: Option<&DiskCache>,
        signers: Option<&TrustedSigners>,
        cost: &mut VerifyCost,
    ) -> Result<Option<String>, ErrorKind> {
        let signed = match signers {
            None => None,
            Some(signers) => {
                let sig = signature::read_sidecar(path)?;
                let signer = signers.authorize(&sig, signature::now())?;
                let alg = signature::whole_file_hash(&sig)?;
                Some((sig, signer.principals.clone(), alg))
            }
        };
        let key = DigestKey {
            path: path.to_path_buf(),
            source_start: layout.source_start,
            dev: self.state.dev,
            ino: self.state.ino,
            size: self.state.size,
            mtime_ns: self.state.mtime_ns,
            ctime_ns: self.state.ctime_ns,
            expected: trailer.binary_sha256,
        };
        let cached = cache::get(&key).or_else(|| {
            let digest = disk?.get(&key)?;
            cache::put(key.clone(), digest);
            Some(digest)
        });
        let whole_file = signed.as_ref().map(|(_, _, alg)| *alg);
        let whole_key = whole_file.map(|alg| whole_file_key(&key, alg));
        let mut whole_remembered = false;
        let (actual, whole) = match cached {
            Some(digest) => {
                cost.cache_hit = true;
                let whole = match (whole_file, &whole_key) {
                    (Some(alg), Some(whole_key)) => {
                        match disk.and_then(|d| d.get_value(whole_key, alg.digest_len())) {
                            Some(whole) => {
                                whole_remembered = true;
                                Some(whole)
                            }
                            None => {
                                let (_, whole) =
                                    hash::digest_whole(&self.file, self.state.size, alg, None)?;
                                cost.bytes_hashed += self.state.size;
                                self.ensure_unchanged()?;
                                remember_whole(disk, &key, whole_key, &whole);
                                Some(whole)
                            }
                        }
                    }
                    _ => None,
                };
                (digest, whole)
            }
            None => {
                let (digest, whole) = match whole_file {
                    None => (hash::sha256_prefix(&self.file, layout.source_start)?, None),
                    Some(alg) => {
                        let prefix = Some(layout.source_start);
                        let (head, whole) =
                            hash::digest_whole(&self.file, self.state.size, alg, prefix)?;
                        (head.expect("a prefix was asked for"), Some(whole))
                    }
                };
                cost.bytes_hashed += if whole.is_some() {
                    self.state.size
                } else {
                    layout.source_start
                };
                // Only remember a digest for a file that did not change while
                // hashed, and only once a later change would show in its
                // timestamps (the racy-timestamp rule, `cache::may_remember`).
                self.ensure_unchanged()?;
                if let (Some(whole_key), Some(whole)) = (&whole_key, &whole) {
                    remember_whole(disk, &key, whole_key, whole);
                }
                if cache::may_remember(&key) {
                    if let Some(disk) = disk {
                        // Best effort: a failed write only costs a future hash.
                        let _ = disk.put(&key, &digest);
                    }
                    cache::put(key, digest);
                }
                (digest, whole)
            }
        };
        // A remembered digest that condemns the file is only this file's if
        // the file is still in the state it was looked up under (the caller's
        // stat may be older than the descriptor's); otherwise the caller
        // re-reads it as it is now.
        if actual != trailer.binary_sha256 {
            if cost.cache_hit {
                self.ensure_unchanged()?;
            }
            return Err(ErrorKind::DigestMismatch {
                expected: hex(&trailer.binary_sha256),
                actual: hex(&actual),
            });
        }
        match (signed, whole) {
            (Some((sig, principals, _)), Some(whole)) => {
                if let Err(refused) = signature::verify_digest(&sig, &whole) {
                    if whole_remembered {
                        self.ensure_unchanged()?;
                    }
                    return Err(refused);
                }
                Ok(Some(principals))
            }
            _ => Ok(None),
        }
    }

    /// This whole file's `alg` digest and, with `prefix`, the SHA-256 of
    /// `[0, prefix)`, in one read ([`hash::digest_whole`]); never cached.
    pub fn digest_whole(
        &self,
        alg: hash::WholeFile,
        prefix: Option<u64>,
    ) -> Result<(Option<[u8; 32]>, Vec<u8>), ErrorKind> {
        hash::digest_whole(&self.file, self.state.size, alg, prefix)
    }

    /// SHA-256 of bytes `[0, len)` of this file.
    pub fn sha256_prefix(&self, len: u64) -> Result<[u8; 32], ErrorKind> {
        hash::sha256_prefix(&self.file, len)
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

    /// Copy bytes `[0, len)` of this file to `out` in [`CHUNK`](crate::verify::hash::CHUNK)
    /// pieces, showing each piece to `inspect` first; a short read means the
    /// file shrank.
    pub fn copy_prefix(
        &self,
        len: u64,
        out: &mut impl std::io::Write,
        mut inspect: impl FnMut(&[u8]),
    ) -> Result<(), ErrorKind> {
        let mut offset = 0;
        while offset < len {
            let chunk = (len - offset).min(hash::CHUNK as u64);
            let buf = self.read_region(offset, chunk, Op::Copy)?;
            inspect(&buf);
            out.write_all(&buf)
                .map_err(|e| ErrorKind::io(Op::WriteCopy, e))?;
            offset += chunk;
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
pub fn resolve(path: &Path) -> PathBuf {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

impl OpenFile {
    /// The absolute, symlink-free path of the file this descriptor has open
    /// (from `/proc/self/fd`, so it names the file actually read even if
    /// `path` was re-pointed meanwhile); [`resolve`] where `/proc` cannot say.
    pub fn resolved_path(&self, path: &Path) -> PathBuf {
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
    pub fn executable(&self) -> bool {
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
    pub fn ensure_state(&self, expected: &FileState) -> Result<(), ErrorKind> {
        if &self.state != expected {
            return Err(ErrorKind::changed(
                Stage::Open,
                "the file was replaced or modified since it was read",
            ));
        }
        Ok(())
    }
}

/// What reading a bundle checks beyond its trailer and manifest.
///
/// A `bool` converts to it (`true` is [`Verify::Digest`]), so callers that
/// only hash keep passing `verify`.
#[derive(Clone, Copy, Debug, Default)]
pub enum Verify<'a> {
    /// Nothing more.
    #[default]
    No,
    /// The binary region against `binary_sha256` (spec step 6).
    Digest,
    /// The digest, and a signature by one of these signers over the whole
    /// file ([`OpenFile::verify_signed`]).
    Signed(&'a TrustedSigners),
}

impl From<bool> for Verify<'_> {
    fn from(verify: bool) -> Self {
        if verify {
            Verify::Digest
        } else {
            Verify::No
        }
    }
}

impl<'a> Verify<'a> {
    /// Whether the binary region is hashed.
    pub fn hashes(self) -> bool {
        !matches!(self, Verify::No)
    }

    /// The signers required, if any.
    pub fn signers(self) -> Option<&'a TrustedSigners> {
        match self {
            Verify::Signed(signers) => Some(signers),
            _ => None,
        }
    }
}

/// Read a bundle from an already opened file.
///
/// With `verify`, the binary region is hashed before the manifest is read
/// (spec order: step 6 before step 7). `path` is the resolved path.
pub fn read_open<'a>(
    open: &OpenFile,
    path: &Path,
    verify: impl Into<Verify<'a>>,
    disk: Option<&DiskCache>,
) -> Result<(Bundle, VerifyCost)> {
    let (trailer, layout) = open.trailer().map_err(|k| k.at(path))?;
    let mut cost = VerifyCost::default();
    let bundle = read_parts(open, path, trailer, layout, verify, disk, &mut cost)?;
    Ok((bundle, cost))
}

/// [`read_open`] for a file whose trailer was already read through `open`.
/// The hashing work is added to `cost` whether or not verification passes.
pub fn read_parts<'a>(
    open: &OpenFile,
    path: &Path,
    trailer: Trailer,
    layout: Layout,
    verify: impl Into<Verify<'a>>,
    disk: Option<&DiskCache>,
    cost: &mut VerifyCost,
) -> Result<Bundle> {
    let verify = verify.into();
    let signed_by = if verify.hashes() {
        open.verify_signed(path, &trailer, &layout, disk, verify.signers(), cost)
            .map_err(|k| k.at(path))?
    } else {
        None
    };
    let manifest = open.manifest(&layout).map_err(|k| k.at(path))?;
    open.ensure_unchanged().map_err(|k| k.at(path))?;
    Ok(Bundle {
        path: path.to_path_buf(),
        state: open.state(),
        trailer,
        layout,
        manifest,
        verified: verify.hashes(),
        signed_by,
    })
}

/// The persistent-cache key of a whole file's `alg` digest, in the state
/// `key` describes: `source_start` is the whole size (a binary-region key
/// always stops short of it, before the trailer) and `expected` is bound to
/// the algorithm and to the trailer's digest.
fn whole_file_key(key: &DigestKey, alg: hash::WholeFile) -> DigestKey {
    let tag = [
        b"afbundle whole-file digest\0".as_slice(),
        alg.name().as_bytes(),
        b"\0",
        &key.expected,
    ]
    .concat();
    DigestKey {
        source_start: key.size,
        expected: hash::sha256(&tag),
        ..key.clone()
    }
}

/// Remember a whole-file digest just computed for a file in the state `key`
/// describes, under the racy-timestamp rule (`cache::may_remember`); best
/// effort, like every cache write.
fn remember_whole(disk: Option<&DiskCache>, key: &DigestKey, whole_key: &DigestKey, whole: &[u8]) {
    if let Some(disk) = disk {
        if cache::may_remember(key) {
            let _ = disk.put_value(whole_key, whole);
        }
    }
}

/// Read the bundle at `path` (a file the caller named; no exec-bit check).
pub fn read_bundle<'a>(
    path: &Path,
    verify: impl Into<Verify<'a>>,
    disk: Option<&DiskCache>,
) -> Result<(Bundle, VerifyCost)> {
    let open = OpenFile::open(path)?;
    read_open(&open, &open.resolved_path(path), verify, disk)
}

/// Verify `bundle` again through a new descriptor, requiring the same file in
/// the same state it was read in; returns the bundle as read now. With
/// `signers`, its signature is required too.
pub fn verify_again(
    bundle: &Bundle,
    disk: Option<&DiskCache>,
    signers: Option<&TrustedSigners>,
) -> Result<(Bundle, VerifyCost)> {
    let open = OpenFile::open(&bundle.path)?;
    open.ensure_state(&bundle.state)
        .map_err(|k| k.at(&bundle.path))?;
    let verify = signers.map_or(Verify::Digest, Verify::Signed);
    read_open(&open, &bundle.path, verify, disk)
}

impl Bundle {
    /// Read the source region again, refusing if the file is no longer the
    /// one that was read.
    pub fn read_source(&self) -> Result<Vec<u8>> {
        self.reread(
            self.layout.source_start,
            self.layout.source_len,
            Op::ReadSource,
        )
    }

    /// Read the raw manifest bytes again, refusing if the file changed.
    pub fn read_manifest(&self) -> Result<Vec<u8>> {
        self.reread(
            self.layout.metadata_start,
            self.layout.metadata_len,
            Op::ReadManifest,
        )
    }

    fn reread(&self, offset: u64, len: u64, op: Op) -> Result<Vec<u8>> {
        let open = OpenFile::open(&self.path)?;
        open.ensure_state(&self.state)
            .map_err(|k| k.at(&self.path))?;
        open.read_region(offset, len, op)
            .map_err(|k| k.at(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::hash::sha256;
    use std::io::Write;

    fn is_not_a_bundle(err: &crate::error::Error) -> bool {
        matches!(err.kind, ErrorKind::NotABundle(_))
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    fn bundle_bytes(binary: &[u8], source: &[u8], meta: &[u8]) -> Vec<u8> {
        let t = Trailer::new(source.len() as u32, meta.len() as u32, sha256(binary));
        [binary, source, meta, &t.to_bytes()].concat()
    }

    const META: &[u8] = b"sdk: {supervisor_schema_version: '2026-06-16'}\ndags: {d: {tasks: []}}\n";

    #[test]
    fn a_valid_bundle_reads_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", &bundle_bytes(b"ELF", b"src", META));
        let (b, cost) = read_bundle(&p, true, None).unwrap();
        assert!(b.verified);
        assert_eq!(b.layout.source_start, 3);
        assert_eq!(b.manifest.dag_ids, ["d"]);
        assert_eq!(b.read_source().unwrap(), b"src");
        assert_eq!(b.read_manifest().unwrap(), META);
        assert!(cost.cache_hit || cost.bytes_hashed == 3);
    }

    #[test]
    fn a_tampered_binary_is_an_integrity_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = bundle_bytes(b"ELF", b"", META);
        bytes[0] ^= 0xff;
        let p = write(dir.path(), "b", &bytes);
        let err = read_bundle(&p, true, None).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DigestMismatch { .. }),
            "{err}"
        );
        assert!(read_bundle(&p, false, None).is_ok());
    }

    #[test]
    fn a_short_file_is_not_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", b"#!/bin/sh\n");
        assert!(is_not_a_bundle(&read_bundle(&p, true, None).unwrap_err()));
    }

    #[test]
    fn a_directory_is_not_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bundle(dir.path(), true, None).unwrap_err();
        assert!(
            is_not_a_bundle(&err) || matches!(err.kind, ErrorKind::Io { .. }),
            "{err}"
        );
    }

    #[test]
    fn rereading_a_replaced_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", &bundle_bytes(b"ELF", b"src", META));
        let (b, _) = read_bundle(&p, true, None).unwrap();
        std::fs::remove_file(&p).unwrap();
        write(dir.path(), "b", &bundle_bytes(b"ELF2", b"src", META));
        assert!(b.read_source().is_err());
    }

    #[test]
    fn errors_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            "named",
            &bundle_bytes(b"ELF", b"", b"- not a map\n"),
        );
        let msg = read_bundle(&p, false, None).unwrap_err().to_string();
        assert!(
            msg.contains("named") && msg.contains("not a YAML mapping"),
            "{msg}"
        );
    }
}
