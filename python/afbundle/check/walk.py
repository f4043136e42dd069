"""Walk: one scan per distinct root, and each entry's search path decided from those scans.

Each distinct root is walked once per trusted-signers setting (:func:`walk`),
whatever the number of DAGs and entries, so each bundle is hashed at most once.
An entry's search path -- its roots in its order -- is then one
:class:`~afbundle.ScanReport` whose winners and losers the core decides
(:func:`afbundle._core.decide_bundles`: the rule :func:`afbundle.find` uses, a
file met under two roots counting once), never this module.

This is the one module of the check that turns the core's raw decisions into a
``ScanReport``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from afbundle import _core
from afbundle._report import ScanReport

if TYPE_CHECKING:
    from afbundle._core import Rejection, TrustedSigners
    from afbundle._roots import PathArg
    from afbundle.check.report import CoordinatorEntry

__all__ = ["Scans", "Search", "Searches", "schema_resolver", "walk"]

#: One scan per ``(root, trusted signers)``.
Scans = Mapping[tuple[Path, "TrustedSigners | None"], ScanReport]


def schema_resolver() -> Callable[[str], str]:
    """Airflow's schema-version resolver, the one a worker's coordinator uses."""
    from airflow.sdk.execution_time.schema import get_schema_version_migrator

    resolve: Callable[[str], str] = get_schema_version_migrator().resolve_version
    return resolve


def walk(
    entries: Iterable[CoordinatorEntry],
    *,
    resolve: Callable[[str], str] | None,
    threads: int | None = None,
    cache_dir: PathArg | None = None,
    persistent_cache: bool = True,
) -> dict[tuple[Path, TrustedSigners | None], ScanReport]:
    """One :func:`afbundle.scan` per distinct root (and trusted signers) of the usable
    executable ``entries``, in first-seen order."""
    import afbundle

    scans: dict[tuple[Path, TrustedSigners | None], ScanReport] = {}
    for entry in entries:
        if not (entry.executable and entry.problem is None):
            continue
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
    return scans


@dataclasses.dataclass(frozen=True)
class Search:
    """An entry's search path as one report, and the dag_ids each bundle it refused
    (a failed digest or signature) declares."""

    report: ScanReport
    refused: tuple[tuple[Rejection, tuple[str, ...]], ...]

    def losers(self, dag_id: str) -> tuple[Rejection, ...]:
        """Every bundle declaring ``dag_id`` that does not serve it, in precedence
        order, then those refused before the per-dag_id decision."""
        refused = (r for r, ids in self.refused if dag_id in ids)
        return (*self.report.losers(dag_id), *refused)


class Searches:
    """Each distinct search path (roots in order, trusted signers), decided once."""

    def __init__(self, scans: Scans, resolve: Callable[[str], str] | None) -> None:
        self._scans = scans
        self._resolve = resolve
        self._decided: dict[tuple[tuple[Path, ...], TrustedSigners | None], Search] = {}

    def of(self, entry: CoordinatorEntry) -> Search:
        key = (entry.roots, entry.trusted_signers)
        if key not in self._decided:
            report = _search(entry.roots, entry.trusted_signers, self._scans, self._resolve)
            self._decided[key] = Search(report, _refused_dag_ids(report))
        return self._decided[key]


def _search(
    roots: tuple[Path, ...],
    signers: TrustedSigners | None,
    scans: Scans,
    resolve: Callable[[str], str] | None,
) -> ScanReport:
    """One entry's search path as one report, from the walks of its roots.

    The bundles of each root's walk, in the entry's root order, are decided by
    the core (:func:`afbundle._core.decide_bundles`: the rule ``find`` uses,
    a file met twice counting once), so a root shared by several entries is
    walked and hashed once.
    """
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


def _refused_dag_ids(report: ScanReport) -> tuple[tuple[Rejection, tuple[str, ...]], ...]:
    """The dag_ids each refused bundle declares (a failed digest or signature drops
    a bundle before the core's per-dag_id decisions; the core read its manifest
    first, so the rejection names them)."""
    return tuple(
        (rejection, rejection.dag_ids) for rejection in report.rejected if rejection.dag_ids
    )
