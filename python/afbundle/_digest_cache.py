"""Where the persistent digest cache lives, and whether it may be trusted.

Every call that can use it (:func:`afbundle.find`, :func:`afbundle.scan`,
:func:`afbundle.read_bundle`, :func:`afbundle.check_dags`, the coordinator and
the CLI) names it the same way: ``cache_dir`` says where (``None``: the
default directory), ``persistent_cache`` whether (the coordinator's kwarg
``digest_cache`` and the CLI's ``--no-cache`` are older names of it).
:func:`usable_cache_dir` decides, once per process and directory, whether it
may be trusted; the core opens it once per call.
"""

from __future__ import annotations

import os
from pathlib import Path

from afbundle import _core

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light

if TYPE_CHECKING:
    from afbundle._scan import KeywordLogger

__all__ = ["default_cache_dir", "usable_cache_dir"]

_refused: dict[Path, str | None] = {}


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/afbundle``, else ``~/.cache/afbundle``.

    Example:
        >>> afbundle.default_cache_dir()
        PosixPath('/home/airflow/.cache/afbundle')
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "afbundle"


def usable_cache_dir(
    cache_dir: str | os.PathLike[str] | None, enabled: bool, log: KeywordLogger
) -> Path | None:
    """The cache directory to use, or ``None`` when disabled or refused.

    A directory not owned by the current user, or writable by group or
    others, or reached through a directory someone else could change, is
    refused with a warning (once per process): whoever can write or redirect
    it could vouch for a tampered binary. An empty ``cache_dir`` is a
    ``ValueError`` (it would silently mean the current directory).
    """
    if not enabled:
        return None
    if cache_dir is not None and not os.fspath(cache_dir):
        raise ValueError("cache_dir must not be empty (None means the default directory)")
    path = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    if path not in _refused:
        _refused[path] = _core.check_cache_dir(path)
        if _refused[path] is not None:
            log.warning(
                "Persistent digest cache refused; bundles will be hashed",
                cache_dir=str(path),
                reason=_refused[path],
            )
    return None if _refused[path] is not None else path
