//! `afbundle._core.scan_roots` and `find_bundle`: walk, read, verify and decide
//! with the GIL released (taken back only to call the caller's resolver).

use std::path::PathBuf;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::bundle::precedence::{self, Decision as CoreDecision, Loss};
use crate::bundle::scan::{self, ScanOptions, ScanOutput};
use crate::bundle::Bundle;
use crate::cache::disk::DiskCache;
use crate::python::bundle::PyBundle;
use crate::python::records::{Decision, Rejection, ScanStats, Skip};
use crate::python::signature::SignersArg;

/// The raw result of one scan; `afbundle.scan` turns it into a `ScanReport`.
#[pyclass(frozen, get_all, name = "RawScan", module = "afbundle._core")]
pub(crate) struct RawScan {
    /// Bundles in precedence order.
    bundles: Py<PyList>,
    /// `Rejection`s of files with the magic that failed.
    rejected: Py<PyList>,
    /// `Skip`s of paths that could not be examined.
    skipped: Py<PyList>,
    /// Indices of roots that do not exist.
    missing_roots: Py<PyList>,
    /// Counters.
    stats: Py<ScanStats>,
    /// A `Decision` per dag_id, in the order dag_ids are first declared,
    /// indices into `bundles`. Decided by the same rule as `find`.
    decisions: Py<PyTuple>,
}

/// The raw result of `find_bundle`; `afbundle.find` logs it and words errors.
#[pyclass(frozen, get_all, name = "RawFind", module = "afbundle._core")]
pub(crate) struct RawFind {
    /// The verified winner (its `resolved_schema_version` set), or None.
    bundle: Option<Py<PyBundle>>,
    /// Candidates declaring the dag_id that lost before the winner (or all,
    /// when none won), in precedence order, each a `Rejection`.
    lost: Py<PyList>,
    /// Paths of candidates after the winner (shadowed by it).
    shadowed: Py<PyList>,
    /// `Rejection`s of other files with the magic (bad trailer, manifest, ...).
    rejected: Py<PyList>,
    /// `Skip`s.
    skipped: Py<PyList>,
    /// Indices of roots that do not exist.
    missing_roots: Py<PyList>,
    /// Counters.
    stats: Py<ScanStats>,
}

/// A schema-version resolver from Python: `None` accepts every version as is;
/// a `ValueError` or `TypeError` refuses it; other exceptions propagate.
struct Resolver {
    callable: Option<Py<PyAny>>,
    raised: Option<PyErr>,
}

impl Resolver {
    fn new(callable: Option<Py<PyAny>>) -> Self {
        Resolver {
            callable,
            raised: None,
        }
    }

    fn resolve(&mut self, declared: &str) -> Result<String, String> {
        let Some(callable) = &self.callable else {
            return Ok(declared.to_owned());
        };
        if self.raised.is_some() {
            return Err("resolver failed".into());
        }
        Python::attach(|py| {
            match callable
                .call1(py, (declared,))
                .and_then(|v| v.extract::<String>(py))
            {
                Ok(resolved) => Ok(resolved),
                Err(err)
                    if err.is_instance_of::<PyValueError>(py)
                        || err.is_instance_of::<PyTypeError>(py) =>
                {
                    Err(err.value(py).to_string())
                }
                Err(err) => {
                    self.raised = Some(err);
                    Err("resolver failed".into())
                }
            }
        })
    }

    fn finish(self) -> PyResult<()> {
        self.raised.map_or(Ok(()), Err)
    }
}

fn options(
    verify: bool,
    threads: Option<usize>,
    cache_dir: Option<PathBuf>,
    trusted_signers: Option<SignersArg>,
) -> Result<ScanOptions, crate::error::Error> {
    Ok(ScanOptions {
        verify,
        threads,
        // Opened once per call, then shared by every verification in it.
        disk_cache: cache_dir.and_then(|d| DiskCache::open(&d).ok()),
        // A signer file that cannot be used fails the call
        // (BundleSignatureError), never a silent fallback to unsigned.
        trusted_signers: trusted_signers.map(SignersArg::load).transpose()?,
    })
}

struct Common {
    rejected: Py<PyList>,
    skipped: Py<PyList>,
    missing_roots: Py<PyList>,
    stats: Py<ScanStats>,
}

fn common(py: Python<'_>, out: &mut ScanOutput) -> PyResult<Common> {
    let rejected = PyList::empty(py);
    for refused in std::mem::take(&mut out.rejected) {
        let error = refused.error;
        rejected.append(Rejection::of(error.path, &error.kind, refused.dag_ids))?;
    }
    let skipped = PyList::empty(py);
    for (path, reason) in std::mem::take(&mut out.skipped) {
        skipped.append(Skip::new_raw(path, reason))?;
    }
    Ok(Common {
        rejected: rejected.unbind(),
        skipped: skipped.unbind(),
        missing_roots: PyList::new(py, &out.missing_roots)?.unbind(),
        stats: Py::new(py, ScanStats::from(&out.stats))?,
    })
}

/// Walk `roots` (in order), read every executable file's trailer and, with
/// `verify`, SHA-256-check every bundle (and, with `trusted_signers`, its
/// signature: failures are rejections of kind `signature`); then decide each
/// dag_id's winner with `resolve` (see `precedence.rs`).
#[pyfunction]
#[pyo3(signature = (
    roots, *, verify = true, threads = None, cache_dir = None, resolve = None, trusted_signers = None
))]
pub(crate) fn scan_roots(
    py: Python<'_>,
    roots: Vec<PathBuf>,
    verify: bool,
    threads: Option<usize>,
    cache_dir: Option<PathBuf>,
    resolve: Option<Py<PyAny>>,
    trusted_signers: Option<SignersArg>,
) -> PyResult<RawScan> {
    if trusted_signers.is_some() && !verify {
        return Err(PyValueError::new_err(
            "trusted_signers requires verify=True (a signature covers the whole file)",
        ));
    }
    let mut resolver = Resolver::new(resolve);
    let options = py.detach(|| options(verify, threads, cache_dir, trusted_signers))?;
    let (mut out, decisions) = py.detach(|| {
        let out = scan::scan(&roots, &options)?;
        let candidates: Vec<&Bundle> = out.bundles.iter().collect();
        let decisions = precedence::decide_each(&candidates, |v| resolver.resolve(v));
        Ok::<_, scan::ScanError>((out, decisions))
    })?;
    resolver.finish()?;

    let candidates: Vec<&Bundle> = out.bundles.iter().collect();
    let decided = records(py, &candidates, decisions)?;
    let rest = common(py, &mut out)?;
    let bundles = PyList::empty(py);
    for bundle in out.bundles {
        bundles.append(Py::new(py, PyBundle::new(bundle))?)?;
    }
    Ok(RawScan {
        bundles: bundles.unbind(),
        rejected: rest.rejected,
        skipped: rest.skipped,
        missing_roots: rest.missing_roots,
        stats: rest.stats,
        decisions: decided.unbind(),
    })
}

/// The core's decisions as `Decision` records, their indices into `bundles`.
fn records<'py>(
    py: Python<'py>,
    bundles: &[&Bundle],
    decisions: Vec<(String, CoreDecision)>,
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(
        py,
        decisions
            .into_iter()
            .map(|(dag_id, decision)| Decision::of(dag_id, &decision, bundles)),
    )
}

/// Decide every dag_id among `bundles` already read (and verified) by
/// earlier scans, taken in the order given: the bundles of several
/// single-root scans concatenated in a search path's root order, so each
/// root is walked once however many search paths share it. As within one
/// scan, a file met again (same device and inode, e.g. under a nested root)
/// counts once, at its first position (`precedence::decide_found`).
///
/// Returns `(kept, decisions)`: the indices of the bundles that count, and a
/// `Decision` per dag_id whose indices are into those kept bundles, decided
/// by the same rule as `scan_roots` and `find_bundle`.
#[pyfunction]
#[pyo3(signature = (bundles, *, resolve = None))]
pub(crate) fn decide_bundles<'py>(
    py: Python<'py>,
    bundles: Vec<PyRef<'py, PyBundle>>,
    resolve: Option<Py<PyAny>>,
) -> PyResult<(Vec<usize>, Bound<'py, PyTuple>)> {
    let all: Vec<&Bundle> = bundles.iter().map(|b| &b.inner).collect();
    let mut resolver = Resolver::new(resolve);
    let (kept, decisions) = precedence::decide_found(&all, |v| resolver.resolve(v));
    resolver.finish()?;
    let kept_bundles: Vec<&Bundle> = kept.iter().map(|&i| all[i]).collect();
    let decided = records(py, &kept_bundles, decisions)?;
    Ok((kept, decided))
}

/// Find the bundle that runs `dag_id` under the precedence rule
/// (`precedence.rs`), verifying candidates lazily through the descriptors
/// they were read with and one persistent-cache handle.
#[pyfunction]
#[pyo3(signature = (
    roots, dag_id, *, threads = None, cache_dir = None, resolve = None, trusted_signers = None
))]
pub(crate) fn find_bundle(
    py: Python<'_>,
    roots: Vec<PathBuf>,
    dag_id: String,
    threads: Option<usize>,
    cache_dir: Option<PathBuf>,
    resolve: Option<Py<PyAny>>,
    trusted_signers: Option<SignersArg>,
) -> PyResult<RawFind> {
    let mut resolver = Resolver::new(resolve);
    let options = py.detach(|| options(false, threads, cache_dir, trusted_signers))?;
    let found = py.detach(|| scan::find(&roots, &dag_id, &options, |v| resolver.resolve(v)))?;
    resolver.finish()?;
    let scan::FindOutput {
        scan: mut out,
        decision,
    } = found;

    let lost = PyList::empty(py);
    let shadowed = PyList::empty(py);
    for (i, loss) in &decision.losers {
        let bundle = &out.bundles[*i];
        match loss {
            Loss::Shadowed => shadowed.append(&bundle.path)?,
            loss => {
                let dag_ids = bundle.manifest.dag_ids.clone();
                lost.append(Rejection::lost(bundle.path.clone(), loss, dag_ids))?;
            }
        }
    }
    let rest = common(py, &mut out)?;
    let bundle = match decision.winner {
        Some((i, resolved)) => {
            let winner = out.bundles.swap_remove(i);
            Some(Py::new(py, PyBundle::new(winner).resolved(resolved))?)
        }
        None => None,
    };
    Ok(RawFind {
        bundle,
        lost: lost.unbind(),
        shadowed: shadowed.unbind(),
        rejected: rest.rejected,
        skipped: rest.skipped,
        missing_roots: rest.missing_roots,
        stats: rest.stats,
    })
}

/// The worker threads a scan of `roots` uses: `threads` if given, else sized
/// for the file systems the roots live on (see `afbundle.find`).
#[pyfunction]
#[pyo3(signature = (roots, threads = None))]
pub(crate) fn threads_for(roots: Vec<PathBuf>, threads: Option<usize>) -> usize {
    crate::walk::threads::threads_for(&roots, threads)
}
