//! Bundles: one file read as a [`Bundle`], the candidates of a walk read by
//! scan and find ([`scan`]), and which bundle runs a dag_id ([`precedence`]).
//!
//! Architecture Invariant: a [`Bundle`] is built in one place,
//! [`Bundle::read`]: trailer, then manifest, then (when asked) the one
//! verification ([`crate::verify::verify`]) or else one state check, all
//! through the descriptor the caller opened. Depends on `error`, `format`,
//! `fs`, `cache`, `verify` and `walk`.

pub mod precedence;
pub mod read;
pub mod scan;

use std::path::{Path, PathBuf};

use crate::error::{Op, Result};
use crate::format::manifest::Manifest;
use crate::format::trailer::{Layout, Trailer};
use crate::fs::file::{FileState, OpenFile};
use crate::verify::{self, Verify, VerifyCost};

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

impl Bundle {
    /// THE constructor: the bundle `open` has (its trailer and manifest
    /// already read through `open`), named `path`; with `verify`, verified
    /// through that same descriptor ([`verify::verify`], whose state check
    /// also covers the manifest read), else only proven unchanged since the
    /// open. The hashing work is added to `cost` whether or not verification
    /// passes.
    pub(crate) fn read(
        open: &OpenFile,
        path: PathBuf,
        (trailer, layout): (Trailer, Layout),
        manifest: Manifest,
        verify: Option<Verify<'_>>,
        cost: &mut VerifyCost,
    ) -> Result<Self> {
        let signed_by = match verify {
            Some(how) => verify::verify(open, &path, &trailer, &layout, how, cost),
            None => open.ensure_unchanged().map(|()| None),
        };
        let signed_by = match signed_by {
            Ok(signed_by) => signed_by,
            Err(kind) => return Err(kind.at(path)),
        };
        Ok(Bundle {
            path,
            state: open.state(),
            trailer,
            layout,
            manifest,
            verified: verify.is_some(),
            signed_by,
        })
    }

    /// Record that this bundle, read unverified, has since been verified
    /// (`find` verifies lazily, in precedence order).
    pub(crate) fn set_verified(&mut self, signed_by: Option<String>) {
        self.verified = true;
        self.signed_by = signed_by;
    }

    /// The same bundle, standing for the file in `state` (a sealed copy
    /// stands for the file it was copied from, verified in that state).
    pub(crate) fn standing_for(self, state: FileState) -> Self {
        Bundle { state, ..self }
    }

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

    /// This bundle's file opened again: the same file in the same state it
    /// was read in, or an error.
    pub fn reopen(&self) -> Result<OpenFile> {
        let open = OpenFile::open(&self.path)?;
        open.ensure_state(&self.state)
            .map_err(|k| k.at(&self.path))?;
        Ok(open)
    }

    fn reread(&self, offset: u64, len: u64, op: Op) -> Result<Vec<u8>> {
        self.reopen()?
            .read_region(offset, len, op)
            .map_err(|k| k.at(&self.path))
    }
}

/// Read the bundle `open` has (named `path`, its resolved path): trailer,
/// manifest, and with `verify` the one verification.
pub(crate) fn read_open(
    open: &OpenFile,
    path: PathBuf,
    verify: Option<Verify<'_>>,
) -> Result<(Bundle, VerifyCost)> {
    let head = read::trailer(open).map_err(|k| k.at(&path))?;
    let manifest = read::manifest(open, &head.1).map_err(|k| k.at(&path))?;
    let mut cost = VerifyCost::default();
    let bundle = Bundle::read(open, path, head, manifest, verify, &mut cost)?;
    Ok((bundle, cost))
}

/// Read the bundle at `path` (a file the caller named; no exec-bit check).
pub fn read_bundle(path: &Path, verify: Option<Verify<'_>>) -> Result<(Bundle, VerifyCost)> {
    let open = OpenFile::open(path)?;
    let resolved = open.resolved_path(path);
    read_open(&open, resolved, verify)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::format::digest::sha256;
    use std::io::Write;

    fn digest() -> Option<Verify<'static>> {
        Some(Verify::remembered(None, None))
    }

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
        let (b, cost) = read_bundle(&p, digest()).unwrap();
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
        let err = read_bundle(&p, digest()).unwrap_err();
        assert!(
            matches!(err.kind, ErrorKind::DigestMismatch { .. }),
            "{err}"
        );
        assert!(read_bundle(&p, None).is_ok());
    }

    #[test]
    fn a_sealed_style_verification_never_uses_a_remembered_digest() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", &bundle_bytes(b"ELF", b"", META));
        std::thread::sleep(std::time::Duration::from_millis(50)); // racy-timestamp window
        read_bundle(&p, digest()).unwrap();
        let (_, cost) = read_bundle(&p, digest()).unwrap();
        assert!(cost.cache_hit && cost.bytes_hashed == 0);
        let computed = Some(Verify {
            digests: verify::Digests::Computed,
            signers: None,
        });
        let (b, cost) = read_bundle(&p, computed).unwrap();
        assert!(b.verified && !cost.cache_hit && cost.bytes_hashed == 3);
    }

    #[test]
    fn a_short_file_is_not_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", b"#!/bin/sh\n");
        assert!(is_not_a_bundle(&read_bundle(&p, digest()).unwrap_err()));
    }

    #[test]
    fn a_directory_is_not_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_bundle(dir.path(), digest()).unwrap_err();
        assert!(
            is_not_a_bundle(&err) || matches!(err.kind, ErrorKind::Io { .. }),
            "{err}"
        );
    }

    #[test]
    fn rereading_a_replaced_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "b", &bundle_bytes(b"ELF", b"src", META));
        let (b, _) = read_bundle(&p, digest()).unwrap();
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
        let msg = read_bundle(&p, None).unwrap_err().to_string();
        assert!(
            msg.contains("named") && msg.contains("not a YAML mapping"),
            "{msg}"
        );
    }
}
