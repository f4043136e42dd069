"""What a scan found: :class:`ScanReport`, over the core's own records.

``Rejection``, ``Skip``, ``ScanStats`` and ``Decision`` are defined once, in the
compiled core (frozen, comparable, picklable) and re-exported here.
``ScanReport`` is a plain class (no dataclasses: ``import afbundle`` and a
worker's first call stay cheap), and the one place the core's decisions
become a report: ``scan`` and ``check`` both construct it from them.
"""

from __future__ import annotations

from afbundle._core import Decision, Rejection, ScanStats, Skip

TYPE_CHECKING = False  # not from typing: keep imports cheap
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from afbundle._core import Bundle

__all__ = ["Decision", "Rejection", "ScanReport", "ScanStats", "Skip"]


class ScanReport:
    """Everything one :func:`afbundle.scan` found, in precedence order.

    Attributes:
        roots: the roots, in the order given (the first has precedence).
        bundles: readable bundles, in precedence order.
        rejected: files with the bundle magic that were refused.
        skipped: paths the walk could not examine or use, with the reason (including
            files with exec bits on a ``noexec`` mount).
        duplicates: dag_id -> every bundle path declaring it, the winner first
            (when there is one), then the others in precedence order; only
            dag_ids declared by more than one bundle appear.
        missing_roots: roots that do not exist (or could not be examined).
        stats: counters.
        decisions: dag_id -> ``(winner, resolved_schema_version, lost)``:
            the bundle :func:`afbundle.find` would run (or ``None``) and each
            other bundle declaring the dag_id with why it lost, decided in the
            core by the same rule as ``find`` (built from the core's
            ``Decision`` records, whose indices are into ``bundles``).
    """

    __slots__ = (
        "bundles",
        "decisions",
        "duplicates",
        "missing_roots",
        "rejected",
        "roots",
        "skipped",
        "stats",
    )

    def __init__(
        self,
        *,
        roots: tuple[Path, ...],
        bundles: tuple[Bundle, ...],
        rejected: tuple[Rejection, ...],
        skipped: tuple[Skip, ...],
        missing_roots: tuple[Path, ...],
        stats: ScanStats,
        decisions: Iterable[Decision],
    ) -> None:
        self.roots = roots
        self.bundles = bundles
        self.rejected = rejected
        self.skipped = skipped
        self.missing_roots = missing_roots
        self.stats = stats
        self.decisions: dict[str, tuple[Bundle | None, str | None, tuple[Rejection, ...]]] = {}
        self.duplicates: dict[str, tuple[Path, ...]] = {}
        for decision in decisions:
            winner = None if decision.winner is None else bundles[decision.winner]
            lost = tuple(rejection for _, rejection in decision.losers)
            self.decisions[decision.dag_id] = (winner, decision.resolved_schema_version, lost)
            paths = ([winner.path] if winner is not None else []) + [r.path for r in lost]
            if len(paths) > 1:
                self.duplicates[decision.dag_id] = tuple(paths)

    def winner(self, dag_id: str) -> Bundle | None:
        """The bundle :func:`afbundle.find` runs for ``dag_id`` (given the same
        schema-version resolver), or ``None`` when none qualifies.

        With ``scan(verify=False)`` nothing was hashed: the winner is the one
        ``find`` would pick if it verifies.
        """
        decision = self.decisions.get(dag_id)
        return None if decision is None else decision[0]

    def losers(self, dag_id: str) -> tuple[Rejection, ...]:
        """Every other bundle declaring ``dag_id``, in precedence order, with why it lost
        (``kind`` ``"shadowed"``: an earlier bundle won)."""
        decision = self.decisions.get(dag_id)
        return () if decision is None else decision[2]

    def __repr__(self) -> str:
        return (
            f"<ScanReport roots={len(self.roots)} bundles={len(self.bundles)} "
            f"rejected={len(self.rejected)} skipped={len(self.skipped)}>"
        )
