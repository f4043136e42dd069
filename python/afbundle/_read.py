"""read_bundle(): one file, read and verified by the core through one descriptor."""

from __future__ import annotations

import os

from afbundle import _core
from afbundle._digest_cache import usable_cache_dir
from afbundle._scan import _default_log
from afbundle._signing import load_signers

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light
if TYPE_CHECKING:
    from afbundle._scan import KeywordLogger

__all__ = ["read_bundle"]


def read_bundle(
    path: str | os.PathLike[str],
    *,
    verify: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    persistent_cache: bool | None = None,
    trusted_signers: _core.TrustedSigners | str | os.PathLike[str] | None = None,
    log: KeywordLogger | None = None,
) -> _core.Bundle:
    """Read the bundle at ``path``; with ``verify``, check its binary region's SHA-256.

    The cache arguments mean what they mean for :func:`afbundle.find` and
    :func:`afbundle.scan`: ``cache_dir`` is where the persistent digest cache
    lives (``None``: :func:`afbundle.default_cache_dir`), ``persistent_cache``
    whether it is used. Only the default differs: one file named explicitly is
    hashed unless the cache is asked for, with ``persistent_cache=True`` or by
    giving a ``cache_dir`` (``persistent_cache=None``, the default, means "only
    if ``cache_dir`` is given"). A directory that is not private to the current
    user is refused with a warning (to ``log``, else the ``afbundle`` logger),
    and the file hashed. With ``trusted_signers`` (an ``allowed_signers`` path or
    a :class:`~afbundle.TrustedSigners`), ``PATH.sig`` must be a valid signature
    by one of them.

    Raises:
        BundleError: (a subclass) the file is not a usable bundle; ``path`` and
            ``reason`` say why.
        OSError: the file cannot be read.
        ValueError: ``cache_dir`` is empty, or ``trusted_signers`` without ``verify``.

    Example:
        >>> bundle = afbundle.read_bundle("dist/pipeline")
        >>> bundle.verified, bundle.dag_ids
        (True, ('my_dag',))
    """
    enabled = cache_dir is not None if persistent_cache is None else persistent_cache
    return _core.read_bundle(
        path,
        verify=verify,
        cache_dir=usable_cache_dir(cache_dir, enabled and verify, log or _default_log),
        trusted_signers=load_signers(trusted_signers),
    )
