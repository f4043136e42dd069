"""check_dags(): prove before deploy that every ``@task.stub`` task has a bundle that runs it.

Two hand-kept halves meet only at run time: a Python DAG file declares stub
tasks (dag_id, task_id, queue) and a bundle's manifest declares
``dags: {dag_id: {tasks: [...]}}``, found under the ``executables_root`` of
whichever ``[sdk] coordinators`` entry ``[sdk] queue_to_coordinator`` routes
the queue to. This module compares them the way a worker would meet them:

* DAG files are loaded by Airflow's own ``DagBag`` (real parsing, task groups,
  mapped tasks); import errors are findings. Loading a DAG file executes it,
  and checking a coordinator entry imports its class, as a worker would: both
  run with the caller's privileges, in a child process
  (:mod:`afbundle._check_loader`), which hands back plain data.
* Routing is read through Airflow's configuration API (``airflow.cfg`` and
  ``AIRFLOW__SDK__*``), so the check sees what workers see.
* Which bundle serves a dag_id is the core's decision (:func:`afbundle.scan`'s
  ``winner``/``losers``, the rule :func:`afbundle.find` uses), with Airflow's
  schema-version resolver -- never re-derived here.

Each distinct root is walked once (per trusted-signers setting), whatever the
number of DAGs and entries; each bundle is hashed at most once (through the
digest caches). No bundle is executed; nothing is written except the persistent
digest cache. Airflow is imported only when :func:`check_dags` runs (``import
afbundle`` stays light), and afbundle's coordinator module is never imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afbundle._check_loader import (
    DEFAULT_TIMEOUT,
    CheckConfigError,
    CheckLoadError,
    CoordinatorImport,
    Loaded,
    LoadedDags,
    Loader,
    airflow_missing,
    config_errors,
    dags_of,
    one_line,
)

if TYPE_CHECKING:
    from afbundle._core import Bundle, Rejection, TrustedSigners
    from afbundle._report import ScanReport
    from afbundle._scan import PathArg

__all__ = [
    "DEFAULT_TIMEOUT",
    "CheckConfigError",
    "CheckLoadError",
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
    "retyped-key": "error",
    "extra-task": "warning",
    "orphan-dag": "warning",
    "shadowed": "warning",
    "not-a-stub": "warning",
}


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
    trusted_signers: TrustedSigners | None = None
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
        scans: one :class:`afbundle.ScanReport` per distinct ``(root,
            trusted signers)``: each root is walked (and each bundle hashed)
            once per signer setting, however many entries search it.
        timings: seconds spent importing Airflow (``import_airflow``), then
            waiting for the child process that parses DAG files and imports
            coordinator classes (``load_dags``; it starts first and imports
            Airflow meanwhile), and checking (``check``: routing, walks,
            hashing, comparing).
    """

    findings: tuple[Finding, ...]
    dag_files: tuple[str, ...]
    dags: Mapping[str, str]
    stub_tasks: tuple[StubTask, ...]
    coordinators: tuple[CoordinatorEntry, ...]
    scans: Mapping[tuple[Path, TrustedSigners | None], ScanReport]
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
        return tuple(dict.fromkeys(root for root, _ in self.scans))

    @property
    def bundles(self) -> tuple[Path, ...]:
        """Every distinct bundle found under the roots."""
        return tuple(
            dict.fromkeys(b.path for report in self.scans.values() for b in report.bundles)
        )

    def dag_statuses(self) -> dict[str, str]:
        """dag_id -> what the check says of each loaded DAG, as the table shows it.

        ``"findings"`` (some finding names it), ``"not-checked"`` (some stub
        was never compared with a bundle: :meth:`unchecked` says why), ``"ok"``
        (every stub task has a bundle that lists it) or ``"no-stubs"``.
        """
        named = {f.dag_id for f in self.findings}
        unchecked = self.unchecked()
        with_stubs = {t.dag_id for t in self.stub_tasks}
        return {
            dag_id: "findings"
            if dag_id in named
            else "not-checked"
            if dag_id in unchecked
            else "ok"
            if dag_id in with_stubs
            else "no-stubs"
            for dag_id in self.dags
        }

    def unchecked(self) -> dict[str, list[str]]:
        """dag_id -> why some of its stub tasks were not compared with any bundle.

        A stub routed to an entry that is undefined, cannot be used (see its
        ``unknown-coordinator`` finding) or is not an executable coordinator
        (e.g. another language's) has no roots to check; such a DAG is not "ok".
        """
        entries = {e.name: e for e in self.coordinators}
        out: dict[str, list[str]] = {}
        for stub in self.stub_tasks:
            if stub.coordinator is None:
                continue  # an unrouted-stub finding already
            entry = entries.get(stub.coordinator)
            if entry is None:
                why = f"coordinator {stub.coordinator!r} is not defined"
            elif entry.problem is not None:
                why = f"coordinator {entry.name!r}: {entry.problem}"
            elif not entry.executable:
                why = f"coordinator {entry.name!r} ({entry.classpath}) is not an executable one"
            else:
                continue
            reasons = out.setdefault(stub.dag_id, [])
            if why not in reasons:
                reasons.append(why)
        return out

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


def _classpath_problem(
    classpath: str, kwargs: Mapping[str, Any], imported: Mapping[str, str | None], name: str
) -> str | None:
    """Why a worker could not use entry ``name`` (``None``: it can).

    afbundle's own classpaths are recognised by name, so that checking never
    imports afbundle's coordinator module; any other class was imported (and
    Airflow's executable coordinator constructed with ``kwargs``) in the child
    process, whose verdict is ``imported[name]``.
    """
    if classpath in AFBUNDLE_COORDINATORS:
        return _kwargs_problem(kwargs)
    if classpath == "afbundle" or classpath.startswith("afbundle."):
        return f"afbundle has no coordinator {classpath!r}"
    return imported.get(name)


#: The kwargs afbundle's ``ExecutableCoordinator`` accepts beyond Airflow's
#: ``SubprocessCoordinator`` ones, each with a check of its value (``None``: fine,
#: else why not). Kept here because checking must not import afbundle's coordinator
#: module; ``tests/test_check.py`` compares it with the class's attrs fields.
def _positive_int_or_none(value: object) -> str | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return None
    return f"must be a positive int or None, not {value!r}"


def _bool(value: object) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, not {value!r}"


def _path_or_none(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.strip()):
        return None
    return f"must be a path or null, not {value!r}"


def _any(value: object) -> str | None:
    return None


AFBUNDLE_COORDINATOR_KWARGS: Mapping[str, Any] = {
    "executables_root": _any,  # checked by _roots_of, as the coordinator converts it
    "threads": _positive_int_or_none,
    "digest_cache": _bool,
    "cache_dir": _path_or_none,
    "verified_exec": _bool,
    "trusted_signers": _path_or_none,
}


def _kwargs_problem(kwargs: Mapping[str, Any]) -> str | None:
    """Why a worker could not construct afbundle's coordinator with ``kwargs`` (``None``:
    it can), from :data:`AFBUNDLE_COORDINATOR_KWARGS` and the attrs fields of Airflow's
    ``SubprocessCoordinator`` it inherits, without importing afbundle's module."""
    import attrs
    from airflow.sdk.coordinators._subprocess import SubprocessCoordinator

    inherited = {f.alias or f.name for f in attrs.fields(SubprocessCoordinator) if f.init}
    for key, value in kwargs.items():
        rule = AFBUNDLE_COORDINATOR_KWARGS.get(key)
        if rule is None and key not in inherited:
            accepted = ", ".join(sorted({*AFBUNDLE_COORDINATOR_KWARGS, *inherited}))
            return f"cannot be constructed: unexpected kwarg {key!r} (accepted: {accepted})"
        why = rule(value) if rule is not None else None
        if why is not None:
            return f"cannot be constructed: kwarg {key!r} {why}"
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


def _routes(queues: Iterable[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """``[sdk] coordinators`` by entry name, and queue -> entry name (``queues`` given
    on the command line routed to :data:`COMMAND_LINE_ENTRY`)."""
    from airflow.sdk.configuration import conf

    specs = _sdk_json(conf, "coordinators")
    routes = _sdk_json(conf, "queue_to_coordinator")
    for queue, name in routes.items():
        if not isinstance(name, str):
            raise CheckConfigError(
                f"[sdk] queue_to_coordinator: queue {queue!r} maps to {name!r}, not an entry name"
            )
    route: dict[str, str] = dict(routes)
    for queue in dict.fromkeys(queues):
        route[queue] = COMMAND_LINE_ENTRY
    return specs, route


def _spec(specs: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]] | None:
    """Entry ``name``'s classpath and kwargs (``None``: ``[sdk] coordinators`` has no such
    entry)."""
    spec = specs.get(name)
    if spec is None:
        return None
    classpath = spec.get("classpath") if isinstance(spec, dict) else None
    kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else None
    if not isinstance(classpath, str) or not isinstance(kwargs, dict):
        raise CheckConfigError(
            f"[sdk] coordinators: entry {name!r} needs a string 'classpath' and an object 'kwargs'"
        )
    return classpath, kwargs


def _imports(specs: Mapping[str, Any], route: Mapping[str, str]) -> list[CoordinatorImport]:
    """The coordinator classes a worker would import for the routed entries (afbundle's
    own are judged by name), and Airflow's executable one constructed with its kwargs."""
    out = []
    for name in dict.fromkeys(route.values()):
        spec = None if name == COMMAND_LINE_ENTRY else _spec(specs, name)
        if spec is None:
            continue
        classpath, kwargs = spec
        if classpath == "afbundle" or classpath.startswith("afbundle."):
            continue
        construct = classpath in AIRFLOW_EXECUTABLE_COORDINATORS
        out.append(CoordinatorImport(name, classpath, kwargs if construct else None))
    return out


def _routing(
    specs: Mapping[str, Any],
    route: Mapping[str, str],
    roots: tuple[Path, ...] | None,
    signers_override: TrustedSigners | None,
    imported: Mapping[str, str | None],
) -> tuple[dict[str, CoordinatorEntry], list[Finding]]:
    """Entries by name and configuration findings.

    ``signers_override``, when given, is every executable entry's trusted
    signers (instead of an afbundle coordinator's ``trusted_signers`` kwarg);
    ``imported`` is the child process's verdict on each imported class.
    """
    findings: list[Finding] = []
    entries: dict[str, CoordinatorEntry] = {}
    loaded: dict[Path, TrustedSigners] = {}  # one load per signer file, shared by its entries
    for name in dict.fromkeys(route.values()):
        routed = tuple(q for q, n in route.items() if n == name)
        if name == COMMAND_LINE_ENTRY:
            assert roots is not None
            entries[name] = CoordinatorEntry(
                name, "afbundle.ExecutableCoordinator", routed, True, roots, signers_override
            )
            continue
        spec = _spec(specs, name)
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
        classpath, kwargs = spec
        executable = classpath in AFBUNDLE_COORDINATORS | AIRFLOW_EXECUTABLE_COORDINATORS
        problem = _classpath_problem(classpath, kwargs, imported, name)
        entry_roots: tuple[Path, ...] = ()
        signers: TrustedSigners | None = signers_override
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
                    signers = _entry_signers(kwargs["trusted_signers"], loaded)
            except (TypeError, ValueError) as exc:  # BundleSignatureError is a ValueError
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
    return entries, findings


def _entry_signers(value: object, loaded: dict[Path, TrustedSigners]) -> TrustedSigners:
    """An entry's ``trusted_signers`` kwarg, loaded (a bad file raises BundleSignatureError,
    a ValueError: the entry's problem, as a worker could not use it either)."""
    from afbundle._core import TrustedSigners

    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"trusted_signers must be a path, not {value!r}")
    path = Path(value).expanduser()
    if path not in loaded:
        loaded[path] = TrustedSigners(path)
    return loaded[path]


# --------------------------------------------------------------------------- DAGs


def _import_airflow() -> None:
    """Import the parts of Airflow this process uses (timed apart from the check):
    configuration and the schema resolver; the DagBag is the child process's.

    Raises:
        CheckConfigError: ``airflow.cfg`` cannot be read (it is read on import).
        ImportError: naming what to install.
    """
    try:
        import airflow.sdk.configuration
        import airflow.sdk.execution_time.schema  # noqa: F401
    except config_errors() as exc:
        raise CheckConfigError(" ".join(str(exc).split())) from exc
    except ImportError as exc:
        raise airflow_missing(str(exc), exc.name) from exc


def _queue_words(queue: object) -> str:
    if queue is None:
        return "no queue= given (queue None), which no coordinator handles"
    return f"queue {queue!r} is not in [sdk] queue_to_coordinator"


def _manifest_tasks(bundle: Bundle, dag_id: str) -> list[str] | None:
    """The task_ids the bundle's manifest lists for ``dag_id`` as Airflow reads
    them (``None``: not a list), decided by the core."""
    tasks = bundle.tasks.get(dag_id)
    return None if tasks is None else list(tasks)


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
    timeout: float | None = DEFAULT_TIMEOUT,
) -> CheckReport:
    """Check that every ``@task.stub`` task in ``dags`` has a bundle that will run it.

    DAGs come from Airflow's ``DagBag`` of ``dags`` (a folder or a file;
    default: Airflow's ``[core] dags_folder``), or from an already loaded
    ``dagbag``. Loading a DAG file executes it, and each routed coordinator
    class is imported (Airflow's executable coordinator also constructed) as a
    worker would: **that code runs with the caller's privileges**, in a child
    process (never in this one) that must report within ``timeout`` seconds
    (``None``: no limit), all of it together; Airflow's ``[core]
    dagbag_import_timeout`` still limits each DAG file. Its output (Airflow's
    log lines, a DAG file's prints) goes to this process's stderr; it reads
    Airflow's configuration as a worker does (``airflow.cfg``, the
    environment), not changes made with ``conf.set`` in this process. Routing
    comes from Airflow's ``[sdk] coordinators`` and ``[sdk]
    queue_to_coordinator``. ``queues`` marks more queues as native
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
        CheckConfigError: the ``[sdk]`` configuration is not usable, Airflow
            cannot read its configuration (a malformed ``airflow.cfg``, a value
            it cannot convert), or ``queues`` was given without ``roots``.
        BundleSignatureError: the ``trusted_signers`` file is unusable
            (``problem == "signers_file"``).
        FileNotFoundError, PermissionError: ``dags`` cannot be read.
        NotADirectoryError: ``dags`` is neither a folder nor a ``.py`` file.
        ImportError: Airflow (core and the standard provider) is not installed.
        CheckLoadError: the child process ended without reporting (a DAG file
            or coordinator module exited or killed it) or timed out; the
            message names what it was doing (e.g. the DAG file it parsed).

    Example:
        >>> report = afbundle.check_dags("dags/", queues=["native"], roots=["dist/"])
        >>> [(f.code, f.dag_id, f.task_id) for f in report.errors]
        [('missing-task', 'nightly_report', 'render')]
    """
    import afbundle

    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    queues = list(queues)
    root_override = None if roots is None else tuple(Path(r).expanduser() for r in roots)
    if queues and not root_override:
        raise CheckConfigError("queues given without roots: say where their bundles are")
    from afbundle._scan import _signers

    signers = _signers(trusted_signers)  # read once, before Airflow or any DAG file

    with contextlib.ExitStack() as stack:
        # Started first: it imports Airflow's DagBag while this process imports Airflow.
        loader = None if dagbag is not None else stack.enter_context(Loader(timeout=timeout))
        import_started = time.perf_counter()
        _import_airflow()
        started = time.perf_counter()
        import_seconds = started - import_started
        specs, route = _routes(queues)
        imports = _imports(specs, route)
        if loader is None and imports:
            loader = stack.enter_context(Loader(timeout=timeout, prepare_dags=False))
        load_started = time.perf_counter()
        loaded = (
            Loaded({}, None)
            if loader is None
            else loader.load(
                imports,
                with_dags=dagbag is None,
                dags=None if dags is None else os.fspath(dags),
            )
        )
        load_seconds = time.perf_counter() - load_started
    entries, findings = _routing(specs, route, root_override, signers, loaded.coordinators)
    loaded_dags: LoadedDags = dags_of(dagbag) if loaded.dags is None else loaded.dags

    from airflow.sdk.execution_time.schema import get_schema_version_migrator

    resolve = get_schema_version_migrator().resolve_version

    # One walk per distinct root (and trusted signers), whatever the number of
    # entries and DAGs; each entry's search path is decided from those walks.
    scans: dict[tuple[Path, TrustedSigners | None], ScanReport] = {}
    for entry in entries.values():
        if entry.executable and entry.problem is None:
            for root in entry.roots:
                if (root, entry.trusted_signers) not in scans:
                    scans[root, entry.trusted_signers] = afbundle.scan(
                        [root],
                        threads=threads,
                        cache_dir=cache_dir,
                        persistent_cache=persistent_cache,
                        resolve_schema_version=resolve,
                        trusted_signers=entry.trusted_signers,
                    )
    searches: dict[tuple[tuple[Path, ...], TrustedSigners | None], ScanReport] = {}
    refused: dict[
        tuple[tuple[Path, ...], TrustedSigners | None], list[tuple[Rejection, tuple[str, ...]]]
    ] = {}

    def usable(name: str | None) -> CoordinatorEntry | None:
        entry = entries.get(name) if name is not None else None
        return entry if entry is not None and entry.executable and entry.problem is None else None

    for path, error in loaded_dags.import_errors:
        findings.append(
            Finding("import-error", None, None, None, None, None, path, one_line(error))
        )

    file_of = {dag.dag_id: dag.file for dag in loaded_dags.dags}
    stub_tasks: list[StubTask] = []
    for dag in loaded_dags.dags:
        dag_id, file = dag.dag_id, dag.file
        stubs_by_entry: dict[str, list[StubTask]] = {}
        stub_ids = set()
        for task in dag.tasks:
            queue = task.queue
            name = route.get(queue) if queue is not None else None
            if not task.stub:
                if usable(name) is not None:
                    findings.append(
                        Finding(
                            "not-a-stub", dag_id, task.task_id, queue, name, None, file,
                            f"a {task.kind} task on queue {queue!r}, which routes to executable "
                            f"coordinator {name!r}: its Python code would never run",
                        )
                    )  # fmt: skip
                continue
            stub = StubTask(dag_id, task.task_id, queue, name, task.mapped)
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
        warned: set[tuple[str, str | None, Path | None]] = set()
        for name, stubs in stubs_by_entry.items():
            entry = entries[name]
            key = (entry.roots, entry.trusted_signers)
            if key not in searches:
                searches[key] = _search(entry.roots, entry.trusted_signers, scans, resolve)
                refused[key] = _refused_dag_ids(searches[key])
            for finding in _check_dag(
                dag_id, file, entry, stubs, stub_ids, searches[key], refused[key]
            ):
                # Entries searching the same roots reach the same bundle: a
                # warning about it is reported once, under the first entry.
                if finding.severity == "warning":
                    seen = (finding.code, finding.task_id, finding.bundle)
                    if seen in warned:
                        continue
                    warned.add(seen)
                findings.append(finding)

    # Bundles under a routed root that no loaded DAG matches, and dag or task
    # keys Airflow's YAML 1.1 reader types differently (the core's retyped keys).
    seen_orphans: set[tuple[Path, str]] = set()
    seen_retyped: set[tuple[Path, int, str, int | None]] = set()
    for (root, signers), report in scans.items():
        users = [
            e.name
            for e in entries.values()
            if usable(e.name) and root in e.roots and e.trusted_signers is signers
        ]
        for bundle in report.bundles:
            for dag_id in bundle.dag_ids:
                if dag_id in file_of or (bundle.path, dag_id) in seen_orphans:
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
            for retyped in bundle.retyped_keys:
                spot = (bundle.path, retyped["line"], retyped["dag"], retyped["task_index"])
                if spot in seen_retyped:
                    continue
                seen_retyped.add(spot)
                task = retyped["text"] if retyped["task_index"] is not None else None
                findings.append(
                    Finding(
                        "retyped-key", retyped["dag"], task, None, users[0] if users else None,
                        bundle.path, None,
                        f"{os.fsdecode(bundle.path)}, manifest line {retyped['line']}: "
                        f"{retyped['message']}",
                    )
                )  # fmt: skip

    findings.sort(key=lambda f: (f.dag_id is not None, f.dag_id or "", f.task_id or "", f.code))
    check_seconds = time.perf_counter() - started - load_seconds
    return CheckReport(
        findings=tuple(findings),
        dag_files=loaded_dags.files,
        dags={dag_id: file or "" for dag_id, file in file_of.items()},
        stub_tasks=tuple(stub_tasks),
        coordinators=tuple(entries.values()),
        scans=scans,
        timings={
            "import_airflow": import_seconds,
            "load_dags": load_seconds,
            "check": check_seconds,
        },
    )


def _search(
    roots: tuple[Path, ...],
    signers: TrustedSigners | None,
    scans: Mapping[tuple[Path, TrustedSigners | None], ScanReport],
    resolve: Any,
) -> ScanReport:
    """One entry's search path as one report, from the walks of its roots.

    The bundles of each root's walk, in the entry's root order, are decided by
    the core (:func:`afbundle._core.decide_bundles`: the rule ``find`` uses,
    a file met twice counting once), so a root shared by several entries is
    walked and hashed once.
    """
    from afbundle import _core
    from afbundle._report import ScanReport

    distinct = tuple(dict.fromkeys(roots))
    parts = [scans[root, signers] for root in distinct]
    found = [b for part in parts for b in part.bundles]
    kept, decided = _core.decide_bundles(found, resolve=resolve)
    totals: dict[str, int] = {}
    for part in parts:
        for counter, value in part.stats.as_dict().items():
            totals[counter] = totals.get(counter, 0) + value
    return ScanReport(
        roots=roots,
        bundles=tuple(found[i] for i in kept),
        rejected=tuple({r.path: r for part in parts for r in part.rejected}.values()),
        skipped=tuple(s for part in parts for s in part.skipped),
        missing_roots=tuple(r for r, p in zip(distinct, parts, strict=True) if p.missing_roots),
        stats=_core.ScanStats(**totals),
        decisions=decided,
    )


def _refused_dag_ids(report: ScanReport) -> list[tuple[Rejection, tuple[str, ...]]]:
    """The dag_ids each refused bundle declares (a failed digest or signature drops
    a bundle before the core's per-dag_id decisions; the core read its manifest
    first, so the rejection names them)."""
    return [(rejection, rejection.dag_ids) for rejection in report.rejected if rejection.dag_ids]


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
            served = "; ".join(f"{os.fsdecode(r.path)}: {r.reason}" for r in schema)
            others = [r for r in losers if r.kind != "schema"]
            also = f"; also rejected: {'; '.join(map(_lost, others))}" if others else ""
            return [
                Finding(
                    "unsupported-schema", dag_id, None, queue, name, schema[0].path, file,
                    f"the installed Airflow cannot serve {served}{also}",
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
            skipped = report.stats.not_executable
            if skipped:  # nor would a worker run a bundle without +x or on a noexec mount
                why += (
                    f" ({skipped} file{'' if skipped == 1 else 's'} without +x"
                    " or on a noexec mount not read)"
                )
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
