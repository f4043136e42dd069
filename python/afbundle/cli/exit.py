"""Exit statuses and expected failures of the ``afbundle`` command.

Exit status, the same for every subcommand:

* ``0`` -- success.
* ``1`` -- an invalid bundle or manifest, or nothing found.
* ``2`` -- a usage error or an I/O error: a missing or unreadable file, a
  directory where a file is expected, an output that exists without
  ``--force``, a missing output directory, a missing scan root, an unusable
  ``--signers`` file (unreadable, not a regular file, others could change it).
"""

from __future__ import annotations

import contextlib
import enum
import os
from collections.abc import Iterator

import afbundle
from afbundle.cli.printer import plain, shown, warn
from afbundle.errors import BundleError, BundleSignatureError


class ExitCode(enum.IntEnum):
    """The process exit status."""

    OK = 0
    INVALID = 1
    ERROR = 2


class CliError(Exception):
    """An expected failure: reported as one ``afbundle: error:`` line, then exit."""

    def __init__(self, path: object, reason: str, code: ExitCode) -> None:
        super().__init__(reason)
        self.path = None if path is None else os.fsdecode(path)  # type: ignore[arg-type]
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        """The line to print: path and reason, every control character escaped."""
        return (
            plain(self.reason) if self.path is None else f"{shown(self.path)}: {plain(self.reason)}"
        )


@contextlib.contextmanager
def reporting(path: object) -> Iterator[None]:
    """Turn the API's expected exceptions into :class:`CliError` about ``path``."""
    try:
        yield
    except BundleSignatureError as exc:
        code = ExitCode.ERROR if exc.problem == "signers_file" else ExitCode.INVALID
        raise CliError(exc.path or path, exc.reason, code) from exc
    except BundleError as exc:
        raise CliError(exc.path or path, exc.reason, ExitCode.INVALID) from exc
    except ValueError as exc:  # an argument the API refuses (an empty root, ...)
        raise CliError(None, str(exc), ExitCode.ERROR) from exc
    except OSError as exc:
        if exc.filename is None:  # the core's message already names the path
            raise CliError(None, str(exc), ExitCode.ERROR) from exc
        raise CliError(exc.filename, exc.strerror or str(exc), ExitCode.ERROR) from exc


def require_file(path: str) -> None:
    """Refuse a directory where a file is expected (exit status 2, like a missing file)."""
    if os.path.isdir(path):
        raise CliError(path, "is a directory, not a file", ExitCode.ERROR)


def refuse_existing(output: str | os.PathLike[str], force: bool) -> None:
    """Stop before writing ``output`` if its directory is missing, it is a directory,
    or it exists (without ``force``)."""
    parent = os.path.dirname(os.fspath(output)) or "."
    if not os.path.isdir(parent):
        raise CliError(parent, "no such directory", ExitCode.ERROR)
    if os.path.isdir(output):
        raise CliError(output, "is a directory", ExitCode.ERROR)
    if os.path.lexists(output) and not force:
        raise CliError(output, "already exists (pass --force to replace it)", ExitCode.ERROR)


def signers_option(path: str | None) -> afbundle.TrustedSigners | None:
    """``--signers FILE``, read once (:func:`afbundle.load_signers`) before any bundle
    is looked at.

    The loaded signers are what every later check uses (the file is not read
    again). A file that cannot be used -- missing, unreadable, a directory,
    others could change it -- is a usage error (exit status 2). A line that
    OpenSSH would skip is skipped here too (it trusts nothing; the rest of the
    file counts, as with ``ssh-keygen -Y verify``), with one warning each.
    """
    if path is None:
        return None
    if os.path.isdir(path):
        raise CliError(path, "is a directory, not an allowed_signers file", ExitCode.ERROR)
    try:
        signers = afbundle.load_signers(path)
    except BundleSignatureError as exc:
        raise CliError(
            path, f"unusable allowed_signers file (--signers): {exc.reason}", ExitCode.ERROR
        ) from exc
    assert signers is not None
    for line, reason in signers.skipped:
        warn(f"{shown(path)}: line {line} skipped (ssh-keygen skips it too): {plain(reason)}")
    return signers
