//! `afbundle._core.scan_roots`: the walk and reads, GIL released, as one raw result.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::disk_cache::DiskCache;
use crate::py_bundle::PyBundle;
use crate::scan::{self, ScanOptions};

/// The raw result of one scan; `afbundle.scan` turns it into a `ScanReport`.
#[pyclass(frozen, get_all, name = "RawScan", module = "afbundle._core")]
pub struct RawScan {
    /// Bundles in precedence order.
    bundles: Py<PyList>,
    /// `(path, kind, reason)` of files with the magic that failed.
    rejected: Py<PyList>,
    /// `(path, reason)` of paths that could not be examined.
    skipped: Py<PyList>,
    /// Indices of roots that do not exist.
    missing_roots: Py<PyList>,
    /// Counters.
    stats: Py<PyDict>,
}

/// Walk `roots` (in order) and read every executable file's trailer.
///
/// With `dag_id`, only bundles declaring it are returned and none is
/// hashed; otherwise with `verify` every bundle is SHA-256-checked.
#[pyfunction]
#[pyo3(signature = (roots, *, verify = true, threads = None, dag_id = None, cache_dir = None))]
pub fn scan_roots(
    py: Python<'_>,
    roots: Vec<PathBuf>,
    verify: bool,
    threads: Option<usize>,
    dag_id: Option<String>,
    cache_dir: Option<PathBuf>,
) -> PyResult<RawScan> {
    let out = py.detach(|| {
        let options = ScanOptions {
            verify,
            dag_id,
            threads,
            disk_cache: cache_dir.and_then(|d| DiskCache::open(&d).ok()),
        };
        scan::scan(&roots, &options)
    })?;

    let bundles = PyList::empty(py);
    for bundle in out.bundles {
        bundles.append(Py::new(py, PyBundle::new(bundle))?)?;
    }
    let rejected = PyList::empty(py);
    for r in out.rejected {
        rejected.append((r.path, r.kind, r.reason))?;
    }
    let skipped = PyList::empty(py);
    for s in out.skipped {
        skipped.append(s)?;
    }
    let stats = PyDict::new(py);
    let s = &out.stats;
    for (name, value) in [
        ("dirs_visited", s.walk.dirs_visited),
        ("dirs_deduplicated", s.walk.dirs_deduplicated),
        ("files_seen", s.walk.files_seen),
        ("executables", s.walk.executables),
        ("not_executable", s.walk.not_executable),
        ("special", s.walk.special),
        ("bundles_read", s.bundles_read),
        ("duplicate_files", s.duplicate_files),
        ("bytes_hashed", s.bytes_hashed),
        ("cache_hits", s.cache_hits),
    ] {
        stats.set_item(name, value)?;
    }
    Ok(RawScan {
        bundles: bundles.unbind(),
        rejected: rejected.unbind(),
        skipped: skipped.unbind(),
        missing_roots: PyList::new(py, out.missing_roots)?.unbind(),
        stats: stats.unbind(),
    })
}
