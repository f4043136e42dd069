"""Route: Airflow's ``[sdk]`` configuration -> the coordinator entries stub tasks reach.

:func:`read` takes ``[sdk] coordinators`` and ``[sdk] queue_to_coordinator``
through Airflow's configuration API (``airflow.cfg`` and ``AIRFLOW__SDK__*``, as
workers read them) into a :class:`Routing`; :func:`entries` turns a routing into
one :class:`~afbundle.check.CoordinatorEntry` per routed entry, with the roots
its bundles are searched in, and a finding for every entry a worker could not
use. afbundle's own coordinator is judged by the kwarg rules it is built from
(:mod:`afbundle._coordinator_kwargs`), never imported; any other class was
imported (Airflow's executable coordinator also constructed) in the child
process, whose verdicts :func:`entries` is given.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from afbundle._coordinator_kwargs import construct
from afbundle._signing import load_signers
from afbundle.check.errors import CheckConfigError
from afbundle.check.load import CoordinatorImport, airflow_missing, config_errors
from afbundle.check.report import CoordinatorEntry, Finding

if TYPE_CHECKING:
    from afbundle._core import TrustedSigners

__all__ = [
    "AFBUNDLE_COORDINATORS",
    "AIRFLOW_EXECUTABLE_COORDINATORS",
    "COMMAND_LINE_ENTRY",
    "Routing",
    "entries",
    "import_airflow",
    "read",
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


@dataclasses.dataclass(frozen=True)
class Routing:
    """What a worker's ``[sdk]`` configuration routes, as plain data.

    Attributes:
        coordinators: ``[sdk] coordinators``: entry name -> ``{"classpath", "kwargs"}``.
        queues: queue -> entry name (``[sdk] queue_to_coordinator``, and each queue
            given on the command line routed to :data:`COMMAND_LINE_ENTRY`).
        inherited: the kwargs Airflow's ``SubprocessCoordinator`` accepts, which
            afbundle's coordinator inherits.
    """

    coordinators: Mapping[str, Any]
    queues: Mapping[str, str]
    inherited: frozenset[str] = frozenset({"task_startup_timeout"})

    def names(self) -> list[str]:
        """The routed entry names, in first-routed order."""
        return list(dict.fromkeys(self.queues.values()))

    def spec(self, name: str) -> tuple[str, dict[str, Any]] | None:
        """Entry ``name``'s classpath and kwargs (``None``: no such entry).

        Raises:
            CheckConfigError: the entry has no string ``classpath`` or no object ``kwargs``.
        """
        spec = None if name == COMMAND_LINE_ENTRY else self.coordinators.get(name)
        if spec is None:
            return None
        classpath = spec.get("classpath") if isinstance(spec, dict) else None
        kwargs = spec.get("kwargs", {}) if isinstance(spec, dict) else None
        if not isinstance(classpath, str) or not isinstance(kwargs, dict):
            raise CheckConfigError(
                f"[sdk] coordinators: entry {name!r} needs a string 'classpath' "
                f"and an object 'kwargs'"
            )
        return classpath, kwargs

    def imports(self) -> list[CoordinatorImport]:
        """The classes a worker would import for the routed entries (afbundle's own are
        judged by name), and Airflow's executable one constructed with its kwargs."""
        out = []
        for name in self.names():
            spec = self.spec(name)
            if spec is None:
                continue
            classpath, kwargs = spec
            if _is_afbundle(classpath):
                continue
            construct_it = classpath in AIRFLOW_EXECUTABLE_COORDINATORS
            out.append(CoordinatorImport(name, classpath, kwargs if construct_it else None))
        return out


def import_airflow() -> None:
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


def read(queues: Iterable[str] = ()) -> Routing:
    """The routing of Airflow's configuration (``queues``: more queues routed to
    :data:`COMMAND_LINE_ENTRY`).

    Raises:
        CheckConfigError: an ``[sdk]`` value is not the JSON object it must be.
    """
    import attrs
    from airflow.sdk.configuration import conf
    from airflow.sdk.coordinators._subprocess import SubprocessCoordinator

    coordinators = _sdk_json(conf, "coordinators")
    routes = _sdk_json(conf, "queue_to_coordinator")
    for queue, name in routes.items():
        if not isinstance(name, str):
            raise CheckConfigError(
                f"[sdk] queue_to_coordinator: queue {queue!r} maps to {name!r}, not an entry name"
            )
    route: dict[str, str] = dict(routes)
    for queue in dict.fromkeys(queues):
        route[queue] = COMMAND_LINE_ENTRY
    inherited = frozenset(f.alias or f.name for f in attrs.fields(SubprocessCoordinator) if f.init)
    return Routing(coordinators, route, inherited)


def entries(
    routing: Routing,
    imported: Mapping[str, str | None],
    *,
    roots: tuple[Path, ...] | None = None,
    trusted_signers: TrustedSigners | None = None,
) -> tuple[dict[str, CoordinatorEntry], list[Finding]]:
    """Every routed entry by name, and a finding for each queue routed to an entry
    workers could not use.

    ``imported`` is the child process's verdict on each imported class (``None``:
    usable). ``roots``, when given, replace every executable entry's
    ``executables_root``; ``trusted_signers``, when given, are every executable
    entry's (instead of an afbundle coordinator's ``trusted_signers`` kwarg).
    """
    findings: list[Finding] = []
    out: dict[str, CoordinatorEntry] = {}
    loaded: dict[Path, TrustedSigners] = {}  # one load per signer file, shared by its entries
    for name in routing.names():
        routed = tuple(q for q, n in routing.queues.items() if n == name)
        if name == COMMAND_LINE_ENTRY:
            assert roots is not None
            out[name] = CoordinatorEntry(
                name, "afbundle.ExecutableCoordinator", routed, True, roots, trusted_signers
            )
            continue
        spec = routing.spec(name)
        if spec is None:
            findings.extend(
                Finding(
                    "unknown-coordinator", None, None, queue, name, None, None,
                    f"[sdk] queue_to_coordinator routes queue {queue!r} to {name!r}, "
                    f"which [sdk] coordinators does not define (workers refuse this config)",
                )
                for queue in routed
            )  # fmt: skip
            continue
        entry = _entry(name, routed, *spec, routing, imported, roots, trusted_signers, loaded)
        out[name] = entry
        if entry.problem is not None:
            findings.extend(
                Finding("unknown-coordinator", None, None, q, name, None, None,
                        f"coordinator {name!r} (queue {q!r}): {entry.problem}")
                for q in routed
            )  # fmt: skip
    return out, findings


def _entry(
    name: str,
    routed: tuple[str, ...],
    classpath: str,
    kwargs: dict[str, Any],
    routing: Routing,
    imported: Mapping[str, str | None],
    roots: tuple[Path, ...] | None,
    trusted_signers: TrustedSigners | None,
    loaded: dict[Path, TrustedSigners],
) -> CoordinatorEntry:
    """One configured entry: whether it runs bundles, where from, and why a worker could
    not use it (``problem``)."""
    executable = classpath in AFBUNDLE_COORDINATORS | AIRFLOW_EXECUTABLE_COORDINATORS
    entry = CoordinatorEntry(name, classpath, routed, executable, (), trusted_signers)
    if classpath in AFBUNDLE_COORDINATORS:
        try:
            values = construct(kwargs, routing.inherited, roots_given=roots is not None)
            signers = values.get("trusted_signers")
            if trusted_signers is None and signers is not None:
                if signers not in loaded:  # a bad file is a BundleSignatureError (a ValueError)
                    loaded[signers] = _load(signers)
                entry = dataclasses.replace(entry, trusted_signers=loaded[signers])
        except ValueError as exc:
            return dataclasses.replace(entry, problem=f"cannot be constructed: {exc}")
        return _searching(entry, roots if roots is not None else values["executables_root"])
    if _is_afbundle(classpath):
        return dataclasses.replace(entry, problem=f"afbundle has no coordinator {classpath!r}")
    problem = imported.get(name)
    if problem is not None or not executable:
        return dataclasses.replace(entry, problem=problem)
    # Airflow's own executable coordinator, constructed in the child with these kwargs.
    if roots is None:
        try:
            values = construct(
                {"executables_root": kwargs.get("executables_root")}, routing.inherited
            )
        except ValueError as exc:
            return dataclasses.replace(entry, problem=f"cannot be constructed: {exc}")
        roots = values["executables_root"]
    return _searching(entry, roots)


def _searching(entry: CoordinatorEntry, roots: Iterable[Path]) -> CoordinatorEntry:
    """``entry`` searching ``roots`` (none: it cannot be constructed)."""
    roots = tuple(roots)
    if not roots:
        return dataclasses.replace(
            entry, problem="cannot be constructed: its kwargs have no executables_root"
        )
    return dataclasses.replace(entry, roots=roots)


def _load(path: Path) -> TrustedSigners:
    signers = load_signers(path)
    assert signers is not None
    return signers


def _is_afbundle(classpath: str) -> bool:
    return classpath == "afbundle" or classpath.startswith("afbundle.")


def _sdk_json(conf: Any, key: str) -> dict[str, Any]:
    try:
        value = conf.getjson("sdk", key, fallback={})
    except Exception as exc:  # AirflowConfigException: not JSON
        raise CheckConfigError(f"[sdk] {key}: {exc}") from exc
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise CheckConfigError(f"[sdk] {key} must be a JSON object, not {type(value).__name__}")
    return value
