"""check_dags(): prove before deploy that every ``@task.stub`` task has a bundle that runs it.

Two hand-kept halves meet only at run time: a Python DAG file declares stub
tasks (dag_id, task_id, queue) and a bundle's manifest declares
``dags: {dag_id: {tasks: [...]}}``, found under the ``executables_root`` of
whichever ``[sdk] coordinators`` entry ``[sdk] queue_to_coordinator`` routes
the queue to. The check compares them the way a worker would meet them, in
six stages, one module each:

1. **load** (:mod:`~afbundle.check.load`): Airflow's own ``DagBag`` parses the
   DAG files (real parsing, task groups, mapped tasks) and each routed
   coordinator class is imported, as a worker would: that code runs with the
   caller's privileges, in a child process, which hands back plain data;
2. **route** (:mod:`~afbundle.check.route`): Airflow's ``[sdk]`` configuration,
   read through its configuration API (``airflow.cfg``, ``AIRFLOW__SDK__*``),
   becomes the entries each queue reaches, with the roots they search;
3. **walk** (:mod:`~afbundle.check.walk`): one scan per distinct root; each
   entry's winners and losers decided by the core, with Airflow's
   schema-version resolver (the rule :func:`afbundle.find` uses);
4. **classify** (:mod:`~afbundle.check.classify`): each task by where its
   queue routes it;
5. **compare** (:mod:`~afbundle.check.compare`): each DAG's stubs with the
   bundle that serves its dag_id;
6. **orphans** (:mod:`~afbundle.check.orphans`): what the bundles declare
   that no loaded DAG accounts for.

:func:`check_dags` runs the first two against Airflow and the child;
:func:`check_loaded` runs the rest on plain data. No bundle is executed;
nothing is written except the persistent digest cache. Airflow is imported
only when :func:`check_dags` runs (``import afbundle`` stays light), and
afbundle's coordinator module is never imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afbundle._roots import as_roots
from afbundle._signing import load_signers
from afbundle.check import route
from afbundle.check.classify import classify
from afbundle.check.compare import compare
from afbundle.check.errors import CheckConfigError
from afbundle.check.load import DEFAULT_TIMEOUT, Loaded, LoadedDags, Loader, dags_of
from afbundle.check.orphans import orphans
from afbundle.check.report import CheckReport
from afbundle.check.walk import Searches, schema_resolver, walk

if TYPE_CHECKING:
    from afbundle._core import TrustedSigners
    from afbundle._roots import PathArg

__all__ = ["check_dags", "check_loaded"]


def check_dags(
    dags: PathArg | None = None,
    *,
    dagbag: Any = None,
    queues: Iterable[str] = (),
    roots: Iterable[PathArg] | PathArg | None = None,
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
    Findings are listed in :data:`~afbundle.check.CODES`.

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
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise ValueError(f"timeout must be a positive number of seconds or None, not {timeout!r}")
    queues = list(queues)
    root_override = None if roots is None else as_roots(roots)
    if queues and not root_override:
        raise CheckConfigError("queues given without roots: say where their bundles are")
    signers = load_signers(trusted_signers)  # read once, before Airflow or any DAG file

    with contextlib.ExitStack() as stack:
        # Load, started first: the child imports Airflow's DagBag while this process
        # imports Airflow and reads its routing.
        loader = None if dagbag is not None else stack.enter_context(Loader(timeout=timeout))
        import_started = time.perf_counter()
        route.import_airflow()
        route_started = time.perf_counter()
        routing = route.read(queues)
        imports = routing.imports()
        if loader is None and imports:
            loader = stack.enter_context(Loader(timeout=timeout, prepare_dags=False))
        load_started = time.perf_counter()
        loaded = (
            Loaded({}, None)
            if loader is None
            else loader.load(
                imports, with_dags=dagbag is None, dags=None if dags is None else os.fspath(dags)
            )
        )
        load_ended = time.perf_counter()
    report = check_loaded(
        dags_of(dagbag) if loaded.dags is None else loaded.dags,
        routing,
        imported=loaded.coordinators,
        roots=root_override,
        trusted_signers=signers,
        resolve=schema_resolver(),
        threads=threads,
        cache_dir=cache_dir,
        persistent_cache=persistent_cache,
    )
    timings = {
        "import_airflow": route_started - import_started,
        "load_dags": load_ended - load_started,
        "check": (load_started - route_started) + report.timings["check"],
    }
    return dataclasses.replace(report, timings=timings)


def check_loaded(
    dags: LoadedDags,
    routing: route.Routing,
    *,
    imported: Mapping[str, str | None] | None = None,
    roots: tuple[Path, ...] | None = None,
    trusted_signers: TrustedSigners | None = None,
    resolve: Callable[[str], str] | None = None,
    threads: int | None = None,
    cache_dir: PathArg | None = None,
    persistent_cache: bool = True,
) -> CheckReport:
    """Route, walk, classify, compare and find orphans: the check of loaded DAGs.

    ``dags`` and ``routing`` are plain data (what the child and Airflow's
    configuration gave :func:`check_dags`, or what a test builds); ``imported`` is
    the child's verdict on each imported coordinator class (``None``: usable);
    ``roots`` and ``trusted_signers`` override every executable entry's;
    ``resolve`` is the schema-version resolver. Runs no user code and imports no
    Airflow (its ``timings`` say so: only ``check`` is not zero).

    Example:
        >>> routing = route.Routing({}, {"native": route.COMMAND_LINE_ENTRY})
        >>> check_loaded(dags, routing, roots=(Path("dist"),)).errors
        ()
    """
    started = time.perf_counter()
    entries, findings = route.entries(
        routing, imported or {}, roots=roots, trusted_signers=trusted_signers
    )
    scans = walk(
        entries.values(),
        resolve=resolve,
        threads=threads,
        cache_dir=cache_dir,
        persistent_cache=persistent_cache,
    )
    classified = classify(dags, routing.queues, entries)
    findings += classified.findings
    findings += compare(classified.routed, Searches(scans, resolve))
    file_of = {dag.dag_id: dag.file for dag in dags.dags}
    findings += orphans(scans, entries.values(), file_of)
    findings.sort(key=lambda f: (f.dag_id is not None, f.dag_id or "", f.task_id or "", f.code))
    return CheckReport(
        findings=tuple(findings),
        dag_files=dags.files,
        dags={dag_id: file or "" for dag_id, file in file_of.items()},
        stub_tasks=classified.stub_tasks,
        coordinators=tuple(entries.values()),
        scans=scans,
        timings={"import_airflow": 0.0, "load_dags": 0.0, "check": time.perf_counter() - started},
    )
