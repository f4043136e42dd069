"""Compare: each DAG's stubs with the bundle that serves its dag_id under their entry.

The winner is the core's decision for the entry's search path
(:mod:`afbundle.check.walk`); this module only words what it means for the
stubs: no usable bundle (``missing-bundle``, or ``unsupported-schema`` when the
installed Airflow cannot serve any), other bundles declaring the dag_id
(``shadowed``), stubs the winner's manifest does not list (``missing-task``)
and tasks it lists that no stub declares (``extra-task``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from afbundle.check.classify import Routed
from afbundle.check.report import Finding
from afbundle.check.walk import Search, Searches

TYPE_CHECKING = False
if TYPE_CHECKING:
    from afbundle._core import Rejection

__all__ = ["compare", "compare_dag"]


def compare(routed: Iterable[Routed], searches: Searches) -> list[Finding]:
    """The findings of every DAG's stubs against their entries' bundles.

    Entries searching the same roots reach the same bundle: a warning about it is
    reported once, under the first entry.
    """
    findings: list[Finding] = []
    warned: set[tuple[str, str, str | None, os.PathLike[str] | None]] = set()
    for one in routed:
        for finding in compare_dag(one, searches.of(one.entry)):
            if finding.severity == "warning":
                seen = (one.dag.dag_id, finding.code, finding.task_id, finding.bundle)
                if seen in warned:
                    continue
                warned.add(seen)
            findings.append(finding)
    return findings


def compare_dag(routed: Routed, search: Search) -> list[Finding]:
    """The findings for one DAG's stub tasks routed to one executable entry."""
    dag_id, file, entry, stubs = routed.dag.dag_id, routed.dag.file, routed.entry, routed.stubs
    name = entry.name
    queue = stubs[0].queue if len({s.queue for s in stubs}) == 1 else None
    report = search.report
    winner = report.winner(dag_id)
    losers = search.losers(dag_id)
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
        where = os.pathsep.join(os.fsdecode(r) for r in entry.roots)
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
    # The task_ids the manifest lists for dag_id as Airflow reads them, decided by the core.
    listed = winner.tasks.get(dag_id) or ()
    listed_set = set(listed)
    for stub in stubs:
        if stub.task_id not in listed_set:
            out.append(
                Finding(
                    "missing-task", dag_id, stub.task_id, stub.queue, name, winner.path, file,
                    f"{os.fsdecode(winner.path)} serves dag_id {dag_id!r} but its manifest "
                    f"does not list task {stub.task_id!r}",
                )
            )  # fmt: skip
    for task_id in dict.fromkeys(listed):
        if task_id not in routed.stub_ids:
            out.append(
                Finding(
                    "extra-task", dag_id, task_id, None, name, winner.path, file,
                    f"the manifest of {os.fsdecode(winner.path)} lists task {task_id!r}, "
                    f"which no @task.stub in the DAG declares",
                )
            )  # fmt: skip
    return out


def _lost(rejection: Rejection) -> str:
    return f"{os.fsdecode(rejection.path)} ({rejection.kind}: {rejection.reason})"
