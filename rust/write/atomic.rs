//! Writing one file atomically, the one way the crate does it.
//!
//! [`PendingOutput`] is a file being written beside its final name that is
//! never a candidate for a directory walk until it is complete, synced and in
//! place: a reader sees the old file or the whole new one; after a failure,
//! or a `kill -9`, nothing is left at the target. Bundles (`pack`, `strip`),
//! extracted regions and `write_file` all go through it.

use std::ffi::{CStr, CString};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::error::{ErrorKind, Op, Result};

/// Write `data` to `output` atomically. The file is created with mode
/// `0o666` less the process umask, as `open(2)` would create it.
pub fn write_file(output: &Path, data: &[u8]) -> Result<()> {
    let mut out = PendingOutput::create(output, 0o666)?;
    out.file()
        .write_all(data)
        .map_err(|e| ErrorKind::io(Op::Write, e).at(output))?;
    out.commit()
}

/// An output file being written beside its final name, never a candidate
/// for a directory walk until it is complete and in place.
///
/// Where the kernel and file system allow (`O_TMPFILE`, Linux 3.11+, and
/// `/proc` for `linkat`), the file has no name at all while it is written:
/// a walk cannot see it and a killed writer leaves nothing behind. It gets
/// a name only when complete and synced: the final name directly when that
/// is free, else a temporary name that sorts after the final one followed
/// at once by `rename(2)` over it. Elsewhere it is a named temporary file
/// without any execute bit (so a walk never counts it) until just before
/// the rename. The umask applies: the file is created with `mode`.
pub(crate) struct PendingOutput {
    dir: OwnedFd,
    output: PathBuf,
    name: CString,
    file: File,
    /// `Some` for a named temporary file (removed unless committed).
    named_tmp: Option<CString>,
    /// The mode to apply before the rename of a named temporary file.
    final_mode: u32,
}

impl PendingOutput {
    /// Start writing `output` (its directory must exist) with permission bits `mode`.
    pub(crate) fn create(output: &Path, mode: u32) -> Result<Self> {
        let dir_path = output_dir(output)?.to_path_buf();
        let name = output
            .file_name()
            .filter(|n| n.as_bytes() != b"..")
            .ok_or_else(|| {
                ErrorKind::io(Op::Write, std::io::Error::from_raw_os_error(libc::EISDIR)).at(output)
            })?;
        let name = CString::new(name.as_bytes()).map_err(|_| {
            ErrorKind::io(Op::Write, std::io::Error::from_raw_os_error(libc::EINVAL)).at(output)
        })?;
        let dir = rfs::openat(
            CWD,
            dir_path.as_path(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ErrorKind::io(Op::OpenDirectory, e.into()).at(&dir_path))?;
        let mode = mode & 0o777;
        if Path::new("/proc/self/fd").is_dir() {
            let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
            match rfs::openat(&dir, ".", flags, Mode::from_raw_mode(mode)) {
                Ok(fd) => {
                    return Ok(PendingOutput {
                        dir,
                        output: output.to_path_buf(),
                        name,
                        file: File::from(fd),
                        named_tmp: None,
                        final_mode: mode,
                    })
                }
                // Not supported here: fall back to a named file.
                Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOENT) => {}
                Err(e) => return Err(ErrorKind::io(Op::CreateTemporary, e.into()).at(&dir_path)),
            }
        }
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..100 {
            let tmp = tmp_name(&name);
            match rfs::openat(&dir, &*tmp, flags, Mode::from_raw_mode(mode & 0o666)) {
                Ok(fd) => {
                    // What the umask left of the read/write bits decides
                    // where execute may be added back before the rename.
                    let created = rfs::fstat(&fd).map(|st| st.st_mode & 0o666).unwrap_or(0);
                    let exec = mode & 0o111 & ((created & 0o444) >> 2);
                    return Ok(PendingOutput {
                        dir,
                        output: output.to_path_buf(),
                        name,
                        file: File::from(fd),
                        named_tmp: Some(tmp),
                        final_mode: created | exec,
                    });
                }
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(ErrorKind::io(Op::CreateTemporary, e.into()).at(&dir_path)),
            }
        }
        Err(ErrorKind::io(
            Op::CreateTemporary,
            std::io::Error::from_raw_os_error(libc::EEXIST),
        )
        .at(&dir_path))
    }

    /// The file to write into.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Sync the file, put it in place, and make the rename durable.
    pub(crate) fn commit(mut self) -> Result<()> {
        let at_output = |op: Op, e: Errno| ErrorKind::io(op, e.into()).at(&self.output);
        self.file
            .sync_all()
            .map_err(|e| ErrorKind::io(Op::Write, e).at(&self.output))?;
        match self.named_tmp.take() {
            Some(tmp) => {
                let placed = rfs::fchmod(&self.file, Mode::from_raw_mode(self.final_mode))
                    .and_then(|()| rfs::renameat(&self.dir, &*tmp, &self.dir, &*self.name));
                if let Err(e) = placed {
                    let _ = rfs::unlinkat(&self.dir, &*tmp, AtFlags::empty());
                    return Err(at_output(Op::RenameIntoPlace, e));
                }
            }
            None => {
                let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
                let link = |name: &CStr| {
                    rfs::linkat(
                        CWD,
                        proc_path.as_str(),
                        &self.dir,
                        name,
                        AtFlags::SYMLINK_FOLLOW,
                    )
                };
                match link(&self.name) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let mut placed = Err(Errno::EXIST);
                        for _ in 0..100 {
                            let tmp = tmp_name(&self.name);
                            match link(&tmp) {
                                Err(Errno::EXIST) => continue,
                                Err(e) => {
                                    placed = Err(e);
                                    break;
                                }
                                Ok(()) => {
                                    placed =
                                        rfs::renameat(&self.dir, &*tmp, &self.dir, &*self.name);
                                    if placed.is_err() {
                                        let _ = rfs::unlinkat(&self.dir, &*tmp, AtFlags::empty());
                                    }
                                    break;
                                }
                            }
                        }
                        placed.map_err(|e| at_output(Op::RenameIntoPlace, e))?;
                    }
                    Err(e) => return Err(at_output(Op::LinkIntoPlace, e)),
                }
            }
        }
        // Make the rename itself durable (best effort).
        let _ = rfs::fsync(&self.dir);
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        if let Some(tmp) = self.named_tmp.take() {
            let _ = rfs::unlinkat(self.dir.as_fd(), &*tmp, AtFlags::empty());
        }
    }
}

/// A temporary name that sorts right after `name` in the same directory
/// (`NAME.afbundle-tmp-PID-N`), so a leftover never takes precedence over
/// the file it was meant to replace.
fn tmp_name(name: &CStr) -> CString {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut out = name.to_bytes().to_vec();
    out.extend_from_slice(
        format!(
            ".afbundle-tmp-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
        .as_bytes(),
    );
    CString::new(out).expect("no NUL in a file name")
}

/// The directory `output` will be written in; it must exist (a plain OS
/// error with errno and path, not the temporary file's name).
pub(crate) fn output_dir(output: &Path) -> Result<&Path> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) => Err(ErrorKind::io(
            Op::WriteInto,
            std::io::Error::from_raw_os_error(libc::ENOTDIR),
        )
        .at(dir)),
        Err(e) => Err(ErrorKind::io(Op::WriteInto, e).at(dir)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_whole_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_file(&out, b"first").unwrap();
        write_file(&out, b"second").unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("out")]);
    }

    #[test]
    fn an_abandoned_write_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let mut pending = PendingOutput::create(&out, 0o644).unwrap();
        pending.file().write_all(b"half").unwrap();
        drop(pending);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let err = write_file(&missing.join("out"), b"x").unwrap_err();
        assert_eq!(err.path, missing);
        assert!(!missing.exists());
    }
}
