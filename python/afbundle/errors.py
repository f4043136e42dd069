"""The exceptions afbundle raises.

One base, :class:`BundleError` (a :class:`ValueError`), with one subclass per
way a file can fail to be a usable bundle. Each carries the ``path`` it is
about and the bare ``reason``, so callers can log or tabulate them without
parsing messages. The compiled core raises these same classes.

Example:
    >>> import afbundle
    >>> try:
    ...     afbundle.read_bundle("/bin/sh")
    ... except afbundle.NotABundleError as exc:
    ...     print(exc.reason)
    no AFBNDL01 magic in the last 8 bytes
"""

from __future__ import annotations

# Not `from typing import TYPE_CHECKING`: typing is slow to import, and type
# checkers treat any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False

from afbundle._core import DECISION_KINDS, ERROR_KINDS  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from typing import Any

    from afbundle._core import Rejection, RejectionKind, ScanStats

__all__ = [
    "KINDS",
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "BundleSignatureError",
    "ManifestError",
    "NotABundleError",
    "UnsupportedFooterVersionError",
]


#: Every ``kind`` a rejection can have: the core's failure kinds (``Kind`` in
#: ``rust/error.rs``), then those its precedence rule decides (``LossKind`` in
#: ``rust/bundle/precedence.rs``). Both are defined once, in the core.
KINDS: tuple[RejectionKind, ...] = (*ERROR_KINDS, *DECISION_KINDS)


class BundleError(ValueError):
    """A file is not a usable executable bundle.

    Attributes:
        path: the file concerned, as a string (``None`` when not about one file).
        reason: what is wrong, without the path.
    """

    #: A short machine-readable name for the failure (``Rejection.kind``).
    kind = "bundle"

    def __init__(
        self,
        message: str,
        path: str | None = None,
        reason: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.path = path
        self.reason = reason if reason is not None else message
        #: The failure's data by name, as in ``Rejection.context``.
        self.context: dict[str, Any] = dict(context or {})

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions cross process boundaries: Airflow's LocalExecutor pickles a
        # task's exception to the scheduler, multiprocessing and Celery do the
        # same. The default reduction calls ``cls(*args)``, which loses the
        # attributes (or fails, for keyword-only constructors); rebuild
        # without calling ``__init__`` instead, and restore every attribute.
        return (_rebuild, (type(self), self.args), self.__dict__)


class NotABundleError(BundleError):
    """The file has no bundle trailer: shorter than 64 bytes or no ``AFBNDL01`` magic.

    Scans skip such files silently (spec, reader algorithm step 2).
    """

    kind = "not_a_bundle"


class BundleFormatError(BundleError):
    """The trailer has the magic but is malformed (spec, reader steps 4-5).

    Non-zero reserved bytes, regions that extend past the start of the file,
    or an empty binary region.
    """

    kind = "format"


class UnsupportedFooterVersionError(BundleFormatError):
    """The trailer's ``footer_ver`` is not one this reader knows (spec, step 3)."""

    kind = "footer_version"


class BundleIntegrityError(BundleError):
    """The binary region does not hash to ``binary_sha256`` (spec, step 6).

    Also raised when the file changes size while it is being read.

    Attributes:
        expected: hex digest the trailer records (``None`` if the file changed
            while read rather than mismatched).
        actual: hex digest of the bytes actually read (likewise).
    """

    kind = "integrity"

    @property
    def expected(self) -> str | None:
        value = self.context.get("expected")
        return None if value is None else str(value)

    @property
    def actual(self) -> str | None:
        value = self.context.get("actual")
        return None if value is None else str(value)


class ManifestError(BundleError):
    """The metadata region is not a UTF-8 YAML mapping, or exceeds a safety limit."""

    kind = "manifest"


class BundleSignatureError(BundleError):
    """Trusted signers were required and the bundle's signature does not satisfy them.

    Also raised for an ``allowed_signers`` file that cannot be trusted or
    parsed (``problem == "signers_file"``; ``path`` is then that file).

    Attributes:
        problem: which check failed: ``"no_sidecar"``, ``"malformed"``,
            ``"unknown_key"``, ``"wrong_namespace"``, ``"not_yet_valid"``,
            ``"expired"``, ``"bad_signature"``, ``"signers_file"``, or
            ``"signing"`` when :func:`afbundle.sign` failed.

    Example:
        >>> try:
        ...     afbundle.read_bundle("/opt/bundles/etl", trusted_signers="/etc/afbundle/signers")
        ... except afbundle.BundleSignatureError as exc:
        ...     print(exc.problem)
        no_sidecar
    """

    kind = "signature"

    @property
    def problem(self) -> str:
        return str(self.context.get("problem", "bad_signature"))


class BundleNotFoundError(BundleError, FileNotFoundError):
    """No usable bundle declares the requested dag_id.

    A :class:`FileNotFoundError` too, so code written for Airflow's own
    coordinator keeps catching it. Its message keeps upstream's two forms
    and adds what was searched.

    Attributes:
        dag_id: the dag_id that was looked for.
        roots: the roots searched, in order.
        rejected: bundles that declare ``dag_id`` but were refused, each a
            :class:`~afbundle.Rejection` with the path and the reason.
        stats: the :class:`~afbundle.ScanStats` of the search.
    """

    kind = "not_found"

    def __init__(
        self,
        message: str,
        *,
        dag_id: str,
        roots: Sequence[Path],
        rejected: Sequence[Rejection],
        stats: ScanStats | None,
    ) -> None:
        super().__init__(message, None, message)
        self.dag_id = dag_id
        self.roots = tuple(roots)
        self.rejected = tuple(rejected)
        self.stats = stats


def _rebuild(cls: type[BundleError], args: tuple[Any, ...]) -> BundleError:
    """Unpickle an afbundle exception: its class and args, then (by pickle) its attributes."""
    # The builtin that lays out the instance must allocate it: OSError for
    # BundleNotFoundError (also a FileNotFoundError), ValueError otherwise.
    base: Any = OSError if issubclass(cls, OSError) else ValueError
    exc: BundleError = base.__new__(cls, *args)
    exc.args = args
    return exc
