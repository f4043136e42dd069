"""Verified exec: run exactly the bytes that were verified.

:func:`seal` copies a bundle into a sealed in-memory file (memfd: no write,
shrink or grow once sealed) and verifies the trailer, hash and manifest of
that copy. Executing :attr:`SealedBundle.exec_path` runs those bytes even if
the file on disk is replaced after the check -- the gap a path-based launch
leaves open. Linux only; where memfds are unavailable :func:`seal` raises
:class:`OSError` rather than fall back to the path.
"""

from __future__ import annotations

import os

from afbundle import _core

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light
if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["SealedBundle", "seal"]


class SealedBundle:
    """A verified bundle held in a sealed memfd owned by this process.

    Attributes:
        fd: the memfd (close-on-exec).
        bundle: the :class:`~afbundle.Bundle` as read from the sealed bytes
            (``path`` is still the file it was copied from).
        exec_path: ``/proc/<pid>/fd/<fd>`` of the process that sealed it;
            a child started with that path runs the sealed bytes, as long as
            this process keeps :attr:`fd` open until the child has started.
    """

    __slots__ = ("bundle", "exec_path", "fd")

    def __init__(self, fd: int, bundle: _core.Bundle) -> None:
        self.fd: int | None = fd
        self.bundle = bundle
        self.exec_path = f"/proc/{os.getpid()}/fd/{fd}"

    def close(self) -> None:
        """Release the memfd (safe to call twice)."""
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)

    def __del__(self) -> None:
        # A dropped SealedBundle must not pin a copy of the bundle in memory.
        if getattr(self, "fd", None) is not None:
            self.close()

    def __enter__(self) -> SealedBundle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.fd is None else self.exec_path
        return f"<SealedBundle {str(self.bundle.path)!r} {state}>"


def seal(
    path: str | os.PathLike[str],
    *,
    trusted_signers: _core.TrustedSigners | str | os.PathLike[str] | None = None,
) -> SealedBundle:
    """Copy the bundle at ``path`` into a sealed memfd and verify that copy.

    With ``trusted_signers``, ``PATH.sig`` must also be a valid signature by
    one of them over the sealed bytes: what runs is exactly what was signed.

    Raises:
        BundleIntegrityError: the copied binary region does not match its digest.
        BundleSignatureError: ``trusted_signers`` was given and the sealed
            bytes are not validly signed by one of them.
        OSError: memfds or seals are unavailable, or the file cannot be read.

    Example:
        >>> with afbundle.seal("/opt/airflow/executable-bundles/example") as sealed:
        ...     subprocess.run([sealed.exec_path, "--help"])
    """
    fd, bundle = _core.seal_bundle(path, trusted_signers=trusted_signers)
    return SealedBundle(fd, bundle)
