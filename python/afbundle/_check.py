"""check_dags(): prove before deploy that every ``@task.stub`` task has a bundle that runs it.

Two hand-kept halves meet only at run time: a Python DAG file declares stub
tasks (dag_id, task_id, queue) and a bundle's manifest declares
``dags: {dag_id: {tasks: [...]}}``, found under the ``executables_root`` of
whichever ``[sdk] coordinators`` entry ``[sdk] queue_to_coordinator`` routes
the queue to. This module compares them the way a worker would meet them:

* DAG files are loaded by Airflow's own ``DagBag`` (real parsing, task groups,
  mapped tasks); import errors are findings.
* Routing is read through Airflow's configuration API (``airflow.cfg`` and
  ``AIRFLOW__SDK__*``), so the check sees what workers see.
* Which bundle serves a dag_id is the core's decision (:func:`afbundle.scan`'s
  ``winner``/``losers``, the rule :func:`afbundle.find` uses), with Airflow's
  schema-version resolver -- never re-derived here.

Each distinct set of roots is walked once, whatever the number of DAGs; each
bundle is hashed at most once (through the digest caches). Nothing is
executed; nothing is written except the persistent digest cache. Airflow is
imported only when :func:`check_dags` runs (``import afbundle`` stays light),
and afbundle's coordinator module is never imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afbundle._core import Bundle, Rejection, TrustedSigners
    from afbundle._report import ScanReport
    from afbundle._scan import PathArg

__all__ = [
    "CheckConfigError",
    "CheckReport",
    "CoordinatorEntry",
    "Finding",
    "StubTask",
    "check_dags",
]

#: Classpaths of afbundle's coordinator (recognised by name: never imported here).
AFBUNDLE_COORDINATORS = frozenset(
    {"afbundle.ExecutableCoordinator", "afbundle.coordinator.ExecutableCoordinator"}
)
#: Classpaths of Airflow's built-in executable coordinator.
AIRFLOW_EXECUTABLE_COORDINATORS = frozenset(
    {
        "airflow.sdk.coordinators.executable.ExecutableCoordinator",
        "airflow.sdk.coordinators.executable.coordinator.ExecutableCoordinator",
    }
)
#: The entry name findings use for routing given with ``queues=``/``--queue``.
COMMAND_LINE_ENTRY = "(command line)"

#: Every finding code, with its severity.
CODES: Mapping[str, str] = {
    "missing-bundle": "error",
    "missing-task": "error",
    "unrouted-stub": "error",
    "unknown-coordinator": "error",
    "unsupported-schema": "error",
    "import-error": "error",
    "extra-task": "warning",
    "orphan-dag": "warning",
    "shadowed": "warning",
    "not-a-stub": "warning",
}


class CheckConfigError(ValueError):
    """Airflow's ``[sdk]`` configuration (or an override) cannot be used as given."""


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem :func:`check_dags` found.

    ``dag_id``, ``task_id``, ``queue``, ``coordinator`` (entry name),
    ``bundle`` (path) and ``file`` (DAG file) are ``None`` where they do not
    apply; ``message`` is one line.
    """

    code: str
    dag_id: str | None
    task_id: str | None
    queue: str | None
    coordinator: str | None
    bundle: Path | None
    file: str | None
    message: str

    @property
    def severity(self) -> str:
        """``"error"`` or ``"warning"``."""
        return CODES[self.code]

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values (paths as strings)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "dag_id": self.dag_id,
            "task_id": self.task_id,
            "queue": self.queue,
            "coordinator": self.coordinator,
            "bundle": None if self.bundle is None else os.fsdecode(self.bundle),
            "file": self.file,
            "message": self.message,
        }

    def __str__(self) -> str:
        where = "/".join(x for x in (self.dag_id, self.task_id) if x)
        where = where or self.file or "(configuration)"
        return f"{self.severity} {self.code} {where}: {self.message}"


@dataclasses.dataclass(frozen=True)
class CoordinatorEntry:
    """One ``[sdk] coordinators`` entry that some queue is routed to.

    ``executable`` is true for afbundle's and Airflow's executable coordinator;
    ``roots`` is what its bundles are searched in (after ``--root`` overrides);
    ``problem`` says why workers could not use it (``None`` when they can).
    """

    name: str
    classpath: str
    queues: tuple[str, ...]
    executable: bool
    roots: tuple[Path, ...]
    trusted_signers: Path | TrustedSigners | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classpath": self.classpath,
            "queues": list(self.queues),
            "executable": self.executable,
            "roots": [os.fsdecode(r) for r in self.roots],
            "problem": self.problem,
        }


@dataclasses.dataclass(frozen=True)
class StubTask:
    """A ``@task.stub`` task of a loaded DAG, and the entry its queue routes to."""

    dag_id: str
    task_id: str
    queue: str | None
    coordinator: str | None
    mapped: bool

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class CheckReport:
    """What :func:`check_dags` checked and found.

    Attributes:
        findings: every finding, errors and warnings, in a stable order
            (configuration first, then by dag_id, task_id, code).
        dag_files: the DAG files Airflow parsed (including those that failed).
        dags: dag_id -> the file it came from.
        stub_tasks: every ``@task.stub`` task.
        coordinators: the routed ``[sdk] coordinators`` entries.
        scans: one :class:`afbundle.ScanReport` per distinct set of roots
            (and trusted signers) -- each walked once.
        timings: seconds spent importing Airflow (``import_airflow``),
            loading DAGs (``load_dags``: Airflow's parsing) and checking
            (``check``: routing, walks, hashing, comparing).
    """

    findings: tuple[Finding, ...]
    dag_files: tuple[str, ...]
    dags: Mapping[str, str]
    stub_tasks: tuple[StubTask, ...]
    coordinators: tuple[CoordinatorEntry, ...]
    scans: Mapping[tuple[tuple[Path, ...], Path | TrustedSigners | None], ScanReport]
    timings: Mapping[str, float]

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def roots(self) -> tuple[Path, ...]:
        """Every distinct root searched, in first-seen order."""
        return tuple(dict.fromkeys(r for roots, _ in self.scans for r in roots))

    @property
    def bundles(self) -> tuple[Path, ...]:
        """Every distinct bundle found under the roots."""
        return tuple(
            dict.fromkeys(b.path for report in self.scans.values() for b in report.bundles)
        )

    def failed(self, strict: bool = False) -> bool:
        """True when there is an error (or, with ``strict``, any finding)."""
        return bool(self.findings if strict else self.errors)

    def codes(self) -> set[str]:
        """The distinct finding codes."""
        return {f.code for f in self.findings}

    def summary(self) -> str:
        """One line: what was checked and how many errors and warnings."""

        def n(count: int, noun: str) -> str:
            return f"{count} {noun}{'' if count == 1 else 's'}"

        return (
            f"checked {n(len(self.dag_files), 'DAG file')}, {n(len(self.dags), 'DAG')}, "
            f"{n(len(self.stub_tasks), 'stub task')} against {n(len(self.bundles), 'bundle')} "
            f"under {n(len(self.roots), 'root')}: "
            f"{n(len(self.errors), 'error')}, {n(len(self.warnings), 'warning')}"
        )

    def __str__(self) -> str:
        return "\n".join([*(str(f) for f in self.findings), self.summary()])


# --------------------------------------------------------------------------- routing


def _roots_of(value: Any) -> tuple[Path, ...]:
    """``executables_root`` as the coordinators convert it: one path or a list, ``~`` expanded."""
    if value is None:
        return ()
    items = [value] if isinstance(value, (str, os.PathLike)) else list(value)
    out = []
    for item in items:
        if not isinstance(item, (str, os.PathLike)) or not os.fspath(item).strip():
            raise ValueError(f"executables_root entry {item!r} is not a non-empty path")
        out.append(Path(item).expanduser())
    return tuple(out)


def _classpath_problem(classpath: str) -> str | None:
    """Why ``classpath`` would not import in a worker, or ``None`` when it does.

    afbundle's own classpaths are recognised by name so that checking never
    imports afbundle's coordinator module.
    """
    if classpath in AFBUNDLE_COORDINATORS:
        return None
    if classpath == "afbundle" or classpath.startswith("afbundle."):
        return f"afbundle has no coordinator {classpath!r}"
    from airflow.sdk._shared.module_loading import import_string

    try:
        import_string(classpath)
    except ImportError as exc:
        return f"classpath {classpath!r} does not import: {exc}"
    return None


def _sdk_json(conf: Any, key: str) -> dict[str, Any]:
    try:
        value = conf.getjson("sdk", key, fallback={})
    except Exception as exc:  # AirflowConfigException: not JSON
        raise CheckConfigError(f"[sdk] {key}: {exc}") from exc
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise CheckConfigError(f"[sdk] {key} must be a JSON object, not {type(value).__name__}")
    return value


def _routing(
    queues: Iterable[str],
    roots: tuple[Path, ...] | None,
    signers_override: TrustedSigners | None = None,
) -> tuple[dict[str, CoordinatorEntry], dict[str, str], list[Finding]]:
    """Entries by name, queue -> entry name, and configuration findings.

    ``signers_override``, when given, is every executable entry's trusted
    signers (instead of an afbundle coordinator's ``trusted_signers`` kwarg).
    """
    from airflow.sdk.configuration import conf

    specs = _sdk_json(conf, "coordinators")
    routes = _sdk_json(conf, "queue_to_coordinator")
    findings: list[Finding] = []
    for queue, name in routes.items():
        if not isinstance(name, str):
            raise CheckConfigError(
                f"[sdk] queue_to_coordinator: queue {queue!r} maps to {name!r}, not an entry name"
            )
    route: dict[str, str] = dict(routes)
    override = list(dict.fromkeys(queues))
    for queue in override:
        route[queue] = COMMAND_LINE_ENTRY
    entries: dict[str, CoordinatorEntry] = {}
    for name in dict.fromkeys(route.values()):
        routed = tuple(q for q, n in route.items() if n == name)
        if name == COMMAND_LINE_ENTRY:
            assert roots is not None
            entries[name] = CoordinatorEntry(
                name, "afbundle.ExecutableCoordinator", routed, True, roots, signers_override
            )
            continue
        spec = specs.get(name)
        if spec is None:
            for queue in routed:
                findings.append(
                    Finding(
                        "unknown-coordinator", None, None, queue, name, None, None,
                        f"[sdk] queue_to_coordinator routes queue {queue!r} to {name!r}, "
                        f"which [sdk] coordinators does not define (workers refuse this config)",
                    )
                )  # fmt: skip
            continue
        classpath = spec.get("classpath") if isinstance(spec, dict) else None
        kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else None
        if not isinstance(classpath, str) or not isinstance(kwargs, dict):
            raise CheckConfigError(
                f"[sdk] coordinators: entry {name!r} needs a string 'classpath' "
                f"and an object 'kwargs'"
            )
        executable = classpath in AFBUNDLE_COORDINATORS | AIRFLOW_EXECUTABLE_COORDINATORS
        problem = _classpath_problem(classpath)
        entry_roots: tuple[Path, ...] = ()
        signers: Path | TrustedSigners | None = signers_override
        if executable and problem is None:
            try:
                entry_roots = (
                    roots if roots is not None else _roots_of(kwargs.get("executables_root"))
                )
                if (
                    signers_override is None
                    and classpath in AFBUNDLE_COORDINATORS
                    and kwargs.get("trusted_signers")
                ):
                    signers = Path(kwargs["trusted_signers"]).expanduser()
            except (TypeError, ValueError) as exc:
                problem = f"cannot be constructed: {exc}"
            if problem is None and not entry_roots:
                problem = "cannot be constructed: its kwargs have no executables_root"
        entry = CoordinatorEntry(name, classpath, routed, executable, entry_roots, signers, problem)
        entries[name] = entry
        if problem is not None:
            findings.extend(
                Finding("unknown-coordinator", None, None, q, name, None, None,
                        f"coordinator {name!r} (queue {q!r}): {problem}")
                for q in routed
            )  # fmt: skip
    return entries, route, findings


# --------------------------------------------------------------------------- DAGs


@contextlib.contextmanager
def _no_bytecode() -> Iterator[None]:
    """Parsing DAG files must not leave ``__pycache__`` beside them."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


def load_dagbag(dags: PathArg | None = None) -> Any:
    """Airflow's ``DagBag`` of ``dags`` (a folder or file; default ``[core] dags_folder``).

    Raises:
        FileNotFoundError, PermissionError: the folder or file cannot be read.
    """
    from airflow import settings
    from airflow.dag_processing.dagbag import BundleDagBag

    folder = os.fspath(dags) if dags is not None else settings.DAGS_FOLDER
    if not os.path.exists(folder):
        raise FileNotFoundError(2, "no such DAG file or folder", folder)
    if not os.access(folder, os.R_OK | (os.X_OK if os.path.isdir(folder) else 0)):
        raise PermissionError(13, "cannot read the DAG file or folder", folder)
    # As Airflow's DAG processor parses a bundle: its folder is on sys.path, so
    # a DAG file can import the helper modules beside it.
    bundle_path = Path(folder if os.path.isdir(folder) else os.path.dirname(folder) or ".")
    with _no_bytecode():
        return BundleDagBag(dag_folder=folder, bundle_path=bundle_path.absolute())


def _import_airflow(*, need_dagbag: bool) -> None:
    """Import the parts of Airflow the check uses (timed apart from the check itself).

    Raises:
        ImportError: naming what to install.
    """
    try:
        import airflow.sdk.configuration
        import airflow.sdk.execution_time.schema

        if need_dagbag:
            import airflow.dag_processing.dagbag  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"afbundle check needs Airflow: apache-airflow-core and "
            f"apache-airflow-providers-standard (or apache-airflow): {exc}",
            name=exc.name,
        ) from exc


def _is_stub(task: Any) -> bool:
    """A ``@task.stub`` task (plain or mapped): the standard provider's stub operator."""
    if getattr(task, "custom_operator_name", None) == "@task.stub":
        return True
    return getattr(task, "task_type", None) == "_StubOperator"


def _queue_words(queue: object) -> str:
    if queue is None:
        return "no queue= given (queue None), which no coordinator handles"
    return f"queue {queue!r} is not in [sdk] queue_to_coordinator"


def _kind(task: Any) -> str:
    """How the DAG file wrote the task: ``@task``, ``BashOperator``..."""
    return str(getattr(task, "custom_operator_name", None) or task.task_type)


def _one_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "import failed"


def _manifest_tasks(bundle: Bundle, dag_id: str) -> list[str] | None:
    """The task_ids the bundle's manifest lists for ``dag_id`` (``None``: not a list)."""
    try:
        metadata = bundle.metadata
    except Exception:  # ManifestError: the core already accepted its dag_ids
        return None
    dags = metadata.get("dags") if isinstance(metadata, dict) else None
    entry = dags.get(dag_id) if isinstance(dags, dict) else None
    tasks = entry.get("tasks") if isinstance(entry, dict) else None
    return [str(t) for t in tasks] if isinstance(tasks, list) else None


def _lost(rejection: Rejection) -> str:
    return f"{os.fsdecode(rejection.path)} ({rejection.kind}: {rejection.reason})"


# --------------------------------------------------------------------------- check


def check_dags(
    dags: PathArg | None = None,
    *,
    dagbag: Any = None,
    queues: Iterable[str] = (),
    roots: Iterable[PathArg] | None = None,
    threads: int | None = None,
    cache_dir: PathArg | None = None,
    persistent_cache: bool = True,
    trusted_signers: TrustedSigners | PathArg | None = None,
) -> CheckReport:
    """Check that every ``@task.stub`` task in ``dags`` has a bundle that will run it.

    DAGs come from Airflow's ``DagBag`` of ``dags`` (a folder or a file;
    default: Airflow's ``[core] dags_folder``), or from an already loaded
    ``dagbag``. Routing comes from Airflow's ``[sdk] coordinators`` and
    ``[sdk] queue_to_coordinator``. ``queues`` marks more queues as native
    (routed to an entry named ``"(command line)"`` searching ``roots``);
    ``roots``, when given, also replaces the ``executables_root`` of every
    configured entry. ``trusted_signers`` (an OpenSSH ``allowed_signers``
    path or a :class:`~afbundle.TrustedSigners`), when given, is required of
    every executable entry's bundles, replacing any ``trusted_signers`` kwarg
    of a configured coordinator: a bundle without a valid signature by one of
    them is rejected (kind ``signature``), and a stub task whose every
    candidate was is a ``missing-bundle`` error naming each signature problem.
    Findings are listed in :data:`CODES`.

    Raises:
        CheckConfigError: the ``[sdk]`` configuration is not usable, or
            ``queues`` was given without ``roots``.
        BundleSignatureError: the ``trusted_signers`` file is unusable
            (``problem == "signers_file"``).
        FileNotFoundError, PermissionError: ``dags`` cannot be read.
        ImportError: Airflow (core and the standard provider) is not installed.

    Example:
        >>> report = afbundle.check_dags("dags/", queues=["native"], roots=["dist/"])
        >>> [(f.code, f.dag_id, f.task_id) for f in report.errors]
        [('missing-task', 'nightly_report', 'render')]
    """
    import afbundle

    queues = list(queues)
    root_override = None if roots is None else tuple(Path(r).expanduser() for r in roots)
    if queues and not root_override:
        raise CheckConfigError("queues given without roots: say where their bundles are")
    from afbundle._scan import _signers

    signers = _signers(trusted_signers)  # read once, before Airflow or any DAG file

    import_started = time.perf_counter()
    _import_airflow(need_dagbag=dagbag is None)
    started = time.perf_counter()
    import_seconds = started - import_started
    entries, route, findings = _routing(queues, root_override, signers)
    if dagbag is None:
        load_started = time.perf_counter()
        dagbag = load_dagbag(dags)
        load_seconds = time.perf_counter() - load_started
    else:
        load_seconds = 0.0

    from airflow.sdk.execution_time.schema import get_schema_version_migrator

    resolve = get_schema_version_migrator().resolve_version

    # One scan per distinct (roots, trusted signers): the walk and the hashing
    # are shared by every entry and every DAG that uses them.
    scans: dict[tuple[tuple[Path, ...], Path | TrustedSigners | None], ScanReport] = {}
    for entry in entries.values():
        if entry.executable and entry.problem is None:
            key = (entry.roots, entry.trusted_signers)
            if key not in scans:
                scans[key] = afbundle.scan(
                    list(entry.roots),
                    threads=threads,
                    cache_dir=cache_dir,
                    persistent_cache=persistent_cache,
                    resolve_schema_version=resolve,
                    trusted_signers=entry.trusted_signers,
                )

    def usable(name: str | None) -> CoordinatorEntry | None:
        entry = entries.get(name) if name is not None else None
        return entry if entry is not None and entry.executable and entry.problem is None else None

    base = getattr(dagbag, "bundle_path", None)
    for file, error in sorted(dagbag.import_errors.items()):
        # A DagBag with a bundle path keys import errors relative to it.
        path = str(Path(base, file)) if base is not None else str(file)
        findings.append(
            Finding("import-error", None, None, None, None, None, path, _one_line(error))
        )
    dag_files = sorted(
        {*map(str, dagbag.file_last_changed), *(f.file for f in findings if f.file is not None)}
    )

    refused: dict[
        tuple[tuple[Path, ...], Path | TrustedSigners | None],
        list[tuple[Rejection, tuple[str, ...]]],
    ]
    refused = {}
    dag_objects = dict(sorted(dagbag.dags.items()))
    stub_tasks: list[StubTask] = []
    for dag_id, dag in dag_objects.items():
        file = str(getattr(dag, "fileloc", "") or "") or None
        stubs_by_entry: dict[str, list[StubTask]] = {}
        stub_ids = set()
        for task in sorted(dag.tasks, key=lambda t: t.task_id):
            queue = task.queue
            name = route.get(queue) if isinstance(queue, str) else None
            if not _is_stub(task):
                if usable(name) is not None:
                    findings.append(
                        Finding(
                            "not-a-stub", dag_id, task.task_id, queue, name, None, file,
                            f"a {_kind(task)} task on queue {queue!r}, which routes to executable "
                            f"coordinator {name!r}: its Python code would never run",
                        )
                    )  # fmt: skip
                continue
            stub = StubTask(dag_id, task.task_id, queue, name, bool(getattr(task, "is_mapped", 0)))
            stub_tasks.append(stub)
            stub_ids.add(task.task_id)
            if name is None:
                findings.append(
                    Finding(
                        "unrouted-stub", dag_id, task.task_id, queue, None, None, file,
                        f"{_queue_words(queue)}: the task would run "
                        f"on a Python worker and fail (@task.stub is not executable)",
                    )
                )  # fmt: skip
            elif usable(name) is not None:
                stubs_by_entry.setdefault(name, []).append(stub)
        for name, stubs in stubs_by_entry.items():
            entry = entries[name]
            key = (entry.roots, entry.trusted_signers)
            if key not in refused:
                refused[key] = _refused_dag_ids(scans[key])
            findings.extend(
                _check_dag(dag_id, file, entry, stubs, stub_ids, scans[key], refused[key])
            )

    # Bundles under a routed root that no loaded DAG matches.
    seen_orphans: set[tuple[Path, str]] = set()
    for (scan_roots, _), report in scans.items():
        users = [e.name for e in entries.values() if usable(e.name) and e.roots == scan_roots]
        for bundle in report.bundles:
            for dag_id in bundle.dag_ids:
                if dag_id in dag_objects or (bundle.path, dag_id) in seen_orphans:
                    continue
                seen_orphans.add((bundle.path, dag_id))
                findings.append(
                    Finding(
                        "orphan-dag", dag_id, None, None, users[0] if users else None,
                        bundle.path, None,
                        f"{os.fsdecode(bundle.path)} declares dag_id {dag_id!r}, "
                        f"which no loaded DAG has",
                    )
                )  # fmt: skip

    findings.sort(key=lambda f: (f.dag_id is not None, f.dag_id or "", f.task_id or "", f.code))
    check_seconds = time.perf_counter() - started - load_seconds
    return CheckReport(
        findings=tuple(findings),
        dag_files=tuple(dag_files),
        dags={d: str(getattr(dag, "fileloc", "")) for d, dag in dag_objects.items()},
        stub_tasks=tuple(stub_tasks),
        coordinators=tuple(entries.values()),
        scans=scans,
        timings={
            "import_airflow": import_seconds,
            "load_dags": load_seconds,
            "check": check_seconds,
        },
    )


def _refused_dag_ids(report: ScanReport) -> list[tuple[Rejection, tuple[str, ...]]]:
    """The dag_ids each refused bundle declares (a failed digest or signature drops
    a bundle before the core's per-dag_id decisions; its manifest still names them).

    Read without hashing, and only for a scan that refused something.
    """
    from afbundle import _core

    out = []
    for rejection in report.rejected:
        try:
            dag_ids = _core.read_bundle(rejection.path, verify=False).dag_ids
        except (OSError, ValueError):  # BundleError is a ValueError: no manifest to read
            continue
        out.append((rejection, tuple(dag_ids)))
    return out


def _check_dag(
    dag_id: str,
    file: str | None,
    entry: CoordinatorEntry,
    stubs: list[StubTask],
    stub_ids: set[str],
    report: ScanReport,
    refused: list[tuple[Rejection, tuple[str, ...]]],
) -> list[Finding]:
    """The findings for one DAG's stub tasks routed to one executable entry."""
    name = entry.name
    queue = stubs[0].queue if len({s.queue for s in stubs}) == 1 else None
    where = os.pathsep.join(os.fsdecode(r) for r in entry.roots)
    winner = report.winner(dag_id)
    losers = (*report.losers(dag_id), *(r for r, ids in refused if dag_id in ids))
    if winner is None:
        schema = [r for r in losers if r.kind == "schema"]
        if schema:
            return [
                Finding(
                    "unsupported-schema", dag_id, None, queue, name, schema[0].path, file,
                    f"the installed Airflow cannot serve {os.fsdecode(schema[0].path)}: "
                    f"{schema[0].reason}",
                )
            ]  # fmt: skip
        missing = [r for r in entry.roots if r in report.missing_roots]
        if losers:
            signature = all(r.kind == "signature" for r in losers)
            why = (
                f"every bundle declaring it was rejected{' for its signature' if signature else ''}"
                f": {'; '.join(map(_lost, losers))}"
            )
        else:
            why = f"no bundle under {where} declares it"
        if missing:
            why += f" (missing roots: {', '.join(map(os.fsdecode, missing))})"
        return [
            Finding(
                "missing-bundle", dag_id, None, queue, name, None, file,
                f"no usable bundle for dag_id {dag_id!r} ({len(stubs)} stub "
                f"task{'' if len(stubs) == 1 else 's'}): {why}",
            )
        ]  # fmt: skip
    out = []
    if losers:
        out.append(
            Finding(
                "shadowed", dag_id, None, queue, name, winner.path, file,
                f"{os.fsdecode(winner.path)} serves dag_id {dag_id!r}; also declared by "
                + "; ".join(map(_lost, losers)),
            )
        )  # fmt: skip
    listed = _manifest_tasks(winner, dag_id)
    listed_set = set(listed or ())
    for stub in stubs:
        if stub.task_id not in listed_set:
            out.append(
                Finding(
                    "missing-task", dag_id, stub.task_id, stub.queue, name, winner.path, file,
                    f"{os.fsdecode(winner.path)} serves dag_id {dag_id!r} but its manifest "
                    f"does not list task {stub.task_id!r}",
                )
            )  # fmt: skip
    for task_id in dict.fromkeys(listed or ()):
        if task_id not in stub_ids:
            out.append(
                Finding(
                    "extra-task", dag_id, task_id, None, name, winner.path, file,
                    f"the manifest of {os.fsdecode(winner.path)} lists task {task_id!r}, "
                    f"which no @task.stub in the DAG declares",
                )
            )  # fmt: skip
    return out
