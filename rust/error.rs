//! The one error type of the crate: what went wrong ([`ErrorKind`]), at which
//! stage ([`Stage`]) and where ([`Error::path`]).
//!
//! Pure functions (trailer, manifest) return a bare [`ErrorKind`]; the code that
//! knows the file attaches the path with [`ErrorKind::at`]. The Python mapping
//! lives in one place, `python/errors.rs`.
//!
//! Every vocabulary an error carries is defined here once, by [`names!`]: the
//! failure [`Kind`]s (`_core.ERROR_KINDS`, Python's `errors.KINDS`), the
//! signature [`Problem`]s, the [`Stage`]s and the I/O [`Op`]s. Each has its
//! name, its list and the exhaustive `match` that maps an [`ErrorKind`] onto
//! it; nothing else spells them.
//!
//! Architecture Invariant: a leaf. This module names no other module of the
//! crate (`tests/test_architecture.py` checks it), so every layer can use it.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A field-less enum whose variants each have a stable name, with the list of
/// them: the name is written once, next to its variant.
macro_rules! names {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[doc = $doc:literal])* $variant:ident => $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $($(#[doc = $doc])* $variant,)*
        }

        impl $name {
            /// Every variant, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),*];
            /// Every name, in declaration order.
            #[allow(dead_code)]
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            /// The stable name.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)*
                }
            }

            /// The variant called `name`.
            #[allow(dead_code)]
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}
pub(crate) use names;

names! {
    /// What kind of failure an [`ErrorKind`] is: the `kind` of a rejection
    /// or of an exception (`Rejection.kind`, `BundleError.kind`).
    pub enum Kind {
        /// [`ErrorKind::NotABundle`].
        NotABundle => "not_a_bundle",
        /// [`ErrorKind::UnsupportedFooterVersion`].
        FooterVersion => "footer_version",
        /// [`ErrorKind::Format`].
        Format => "format",
        /// [`ErrorKind::DigestMismatch`], [`ErrorKind::Changed`].
        Integrity => "integrity",
        /// [`ErrorKind::Manifest`], [`ErrorKind::ManifestNotAMapping`].
        Manifest => "manifest",
        /// [`ErrorKind::Signature`].
        Signature => "signature",
        /// [`ErrorKind::TooLarge`].
        TooLarge => "too_large",
        /// [`ErrorKind::Io`].
        Io => "io",
    }
}

names! {
    /// Where in reading, verifying or writing a file a failure happened: the
    /// `stage` of every error's context, so a consumer tells "cannot read the
    /// trailer" from "cannot read the manifest" without parsing words.
    pub enum Stage {
        /// Opening the file.
        Open => "open",
        /// `fstat` of the file (and the checks that its state did not change).
        Stat => "stat",
        /// Listing the directories of a walk.
        Walk => "walk",
        /// The trailer (spec steps 1-5).
        Trailer => "trailer",
        /// The manifest region: read, decoded, parsed (spec step 7).
        Manifest => "manifest",
        /// The binary region's SHA-256 (spec step 6).
        Hash => "hash",
        /// The signature sidecar and the trusted signers.
        Signature => "signature",
        /// Copying a region out of the file.
        Copy => "copy",
        /// Writing an output file.
        Write => "write",
        /// Copying into, sealing and executing a sealed memory file.
        Seal => "seal",
    }
}

names! {
    /// The operation an [`ErrorKind::Io`] failed at, in words (the `op` of
    /// its context: "cannot {op}: ...").
    pub enum Op {
        /// Open the file.
        Open => "open",
        /// Open the directory an output is written in.
        OpenDirectory => "open directory",
        /// `stat`/`fstat`.
        Stat => "stat",
        /// List a directory during a walk.
        ListDirectory => "list directory",
        /// Read the next entry of a directory during a walk.
        ReadDirectoryEntry => "read directory entry",
        /// Read the trailer.
        ReadTrailer => "read trailer",
        /// Read the manifest region.
        ReadManifest => "read manifest",
        /// Read the source region.
        ReadSource => "read source",
        /// Read the binary region while hashing it.
        ReadBinary => "read binary region",
        /// Open the signature sidecar.
        OpenSignature => "open signature file",
        /// Read a region to copy it.
        Copy => "copy",
        /// Write a copied region.
        WriteCopy => "write copy",
        /// Write an output file.
        Write => "write",
        /// Write the appended regions of a bundle.
        WriteBundle => "write bundle",
        /// Use the directory an output is written into.
        WriteInto => "write into",
        /// Create the temporary file of an output.
        CreateTemporary => "create temporary file",
        /// Rename an output into place.
        RenameIntoPlace => "rename into place",
        /// Link an output into place.
        LinkIntoPlace => "link into place",
        /// Execute the file (a sealed copy of it).
        Execute => "execute",
        /// `memfd_create`.
        CreateMemfd => "create a sealed memory file (memfd_create)",
        /// `memfd_create` with `MFD_EXEC`, refused by `vm.memfd_noexec`.
        CreateExecutableMemfd => "create an executable memory file (memfd_create with MFD_EXEC \
            is forbidden while the vm.memfd_noexec sysctl is 2; verified exec needs 0 or 1)",
        /// Seal the memory file.
        SealMemfd => "seal the memory file",
        /// Duplicate the memory file's descriptor.
        DuplicateMemfd => "duplicate the memory file",
    }
}

impl Op {
    /// The stage this operation belongs to.
    pub const fn stage(self) -> Stage {
        match self {
            Op::Open => Stage::Open,
            Op::Stat => Stage::Stat,
            Op::ListDirectory | Op::ReadDirectoryEntry => Stage::Walk,
            Op::ReadTrailer => Stage::Trailer,
            Op::ReadManifest => Stage::Manifest,
            Op::ReadBinary => Stage::Hash,
            Op::OpenSignature => Stage::Signature,
            Op::ReadSource | Op::Copy | Op::WriteCopy => Stage::Copy,
            Op::OpenDirectory
            | Op::Write
            | Op::WriteBundle
            | Op::WriteInto
            | Op::CreateTemporary
            | Op::RenameIntoPlace
            | Op::LinkIntoPlace => Stage::Write,
            Op::Execute
            | Op::CreateMemfd
            | Op::CreateExecutableMemfd
            | Op::SealMemfd
            | Op::DuplicateMemfd => Stage::Seal,
        }
    }
}

names! {
    /// Which signature check failed (`BundleSignatureError.problem`).
    pub enum Problem {
        /// No usable sidecar: missing, a symlink, not a regular file, too large.
        NoSidecar => "no_sidecar",
        /// The sidecar is not an armored `sshsig` signature.
        Malformed => "malformed",
        /// The signing key is not in the trusted signers.
        UnknownKey => "unknown_key",
        /// The signature's namespace, or the signer line's `namespaces=`, is not `afbundle`.
        WrongNamespace => "wrong_namespace",
        /// Every line listing the key has a `valid-after` in the future.
        NotYetValid => "not_yet_valid",
        /// Every line listing the key has a `valid-before` in the past.
        Expired => "expired",
        /// The signature does not verify over this file's bytes.
        BadSignature => "bad_signature",
        /// The `allowed_signers` file is unusable (missing, not a regular file,
        /// others could change it or where it leads, too large). A line OpenSSH
        /// would skip is skipped, not this.
        SignersFile => "signers_file",
    }
}

impl Problem {
    /// This problem, with what was found in words.
    pub fn with(self, detail: impl Into<String>) -> ErrorKind {
        ErrorKind::Signature {
            problem: self,
            detail: detail.into(),
        }
    }
}

/// Why a file is not a usable bundle, or why it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ErrorKind {
    /// No trailer: the file is too short, lacks the magic, or is not a regular file.
    /// Scans ignore these silently (spec, reader algorithm step 2).
    #[error("{0}")]
    NotABundle(String),
    /// The trailer's `footer_ver` is unknown (spec, step 3).
    #[error("unsupported footer_ver={found}; this reader supports footer_ver={supported}")]
    UnsupportedFooterVersion {
        /// The version in the trailer.
        found: u32,
        /// The version this reader implements.
        supported: u32,
    },
    /// The trailer is malformed: reserved bytes, impossible regions (spec, steps 4-5).
    #[error("{0}")]
    Format(String),
    /// The binary region does not hash to `binary_sha256` (spec, step 6).
    #[error("binary_sha256 mismatch: trailer has {expected}, binary region hashes to {actual}")]
    DigestMismatch {
        /// Hex digest recorded in the trailer.
        expected: String,
        /// Hex digest of the bytes actually read.
        actual: String,
    },
    /// The file changed size or identity while it was being read.
    #[error("file changed while it was being read: {detail}")]
    Changed {
        /// Where the change showed.
        stage: Stage,
        /// What changed, in words.
        detail: String,
    },
    /// The metadata region is not UTF-8 YAML, or breaks a safety limit.
    #[error("{0}")]
    Manifest(String),
    /// The metadata region is YAML, but its top level is not a mapping.
    #[error("manifest is not a YAML mapping (found {found})")]
    ManifestNotAMapping {
        /// What the top level is ("list", "string", "null", ...).
        found: &'static str,
    },
    /// Trusted signers were required and the bundle's signature did not
    /// satisfy them, or the signer file itself is unusable.
    #[error("{detail}")]
    Signature {
        /// Which check failed.
        problem: Problem,
        /// What was found, in words.
        detail: String,
    },
    /// A region too large to be read into memory whole (stream it to a file instead).
    #[error(
        "{what} is {len} bytes, more than the {limit}-byte limit for reading it into memory{hint}"
    )]
    TooLarge {
        /// The read that would have needed it ("read source", ...).
        what: Op,
        /// Its length.
        len: u64,
        /// The in-memory limit (or the size that could not be allocated).
        limit: u64,
        /// What to do instead, or why the allocation failed.
        hint: &'static str,
    },
    /// An operating-system error.
    #[error("cannot {op}: {source}")]
    Io {
        /// What was being attempted.
        op: Op,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl ErrorKind {
    /// Attach the path this error is about.
    pub fn at(self, path: impl Into<PathBuf>) -> Error {
        Error {
            path: path.into(),
            kind: self,
        }
    }

    /// Wrap an I/O error with the operation that failed.
    pub fn io(op: Op, source: io::Error) -> Self {
        ErrorKind::Io { op, source }
    }

    /// The file changed while `stage` read it; `detail` says how.
    pub fn changed(stage: Stage, detail: impl Into<String>) -> Self {
        ErrorKind::Changed {
            stage,
            detail: detail.into(),
        }
    }

    /// Whether this is the process or the system running out of a resource
    /// ([`exhausted`]) rather than something about the file: such a failure
    /// must never make a file lose quietly to the next one.
    pub fn is_exhaustion(&self) -> bool {
        matches!(self, ErrorKind::Io { source, .. } if exhausted(source))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> Kind {
        match self {
            ErrorKind::NotABundle(_) => Kind::NotABundle,
            ErrorKind::UnsupportedFooterVersion { .. } => Kind::FooterVersion,
            ErrorKind::Format(_) => Kind::Format,
            ErrorKind::DigestMismatch { .. } | ErrorKind::Changed { .. } => Kind::Integrity,
            ErrorKind::Manifest(_) | ErrorKind::ManifestNotAMapping { .. } => Kind::Manifest,
            ErrorKind::Signature { .. } => Kind::Signature,
            ErrorKind::TooLarge { .. } => Kind::TooLarge,
            ErrorKind::Io { .. } => Kind::Io,
        }
    }

    /// A short stable name for the failure, as reported in scan results.
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Where the failure happened.
    pub fn stage(&self) -> Stage {
        match self {
            ErrorKind::NotABundle(_)
            | ErrorKind::UnsupportedFooterVersion { .. }
            | ErrorKind::Format(_) => Stage::Trailer,
            ErrorKind::DigestMismatch { .. } => Stage::Hash,
            ErrorKind::Changed { stage, .. } => *stage,
            ErrorKind::Manifest(_) | ErrorKind::ManifestNotAMapping { .. } => Stage::Manifest,
            ErrorKind::Signature { .. } => Stage::Signature,
            ErrorKind::TooLarge { what: op, .. } | ErrorKind::Io { op, .. } => op.stage(),
        }
    }
}

/// Whether `e` says the process or the system ran out of a resource --
/// descriptors (`EMFILE`: `RLIMIT_NOFILE`; `ENFILE`: the system's table) or
/// kernel memory (`ENOMEM`) -- rather than anything about the file asked for.
/// A walk that meets one cannot tell what it did not see, so it stops with
/// that error instead of skipping the file (see `bundle/scan.rs`).
pub fn exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)
    )
}

/// An I/O error as a short phrase, without Rust's "(os error N)" suffix.
pub fn describe(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = io::Error::from_raw_os_error(code).to_string();
            text.split(" (os error").next().unwrap_or(&text).to_owned()
        }
        None => e.to_string(),
    }
}

/// A value in an error's [`ErrorKind::context`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextValue {
    /// Text.
    Str(String),
    /// A number.
    Int(i64),
}

impl ErrorKind {
    /// The failure's data, by name, for machine consumers (as pydantic-core's
    /// error context): always its `stage`; `expected`/`actual` digests,
    /// `op`/`errno` of an I/O error, `found`/`supported` footer versions,
    /// `found` for a manifest's top-level type, `detail` of a change.
    pub fn context(&self) -> Vec<(&'static str, ContextValue)> {
        use ContextValue::{Int, Str};
        let mut context = vec![("stage", Str(self.stage().name().to_owned()))];
        match self {
            ErrorKind::DigestMismatch { expected, actual } => context.extend([
                ("expected", Str(expected.clone())),
                ("actual", Str(actual.clone())),
            ]),
            ErrorKind::UnsupportedFooterVersion { found, supported } => context.extend([
                ("found", Int(i64::from(*found))),
                ("supported", Int(i64::from(*supported))),
            ]),
            ErrorKind::ManifestNotAMapping { found } => {
                context.push(("found", Str((*found).into())));
            }
            ErrorKind::Changed { detail, .. } => context.push(("detail", Str(detail.clone()))),
            ErrorKind::Signature { problem, .. } => {
                context.push(("problem", Str(problem.name().to_owned())));
            }
            ErrorKind::Io { op, source } => {
                context.push(("op", Str(op.name().to_owned())));
                if let Some(errno) = source.raw_os_error() {
                    context.push(("errno", Int(i64::from(errno))));
                }
            }
            ErrorKind::TooLarge {
                what, len, limit, ..
            } => context.extend([
                ("what", Str(what.name().to_owned())),
                ("len", Int(i64::try_from(*len).unwrap_or(i64::MAX))),
                ("limit", Int(i64::try_from(*limit).unwrap_or(i64::MAX))),
            ]),
            ErrorKind::NotABundle(_) | ErrorKind::Format(_) | ErrorKind::Manifest(_) => {}
        }
        context
    }
}

/// An [`ErrorKind`] with the path of the file it concerns.
#[derive(Debug)]
pub struct Error {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.kind)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.kind)
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_round_trip() {
        for names in [Kind::NAMES, Stage::NAMES, Op::NAMES, Problem::NAMES] {
            let distinct: std::collections::HashSet<_> = names.iter().collect();
            assert_eq!(distinct.len(), names.len(), "{names:?}");
        }
        for kind in Kind::ALL {
            assert_eq!(Kind::from_name(kind.name()), Some(*kind));
        }
        assert_eq!(Kind::from_name("schema"), None);
    }

    #[test]
    fn every_context_names_its_stage() {
        let io = ErrorKind::io(Op::ReadManifest, io::Error::from_raw_os_error(libc::EIO));
        let context = io.context();
        assert_eq!(context[0], ("stage", ContextValue::Str("manifest".into())));
        assert!(context.contains(&("op", ContextValue::Str("read manifest".into()))));
        assert_eq!(
            io.to_string().split(':').next(),
            Some("cannot read manifest")
        );
        let changed = ErrorKind::changed(Stage::Trailer, "grew");
        assert_eq!(
            (changed.name(), changed.stage()),
            ("integrity", Stage::Trailer)
        );
    }
}
