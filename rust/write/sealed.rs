//! Verified exec: a bundle copied into a sealed in-memory file, verified there.
//!
//! Verifying a bundle on disk and then executing its path leaves a window:
//! the file can be replaced in between, and the kernel would run bytes that
//! were never checked. Here the bundle is copied into a `memfd`, the memfd is
//! sealed (no write, shrink or grow, and no further seal changes), and the
//! trailer, hash and manifest are checked on *those* bytes. Executing the
//! memfd (by `fexecve`, or `/proc/<pid>/fd/<n>`) then runs exactly the bytes
//! that were checked, whatever happens to the file on disk.
//!
//! What the check covers: the trailer's `binary_sha256` covers the binary
//! region only (as the spec defines it). A `#!` script's interpreter reads on
//! past it into the source and manifest regions, which nothing but a
//! signature covers: with signers ([`seal_signed`]) every byte of the sealed
//! copy is checked against the signature, so nothing unsigned can run.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
use rustix::io::Errno;

use crate::error::{ErrorKind, Op, Result};
use crate::format::hex::hex;
use crate::fs::file::{Bundle, OpenFile};
use crate::verify::signature::{self, TrustedSigners};

/// Copy the bundle at `path` into a sealed memfd and verify the copy.
///
/// Returns the memfd (close-on-exec) and the bundle as read from it. Fails
/// with a clear I/O error where memfds or sealing are unavailable; there is
/// no silent fallback to the on-disk file.
pub fn seal(path: &Path) -> Result<(OwnedFd, Bundle)> {
    seal_signed(path, None)
}

/// [`seal`], and with `signers` also require `PATH.sig` to be a valid
/// signature by one of them over the sealed bytes (so what runs is exactly
/// what was signed), computed in the same pass as the binary digest.
pub fn seal_signed(path: &Path, signers: Option<&TrustedSigners>) -> Result<(OwnedFd, Bundle)> {
    let source = OpenFile::open(path)?;
    let resolved = source.resolved_path(path);
    // What a walk would never read, this must never run.
    if !source.executable() {
        return Err(
            ErrorKind::io(Op::Execute, std::io::Error::from_raw_os_error(libc::EACCES))
                .at(&resolved),
        );
    }
    // memfd names are limited to 249 bytes; the name is only a label.
    let mut name = format!(
        "afbundle:{}",
        resolved
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    while name.len() > 240 {
        name.pop();
    }
    let flags = MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC;
    // MFD_EXEC (Linux 6.3+) keeps the memfd executable where the
    // vm.memfd_noexec sysctl would otherwise refuse it; older kernels do not
    // know the flag (EINVAL) and make memfds executable anyway.
    let memfd = match memfd_create(name.as_str(), flags | MemfdFlags::EXEC) {
        Err(Errno::INVAL) => memfd_create(name.as_str(), flags),
        other => other,
    }
    .map_err(|e| {
        let op = if e == Errno::ACCESS {
            // Linux 6.3+ refuses MFD_EXEC with EACCES in a pid namespace whose
            // vm.memfd_noexec is 2; without the flag the memfd could never run.
            Op::CreateExecutableMemfd
        } else {
            Op::CreateMemfd
        };
        ErrorKind::io(op, e.into()).at(&resolved)
    })?;
    let mut copy = File::from(memfd);

    // Copied as is; the hash is taken below from the sealed copy itself.
    source
        .copy_prefix(source.state().size, &mut copy, |_| {})
        .map_err(|k| k.at(&resolved))?;
    source.ensure_unchanged().map_err(|k| k.at(&resolved))?;
    let seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
    fcntl_add_seals(&copy, seals)
        .map_err(|e| ErrorKind::io(Op::SealMemfd, e.into()).at(&resolved))?;

    // Verify the sealed bytes themselves: nothing can change them any more.
    let duplicate = copy
        .try_clone()
        .map_err(|e| ErrorKind::io(Op::DuplicateMemfd, e).at(&resolved))?;
    let sealed = OpenFile::from_file(duplicate, &resolved)?;
    let (trailer, layout) = sealed.trailer().map_err(|k| k.at(&resolved))?;
    // Never through the digest caches: these bytes are checked every time.
    let (actual, signed_by) = match signers {
        None => {
            let actual = sealed
                .sha256_prefix(layout.source_start)
                .map_err(|k| k.at(&resolved))?;
            (actual, None)
        }
        Some(signers) => signed_digest(&sealed, &resolved, layout.source_start, signers)
            .map_err(|k| k.at(&resolved))?,
    };
    if actual != trailer.binary_sha256 {
        return Err(ErrorKind::DigestMismatch {
            expected: hex(&trailer.binary_sha256),
            actual: hex(&actual),
        }
        .at(&resolved));
    }
    let manifest = sealed.manifest(&layout).map_err(|k| k.at(&resolved))?;
    let bundle = Bundle {
        path: resolved,
        // The on-disk file's state, so read_source() and friends work on the
        // bundle (and refuse if the file has changed since).
        state: source.state(),
        trailer,
        layout,
        manifest,
        verified: true,
        signed_by,
    };
    Ok((OwnedFd::from(copy), bundle))
}

/// The binary region's SHA-256 of `sealed`, after its signature (sidecar of
/// `resolved`) verified over all of its bytes; and the signer's principals.
fn signed_digest(
    sealed: &OpenFile,
    resolved: &Path,
    binary_len: u64,
    signers: &TrustedSigners,
) -> std::result::Result<([u8; 32], Option<String>), ErrorKind> {
    let sig = signature::read_sidecar(resolved)?;
    let signer = signers.authorize(&sig, signature::now())?;
    let (head, whole) = sealed.digest_whole(signature::whole_file_hash(&sig)?, Some(binary_len))?;
    signature::verify_digest(&sig, &whole)?;
    Ok((
        head.expect("a prefix was asked for"),
        Some(signer.principals.clone()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::trailer::Trailer;
    use crate::verify::hash::sha256;
    use rustix::fs::fcntl_get_seals;
    use std::io::Write;
    use std::os::unix::fs::FileExt;

    fn bundle(path: &Path, binary: &[u8]) -> Vec<u8> {
        let meta = b"dags: {d: {}}\nsdk: {supervisor_schema_version: '2026-06-16'}\n";
        let t = Trailer::new(0, meta.len() as u32, sha256(binary));
        let bytes = [binary, &meta[..], &t.to_bytes()].concat();
        std::fs::write(path, &bytes).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        bytes
    }

    #[test]
    fn the_sealed_copy_is_the_file_verified_and_immutable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let bytes = bundle(&path, b"\x7fELF binary");
        let (fd, b) = seal(&path).unwrap();
        assert!(b.verified);
        assert_eq!(b.manifest.dag_ids, ["d"]);
        let seals = fcntl_get_seals(&fd).unwrap();
        assert!(seals.contains(SealFlags::WRITE | SealFlags::SHRINK | SealFlags::GROW));
        let file = File::from(fd);
        let mut copy = vec![0; bytes.len()];
        file.read_exact_at(&mut copy, 0).unwrap();
        assert_eq!(copy, bytes);
        assert!((&file).write_all(b"x").is_err());
        assert!(file.set_len(1).is_err());
    }

    #[test]
    fn a_file_without_exec_permission_is_not_sealed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        bundle(&path, b"\x7fELF binary");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        // Not even root may execute a file without any x bit.
        let err = seal(&path).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Io { .. }), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(seal(&path).is_ok());
    }

    #[test]
    fn a_long_file_name_still_seals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n".repeat(250));
        bundle(&path, b"\x7fELF binary");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert!(seal(&path).is_ok());
    }

    #[test]
    fn a_corrupt_bundle_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let mut bytes = bundle(&path, b"\x7fELF binary");
        bytes[1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = seal(&path).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DigestMismatch { .. }),
            "{err}"
        );
    }
}
