//! Primitives for tools that look at one file: parse a manifest, read a
//! trailer without the manifest, hash a file prefix. All GIL-free.

use std::path::{Path, PathBuf};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use pythonize::pythonize;

use crate::bundle::read;
use crate::error::{ErrorKind, Op, Stage};
use crate::format::manifest;
use crate::fs::file::OpenFile;
use crate::python::errors::manifest_error;
use crate::verify::hash;

/// Parse manifest bytes as a bundle's manifest is read (UTF-8, YAML 1.2, a
/// mapping, within the size/depth/alias limits); `label` names it in errors.
#[pyfunction]
#[pyo3(signature = (data, label = "<manifest>"))]
pub(crate) fn parse_manifest<'py>(
    py: Python<'py>,
    data: &[u8],
    label: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let parsed = py
        .detach(|| manifest::parse(data))
        .map_err(|k| k.at(label))?;
    pythonize(py, &parsed.value).map_err(|e| manifest_error(Path::new(label), e))
}

/// The dag and task keys of manifest bytes that Airflow's YAML 1.1 reader and
/// YAML 1.2 read differently, or that are no string to Airflow (see
/// [`retyped_dicts`]); `label` names the manifest in errors.
#[pyfunction]
#[pyo3(signature = (data, label = "<manifest>"))]
pub(crate) fn retyped_keys<'py>(
    py: Python<'py>,
    data: &[u8],
    label: &str,
) -> PyResult<Bound<'py, PyList>> {
    let parsed = py
        .detach(|| manifest::parse(data))
        .map_err(|k| k.at(label))?;
    retyped_dicts(py, &parsed.retyped)
}

/// [`manifest::RetypedKey`]s as dicts: `dag`, `task_index`, `text`, `line`,
/// `yaml11`, `yaml12`, `routed` and the sentence `message`.
pub(crate) fn retyped_dicts<'py>(
    py: Python<'py>,
    keys: &[manifest::RetypedKey],
) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for key in keys {
        let d = PyDict::new(py);
        d.set_item("dag", &key.dag)?;
        d.set_item("task_index", key.task_index)?;
        d.set_item("text", &key.text)?;
        d.set_item("line", key.line)?;
        d.set_item("yaml11", &key.yaml11)?;
        d.set_item("yaml12", &key.yaml12)?;
        d.set_item("routed", key.routed)?;
        d.set_item("message", key.message())?;
        out.append(d)?;
    }
    Ok(out)
}

/// The trailer and region layout of the bundle at `path`, without reading
/// its manifest: a dict with `size`, `footer_version`, `source_start`,
/// `source_len`, `metadata_start`, `metadata_len`, `binary_sha256`.
#[pyfunction]
pub(crate) fn read_trailer<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyDict>> {
    let (state, trailer, layout) = py.detach(|| {
        let open = OpenFile::open(&path)?;
        let (trailer, layout) = read::trailer(&open).map_err(|k| k.at(&path))?;
        Ok::<_, crate::error::Error>((open.state(), trailer, layout))
    })?;
    let out = PyDict::new(py);
    out.set_item("size", state.size)?;
    out.set_item("footer_version", trailer.footer_ver)?;
    out.set_item("source_start", layout.source_start)?;
    out.set_item("source_len", layout.source_len)?;
    out.set_item("metadata_start", layout.metadata_start)?;
    out.set_item("metadata_len", layout.metadata_len)?;
    out.set_item("binary_sha256", PyBytes::new(py, &trailer.binary_sha256))?;
    Ok(out)
}

/// SHA-256 of the first `length` bytes of the file at `path`.
#[pyfunction]
pub(crate) fn sha256_prefix<'py>(
    py: Python<'py>,
    path: PathBuf,
    length: u64,
) -> PyResult<Bound<'py, PyBytes>> {
    let digest = py.detach(|| {
        let open = OpenFile::open(&path)?;
        if open.state().size < length {
            return Err(ErrorKind::changed(
                Stage::Hash,
                format!(
                    "the file has {} bytes, fewer than the {length} to hash",
                    open.state().size
                ),
            )
            .at(&path));
        }
        hash::sha256_prefix(open.file(), length).map_err(|k| k.at(&path))
    })?;
    Ok(PyBytes::new(py, &digest))
}

/// The raw bytes of one region (`"source"` or `"manifest"`) of the bundle at
/// `path`, read through one descriptor after the trailer is validated; the
/// manifest is not parsed, so a bundle whose manifest is broken can still be
/// examined.
#[pyfunction]
pub(crate) fn read_region<'py>(
    py: Python<'py>,
    path: PathBuf,
    region: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let source = match region {
        "source" => true,
        "manifest" => false,
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "region must be 'source' or 'manifest', not {other:?}"
            )))
        }
    };
    let bytes = py.detach(|| {
        let open = OpenFile::open(&path)?;
        let (_, layout) = read::trailer(&open).map_err(|k| k.at(&path))?;
        let (offset, len, op) = if source {
            (layout.source_start, layout.source_len, Op::ReadSource)
        } else {
            (layout.metadata_start, layout.metadata_len, Op::ReadManifest)
        };
        let bytes = open.read_region(offset, len, op).map_err(|k| k.at(&path))?;
        open.ensure_unchanged().map_err(|k| k.at(&path))?;
        Ok::<_, crate::error::Error>(bytes)
    })?;
    Ok(PyBytes::new(py, &bytes))
}

/// Write `data` to `path` atomically (temporary file, fsync, rename, fsync
/// of the directory); the directory must exist.
#[pyfunction]
pub(crate) fn write_file(py: Python<'_>, path: PathBuf, data: &[u8]) -> PyResult<()> {
    py.detach(|| crate::write::atomic::write_file(&path, data))?;
    Ok(())
}
