//! The one error type of the crate: what went wrong ([`ErrorKind`]) and where ([`Error::path`]).
//!
//! Pure functions (trailer, manifest) return a bare [`ErrorKind`]; the code that
//! knows the file attaches the path with [`ErrorKind::at`]. The Python mapping
//! lives in one place, `py_errors.rs`.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

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
    #[error("file changed while it was being read: {0}")]
    Changed(String),
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
        problem: crate::signature::Problem,
        /// What was found, in words.
        detail: String,
    },
    /// A region too large to be read into memory whole (stream it to a file instead).
    #[error(
        "{what} is {len} bytes, more than the {limit}-byte limit for reading it into memory{hint}"
    )]
    TooLarge {
        /// The region ("source region", ...).
        what: &'static str,
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
        /// What was being attempted ("open", "read trailer", ...).
        op: &'static str,
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
    pub fn io(op: &'static str, source: io::Error) -> Self {
        ErrorKind::Io { op, source }
    }

    /// Whether this is the process or the system running out of a resource
    /// ([`exhausted`]) rather than something about the file: such a failure
    /// must never make a file lose quietly to the next one.
    pub fn is_exhaustion(&self) -> bool {
        matches!(self, ErrorKind::Io { source, .. } if exhausted(source))
    }

    /// A short stable name for the failure, as reported in scan results.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::NotABundle(_) => "not_a_bundle",
            ErrorKind::UnsupportedFooterVersion { .. } => "footer_version",
            ErrorKind::Format(_) => "format",
            ErrorKind::DigestMismatch { .. } | ErrorKind::Changed(_) => "integrity",
            ErrorKind::Manifest(_) | ErrorKind::ManifestNotAMapping { .. } => "manifest",
            ErrorKind::Signature { .. } => "signature",
            ErrorKind::TooLarge { .. } => "too_large",
            ErrorKind::Io { .. } => "io",
        }
    }
}

/// Whether `e` says the process or the system ran out of a resource --
/// descriptors (`EMFILE`: `RLIMIT_NOFILE`; `ENFILE`: the system's table) or
/// kernel memory (`ENOMEM`) -- rather than anything about the file asked for.
/// A walk that meets one cannot tell what it did not see, so it stops with
/// that error instead of skipping the file (see `scan.rs`).
pub fn exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM)
    )
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
    /// error context): `expected`/`actual` digests, `op`/`errno` of an I/O
    /// error, `found`/`supported` footer versions, `found` for a manifest's
    /// top-level type, `detail` of a change.
    pub fn context(&self) -> Vec<(&'static str, ContextValue)> {
        use ContextValue::{Int, Str};
        match self {
            ErrorKind::DigestMismatch { expected, actual } => vec![
                ("expected", Str(expected.clone())),
                ("actual", Str(actual.clone())),
            ],
            ErrorKind::UnsupportedFooterVersion { found, supported } => vec![
                ("found", Int(i64::from(*found))),
                ("supported", Int(i64::from(*supported))),
            ],
            ErrorKind::ManifestNotAMapping { found } => vec![("found", Str((*found).into()))],
            ErrorKind::Changed(detail) => vec![("detail", Str(detail.clone()))],
            ErrorKind::Signature { problem, .. } => {
                vec![("problem", Str(problem.name().to_owned()))]
            }
            ErrorKind::Io { op, source } => {
                let mut context = vec![("op", Str((*op).into()))];
                if let Some(errno) = source.raw_os_error() {
                    context.push(("errno", Int(i64::from(errno))));
                }
                context
            }
            ErrorKind::TooLarge {
                what, len, limit, ..
            } => vec![
                ("what", Str((*what).into())),
                ("len", Int(i64::try_from(*len).unwrap_or(i64::MAX))),
                ("limit", Int(i64::try_from(*limit).unwrap_or(i64::MAX))),
            ],
            ErrorKind::NotABundle(_) | ErrorKind::Format(_) | ErrorKind::Manifest(_) => vec![],
        }
    }

    /// Every [`ErrorKind::name`], once: the table Python's `errors.KINDS` mirrors.
    pub const NAMES: [&'static str; 8] = [
        "not_a_bundle",
        "footer_version",
        "format",
        "integrity",
        "manifest",
        "signature",
        "too_large",
        "io",
    ];
}

/// An [`ErrorKind`] with the path of the file it concerns.
#[derive(Debug)]
pub struct Error {
    /// The file concerned.
    pub path: PathBuf,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl Error {
    /// The path this error is about.
    pub fn path(&self) -> &Path {
        &self.path
    }
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
