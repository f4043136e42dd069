//! afbundle's compiled core: Airflow executable bundles (Executable Bundle Spec 1.0).
//!
//! One folder per layer, each using only the layers before it in this list
//! (`tests/test_architecture.py` checks it; ARCHITECTURE.md has the map):
//! `error` (a leaf) <- `format`, `fs` <- `cache` <- `verify`, `walk` <-
//! `bundle` <- `write` <- `python`. Everything outside `python` is plain Rust
//! and builds and tests without Python (`cargo test --no-default-features`);
//! the bindings only convert arguments, release the GIL and map errors. This
//! file only declares the layers and registers the extension module.

#[deny(missing_docs)]
pub mod bundle;
#[deny(missing_docs)]
pub mod cache;
#[deny(missing_docs)]
pub mod error;
#[deny(missing_docs)]
pub mod format;
#[deny(missing_docs)]
pub mod fs;
#[deny(missing_docs)]
pub mod verify;
#[deny(missing_docs)]
pub mod walk;
#[deny(missing_docs)]
pub mod write;

#[cfg(feature = "python")]
mod python;
#[cfg(feature = "python")]
use python::{
    bundle as py_bundle, inspect as py_inspect, pack as py_pack, records as py_records,
    scan as py_scan, signature as py_signature,
};

#[cfg(feature = "python")]
use pyo3::prelude::*;

/// The `afbundle._core` extension module.
#[cfg(feature = "python")]
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("TRAILER_SIZE", format::trailer::TRAILER_SIZE)?;
    m.add(
        "MAGIC",
        pyo3::types::PyBytes::new(m.py(), &format::trailer::MAGIC),
    )?;
    m.add("FOOTER_VERSION", format::trailer::FOOTER_VERSION)?;
    m.add_class::<py_bundle::PyBundle>()?;
    m.add_class::<py_scan::RawScan>()?;
    m.add_class::<py_scan::RawFind>()?;
    m.add_class::<py_records::Rejection>()?;
    m.add_class::<py_records::Skip>()?;
    m.add_class::<py_records::ScanStats>()?;
    m.add_class::<py_records::Decision>()?;
    m.add(
        "ERROR_KINDS",
        pyo3::types::PyTuple::new(m.py(), error::Kind::NAMES)?,
    )?;
    m.add(
        "DECISION_KINDS",
        pyo3::types::PyTuple::new(m.py(), bundle::precedence::LossKind::NAMES)?,
    )?;
    m.add_class::<py_signature::PyTrustedSigners>()?;
    m.add("SIGNATURE_NAMESPACE", verify::signature::NAMESPACE)?;
    m.add("SIDECAR_SUFFIX", verify::signature::SIDECAR_SUFFIX)?;
    m.add_function(wrap_pyfunction!(py_bundle::read_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(py_bundle::clear_digest_cache, m)?)?;
    m.add_function(wrap_pyfunction!(py_bundle::check_cache_dir, m)?)?;
    m.add_function(wrap_pyfunction!(py_bundle::_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(py_bundle::digest_cache_len, m)?)?;
    m.add_function(wrap_pyfunction!(py_scan::scan_roots, m)?)?;
    m.add_function(wrap_pyfunction!(py_scan::find_bundle, m)?)?;
    m.add_function(wrap_pyfunction!(py_scan::decide_bundles, m)?)?;
    m.add_function(wrap_pyfunction!(py_scan::threads_for, m)?)?;
    m.add_function(wrap_pyfunction!(py_pack::pack, m)?)?;
    m.add_function(wrap_pyfunction!(py_pack::strip, m)?)?;
    m.add_function(wrap_pyfunction!(py_pack::dump_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(py_pack::build_trailer, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::parse_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::retyped_keys, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::read_trailer, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::sha256_prefix, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::read_region, m)?)?;
    m.add_function(wrap_pyfunction!(py_inspect::write_file, m)?)?;
    m.add_function(wrap_pyfunction!(py_bundle::seal_bundle, m)?)?;
    Ok(())
}
