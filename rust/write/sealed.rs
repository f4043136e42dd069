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
//! signature covers: with signers every byte of the sealed copy is checked
//! against the signature, so nothing unsigned can run. The check is the one
//! verification every reader uses ([`crate::verify::verify`]), with digests
//! computed from the sealed bytes, never remembered; the signature is
//! checked before the binary region's digest.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};
use rustix::io::Errno;

use crate::bundle::{read_open, Bundle};
use crate::error::{ErrorKind, Op, Result};
use crate::fs::file::OpenFile;
use crate::verify::signature::TrustedSigners;
use crate::verify::{Digests, Verify};

/// Copy the bundle at `path` into a sealed memfd and verify the copy; with
/// `signers`, also require `PATH.sig` to be a valid signature by one of them
/// over the sealed bytes (so what runs is exactly what was signed), checked
/// in the same pass as the binary digest.
///
/// Returns the memfd (close-on-exec) and the bundle as read from it. Fails
/// with a clear I/O error where memfds or sealing are unavailable; there is
/// no silent fallback to the on-disk file.
pub fn seal(path: &Path, signers: Option<&TrustedSigners>) -> Result<(OwnedFd, Bundle)> {
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
        .copy_range(0, source.state().size, &mut copy, |_| {})
        .map_err(|k| k.at(&resolved))?;
    source.ensure_unchanged().map_err(|k| k.at(&resolved))?;
    let seals = SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE | SealFlags::SEAL;
    fcntl_add_seals(&copy, seals)
        .map_err(|e| ErrorKind::io(Op::SealMemfd, e.into()).at(&resolved))?;

    // Verify the sealed bytes themselves: nothing can change them any more,
    // and nothing remembered vouches for them.
    let duplicate = copy
        .try_clone()
        .map_err(|e| ErrorKind::io(Op::DuplicateMemfd, e).at(&resolved))?;
    let sealed = OpenFile::from_file(duplicate, &resolved)?;
    let verify = Verify {
        digests: Digests::Computed,
        signers,
    };
    let (bundle, _) = read_open(&sealed, resolved, Some(verify))?;
    // The on-disk file's state, so read_source() and friends work on the
    // bundle (and refuse if the file has changed since).
    Ok((OwnedFd::from(copy), bundle.standing_for(source.state())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::digest::sha256;
    use crate::format::trailer::Trailer;
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
        let (fd, b) = seal(&path, None).unwrap();
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
        let err = seal(&path, None).unwrap_err();
        assert!(matches!(err.kind, ErrorKind::Io { .. }), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(seal(&path, None).is_ok());
    }

    #[test]
    fn a_long_file_name_still_seals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n".repeat(250));
        bundle(&path, b"\x7fELF binary");
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        assert!(seal(&path, None).is_ok());
    }

    #[test]
    fn a_corrupt_bundle_is_not_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b");
        let mut bytes = bundle(&path, b"\x7fELF binary");
        bytes[1] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let err = seal(&path, None).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DigestMismatch { .. }),
            "{err}"
        );
    }
}
