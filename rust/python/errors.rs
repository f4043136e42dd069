//! The one mapping from [`Error`] to Python exceptions (classes live in `afbundle.errors`).

use pyo3::exceptions::{PyMemoryError, PyOSError, PyValueError};
use pyo3::{import_exception, PyErr};

use crate::error::{ContextValue, Error, ErrorKind};

import_exception!(afbundle.errors, NotABundleError);
import_exception!(afbundle.errors, BundleFormatError);
import_exception!(afbundle.errors, UnsupportedFooterVersionError);
import_exception!(afbundle.errors, BundleIntegrityError);
import_exception!(afbundle.errors, ManifestError);
import_exception!(afbundle.errors, BundleSignatureError);

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        let message = err.to_string();
        let reason = err.kind.to_string();
        let context = context_of(&err.kind);
        let path = err.path.into_os_string();
        match err.kind {
            ErrorKind::NotABundle(_) => NotABundleError::new_err((message, path, reason, context)),
            ErrorKind::UnsupportedFooterVersion { .. } => {
                UnsupportedFooterVersionError::new_err((message, path, reason, context))
            }
            ErrorKind::Format(_) => BundleFormatError::new_err((message, path, reason, context)),
            ErrorKind::DigestMismatch { .. } | ErrorKind::Changed { .. } => {
                BundleIntegrityError::new_err((message, path, reason, context))
            }
            ErrorKind::Manifest(_) | ErrorKind::ManifestNotAMapping { .. } => {
                ManifestError::new_err((message, path, reason, context))
            }
            ErrorKind::Signature { .. } => {
                BundleSignatureError::new_err((message, path, reason, context))
            }
            ErrorKind::TooLarge { .. } => PyMemoryError::new_err(message),
            ErrorKind::Io { op, source } => match source.raw_os_error() {
                // OSError(errno, strerror, filename) picks the subclass
                // (FileNotFoundError, PermissionError, ...) from errno.
                Some(errno) => PyOSError::new_err((
                    errno,
                    format!("cannot {op}: {}", crate::error::describe(&source)),
                    path,
                )),
                None => PyOSError::new_err(message),
            },
        }
    }
}

impl From<crate::walk::pool::PoolError> for PyErr {
    fn from(err: crate::walk::pool::PoolError) -> PyErr {
        use crate::walk::pool::PoolError;
        match err {
            PoolError::OutOfRange(_) => PyValueError::new_err(err.to_string()),
            PoolError::Spawn { .. } => PyOSError::new_err(err.to_string()),
        }
    }
}

impl From<crate::bundle::scan::ScanError> for PyErr {
    fn from(err: crate::bundle::scan::ScanError) -> PyErr {
        use crate::bundle::scan::ScanError;
        match err {
            ScanError::Pool(err) => err.into(),
            // OSError(EMFILE, ...) naming the path: never a partial answer.
            ScanError::Exhausted(err) => err.into(),
        }
    }
}

/// The error's context as `(name, value)` pairs Python turns into a dict.
fn context_of(kind: &ErrorKind) -> Vec<(&'static str, PyContext)> {
    kind.context()
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                ContextValue::Str(s) => PyContext::Str(s),
                ContextValue::Int(i) => PyContext::Int(i),
            };
            (name, value)
        })
        .collect()
}

#[derive(pyo3::IntoPyObject)]
enum PyContext {
    Str(String),
    Int(i64),
}

/// A manifest that cannot become Python objects (e.g. an unhashable key).
pub(crate) fn manifest_error(path: &std::path::Path, err: impl std::fmt::Display) -> PyErr {
    ErrorKind::Manifest(format!("manifest cannot be represented in Python: {err}"))
        .at(path)
        .into()
}
