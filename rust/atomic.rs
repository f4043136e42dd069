//! Writing one file atomically: a temporary file beside the target, filled,
//! fsynced and renamed into place, then the directory fsynced so the rename
//! itself is durable. A reader sees the old file or the whole new one; after
//! a failure nothing is left at the target and the temporary file is removed.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::error::{ErrorKind, Result};

/// Write `data` to `output` atomically. The file is created with mode
/// `0o666` less the process umask, as `open(2)` would create it.
pub fn write_file(output: &Path, data: &[u8]) -> Result<()> {
    write_with(output, ".afbundle-write-", None, |file| {
        file.write_all(data).map_err(|e| ErrorKind::io("write", e))
    })
}

/// Create a temporary file beside `output` (named `prefix…`), let `fill`
/// write it, set `mode` if given (else `0o666` less the umask), fsync,
/// rename it to `output` and fsync the directory.
///
/// `output`'s directory must exist: a missing one is an error naming it,
/// never created.
pub fn write_with(
    output: &Path,
    prefix: &str,
    mode: Option<u32>,
    fill: impl FnOnce(&mut File) -> Result<(), ErrorKind>,
) -> Result<()> {
    let dir = output_dir(output)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| ErrorKind::io("create temporary file", e).at(dir))?;
    fill(tmp.as_file_mut()).map_err(|k| k.at(output))?;
    let file = tmp.as_file_mut();
    mode.map_or(Ok(()), |m| file.set_permissions(Permissions::from_mode(m)))
        .and_then(|()| file.sync_all())
        .map_err(|e| ErrorKind::io("write", e).at(output))?;
    tmp.persist(output)
        .map_err(|e| ErrorKind::io("rename into place", e.error).at(output))?;
    if let Ok(d) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The directory `output` will be written in; it must exist.
pub fn output_dir(output: &Path) -> Result<&Path> {
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) => Err(ErrorKind::io(
            "write into",
            std::io::Error::from_raw_os_error(libc::ENOTDIR),
        )
        .at(dir)),
        Err(e) => Err(ErrorKind::io("write into", e).at(dir)),
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
    fn a_failed_fill_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let err = write_with(&out, ".t-", None, |_| Err(ErrorKind::Format("no".into())));
        assert!(err.is_err());
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
