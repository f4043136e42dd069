//! `afbundle._core.TrustedSigners`: an `allowed_signers` file, loaded once.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::verify::signature::TrustedSigners;

/// An OpenSSH `allowed_signers` file, read once and checked (refused when
/// group or others could change it). Immutable; pass it as
/// `trusted_signers=` to avoid re-reading the file for every call.
#[pyclass(frozen, name = "TrustedSigners", module = "afbundle._core")]
pub(crate) struct PyTrustedSigners {
    pub(crate) inner: Arc<TrustedSigners>,
}

#[pymethods]
impl PyTrustedSigners {
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py.detach(|| TrustedSigners::load(&path))?;
        Ok(PyTrustedSigners {
            inner: Arc::new(inner),
        })
    }
    /// The resolved path of the file read.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }
    /// SHA-256 of the file's bytes as read.
    #[getter]
    fn content_sha256<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.content_sha256())
    }
    /// The lines OpenSSH would skip, as `(line number, reason)`: they trust
    /// nothing, and the rest of the file still counts (as in `ssh-keygen -Y verify`).
    #[getter]
    fn skipped(&self) -> Vec<(usize, String)> {
        self.inner.skipped().to_vec()
    }
    /// The principals field of each usable line, in file order.
    #[getter]
    fn principals(&self) -> Vec<String> {
        self.inner
            .signers()
            .iter()
            .map(|s| s.principals.clone())
            .collect()
    }
    fn __len__(&self) -> usize {
        self.inner.signers().len()
    }
    /// Pickles as its path: unpickling reads (and checks) the file again.
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, pyo3::types::PyType>, (PathBuf,))> {
        Ok((slf.get_type(), (slf.get().path(),)))
    }
    fn __repr__(&self) -> String {
        format!(
            "<TrustedSigners {:?} signers={}>",
            self.inner.path().display().to_string(),
            self.inner.signers().len()
        )
    }
}

/// A `trusted_signers=` argument: a loaded file or a path to load.
#[derive(FromPyObject)]
pub(crate) enum SignersArg {
    /// Already loaded.
    Loaded(Py<PyTrustedSigners>),
    /// A path to an `allowed_signers` file.
    Path(PathBuf),
}

impl SignersArg {
    /// The signers, loading the file if a path was given (call without the GIL).
    pub(crate) fn load(self) -> Result<Arc<TrustedSigners>, crate::error::Error> {
        match self {
            SignersArg::Loaded(s) => Ok(Arc::clone(&s.get().inner)),
            SignersArg::Path(p) => TrustedSigners::load(&p).map(Arc::new),
        }
    }
}
