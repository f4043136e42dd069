"""What a check found: :class:`CheckReport` and its :class:`Finding` records, and the
routed entries (:class:`CoordinatorEntry`) and stub tasks (:class:`StubTask`) it names."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afbundle._core import TrustedSigners
    from afbundle._report import ScanReport

__all__ = ["CODES", "CheckReport", "CoordinatorEntry", "Finding", "StubTask"]

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
