"""Orphans: what the bundles under routed roots declare that no loaded DAG accounts for.

A dag_id no loaded DAG has (``orphan-dag``: a retired DAG's bundle still
deployed, or a DAG file not in the checked folder), and a dag or task key
Airflow's YAML 1.1 reader types differently from the manifest's YAML 1.2
reading (``retyped-key``: the core's ``Bundle.retyped_keys``), each reported
once per bundle however many roots or entries reach it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable

from afbundle.check.report import CoordinatorEntry, Finding
from afbundle.check.walk import Scans

__all__ = ["orphans"]


def orphans(
    scans: Scans, entries: Iterable[CoordinatorEntry], dag_ids: Collection[str]
) -> list[Finding]:
    """The ``orphan-dag`` and ``retyped-key`` findings of every scanned bundle
    (``dag_ids``: those of the loaded DAGs)."""
    usable = [e for e in entries if e.executable and e.problem is None]
    findings: list[Finding] = []
    seen_orphans: set[tuple[os.PathLike[str], str]] = set()
    seen_retyped: set[tuple[os.PathLike[str], int, str, int | None]] = set()
    for (root, signers), report in scans.items():
        users = [e.name for e in usable if root in e.roots and e.trusted_signers is signers]
        user = users[0] if users else None
        for bundle in report.bundles:
            for dag_id in bundle.dag_ids:
                if dag_id in dag_ids or (bundle.path, dag_id) in seen_orphans:
                    continue
                seen_orphans.add((bundle.path, dag_id))
                findings.append(
                    Finding(
                        "orphan-dag", dag_id, None, None, user, bundle.path, None,
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
                        "retyped-key", retyped["dag"], task, None, user, bundle.path, None,
                        f"{os.fsdecode(bundle.path)}, manifest line {retyped['line']}: "
                        f"{retyped['message']}",
                    )
                )  # fmt: skip
    return findings
