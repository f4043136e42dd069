"""scan() and find(): walk the roots with the core, then decide in precedence order.

The walk, the trailer and manifest reads and all hashing happen in the
compiled core with the GIL released. What stays here is the policy that
touches Python objects: calling the caller's schema-version resolver, and
wording the not-found error the way Airflow operators already alert on.
"""

from __future__ import annotations

import os
from pathlib import Path

from afbundle import _core
from afbundle._digest_cache import usable_cache_dir
from afbundle.errors import BundleError, BundleNotFoundError

# typing, logging and the report records (dataclasses) are imported on first
# use, not here: `import afbundle` must stay cheap for every worker process.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from typing import Any, Protocol, TypeAlias

    from afbundle._report import Rejection, ScanReport, ScanStats, Skip

    PathArg: TypeAlias = "str | os.PathLike[str]"
    #: One root or several; each is a directory (walked recursively) or a file.
    Roots: TypeAlias = "PathArg | Iterable[PathArg]"

    class KeywordLogger(Protocol):
        """A structlog-style logger: an event string plus keyword context."""

        def debug(self, event: str, **kw: Any) -> Any: ...
        def warning(self, event: str, **kw: Any) -> Any: ...


__all__ = ["Roots", "find", "scan"]


MISSING_SCHEMA_VERSION = "missing or invalid sdk.supervisor_schema_version"


class _StdlibLogger:
    """Adapts :mod:`logging` (the ``afbundle`` logger) to keyword-style calls."""

    def _log(self, level: str, event: str, kw: dict[str, Any]) -> None:
        import logging

        logger = logging.getLogger("afbundle")
        number = logging.getLevelName(level)
        if logger.isEnabledFor(number):
            context = " ".join(f"{k}={v!r}" for k, v in kw.items())
            logger.log(number, "%s %s", event, context)

    def debug(self, event: str, **kw: Any) -> None:
        self._log("DEBUG", event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log("WARNING", event, kw)


_default_log = _StdlibLogger()


def _as_roots(roots: Roots) -> list[Path]:
    # bytes paths are accepted as os functions accept them (os.fsdecode);
    # anything else that is not a path is a TypeError naming the argument.
    def one(root: object) -> Path:
        if isinstance(root, bytes):
            root = os.fsdecode(root)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"roots: expected a path or paths, got {type(root).__name__}")
        return Path(root).expanduser()

    if isinstance(roots, (str, bytes, os.PathLike)):
        return [one(roots)]
    try:
        items = list(roots)
    except TypeError:
        raise TypeError(f"roots: expected a path or paths, got {type(roots).__name__}") from None
    return [one(r) for r in items]


def _walk(
    roots: list[Path],
    *,
    verify: bool,
    threads: int | None,
    dag_id: str | None,
    log: KeywordLogger,
    cache_dir: Path | None = None,
) -> tuple[Any, list[Rejection], list[Skip], ScanStats]:
    from afbundle._report import Rejection, ScanStats, Skip

    raw = _core.scan_roots(
        roots, verify=verify, threads=threads, dag_id=dag_id, cache_dir=cache_dir
    )
    rejected = [Rejection(Path(p), kind, reason) for p, kind, reason in raw.rejected]
    skipped = [Skip(Path(p), reason) for p, reason in raw.skipped]
    for skip in skipped:
        log.debug("Skipping path", path=str(skip.path), reason=skip.reason)
    for rej in rejected:
        log.debug("Bundle rejected; skipping", path=str(rej.path), kind=rej.kind, error=rej.reason)
    return raw, rejected, skipped, ScanStats.from_mapping(raw.stats)


def scan(
    roots: Roots,
    *,
    verify: bool = True,
    threads: int | None = None,
    log: KeywordLogger | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    persistent_cache: bool = True,
) -> ScanReport:
    """Walk ``roots`` and report every bundle, rejection and skip, in precedence order.

    Precedence: roots in the order given; within a root, paths in byte-wise
    order of their path relative to the root. With ``verify=True`` every
    bundle's binary region is SHA-256-checked (in parallel, through the
    digest cache) and mismatches are reported as rejections.

    Example:
        >>> report = afbundle.scan(["/opt/airflow/executable-bundles"])
        >>> [(str(b.path), b.dag_ids) for b in report.bundles]
        [('/opt/airflow/executable-bundles/example', ('example_dag',))]
    """
    from afbundle._report import ScanReport

    log = log or _default_log
    root_paths = _as_roots(roots)
    raw, rejected, skipped, stats = _walk(
        root_paths,
        verify=verify,
        threads=threads,
        dag_id=None,
        log=log,
        cache_dir=usable_cache_dir(cache_dir, persistent_cache and verify, log),
    )
    bundles = tuple(raw.bundles)
    declared: dict[str, list[Path]] = {}
    for bundle in bundles:
        for dag_id in bundle.dag_ids:
            declared.setdefault(dag_id, []).append(bundle.path)
    duplicates = {d: tuple(paths) for d, paths in declared.items() if len(paths) > 1}
    return ScanReport(
        roots=tuple(root_paths),
        bundles=bundles,
        rejected=tuple(rejected),
        skipped=tuple(skipped),
        duplicates=duplicates,
        missing_roots=tuple(root_paths[i] for i in raw.missing_roots),
        stats=stats,
    )


def find(
    roots: Roots,
    dag_id: str,
    *,
    resolve_schema_version: Callable[[str], str] | None = None,
    threads: int | None = None,
    log: KeywordLogger | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    persistent_cache: bool = True,
) -> _core.Bundle:
    """Return the verified bundle that declares ``dag_id``, first in precedence order.

    Trailers and manifests of every candidate are read first; only bundles
    that declare ``dag_id`` and whose ``sdk.supervisor_schema_version``
    resolves are SHA-256-verified, in precedence order, stopping at the first
    that verifies. ``resolve_schema_version`` (for example Airflow's
    ``get_schema_version_migrator().resolve_version``) maps the declared
    version to the canonical one; a ``ValueError`` or ``TypeError`` from it
    rejects that bundle. The returned bundle's ``resolved_schema_version``
    holds its result. Verification goes through the in-process and the
    persistent digest cache (``cache_dir``, default :func:`default_cache_dir`;
    off with ``persistent_cache=False``), so a fresh worker process does not
    re-hash an unchanged bundle.

    Raises:
        BundleNotFoundError: no usable bundle declares ``dag_id``; its message
            names the rejected candidates and what was searched.

    Example:
        >>> bundle = afbundle.find("/opt/airflow/executable-bundles", "example_dag")
        >>> str(bundle.path), bundle.supervisor_schema_version
        ('/opt/airflow/executable-bundles/example', '2026-06-16')
    """
    from afbundle._report import Rejection

    log = log or _default_log
    root_paths = _as_roots(roots)
    raw, rejected, _skipped, stats = _walk(
        root_paths, verify=False, threads=threads, dag_id=dag_id, log=log
    )
    candidates: list[_core.Bundle] = list(raw.bundles)
    verified_cache = usable_cache_dir(cache_dir, persistent_cache, log) if candidates else None
    matching_rejected: list[Rejection] = []

    def reject(path: Path, kind: str, reason: str) -> None:
        log.debug("Bundle metadata rejected; skipping", path=str(path), error=reason)
        matching_rejected.append(Rejection(path, kind, reason))

    for position, candidate in enumerate(candidates):
        declared = candidate.supervisor_schema_version
        if declared is None:
            reject(candidate.path, "schema", MISSING_SCHEMA_VERSION)
            continue
        if resolve_schema_version is None:
            resolved = declared
        else:
            try:
                resolved = resolve_schema_version(declared)
            except (TypeError, ValueError) as exc:
                reject(candidate.path, "schema", str(exc))
                continue
        try:
            # The same file, in the same state, as the walk read: a file
            # swapped, rewritten or chmodded since is refused, never hashed.
            verified = _core.verify_again(candidate, cache_dir=verified_cache)
        except BundleError as exc:
            reject(candidate.path, exc.kind, exc.reason)
            continue
        except OSError as exc:
            reject(candidate.path, "io", f"{type(exc).__name__}: {exc.strerror or exc}")
            continue
        if dag_id not in verified.dag_ids or verified.supervisor_schema_version != declared:
            reject(candidate.path, "integrity", "bundle changed while it was being read")
            continue
        shadowed = [str(c.path) for c in candidates[position + 1 :]]
        if shadowed:
            log.warning(
                "dag_id is declared by several bundles; using the first in precedence order",
                dag_id=dag_id,
                path=str(verified.path),
                shadowed=shadowed,
            )
        return verified._with_resolved_schema_version(resolved)

    raise _not_found(dag_id, root_paths, matching_rejected, rejected, stats, raw)


def _display_root(root: Path) -> str:
    """The root as upstream's message shows it (resolved), even when it cannot be."""
    try:
        return str(root.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return os.path.abspath(root)


def _not_found(
    dag_id: str,
    roots: list[Path],
    matching: list[Rejection],
    other_rejected: list[Rejection],
    stats: ScanStats,
    raw: Any,
) -> BundleNotFoundError:
    where = os.pathsep.join(_display_root(r) for r in roots)
    details = "; ".join(str(r) for r in matching)
    if any(r.kind == "schema" for r in matching):
        message = (
            f"cannot find executable bundle with usable supervisor_schema_version "
            f"for dag_id={dag_id!r} in {where}: matching bundles were rejected ({details})"
        )
    else:
        message = f"cannot find executable bundle containing dag_id={dag_id!r} in {where}"
        if matching:
            message += f": matching bundles failed verification ({details})"
    searched = (
        f"searched {stats.files_seen} files in {stats.dirs_visited} directories: "
        f"{stats.executables} executable, {stats.bundles_read} bundles, "
        f"{len(other_rejected)} other bundles rejected"
    )
    if raw.missing_roots:
        missing = ", ".join(str(roots[i]) for i in raw.missing_roots)
        searched += f", missing roots: {missing}"
    message += f" [{searched}]"
    return BundleNotFoundError(message, dag_id=dag_id, roots=roots, rejected=matching, stats=stats)
