"""What a scan found: plain, immutable records built from the core's raw result."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from afbundle._core import Bundle

__all__ = ["Rejection", "ScanReport", "ScanStats", "Skip"]


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A file with the bundle magic that was refused, and why.

    ``kind`` is one of ``"format"``, ``"footer_version"``, ``"integrity"``,
    ``"manifest"``, ``"schema"`` (supervisor_schema_version missing or not
    resolvable) or ``"io"`` (it could not be read).
    """

    path: Path
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class Skip:
    """A path the walk could not look at (unreadable, dangling, special file), and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclasses.dataclass(frozen=True)
class ScanStats:
    """Counters of one walk.

    Attributes:
        dirs_visited: directories listed.
        files_seen: directory entries that were not directories.
        executables: regular files executable by the caller (the candidates).
        not_executable: regular files skipped for having no exec permission.
        special: FIFOs, sockets and devices skipped without being opened.
        bundles_read: candidates whose trailer carried the magic.
        bytes_hashed: bytes fed to SHA-256 (0 when nothing needed hashing).
        cache_hits: verifications answered by the digest cache.
    """

    dirs_visited: int = 0
    files_seen: int = 0
    executables: int = 0
    not_executable: int = 0
    special: int = 0
    bundles_read: int = 0
    bytes_hashed: int = 0
    cache_hits: int = 0

    @classmethod
    def from_mapping(cls, raw: dict[str, int]) -> ScanStats:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def merged(self, other: ScanStats) -> ScanStats:
        """Field-wise sum of two stats."""
        return ScanStats(
            **{
                f.name: getattr(self, f.name) + getattr(other, f.name)
                for f in dataclasses.fields(self)
            }
        )


@dataclasses.dataclass(frozen=True)
class ScanReport:
    """Everything one :func:`afbundle.scan` found, in precedence order.

    Attributes:
        roots: the roots, in the order given (the first has precedence).
        bundles: readable bundles, in precedence order.
        rejected: files with the bundle magic that were refused.
        skipped: paths the walk could not examine.
        duplicates: dag_id -> every bundle path declaring it, winner first;
            only dag_ids declared by more than one bundle appear.
        missing_roots: roots that do not exist (or could not be examined).
        stats: counters.
    """

    roots: tuple[Path, ...]
    bundles: tuple[Bundle, ...]
    rejected: tuple[Rejection, ...]
    skipped: tuple[Skip, ...]
    duplicates: dict[str, tuple[Path, ...]]
    missing_roots: tuple[Path, ...]
    stats: ScanStats

    def winner(self, dag_id: str) -> Bundle | None:
        """The first bundle declaring ``dag_id`` with a supervisor_schema_version.

        That is what :func:`afbundle.find` picks when the scan verified every
        bundle and no schema-version resolver rejects it.
        """
        for bundle in self.bundles:
            if dag_id in bundle.dag_ids and bundle.supervisor_schema_version is not None:
                return bundle
        return None
