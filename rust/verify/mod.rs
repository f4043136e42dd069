//! Whether a file is what it claims: the binary region's SHA-256 (spec step
//! 6) and, with trusted signers, a signature over every byte. [`verify`] is
//! THE verification: `find`, `scan`, `read_bundle`, `seal` and the launcher
//! all go through it.
//!
//! What it does, in this order:
//!
//! 1. with signers, the cheap checks before any hashing: the sidecar, its
//!    key among the signers, the namespace, the validity window;
//! 2. the digests: remembered under the file's state ([`Digests::Remembered`]:
//!    the in-process cache, then the persistent one) or computed; whatever
//!    is missing is computed in ONE read of the file (the binary region's
//!    SHA-256 and the signed whole-file digest together);
//! 3. ONE state check (`fstat` of the descriptor): what was hashed was not
//!    changed meanwhile, and what a digest was remembered under is the file
//!    as it is now. A remembered digest that would condemn a file whose
//!    state moved (the caller's stat was older than the descriptor) is thus
//!    never held against it: the caller gets [`ErrorKind::Changed`] and reads
//!    the file again, once ([`crate::bundle::scan`]);
//! 4. only then are computed digests remembered (under the racy-timestamp
//!    rule, [`memory::may_remember`]);
//! 5. the signature over the whole-file digest (checked on every call,
//!    against the sidecar and signers as they are now), then the binary
//!    region's digest against the trailer.
//!
//! Architecture Invariant: no other module hashes a bundle's binary region
//! against its trailer or checks a signature; a sealed copy is verified here
//! too, with [`Digests::Computed`] (never through a cache). Depends on
//! `error`, `format`, `fs` and `cache`.

pub mod allowed_signers;
pub mod hash;
pub mod signature;

use std::path::Path;

use crate::cache::disk::DiskCache;
use crate::cache::memory::{self, DigestKey};
use crate::error::ErrorKind;
use crate::format::digest::{hex, sha256};
use crate::format::trailer::{Layout, Trailer};
use crate::fs::file::OpenFile;
use signature::TrustedSigners;

/// Where [`verify`] takes its digests from.
#[derive(Clone, Copy, Debug)]
pub enum Digests<'a> {
    /// Remembered under the file's state (in-process cache, then the
    /// persistent one when given), else computed and remembered.
    Remembered(Option<&'a DiskCache>),
    /// Computed from the bytes on every call; nothing is looked up or
    /// remembered (a sealed copy: what runs is what was hashed).
    Computed,
}

/// What a bundle is verified against.
#[derive(Clone, Copy, Debug)]
pub struct Verify<'a> {
    /// Where the digests come from.
    pub(crate) digests: Digests<'a>,
    /// When given, a signature by one of them over the whole file is
    /// required too ([`signature`]).
    pub(crate) signers: Option<&'a TrustedSigners>,
}

impl<'a> Verify<'a> {
    /// The binary region's digest, remembered in the in-process cache and
    /// in `disk`; with `signers`, their signature too.
    pub fn remembered(disk: Option<&'a DiskCache>, signers: Option<&'a TrustedSigners>) -> Self {
        Verify {
            digests: Digests::Remembered(disk),
            signers,
        }
    }
}

/// How much work verification took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyCost {
    /// Bytes fed to SHA-256 (and to the whole-file digest).
    pub bytes_hashed: u64,
    /// Whether the digest cache answered.
    pub cache_hit: bool,
}

/// Verify the file `open` has (named `path`; its signature sidecar is
/// `path.sig`) against `trailer` and `layout`, as the module docs say.
/// Returns the principals of the signer whose signature verified (`None`
/// without signers). The hashing work is added to `cost` whether or not
/// verification passes.
pub fn verify(
    open: &OpenFile,
    path: &Path,
    trailer: &Trailer,
    layout: &Layout,
    how: Verify<'_>,
    cost: &mut VerifyCost,
) -> Result<Option<String>, ErrorKind> {
    let signed = match how.signers {
        None => None,
        Some(signers) => {
            let sig = signature::read_sidecar(path)?;
            let signer = signers.authorize(&sig, signature::now())?;
            let alg = signature::whole_file_hash(&sig)?;
            Some((sig, signer.principals.clone(), alg))
        }
    };
    let alg = signed.as_ref().map(|(_, _, alg)| *alg);
    let size = open.state().size;
    let key = DigestKey {
        path: path.to_path_buf(),
        region_len: layout.source_start,
        state: open.state(),
        expected: trailer.binary_sha256,
    };
    let whole_key = alg.map(|alg| whole_file_key(&key, alg));

    let disk = match how.digests {
        Digests::Remembered(disk) => disk,
        Digests::Computed => None,
    };
    let remembered_head = match how.digests {
        Digests::Computed => None,
        Digests::Remembered(_) => memory::get(&key).or_else(|| {
            let digest = disk?.get(&key)?;
            memory::put(key.clone(), digest);
            Some(digest)
        }),
    };
    // The whole-file digest is remembered only persistently: it serves the
    // next task's process.
    let remembered_whole = match (alg, &whole_key, disk) {
        (Some(alg), Some(whole_key), Some(disk)) => disk.get_value(whole_key, alg.digest_len()),
        _ => None,
    };
    if remembered_head.is_some() {
        cost.cache_hit = true;
    }

    // Whatever is not remembered, in one read of the file.
    let (computed_head, computed_whole) = match (remembered_head, alg) {
        (Some(_), None) => (None, None),
        (Some(_), Some(_)) if remembered_whole.is_some() => (None, None),
        (None, None) => (
            Some(hash::sha256_prefix(open.file(), layout.source_start)?),
            None,
        ),
        (remembered, Some(alg)) => {
            let prefix = remembered.is_none().then_some(layout.source_start);
            let (head, whole) = hash::digest_whole(open.file(), size, alg, prefix)?;
            (head, Some(whole))
        }
    };
    cost.bytes_hashed += if computed_whole.is_some() {
        size
    } else if computed_head.is_some() {
        layout.source_start
    } else {
        0
    };

    // The one state check (see the module docs).
    open.ensure_unchanged()?;

    if let Digests::Remembered(disk) = how.digests {
        if memory::may_remember(&key) {
            // Best effort: a failed write only costs a future hash.
            if let (Some(disk), Some(whole_key), Some(whole)) = (disk, &whole_key, &computed_whole)
            {
                let _ = disk.put_value(whole_key, whole);
            }
            if let Some(digest) = computed_head {
                if let Some(disk) = disk {
                    let _ = disk.put(&key, &digest);
                }
                memory::put(key, digest);
            }
        }
    }

    let principals = match signed {
        None => None,
        Some((sig, principals, _)) => {
            let whole = remembered_whole
                .or(computed_whole)
                .expect("the whole-file digest was remembered or computed");
            signature::verify_digest(&sig, &whole)?;
            Some(principals)
        }
    };
    let actual = remembered_head
        .or(computed_head)
        .expect("the binary region's digest was remembered or computed");
    if actual != trailer.binary_sha256 {
        return Err(ErrorKind::DigestMismatch {
            expected: hex(&trailer.binary_sha256),
            actual: hex(&actual),
        });
    }
    Ok(principals)
}

/// The persistent-cache key of a whole file's `alg` digest, in the state
/// `key` describes: `region_len` is the whole size (a binary-region key
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
        region_len: key.state.size,
        expected: sha256(&tag),
        ..key.clone()
    }
}
