//! Writing bundles: binary + source + manifest + trailer, atomically.
//!
//! Follows the spec's "Build Pipeline Ordering": the digest is computed over
//! the binary bytes exactly as they are copied, the appended regions and the
//! trailer go out in one write, and the result appears at the target path
//! only by `rename(2)` after an `fsync`, so a reader sees the old file or the
//! whole new bundle, never half of one. The binary is never executed.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::bundle::{read, Bundle};
use crate::error::{ErrorKind, Op, Result};
use crate::format::digest::hex;
use crate::format::manifest::{self, MAX_MANIFEST_BYTES};
use crate::format::trailer::Trailer;
use crate::fs::file::OpenFile;
use crate::write::atomic::PendingOutput;

/// Write a bundle at `output` from the executable at `binary`.
///
/// `manifest` must load as a YAML mapping whose dag and task keys are strings
/// that YAML 1.1 and 1.2 read alike ([`manifest::RetypedKey`]). When `binary` already ends with a
/// bundle trailer it is refused unless `replace_footer`, in which case the
/// old source, manifest and trailer are dropped first. The output's
/// permission bits are the binary's, with execute added wherever read is
/// allowed, then limited by the umask; never setuid, setgid or sticky.
pub fn pack(
    binary: &Path,
    output: &Path,
    manifest: &[u8],
    source: &[u8],
    replace_footer: bool,
) -> Result<()> {
    let parsed = manifest::parse(manifest).map_err(|k| k.at(binary))?;
    // Never write a dag or task key that Airflow's YAML 1.1 reader and YAML
    // 1.2 read differently, or that is no string to Airflow: refuse, naming it.
    if !parsed.retyped.is_empty() {
        let keys: Vec<String> = parsed
            .retyped
            .iter()
            .map(|k| format!("line {}: {}", k.line, k.message()))
            .collect();
        return Err(ErrorKind::Manifest(format!(
            "manifest has {} dag or task key{} that must be quoted: {}",
            keys.len(),
            if keys.len() == 1 { "" } else { "s" },
            keys.join("; ")
        ))
        .at(binary));
    }
    if manifest.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(
            ErrorKind::Manifest("manifest exceeds the reader's size limit".into()).at(binary),
        );
    }
    let source_len = u32::try_from(source.len())
        .map_err(|_| ErrorKind::Format("source is larger than 4 GiB".into()).at(binary))?;
    let metadata_len = manifest.len() as u32;

    let input = OpenFile::open(binary)?;
    let binary_len = match read::trailer(&input) {
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
    // The descriptor's mode, not the path's: the file read is the file described.
    let mode = input.state().mode & 0o777;
    let mode = mode | ((mode & 0o444) >> 2);

    let mut out = PendingOutput::create(output, mode)?;
    let digest = copy_hashing(&input, binary_len, out.file()).map_err(|k| k.at(binary))?;
    let trailer = Trailer::new(source_len, metadata_len, digest);
    let tail = [source, manifest, &trailer.to_bytes()].concat();
    out.file()
        .write_all(&tail)
        .map_err(|e| ErrorKind::io(Op::WriteBundle, e).at(output))?;
    input.ensure_unchanged().map_err(|k| k.at(binary))?;
    out.commit()
}

/// Copy bytes `[0, len)` of `input` to `out`, returning their SHA-256.
fn copy_hashing(input: &OpenFile, len: u64, out: &mut File) -> Result<[u8; 32], ErrorKind> {
    let mut hasher = Sha256::new();
    input.copy_range(0, len, out, |chunk| hasher.update(chunk))?;
    Ok(hasher.finalize().into())
}

/// The binary region of the bundle at `bundle` written to `output` (atomically).
///
/// The bytes written are the bytes hashed: the region is read once, through
/// one descriptor, and the output appears only if their digest matches the
/// trailer's (a file swapped between a separate check and the copy cannot
/// slip through). The output's permission bits are the bundle's, limited by
/// the umask; never setuid, setgid or sticky. Returns the digest.
pub fn strip(bundle: &Path, output: &Path) -> Result<[u8; 32]> {
    let input = OpenFile::open(bundle)?;
    let (trailer, layout) = read::trailer(&input).map_err(|k| k.at(bundle))?;
    let mut out = PendingOutput::create(output, input.state().mode & 0o777)?;
    let digest = copy_hashing(&input, layout.source_start, out.file()).map_err(|k| k.at(bundle))?;
    if digest != trailer.binary_sha256 {
        return Err(ErrorKind::DigestMismatch {
            expected: hex(&trailer.binary_sha256),
            actual: hex(&digest),
        }
        .at(bundle));
    }
    input.ensure_unchanged().map_err(|k| k.at(bundle))?;
    out.commit()?;
    Ok(digest)
}

/// Bytes `[offset, offset + len)` of `bundle` (re-opened, and refused
/// unless it is the same file in the same state) written to `output`
/// atomically, in pieces: no region is ever held in memory whole. The
/// output is a plain file: mode 0666 limited by the umask.
pub fn extract_region(bundle: &Bundle, offset: u64, len: u64, output: &Path) -> Result<()> {
    let input = bundle.reopen()?;
    let mut out = PendingOutput::create(output, 0o666)?;
    input
        .copy_range(offset, len, out.file(), |_| {})
        .map_err(|k| k.at(&bundle.path))?;
    input.ensure_unchanged().map_err(|k| k.at(&bundle.path))?;
    out.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::read_bundle;
    use crate::verify::Verify;

    fn digest() -> Option<Verify<'static>> {
        Some(Verify::remembered(None, None))
    }
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    const META: &[u8] = b"dags: {d: {tasks: []}}\nsdk: {supervisor_schema_version: '2026-06-16'}\n";

    #[test]
    fn packed_bundles_verify_and_strip_back_to_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"\x7fELF-not-really").unwrap();
        let out = dir.path().join("out");
        pack(&bin, &out, META, b"src", false).unwrap();
        let (b, _) = read_bundle(&out, digest()).unwrap();
        assert_eq!(b.manifest.dag_ids, ["d"]);
        let m = mode(&bin);
        assert_eq!(mode(&out) & 0o111, 0o111 & (m >> 2 | 0o100));
        let back = dir.path().join("back");
        strip(&out, &back).unwrap();
        assert_eq!(fs::read(&back).unwrap(), fs::read(&bin).unwrap());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 3);
    }

    #[test]
    fn pack_and_strip_never_keep_setuid_and_repacking_replaces_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"\x7fELF-not-really").unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o6755)).unwrap();
        let out = dir.path().join("out");
        pack(&bin, &out, META, b"", false).unwrap();
        assert_eq!(mode(&out) & 0o7000, 0);
        pack(&bin, &out, META, b"again", false).unwrap();
        assert_eq!(read_bundle(&out, digest()).unwrap().0.layout.source_len, 5);
        fs::set_permissions(&out, fs::Permissions::from_mode(0o4755)).unwrap();
        let back = dir.path().join("back");
        strip(&out, &back).unwrap();
        assert_eq!(mode(&back) & 0o7000, 0);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn strip_refuses_a_binary_region_that_does_not_match() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        fs::write(&bin, b"\x7fELF-not-really").unwrap();
        let out = dir.path().join("out");
        pack(&bin, &out, META, b"", false).unwrap();
        let mut bytes = fs::read(&out).unwrap();
        bytes[1] ^= 1;
        fs::write(&out, &bytes).unwrap();
        let back = dir.path().join("back");
        let err = strip(&out, &back).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DigestMismatch { .. }),
            "{err}"
        );
        assert!(!back.exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
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
        let (b, _) = read_bundle(&twice, digest()).unwrap();
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
