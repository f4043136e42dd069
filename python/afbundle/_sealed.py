"""Verified exec: run exactly the bytes that were verified.

:func:`seal` copies a bundle into a sealed in-memory file (memfd: no write,
shrink or grow once sealed) and verifies the trailer, hash and manifest of
that copy -- hashed as it is copied, never taken from a digest cache.
Executing the memfd runs those bytes even if the file on disk is replaced
after the check: the gap a path-based launch leaves open. Linux only; where
memfds are unavailable :func:`seal` raises :class:`OSError` rather than fall
back to the path.

What "verified" covers: the trailer's ``binary_sha256`` covers the binary
region only, as the spec defines it. A ``#!`` script bundle's interpreter
reads on past that region into the source and manifest regions, which no
digest covers: rewriting them keeps the bundle "verified" and changes what
the script does. With ``trusted_signers`` every byte of the sealed copy is
checked against the signature, so nothing unsigned runs.

The process that holds the memfd executes it. :meth:`SealedBundle.exec` runs
a compiled bundle from the descriptor itself (``fexecve``, which needs no
``/proc``); a ``#!`` script is run as ``/proc/self/fd/<n>``, which its
interpreter re-opens, so scripts need ``/proc``. A child started with
``pass_fds=sealed.pass_fds`` runs :attr:`SealedBundle.exec_path`.
``/proc/<pid>/fd/<n>`` of *another* process is refused when that process is
non-dumpable (Airflow's task supervisor makes itself so) unless the caller has
``CAP_SYS_PTRACE``, which is why the memfd is never handed over by path.
"""

from __future__ import annotations

import errno
import os

from afbundle import _core
from afbundle._signing import load_signers
from afbundle.errors import BundleIntegrityError

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light
if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType
    from typing import NoReturn

__all__ = ["SealedBundle", "seal"]


class SealedBundle:
    """A verified bundle held in a sealed memfd owned by this process.

    Attributes:
        fd: the memfd (close-on-exec until handed to a child or exec'd).
        bundle: the :class:`~afbundle.Bundle` as read from the sealed bytes
            (``path`` is still the file it was copied from).
        exec_path: ``/proc/self/fd/<fd>``: runs the sealed bytes in a child
            started with ``pass_fds=self.pass_fds`` (needs ``/proc``).
    """

    __slots__ = ("bundle", "exec_path", "fd")

    def __init__(self, fd: int, bundle: _core.Bundle) -> None:
        self.fd: int | None = fd
        self.bundle = bundle
        self.exec_path = f"/proc/self/fd/{fd}"

    @property
    def pass_fds(self) -> tuple[int, ...]:
        """The descriptors a child needs to run :attr:`exec_path` (for ``subprocess``)."""
        if self.fd is None:
            raise ValueError("the sealed bundle is closed")
        return (self.fd,)

    def exec(self, args: Sequence[str] = ()) -> NoReturn:
        """Replace this process with the sealed copy, run with ``args``.

        ``argv[0]`` is the bundle's path, so ``ps`` shows what runs. A
        compiled bundle runs from the descriptor (``fexecve``: the kernel's
        ``execveat(fd, "", AT_EMPTY_PATH)``), so ``/proc`` need not be
        mounted. A program an interpreter must re-open by name (a ``#!``
        script) runs as :attr:`exec_path` with the memfd left open for the
        interpreter, which needs ``/proc``.

        Raises:
            OSError: nothing ran; ``filename`` is the bundle's path and
                ``strerror`` says why (``/proc`` not mounted for a script, a
                missing interpreter, ...).
        """
        fd = self.fd
        if fd is None:
            raise ValueError("the sealed bundle is closed")
        argv = [str(self.bundle.path), *args]
        # Close-on-exec, the descriptor cannot be re-opened by the new program:
        # the kernel then refuses a #! script with ENOENT before running anything.
        os.set_inheritable(fd, False)
        try:
            os.execve(fd, argv, os.environ)
        except FileNotFoundError:
            pass  # interpreted: run it by name, below
        except OSError as exc:
            raise self._cannot_run(exc) from exc
        os.set_inheritable(fd, True)
        try:
            os.execv(self.exec_path, argv)
        except OSError as exc:
            os.set_inheritable(fd, False)
            raise self._cannot_run(exc) from exc

    def _cannot_run(self, exc: OSError) -> OSError:
        """``exc`` from an exec of the sealed copy, as an error about the bundle, with its cause."""
        why = exc.strerror or str(exc)
        if exc.errno == errno.ENOENT and not os.path.exists(self.exec_path):
            why = (
                "/proc is not mounted, and a #! script bundle needs it (its interpreter"
                f" re-opens the copy as {self.exec_path}; a compiled bundle does not)"
            )
        elif exc.errno == errno.ENOENT:
            why += " (the interpreter its #! line or ELF header names is missing)"
        return OSError(exc.errno, f"cannot execute the sealed copy: {why}", str(self.bundle.path))

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
    expect_sha256: bytes | None = None,
    dag_id: str | None = None,
    trusted_signers: _core.TrustedSigners | str | os.PathLike[str] | None = None,
) -> SealedBundle:
    """Copy the bundle at ``path`` into a sealed memfd and verify that copy.

    With ``expect_sha256`` (the ``binary_sha256`` of a bundle verified
    earlier, e.g. by :func:`afbundle.find`) and ``dag_id``, the sealed copy
    must also be that same bundle and declare that dag: a file replaced
    between the earlier check and the seal is refused, never run. With
    ``trusted_signers``, ``PATH.sig`` must also be a valid signature by one of
    them over the sealed bytes: what runs is exactly what was signed.

    Raises:
        BundleIntegrityError: the copied binary region does not match its
            digest, or the copy is not the bundle that was expected.
        BundleSignatureError: ``trusted_signers`` was given and the sealed
            bytes are not validly signed by one of them.
        OSError: memfds or seals are unavailable, or the file cannot be read.

    Example:
        >>> with afbundle.seal("/opt/airflow/executable-bundles/example") as sealed:
        ...     subprocess.run([sealed.exec_path, "--help"], pass_fds=sealed.pass_fds)
    """
    fd, bundle = _core.seal_bundle(path, trusted_signers=load_signers(trusted_signers))
    sealed = SealedBundle(fd, bundle)
    mismatch = None
    if expect_sha256 is not None and bundle.binary_sha256 != expect_sha256:
        mismatch = (
            f"binary_sha256 is {bundle.binary_sha256.hex()}, not the verified {expect_sha256.hex()}"
        )
    elif dag_id is not None and dag_id not in bundle.dag_ids:
        mismatch = f"no longer declares dag_id={dag_id!r}"
    if mismatch is not None:
        sealed.close()
        reason = f"changed since it was verified: {mismatch}; not running it"
        raise BundleIntegrityError(f"{bundle.path}: {reason}", str(bundle.path), reason)
    return sealed
