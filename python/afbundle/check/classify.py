"""Classify: each loaded task by where its queue routes it.

A ``@task.stub`` task becomes a :class:`~afbundle.check.StubTask`; one whose
queue no entry handles is an ``unrouted-stub`` error; a task with Python code
on a queue routed to an executable coordinator is a ``not-a-stub`` warning (its
code would never run). Each DAG file that failed to import is an
``import-error``. Stubs routed to a usable executable entry are grouped per DAG
and entry, ready to be compared with that entry's bundles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from afbundle.check.load import LoadedDag, LoadedDags, one_line
from afbundle.check.report import CoordinatorEntry, Finding, StubTask

__all__ = ["Classified", "Routed", "classify"]


@dataclasses.dataclass(frozen=True)
class Routed:
    """One DAG's stubs routed to one usable executable entry."""

    dag: LoadedDag
    entry: CoordinatorEntry
    stubs: tuple[StubTask, ...]
    #: Every stub task_id of the DAG, whatever its entry.
    stub_ids: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Classified:
    """Every stub task, the stubs to compare with bundles, and the findings so far."""

    stub_tasks: tuple[StubTask, ...]
    routed: tuple[Routed, ...]
    findings: tuple[Finding, ...]


def classify(
    dags: LoadedDags, queues: Mapping[str, str], entries: Mapping[str, CoordinatorEntry]
) -> Classified:
    """Every task of ``dags`` by the entry its queue routes to (``queues``: queue -> entry
    name)."""

    def usable(name: str | None) -> CoordinatorEntry | None:
        entry = entries.get(name) if name is not None else None
        return entry if entry is not None and entry.executable and entry.problem is None else None

    findings = [
        Finding("import-error", None, None, None, None, None, path, one_line(error))
        for path, error in dags.import_errors
    ]
    stub_tasks: list[StubTask] = []
    routed: list[Routed] = []
    for dag in dags.dags:
        dag_id, file = dag.dag_id, dag.file
        by_entry: dict[str, list[StubTask]] = {}
        for task in dag.tasks:
            queue = task.queue
            name = queues.get(queue) if queue is not None else None
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
            if name is None:
                findings.append(
                    Finding(
                        "unrouted-stub", dag_id, task.task_id, queue, None, None, file,
                        f"{_queue_words(queue)}: the task would run "
                        f"on a Python worker and fail (@task.stub is not executable)",
                    )
                )  # fmt: skip
            elif usable(name) is not None:
                by_entry.setdefault(name, []).append(stub)
        stub_ids = frozenset(t.task_id for t in dag.tasks if t.stub)
        routed.extend(
            Routed(dag, entries[name], tuple(stubs), stub_ids) for name, stubs in by_entry.items()
        )
    return Classified(tuple(stub_tasks), tuple(routed), tuple(findings))


def _queue_words(queue: object) -> str:
    if queue is None:
        return "no queue= given (queue None), which no coordinator handles"
    return f"queue {queue!r} is not in [sdk] queue_to_coordinator"
