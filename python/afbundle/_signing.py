"""Signatures: where a bundle's sidecar lives, loading the trusted signers, and sign().

Verification never runs a program: it is native, in the core
(``trusted_signers=`` on :func:`afbundle.read_bundle`, :func:`afbundle.scan`,
:func:`afbundle.find`, :func:`afbundle.seal` and :func:`afbundle.check_dags`),
and every one of them loads an ``allowed_signers`` path with
:func:`load_signers`. Signing needs the private key, which lives where OpenSSH
keeps it (a file, an agent, a hardware token), so it is delegated to
``ssh-keygen -Y sign``; the result is byte for byte what an operator gets by
running that command by hand.
"""

from __future__ import annotations

import os
from pathlib import Path

from afbundle import _core
from afbundle.errors import BundleSignatureError

__all__ = ["SIDECAR_SUFFIX", "SIGNATURE_NAMESPACE", "load_signers", "sidecar_path", "sign"]

#: What a bundle's signature file name adds to the bundle's: ``BUNDLE.sig`` (the core's).
SIDECAR_SUFFIX: str = _core.SIDECAR_SUFFIX
#: The sshsig namespace of bundle signatures, ``"afbundle"`` (the core's).
SIGNATURE_NAMESPACE: str = _core.SIGNATURE_NAMESPACE


def load_signers(
    signers: _core.TrustedSigners | str | os.PathLike[str] | None,
) -> _core.TrustedSigners | None:
    """The trusted signers of a call: an ``allowed_signers`` path (``~`` expanded) read
    now, once; a loaded :class:`~afbundle.TrustedSigners` or ``None`` as given.

    Every ``trusted_signers=`` argument goes through here, so a path means the same
    file everywhere. The file is read once: load it yourself to check many bundles
    against one reading of it. Lines OpenSSH would skip are skipped (they trust
    nothing) and listed in ``skipped``.

    Raises:
        BundleSignatureError: (``problem == "signers_file"``) the file is unusable:
            missing, not a regular file, or writable (or redirectable) by anyone but
            the current user and root.

    Example:
        >>> signers = afbundle.load_signers("~/.config/afbundle/allowed_signers")
        >>> afbundle.find(roots, "etl", trusted_signers=signers).signed_by
        'release@example.com'
    """
    if signers is None or isinstance(signers, _core.TrustedSigners):
        return signers
    if isinstance(signers, bytes):
        signers = os.fsdecode(signers)
    return _core.TrustedSigners(Path(signers).expanduser())


def sidecar_path(bundle: str | os.PathLike[str]) -> Path:
    """Where the signature of ``bundle`` lives: ``BUNDLE.sig``.

    Example:
        >>> afbundle.sidecar_path("/opt/bundles/etl")
        PosixPath('/opt/bundles/etl.sig')
    """
    return Path(os.fspath(bundle) + SIDECAR_SUFFIX)


def sign(
    bundle: str | os.PathLike[str],
    key: str | os.PathLike[str],
    *,
    hashalg: str | None = None,
    ssh_keygen: str = "ssh-keygen",
) -> Path:
    """Sign ``bundle`` with the SSH key ``key``; return the sidecar written.

    Same bytes as ``ssh-keygen -Y sign -n afbundle -f KEY BUNDLE``. ``key`` is
    a private key file, or a public key whose private half is in the
    ssh-agent. ``hashalg`` (``"sha256"`` or ``"sha512"``) is passed on as
    ``-O hashalg=...``; ``None`` keeps ssh-keygen's default (SHA-512).
    ``"sha256"`` makes every later verification much cheaper (one SHA-256
    pass yields both digests; see BENCHMARKS.md). The bundle is read (and
    its digest verified) first, so a file that is not an intact bundle is
    never signed. The sidecar replaces any
    old one atomically (the core's atomic write: temporary file, fsync, rename,
    fsync of the directory), so a concurrent reader sees the old signature or the
    new one, never half of one. Like ``ssh-keygen``'s own, the sidecar is created
    with mode ``0o666`` less the umask.

    Raises:
        BundleError: ``bundle`` is not an intact bundle.
        BundleSignatureError: ``ssh-keygen`` is missing or failed (its
            message is the reason).

    Example:
        >>> afbundle.sign("dist/pipeline", "~/.ssh/id_ed25519")
        PosixPath('dist/pipeline.sig')
    """
    import subprocess

    bundle_path = Path(bundle)
    _core.read_bundle(bundle_path, verify=True)
    target = sidecar_path(bundle_path)
    key_path = os.path.expanduser(os.fspath(key))
    if hashalg not in (None, "sha256", "sha512"):
        raise ValueError(f"hashalg: expected 'sha256' or 'sha512', got {hashalg!r}")
    command = [ssh_keygen, "-q", "-Y", "sign", "-n", SIGNATURE_NAMESPACE, "-f", key_path]
    if hashalg is not None:
        command += ["-O", f"hashalg={hashalg}"]
    with open(bundle_path, "rb") as stdin:
        try:
            done = subprocess.run(command, stdin=stdin, capture_output=True, check=False)
        except OSError as exc:
            raise _failure(bundle_path, f"cannot run {ssh_keygen}: {exc}") from exc
    if done.returncode != 0 or not done.stdout.startswith(b"-----BEGIN SSH SIGNATURE-----"):
        why = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        raise _failure(bundle_path, f"ssh-keygen -Y sign failed: {why}")
    _core.write_file(target, done.stdout)
    return target


def _failure(bundle: Path, reason: str) -> BundleSignatureError:
    return BundleSignatureError(f"{bundle}: {reason}", str(bundle), reason, {"problem": "signing"})
