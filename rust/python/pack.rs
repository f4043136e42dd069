//! `pack`, `strip`, `dump_manifest` and `build_trailer`.

use std::path::PathBuf;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pythonize::depythonize;

use crate::error::ErrorKind;
use crate::format::manifest::{self, Value};
use crate::format::trailer::Trailer;
use crate::write::pack as packer;

/// Write a bundle at `output` from `binary`, `manifest` (YAML bytes) and `source`.
#[pyfunction]
#[pyo3(signature = (binary, output, manifest, source, replace_footer = false))]
pub(crate) fn pack(
    py: Python<'_>,
    binary: PathBuf,
    output: PathBuf,
    manifest: Vec<u8>,
    source: Vec<u8>,
    replace_footer: bool,
) -> PyResult<()> {
    py.detach(|| packer::pack(&binary, &output, &manifest, &source, replace_footer))?;
    Ok(())
}

/// Write the binary region of `bundle` to `output`: the original executable.
/// The region is verified as it is copied; returns its SHA-256.
#[pyfunction]
pub(crate) fn strip<'py>(
    py: Python<'py>,
    bundle: PathBuf,
    output: PathBuf,
) -> PyResult<Bound<'py, PyBytes>> {
    let digest = py.detach(|| packer::strip(&bundle, &output))?;
    Ok(PyBytes::new(py, &digest))
}

/// The canonical YAML of a manifest mapping: sorted keys, ambiguous scalars quoted.
#[pyfunction]
pub(crate) fn dump_manifest<'py>(
    py: Python<'py>,
    manifest: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let value: Value = depythonize(manifest)
        .map_err(|e| PyValueError::new_err(format!("manifest cannot be written as YAML: {e}")))?;
    if !matches!(value, Value::Map(_)) {
        return Err(PyValueError::new_err("a manifest must be a mapping"));
    }
    let text =
        manifest::dump(value).map_err(|e: ErrorKind| PyValueError::new_err(e.to_string()))?;
    Ok(PyBytes::new(py, text.as_bytes()))
}

/// The 64-byte version-1 trailer for the given region lengths and digest.
#[pyfunction]
pub(crate) fn build_trailer<'py>(
    py: Python<'py>,
    source_len: u32,
    metadata_len: u32,
    binary_sha256: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let digest: [u8; 32] = binary_sha256
        .try_into()
        .map_err(|_| PyValueError::new_err("binary_sha256 must be exactly 32 bytes"))?;
    Ok(PyBytes::new(
        py,
        &Trailer::new(source_len, metadata_len, digest).to_bytes(),
    ))
}
