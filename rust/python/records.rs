//! The records a scan or find reports, defined once here and exposed as they are:
//! `Rejection`, `Skip`, `ScanStats` and `Decision`. Frozen, comparable, picklable.

use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use pyo3::exceptions::PyValueError;

use crate::bundle::precedence::{Decision as CoreDecision, Loss, LossKind};
use crate::bundle::scan::ScanStats as CoreStats;
use crate::bundle::Bundle;
use crate::error::{ContextValue, ErrorKind, Kind};

fn context_dict<'py>(
    py: Python<'py>,
    context: &[(String, ContextValue)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, value) in context {
        match value {
            ContextValue::Str(s) => dict.set_item(name, s)?,
            ContextValue::Int(i) => dict.set_item(name, i)?,
        }
    }
    Ok(dict)
}

fn context_from(py_context: Option<&Bound<'_, PyDict>>) -> PyResult<Vec<(String, ContextValue)>> {
    let mut out = Vec::new();
    if let Some(dict) = py_context {
        for (k, v) in dict.iter() {
            let value = match v.extract::<i64>() {
                Ok(i) => ContextValue::Int(i),
                Err(_) => ContextValue::Str(v.str()?.to_string()),
            };
            out.push((k.extract()?, value));
        }
    }
    Ok(out)
}

/// A file with the bundle magic that was refused, and why.
///
/// `kind` is one of `afbundle.errors.KINDS`: a failure kind, `"schema"` (the
/// supervisor_schema_version is missing or the resolver refused it) or
/// `"shadowed"`;
/// `context` holds the failure's data (its `stage`, `expected`/`actual`
/// digests, `op` and `errno` of an I/O error, ...); `dag_ids` the dag_ids the
/// file's manifest declares (empty when it could not be read).
#[pyclass(frozen, eq, skip_from_py_object, module = "afbundle._core")]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Rejection {
    #[pyo3(get)]
    path: PathBuf,
    #[pyo3(get)]
    kind: &'static str,
    #[pyo3(get)]
    reason: String,
    context: Vec<(String, ContextValue)>,
    dag_ids: Vec<String>,
}

impl Rejection {
    /// A file refused for `kind`, declaring `dag_ids`.
    pub(crate) fn of(path: PathBuf, kind: &ErrorKind, dag_ids: Vec<String>) -> Self {
        Rejection {
            path,
            kind: kind.name(),
            reason: kind.to_string(),
            context: owned(kind.context()),
            dag_ids,
        }
    }

    /// A candidate that lost (`loss`), declaring `dag_ids`.
    pub(crate) fn lost(path: PathBuf, loss: &Loss, dag_ids: Vec<String>) -> Self {
        match loss {
            Loss::Failed(err) => Rejection::of(path, &err.kind, dag_ids),
            other => Rejection {
                path,
                kind: other.kind(),
                reason: other.reason(),
                context: Vec::new(),
                dag_ids,
            },
        }
    }
}

fn owned(context: Vec<(&'static str, ContextValue)>) -> Vec<(String, ContextValue)> {
    context
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
}

#[pymethods]
impl Rejection {
    #[new]
    #[pyo3(signature = (path, kind, reason, context = None, dag_ids = Vec::new()))]
    fn py_new(
        path: PathBuf,
        kind: String,
        reason: String,
        context: Option<&Bound<'_, PyDict>>,
        dag_ids: Vec<String>,
    ) -> PyResult<Self> {
        let kind = Kind::from_name(&kind)
            .map(Kind::name)
            .or_else(|| LossKind::from_name(&kind).map(LossKind::name))
            .ok_or_else(|| PyValueError::new_err(format!("unknown rejection kind {kind:?}")))?;
        Ok(Rejection {
            path,
            kind,
            reason,
            context: context_from(context)?,
            dag_ids,
        })
    }
    /// The dag_ids the file's manifest declares (empty when it could not be read).
    #[getter]
    fn dag_ids<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, &self.dag_ids)
    }
    /// The failure's data by name (a fresh dict on every access).
    #[getter]
    fn context<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        context_dict(py, &self.context)
    }
    fn __str__(&self) -> String {
        format!("{}: {}", self.path.display(), self.reason)
    }
    fn __repr__(&self) -> String {
        format!(
            "Rejection(path={:?}, kind={:?}, reason={:?})",
            self.path.display().to_string(),
            self.kind,
            self.reason
        )
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let cls = py.get_type::<Rejection>();
        let args = (
            self.path.clone(),
            self.kind,
            self.reason.clone(),
            context_dict(py, &self.context)?,
            PyTuple::new(py, &self.dag_ids)?,
        );
        PyTuple::new(py, [cls.into_any(), args.into_pyobject(py)?.into_any()])
    }
}

/// A path the walk could not look at (unreadable, dangling, special file), and why.
#[pyclass(frozen, eq, get_all, skip_from_py_object, module = "afbundle._core")]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Skip {
    path: PathBuf,
    reason: String,
}

impl Skip {
    pub(crate) fn new_raw(path: PathBuf, reason: String) -> Self {
        Skip { path, reason }
    }
}

#[pymethods]
impl Skip {
    #[new]
    fn py_new(path: PathBuf, reason: String) -> Self {
        Skip { path, reason }
    }
    fn __str__(&self) -> String {
        format!("{}: {}", self.path.display(), self.reason)
    }
    fn __repr__(&self) -> String {
        format!(
            "Skip(path={:?}, reason={:?})",
            self.path.display().to_string(),
            self.reason
        )
    }
    fn __reduce__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let cls = py.get_type::<Skip>();
        Ok((cls, (self.path.clone(), self.reason.clone()))
            .into_pyobject(py)?
            .into_any()
            .unbind())
    }
}

/// What the precedence rule decided for one dag_id: the bundle `find` runs
/// (`winner`, an index into the bundles decided over, or `None`), its schema
/// version as the resolver returned it, and every other bundle declaring the
/// dag_id in precedence order, each `(index, Rejection)` with why it lost
/// (kind `"shadowed"`: an earlier bundle won).
#[pyclass(frozen, eq, skip_from_py_object, module = "afbundle._core")]
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Decision {
    #[pyo3(get)]
    dag_id: String,
    #[pyo3(get)]
    winner: Option<usize>,
    #[pyo3(get)]
    resolved_schema_version: Option<String>,
    losers: Vec<(usize, Rejection)>,
}

impl Decision {
    /// `decision` for `dag_id`, its indices into `bundles`.
    pub(crate) fn of(dag_id: String, decision: &CoreDecision, bundles: &[&Bundle]) -> Self {
        let losers = decision
            .losers
            .iter()
            .map(|(i, loss)| {
                let bundle = bundles[*i];
                let dag_ids = bundle.manifest.dag_ids.clone();
                (*i, Rejection::lost(bundle.path.clone(), loss, dag_ids))
            })
            .collect();
        let (winner, resolved_schema_version) = match &decision.winner {
            Some((i, resolved)) => (Some(*i), Some(resolved.clone())),
            None => (None, None),
        };
        Decision {
            dag_id,
            winner,
            resolved_schema_version,
            losers,
        }
    }
}

#[pymethods]
impl Decision {
    #[new]
    fn py_new(
        dag_id: String,
        winner: Option<usize>,
        resolved_schema_version: Option<String>,
        losers: Vec<(usize, PyRef<'_, Rejection>)>,
    ) -> Self {
        Decision {
            dag_id,
            winner,
            resolved_schema_version,
            losers: losers.into_iter().map(|(i, r)| (i, r.clone())).collect(),
        }
    }
    /// Every other bundle declaring the dag_id, in precedence order, as
    /// `(index, Rejection)`.
    #[getter]
    fn losers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.losers.clone())
    }
    fn __repr__(&self) -> String {
        format!(
            "Decision(dag_id={:?}, winner={}, resolved_schema_version={:?}, losers={})",
            self.dag_id,
            self.winner.map_or("None".to_owned(), |i| i.to_string()),
            self.resolved_schema_version,
            self.losers.len()
        )
    }
    fn __reduce__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let cls = py.get_type::<Decision>();
        let args = (
            self.dag_id.clone(),
            self.winner,
            self.resolved_schema_version.clone(),
            self.losers(py)?,
        );
        PyTuple::new(py, [cls.into_any(), args.into_pyobject(py)?.into_any()])
    }
}

macro_rules! scan_stats {
    ($($(#[doc = $doc:literal])* $name:ident),* $(,)?) => {
        /// Counters of one walk (the core's own record, exposed as is).
        #[pyclass(frozen, eq, get_all, skip_from_py_object, module = "afbundle._core")]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub(crate) struct ScanStats {
            $($(#[doc = $doc])* $name: u64,)*
        }

        impl ScanStats {
            /// The counter names, in order.
            pub(crate) const FIELDS: &'static [&'static str] = &[$(stringify!($name)),*];

            fn values(&self) -> Vec<u64> {
                vec![$(self.$name),*]
            }
        }

        #[pymethods]
        impl ScanStats {
            #[new]
            #[pyo3(signature = ($($name = 0),*))]
            #[allow(clippy::too_many_arguments)]
            fn py_new($($name: u64),*) -> Self {
                ScanStats { $($name),* }
            }

            /// The counters as a plain dict, in field order (for JSON output).
            fn as_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
                let dict = PyDict::new(py);
                for (name, value) in Self::FIELDS.iter().zip(self.values()) {
                    dict.set_item(name, value)?;
                }
                Ok(dict)
            }

            fn __repr__(&self) -> String {
                let fields: Vec<String> = Self::FIELDS
                    .iter()
                    .zip(self.values())
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect();
                format!("ScanStats({})", fields.join(", "))
            }

            fn __reduce__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
                let cls = py.get_type::<ScanStats>();
                let args = PyTuple::new(py, self.values())?;
                Ok((cls, args).into_pyobject(py)?.into_any().unbind())
            }
        }
    };
}

scan_stats! {
    /// Directories listed.
    dirs_visited,
    /// Directories reached twice (bind mounts, symlinked directories) and listed once.
    dirs_deduplicated,
    /// Directory entries that were not directories.
    files_seen,
    /// Regular files executable by the caller (the candidates).
    executables,
    /// Regular files skipped for having no exec permission.
    not_executable,
    /// FIFOs, sockets and devices skipped without being opened.
    special,
    /// Candidates whose trailer carried the magic (each file once).
    bundles_read,
    /// Candidates that were the same file as an earlier one (hard links, symlinks).
    duplicate_files,
    /// Bytes fed to SHA-256 (0 when nothing needed hashing).
    bytes_hashed,
    /// Verifications answered by the digest cache.
    cache_hits,
}

impl From<&CoreStats> for ScanStats {
    fn from(s: &CoreStats) -> Self {
        ScanStats {
            dirs_visited: s.walk.dirs_visited,
            dirs_deduplicated: s.walk.dirs_deduplicated,
            files_seen: s.walk.files_seen,
            executables: s.walk.executables,
            not_executable: s.walk.not_executable,
            special: s.walk.special,
            bundles_read: s.bundles_read,
            duplicate_files: s.duplicate_files,
            bytes_hashed: s.bytes_hashed,
            cache_hits: s.cache_hits,
        }
    }
}
