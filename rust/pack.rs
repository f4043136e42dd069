//! Writing bundles: binary + source + manifest + trailer, atomically.
//!
//! Follows the spec's "Build Pipeline Ordering": the digest is computed over
//! the binary bytes exactly as they are copied, the appended regions and the
//! trailer go out in one write, and the result appears at the target path
//! only by `rename(2)` after an `fsync`, so a reader sees the old file or the
//! whole new bundle, never half of one. The binary is never executed.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::error::{ErrorKind, Result};
use crate::manifest::{self, MAX_MANIFEST_BYTES};
use crate::reader::OpenFile;
use crate::trailer::Trailer;

/// Write a bundle at `output` from the executable at `binary`.
///
/// `manifest` must load as a YAML mapping. When `binary` already ends with a
/// bundle trailer it is refused unless `replace_footer`, in which case the
/// old source, manifest and trailer are dropped first. The output keeps the
/// binary's permission bits, with execute added wherever read is allowed.
pub fn pack(
    binary: &Path,
    output: &Path,
    manifest: &[u8],
    source: &[u8],
    replace_footer: bool,
) -> Result<()> {
    manifest::parse(manifest).map_err(|k| k.at(binary))?;
    if manifest.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(
            ErrorKind::Manifest("manifest exceeds the reader's size limit".into()).at(binary),
        );
    }
    let source_len = u32::try_from(source.len())
        .map_err(|_| ErrorKind::Format("source is larger than 4 GiB".into()).at(binary))?;
    let metadata_len = manifest.len() as u32;

    let input = OpenFile::open(binary)?;
    let binary_len = match input.trailer() {
        Err(ErrorKind::NotABundle(_)) => input.state().size,
        Ok((_, layout)) if replace_footer => layout.source_start,
        Ok(_) => return Err(ErrorKind::Format(
            "already a bundle: it ends with an AFBNDL01 trailer (pass replace_footer to repack it)"
                .into(),
        )
        .at(binary)),
        Err(kind) if replace_footer => {
            return Err(ErrorKind::Format(format!("cannot replace its footer: {kind}")).at(binary))
        }
        Err(kind) => return Err(kind.at(binary)),
    };
    if binary_len == 0 {
        return Err(ErrorKind::Format("the binary is empty".into()).at(binary));
    }
    let mode = fs::metadata(binary)
        .map_err(|e| ErrorKind::io("stat", e).at(binary))?
        .permissions()
        .mode()
        & 0o7777;
    let mode = mode | ((mode & 0o444) >> 2);

    let dir = output_dir(output)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".afbundle-pack-")
        .tempfile_in(dir)
        .map_err(|e| ErrorKind::io("create temporary file", e).at(dir))?;
    let digest = copy_hashing(&input, binary_len, tmp.as_file_mut()).map_err(|k| k.at(binary))?;
    let trailer = Trailer::new(source_len, metadata_len, digest);
    let tail = [source, manifest, &trailer.to_bytes()].concat();
    let file = tmp.as_file_mut();
    file.write_all(&tail)
        .and_then(|()| file.set_permissions(Permissions::from_mode(mode)))
        .and_then(|()| file.sync_all())
        .map_err(|e| ErrorKind::io("write bundle", e).at(tmp.path()))?;
    input.ensure_unchanged().map_err(|k| k.at(binary))?;
    tmp.persist(output)
        .map_err(|e| ErrorKind::io("rename into place", e.error).at(output))?;
    // Make the rename itself durable.
    if let Ok(d) = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
    {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The directory `output` will be written in; it must exist (a plain OS
/// error with errno and path, not the temporary file's name).
fn output_dir(output: &Path) -> Result<&Path> {
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

/// Copy bytes `[0, len)` of `input` to `out`, returning their SHA-256.
fn copy_hashing(input: &OpenFile, len: u64, out: &mut File) -> Result<[u8; 32], ErrorKind> {
    let mut hasher = Sha256::new();
    input.copy_prefix(len, out, |chunk| hasher.update(chunk))?;
    Ok(hasher.finalize().into())
}

/// The binary region of the bundle at `bundle` written to `output` (atomically).
pub fn strip(bundle: &Path, output: &Path) -> Result<()> {
    let input = OpenFile::open(bundle)?;
    let (_, layout) = input.trailer().map_err(|k| k.at(bundle))?;
    let dir = output_dir(output)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".afbundle-strip-")
        .tempfile_in(dir)
        .map_err(|e| ErrorKind::io("create temporary file", e).at(dir))?;
    copy_hashing(&input, layout.source_start, tmp.as_file_mut()).map_err(|k| k.at(bundle))?;
    let mode = fs::metadata(bundle)
        .map_err(|e| ErrorKind::io("stat", e).at(bundle))?
        .permissions()
        .mode();
    tmp.as_file()
        .set_permissions(Permissions::from_mode(mode & 0o7777))
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| ErrorKind::io("write", e).at(output))?;
    tmp.persist(output)
        .map_err(|e| ErrorKind::io("rename into place", e.error).at(output))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::read_bundle;

    const META: &[u8] = b"dags: {d: {tasks: []}}\nsdk: {supervisor_schema_version: '2026-06-16'}\n";

    #[test]
    fn packed_bundles_verify_and_strip_back_to_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"\x7fELF-not-really").unwrap();
        let out = dir.path().join("out");
        pack(&bin, &out, META, b"src", false).unwrap();
        let (b, _) = read_bundle(&out, true, None).unwrap();
        assert_eq!(b.manifest.dag_ids, ["d"]);
        assert_eq!(
            fs::metadata(&out).unwrap().permissions().mode() & 0o111,
            0o111 & (fs::metadata(&bin).unwrap().permissions().mode() >> 2 | 0o100)
        );
        let back = dir.path().join("back");
        strip(&out, &back).unwrap();
        assert_eq!(fs::read(&back).unwrap(), fs::read(&bin).unwrap());
    }

    #[test]
    fn packing_a_bundle_needs_replace_footer() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"binary").unwrap();
        let once = dir.path().join("once");
        pack(&bin, &once, META, b"", false).unwrap();
        let twice = dir.path().join("twice");
        assert!(pack(&once, &twice, META, b"", false).is_err());
        assert!(!twice.exists());
        pack(&once, &twice, META, b"new", true).unwrap();
        let (b, _) = read_bundle(&twice, true, None).unwrap();
        assert_eq!(b.layout.source_start, 6);
    }

    #[test]
    fn a_non_mapping_manifest_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"binary").unwrap();
        let out = dir.path().join("out");
        assert!(pack(&bin, &out, b"- list\n", b"", false).is_err());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
