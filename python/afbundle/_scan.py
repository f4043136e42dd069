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
from afbundle._roots import as_roots
from afbundle._signing import load_signers
from afbundle.errors import BundleNotFoundError

# typing, logging and the report records (dataclasses) are imported on first
# use, not here: `import afbundle` must stay cheap for every worker process.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

    from afbundle._core import Rejection, ScanStats
    from afbundle._report import ScanReport
    from afbundle._roots import PathArg, Roots

    class KeywordLogger(Protocol):
        """A structlog-style logger: an event string plus keyword context."""

        def debug(self, event: str, **kw: Any) -> Any: ...
        def warning(self, event: str, **kw: Any) -> Any: ...


__all__ = ["Roots", "find", "scan"]


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


#: The core's word for a YAML top level -> the Python type name upstream logs.
_PYTHON_TYPE_NAMES = {
    "null": "NoneType",
    "a boolean": "bool",
    "an integer": "int",
    "a float": "float",
    "a string": "str",
    "binary data": "bytes",
    "a sequence": "list",
}


def _log_rejection(log: KeywordLogger, rejection: Rejection) -> None:
    """Log a refused bundle at debug.

    A condition upstream's coordinator also refuses is logged with upstream's
    event and exactly upstream's keywords (operators grep and alert on these,
    and upstream's own tests assert the exact call); its kind follows from the
    event. A condition upstream has no event for (a signature, a size limit)
    is afbundle's ``Bundle rejected; skipping``, with its ``kind``.
    """
    path, kind, context = str(rejection.path), rejection.kind, rejection.context
    # Where an I/O error happened is the core's typed stage (never its words).
    io_stage = context.get("stage") if kind == "io" else None
    error = rejection.reason
    if kind in ("format", "footer_version") or io_stage == "trailer":
        log.debug("Invalid bundle trailer; skipping", path=path, error=error)
    elif kind == "integrity" and "expected" in context:
        log.debug(
            "Bundle binary_sha256 mismatch; skipping",
            path=path,
            expected=context["expected"],
            actual=context["actual"],
        )
    elif kind == "integrity" or io_stage == "hash":
        log.debug("Failed to hash bundle binary region", path=path, error=error)
    elif kind == "manifest" and "found" in context:
        found = str(context["found"])
        log.debug(
            "Bundle metadata is not a mapping; skipping",
            path=path,
            type=_PYTHON_TYPE_NAMES.get(found, found),
        )
    elif kind == "manifest":
        log.debug("Cannot decode bundle metadata; skipping", path=path, error=error)
    elif io_stage == "manifest":
        log.debug("Cannot read bundle metadata; skipping", path=path, error=error)
    elif io_stage == "stat":
        log.debug("Cannot stat bundle file; skipping", path=path, error=error)
    elif kind == "io":
        log.debug("Cannot open bundle file; skipping", path=path, error=error)
    elif kind == "schema":  # upstream's event for a missing or refused schema version
        log.debug("Bundle metadata rejected; skipping", path=path, error=error)
    else:
        log.debug("Bundle rejected; skipping", path=path, kind=kind, error=error)


def _log_walk(log: KeywordLogger, raw: Any) -> None:
    for skip in raw.skipped:
        log.debug("Skipping path", path=str(skip.path), reason=skip.reason)
    for rejection in raw.rejected:
        _log_rejection(log, rejection)


def scan(
    roots: Roots,
    *,
    verify: bool = True,
    threads: int | None = None,
    log: KeywordLogger | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    persistent_cache: bool = True,
    resolve_schema_version: Callable[[str], str] | None = None,
    trusted_signers: _core.TrustedSigners | PathArg | None = None,
) -> ScanReport:
    """Walk ``roots`` and report every bundle, rejection and skip, in precedence order.

    Precedence: roots in the order given; within a root, paths in byte-wise
    order of their path relative to the root. With ``verify=True`` every
    bundle's binary region is SHA-256-checked (in parallel, through the
    digest cache) and mismatches are reported as rejections. For every
    dag_id the report names the winner under the same rule, decided by the
    same code, as :func:`find` (``resolve_schema_version`` as there):
    :meth:`ScanReport.winner` is what ``find`` returns. ``threads`` (1 to 256)
    overrides the automatic choice: one per CPU on local disks, 16 per CPU (32 to 64) when a
    root is on a network file system.
    With ``trusted_signers`` (an OpenSSH ``allowed_signers`` path or a
    :class:`TrustedSigners`), bundles without a valid signature by one of
    them are rejections too (kind ``signature``).

    Raises:
        OSError: the process or the system ran out of descriptors or memory
            (``EMFILE``, ``ENFILE``, ``ENOMEM``; ``filename`` is the path): a
            report missing that file could name another winner.

    Example:
        >>> report = afbundle.scan(["/opt/airflow/executable-bundles"])
        >>> [(str(b.path), b.dag_ids) for b in report.bundles]
        [('/opt/airflow/executable-bundles/example', ('example_dag',))]
        >>> report.winner("example_dag").path
        PosixPath('/opt/airflow/executable-bundles/example')
    """
    from afbundle._report import ScanReport

    log = log or _default_log
    root_paths = list(as_roots(roots))
    raw = _core.scan_roots(
        root_paths,
        verify=verify,
        threads=threads,
        cache_dir=usable_cache_dir(cache_dir, persistent_cache and verify, log),
        resolve=resolve_schema_version,
        trusted_signers=load_signers(trusted_signers),
    )
    _log_walk(log, raw)
    return ScanReport(
        roots=tuple(root_paths),
        bundles=tuple(raw.bundles),
        rejected=tuple(raw.rejected),
        skipped=tuple(raw.skipped),
        missing_roots=tuple(root_paths[i] for i in raw.missing_roots),
        stats=raw.stats,
        decisions=raw.decisions,
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
    trusted_signers: _core.TrustedSigners | PathArg | None = None,
) -> _core.Bundle:
    """Return the verified bundle that declares ``dag_id``, first in precedence order.

    Trailers and manifests of every candidate are read first; only bundles
    that declare ``dag_id`` and whose ``sdk.supervisor_schema_version``
    resolves are SHA-256-verified, in precedence order, stopping at the first
    that verifies -- through the same descriptor the manifest was read from.
    ``resolve_schema_version`` (for example Airflow's
    ``get_schema_version_migrator().resolve_version``) maps the declared
    version to the canonical one; a ``ValueError`` or ``TypeError`` from it
    rejects that bundle. The returned bundle's ``resolved_schema_version``
    holds its result. Verification goes through the in-process and the
    persistent digest cache (``cache_dir``, default :func:`default_cache_dir`;
    off with ``persistent_cache=False``), so a fresh worker process does not
    re-hash an unchanged bundle. The rule is the one :func:`scan` reports
    with (``ScanReport.winner``), decided by the same code in the core.
    With ``trusted_signers`` (an OpenSSH ``allowed_signers`` path or a
    :class:`TrustedSigners`), a candidate must also carry a valid
    ``BUNDLE.sig`` by one of them; one that does not loses (kind
    ``signature``) and the search goes on.

    What the result promises a caller who then runs ``bundle.path`` itself:
    the file was a complete bundle (with ``trusted_signers``: signed over
    every byte) when it was hashed, or when its digest was remembered under
    the same device, inode, size, mtime and ctime -- so ``verified`` and
    ``signed_by`` may rest on a remembered digest. Not that the kernel will
    load those bytes: the file can be replaced between this call and the
    exec, and a write through an already dirty page of a shared mapping
    changes bytes without changing that state, so a remembered digest can
    outlive them. For a ``#!`` script, ``binary_sha256`` covers only the
    binary region, not the rest of the file its interpreter reads. To run
    exactly the bytes that were verified (and signed), seal them:
    ``afbundle.seal(bundle.path, expect_sha256=bundle.binary_sha256,
    dag_id=dag_id, trusted_signers=...).exec(args)``, which hashes and checks
    the signature over the sealed copy and never uses a cache. The
    coordinator does that whenever ``verified_exec`` or ``trusted_signers``
    is set, and so does ``afbundle find --exec``.

    Raises:
        BundleNotFoundError: no usable bundle declares ``dag_id``; its message
            names the rejected candidates and what was searched.
        BundleSignatureError: the ``trusted_signers`` file is unusable.
        OSError: the process or the system ran out of descriptors or memory
            (``EMFILE``, ``ENFILE``, ``ENOMEM``; ``filename`` is the path) while
            walking, reading or verifying: never a quiet skip that lets a later
            bundle win. The answer does not depend on ``RLIMIT_NOFILE`` otherwise:
            at most 64 candidates keep a descriptor open, the others are opened
            again (and must be unchanged) when their turn comes.

    Example:
        >>> bundle = afbundle.find("/opt/airflow/executable-bundles", "example_dag")
        >>> str(bundle.path), bundle.supervisor_schema_version
        ('/opt/airflow/executable-bundles/example', '2026-06-16')
    """
    log = log or _default_log
    signers = load_signers(trusted_signers)
    root_paths = list(as_roots(roots))
    raw = _core.find_bundle(
        root_paths,
        dag_id,
        threads=threads,
        cache_dir=usable_cache_dir(cache_dir, persistent_cache, log),
        resolve=resolve_schema_version,
        trusted_signers=signers,
    )
    _log_walk(log, raw)
    for rejection in raw.lost:
        _log_rejection(log, rejection)
    bundle: _core.Bundle | None = raw.bundle
    if bundle is None:
        raise _not_found(dag_id, root_paths, raw)
    if raw.shadowed:
        log.warning(
            "dag_id is declared by several bundles; using the first in precedence order",
            dag_id=dag_id,
            path=str(bundle.path),
            shadowed=[str(p) for p in raw.shadowed],
        )
    return bundle


def _display_root(root: Path) -> str:
    """The root as upstream's message shows it (resolved), even when it cannot be."""
    try:
        return str(root.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
        return os.path.abspath(root)


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def _not_found(dag_id: str, roots: list[Path], raw: Any) -> BundleNotFoundError:
    matching: list[Rejection] = list(raw.lost)
    stats: ScanStats = raw.stats
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
        f"searched {_plural(stats.files_seen, 'file', 'files')} in "
        f"{_plural(stats.dirs_visited, 'directory', 'directories')}: "
        f"{stats.executables} executable, {_plural(stats.bundles_read, 'bundle', 'bundles')}, "
        f"{_plural(len(raw.rejected), 'other bundle', 'other bundles')} rejected"
    )
    if raw.missing_roots:
        missing = ", ".join(str(roots[i]) for i in raw.missing_roots)
        searched += f", missing roots: {missing}"
    message += f" [{searched}]"
    return BundleNotFoundError(message, dag_id=dag_id, roots=roots, rejected=matching, stats=stats)
