//! `afbundle._core.Bundle` and `read_bundle`.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};
use pythonize::pythonize;

use crate::bundle::{self, Bundle};
use crate::cache::disk::DiskCache;
use crate::cache::memory as cache;
use crate::format::digest::hex;
use crate::python::errors::manifest_error;
use crate::python::signature::SignersArg;
use crate::verify::Verify;

/// One bundle file, as read through a single open descriptor. Immutable.
#[pyclass(frozen, name = "Bundle", module = "afbundle._core")]
pub(crate) struct PyBundle {
    pub(crate) inner: Bundle,
    pub(crate) resolved_schema_version: Option<String>,
}

impl PyBundle {
    pub(crate) fn new(inner: Bundle) -> Self {
        let resolved_schema_version = inner.manifest.supervisor_schema_version.clone();
        PyBundle {
            inner,
            resolved_schema_version,
        }
    }

    /// The same bundle with the schema version a resolver mapped it to.
    pub(crate) fn resolved(mut self, version: String) -> Self {
        self.resolved_schema_version = Some(version);
        self
    }
}

#[pymethods]
impl PyBundle {
    /// Resolved absolute path of the bundle file.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path.clone()
    }
    /// File size in bytes, trailer included.
    #[getter]
    fn size(&self) -> u64 {
        self.inner.state.size
    }
    /// Trailer format version (`footer_ver`).
    #[getter]
    fn footer_version(&self) -> u32 {
        self.inner.trailer.footer_ver
    }
    /// Offset of the source region (= length of the binary region).
    #[getter]
    fn source_start(&self) -> u64 {
        self.inner.layout.source_start
    }
    /// Length of the source region.
    #[getter]
    fn source_len(&self) -> u64 {
        self.inner.layout.source_len
    }
    /// Offset of the metadata region.
    #[getter]
    fn metadata_start(&self) -> u64 {
        self.inner.layout.metadata_start
    }
    /// Length of the metadata region.
    #[getter]
    fn metadata_len(&self) -> u64 {
        self.inner.layout.metadata_len
    }
    /// SHA-256 of the binary region, as recorded in the trailer.
    #[getter]
    fn binary_sha256<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.trailer.binary_sha256)
    }
    /// Whether the binary region was checked against `binary_sha256`.
    #[getter]
    fn verified(&self) -> bool {
        self.inner.verified
    }
    /// Principals of the trusted signer whose signature was verified, else `None`.
    /// Verified over the file's whole-file digest, which may have been remembered
    /// under the file's state (see `afbundle.find`); `afbundle.seal` re-checks it
    /// over the bytes it runs.
    #[getter]
    fn signed_by(&self) -> Option<String> {
        self.inner.signed_by.clone()
    }
    /// The manifest as Python objects (a fresh copy on every access).
    #[getter]
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        pythonize(py, &self.inner.manifest.value).map_err(|e| manifest_error(&self.inner.path, e))
    }
    /// The dag_ids Airflow routes here: the keys of `dags` its YAML 1.1
    /// reader reads as strings, in the order of the dict it builds.
    #[getter]
    fn dag_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.inner.manifest.dag_ids)
    }
    /// For each dag_id, the `tasks` items YAML 1.1 reads as strings (`None`:
    /// no `tasks` list).
    #[getter]
    fn tasks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let manifest = &self.inner.manifest;
        for (dag_id, tasks) in manifest.dag_ids.iter().zip(&manifest.tasks) {
            match tasks {
                Some(tasks) => out.set_item(dag_id, PyTuple::new(py, tasks)?)?,
                None => out.set_item(dag_id, py.None())?,
            }
        }
        Ok(out)
    }
    /// Dag and task keys that are no string to Airflow or that YAML 1.2 reads
    /// differently (dicts, as `_core.retyped_keys` returns them).
    #[getter]
    fn retyped_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(
            py,
            crate::python::inspect::retyped_dicts(py, &self.inner.manifest.retyped)?,
        )
    }
    /// `sdk.supervisor_schema_version` if it is a non-empty string.
    #[getter]
    fn supervisor_schema_version(&self) -> Option<String> {
        self.inner.manifest.supervisor_schema_version.clone()
    }
    /// The schema version after `find`'s resolver (else the declared one).
    #[getter]
    fn resolved_schema_version(&self) -> Option<String> {
        self.resolved_schema_version.clone()
    }
    /// The embedded source bytes (re-read; refused if the file changed).
    fn read_source<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.read_source())?;
        Ok(PyBytes::new(py, &bytes))
    }
    /// The raw manifest bytes (re-read; refused if the file changed).
    fn read_manifest<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let bytes = py.detach(|| self.inner.read_manifest())?;
        Ok(PyBytes::new(py, &bytes))
    }
    /// Write the source region to `dest` without holding it in memory: a
    /// path (written atomically; mode 0666 limited by the umask) or an open
    /// file descriptor (written at its current position). The file is
    /// re-opened and refused if it changed since it was read.
    fn write_source(&self, py: Python<'_>, dest: &Bound<'_, PyAny>) -> PyResult<()> {
        let (start, len) = (self.inner.layout.source_start, self.inner.layout.source_len);
        self.write_region(py, start, len, dest)
    }
    /// Write the raw manifest bytes to `dest` (as [`write_source`]).
    fn write_manifest(&self, py: Python<'_>, dest: &Bound<'_, PyAny>) -> PyResult<()> {
        let (start, len) = (
            self.inner.layout.metadata_start,
            self.inner.layout.metadata_len,
        );
        self.write_region(py, start, len, dest)
    }
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let path = self.path().into_pyobject(py)?.str()?.repr()?;
        let dags = self.dag_ids(py)?.repr()?;
        Ok(format!(
            "<Bundle {path} dag_ids={dags} sha256={}… {}>",
            &hex(&self.inner.trailer.binary_sha256)[..12],
            if self.inner.verified {
                "verified"
            } else {
                "unverified"
            }
        ))
    }
}

impl PyBundle {
    fn write_region(
        &self,
        py: Python<'_>,
        offset: u64,
        len: u64,
        dest: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if let Ok(fd) = dest.extract::<i32>() {
            let bundle = &self.inner;
            py.detach(|| {
                use std::os::fd::FromRawFd;
                let open = bundle.reopen()?;
                // SAFETY: the caller lends `fd` for this call; ManuallyDrop
                // keeps it open afterwards.
                let mut out =
                    std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
                open.copy_range(offset, len, &mut *out, |_| {})
                    .map_err(|k| k.at(&bundle.path))
            })?;
            return Ok(());
        }
        let path: PathBuf = dest.extract().map_err(|_| {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "dest must be a path or a file descriptor (int), not {}",
                dest.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })?;
        py.detach(|| crate::write::pack::extract_region(&self.inner, offset, len, &path))?;
        Ok(())
    }
}

/// Read the bundle at `path`; with `verify`, check the binary region's SHA-256
/// (through the persistent digest cache in `cache_dir`, when given and safe).
/// With `trusted_signers` (a path or a `TrustedSigners`), also require its
/// `PATH.sig` to be a valid signature by one of them.
#[pyfunction]
#[pyo3(signature = (path, *, verify = true, cache_dir = None, trusted_signers = None))]
pub(crate) fn read_bundle(
    py: Python<'_>,
    path: PathBuf,
    verify: bool,
    cache_dir: Option<PathBuf>,
    trusted_signers: Option<SignersArg>,
) -> PyResult<PyBundle> {
    if trusted_signers.is_some() && !verify {
        return Err(PyValueError::new_err(
            "trusted_signers requires verify=True (a signature covers the whole file)",
        ));
    }
    let (bundle, _) = py.detach(|| {
        let signers = trusted_signers.map(SignersArg::load).transpose()?;
        let disk = cache_dir.and_then(|d| DiskCache::open(&d).ok());
        let verify = verify.then(|| Verify::remembered(disk.as_ref(), signers.as_deref()));
        bundle::read_bundle(&path, verify)
    })?;
    Ok(PyBundle::new(bundle))
}

/// Why `cache_dir` cannot hold a persistent digest cache (created if
/// missing), or `None` when it can.
#[pyfunction]
pub(crate) fn check_cache_dir(py: Python<'_>, cache_dir: PathBuf) -> Option<String> {
    py.detach(|| DiskCache::open(&cache_dir).err().map(|e| e.to_string()))
}

/// Forget every digest the in-process cache holds.
#[pyfunction]
pub(crate) fn clear_digest_cache() {
    cache::clear();
}

/// Number of digests the in-process cache holds.
#[pyfunction]
pub(crate) fn digest_cache_len() -> usize {
    cache::len()
}

/// Panic on purpose, on this thread or in a worker of the walk's thread pool,
/// so the tests can check that a Rust panic reaches Python as an exception
/// and leaves the process usable.
#[pyfunction]
#[pyo3(signature = (in_worker_thread = false))]
pub(crate) fn _panic_for_tests(py: Python<'_>, in_worker_thread: bool) -> PyResult<()> {
    if !in_worker_thread {
        panic!("afbundle: deliberate panic for tests");
    }
    let pool = crate::walk::pool::pool(Some(2))?;
    py.detach(|| {
        pool.install(|| {
            use rayon::prelude::*;
            (0..8).into_par_iter().for_each(|i| {
                if i == 5 {
                    panic!("afbundle: deliberate panic in a worker thread");
                }
            })
        })
    });
    Ok(())
}

/// Copy the bundle at `path` into a sealed memfd and verify those bytes.
/// Returns `(fd, bundle)`; the caller owns `fd` (close-on-exec) and must
/// close it.
/// With `trusted_signers`, the sealed bytes must also carry a valid signature.
#[pyfunction]
#[pyo3(signature = (path, *, trusted_signers = None))]
pub(crate) fn seal_bundle(
    py: Python<'_>,
    path: PathBuf,
    trusted_signers: Option<SignersArg>,
) -> PyResult<(i32, PyBundle)> {
    use std::os::fd::IntoRawFd;
    let (fd, bundle) = py.detach(|| {
        let signers = trusted_signers.map(SignersArg::load).transpose()?;
        crate::write::sealed::seal(&path, signers.as_deref())
    })?;
    Ok((fd.into_raw_fd(), PyBundle::new(bundle)))
}
