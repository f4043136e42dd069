"""Type stubs for the compiled core (checked against the module by stubtest)."""

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias, final

__all__ = [
    "DECISION_KINDS",
    "ERROR_KINDS",
    "FOOTER_VERSION",
    "MAGIC",
    "SIDECAR_SUFFIX",
    "SIGNATURE_NAMESPACE",
    "TRAILER_SIZE",
    "Bundle",
    "Decision",
    "RawFind",
    "RawScan",
    "Rejection",
    "ScanStats",
    "Skip",
    "TrustedSigners",
    "__version__",
    "_panic_for_tests",
    "build_trailer",
    "check_cache_dir",
    "clear_digest_cache",
    "decide_bundles",
    "digest_cache_len",
    "dump_manifest",
    "find_bundle",
    "pack",
    "parse_manifest",
    "read_bundle",
    "read_region",
    "read_trailer",
    "retyped_keys",
    "scan_roots",
    "seal_bundle",
    "sha256_prefix",
    "strip",
    "threads_for",
    "write_file",
]

__version__: str
#: Size of the bundle trailer in bytes.
TRAILER_SIZE: int
#: The trailer magic, ``b"AFBNDL01"``.
MAGIC: bytes
#: The trailer format version this reader supports.
FOOTER_VERSION: int
#: A failure kind the core reports (``Kind`` in ``rust/error.rs``).
ErrorKindName: TypeAlias = Literal[
    "not_a_bundle",
    "footer_version",
    "format",
    "integrity",
    "manifest",
    "signature",
    "too_large",
    "io",
]
#: A kind the precedence rule decides (``LossKind`` in ``rust/bundle/precedence.rs``).
DecisionKindName: TypeAlias = Literal["schema", "shadowed"]
#: The ``kind`` of a :class:`Rejection`.
RejectionKind: TypeAlias = ErrorKindName | DecisionKindName

#: Every failure kind the core reports, in its order.
ERROR_KINDS: tuple[ErrorKindName, ...]
#: The kinds the precedence rule decides, in its order.
DECISION_KINDS: tuple[DecisionKindName, ...]

@final
class Rejection:
    """A file with the bundle magic that was refused, and why."""

    def __new__(
        cls,
        path: str | os.PathLike[str],
        kind: RejectionKind,
        reason: str,
        context: dict[str, Any] | None = None,
        dag_ids: Sequence[str] = ...,
    ) -> Rejection: ...
    @property
    def path(self) -> Path: ...
    @property
    def kind(self) -> RejectionKind: ...
    @property
    def reason(self) -> str: ...
    @property
    def context(self) -> dict[str, Any]: ...
    @property
    def dag_ids(self) -> tuple[str, ...]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class Decision:
    """What the precedence rule decided for one dag_id (indices into the bundles decided over)."""

    def __new__(
        cls,
        dag_id: str,
        winner: int | None,
        resolved_schema_version: str | None,
        losers: Sequence[tuple[int, Rejection]],
    ) -> Decision: ...
    @property
    def dag_id(self) -> str: ...
    @property
    def winner(self) -> int | None: ...
    @property
    def resolved_schema_version(self) -> str | None: ...
    @property
    def losers(self) -> tuple[tuple[int, Rejection], ...]: ...
    def __reduce__(self) -> tuple[Any, ...]: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class Skip:
    """A path the walk could not look at, and why."""

    def __new__(cls, path: str | os.PathLike[str], reason: str) -> Skip: ...
    @property
    def path(self) -> Path: ...
    @property
    def reason(self) -> str: ...
    def __reduce__(self) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

@final
class ScanStats:
    """Counters of one walk."""

    def __new__(
        cls,
        dirs_visited: int = 0,
        dirs_deduplicated: int = 0,
        files_seen: int = 0,
        executables: int = 0,
        not_executable: int = 0,
        special: int = 0,
        bundles_read: int = 0,
        duplicate_files: int = 0,
        bytes_hashed: int = 0,
        cache_hits: int = 0,
    ) -> ScanStats: ...
    @property
    def dirs_visited(self) -> int: ...
    @property
    def dirs_deduplicated(self) -> int: ...
    @property
    def files_seen(self) -> int: ...
    @property
    def executables(self) -> int: ...
    @property
    def not_executable(self) -> int: ...
    @property
    def special(self) -> int: ...
    @property
    def bundles_read(self) -> int: ...
    @property
    def duplicate_files(self) -> int: ...
    @property
    def bytes_hashed(self) -> int: ...
    @property
    def cache_hits(self) -> int: ...
    def as_dict(self) -> dict[str, int]: ...
    def __reduce__(self) -> Any: ...
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...

#: The sshsig namespace of bundle signatures, ``"afbundle"``.
SIGNATURE_NAMESPACE: str
#: What a bundle's signature file name adds to the bundle's, ``".sig"``.
SIDECAR_SUFFIX: str

@final
class Bundle:
    """One bundle file, as read through a single open file descriptor. Immutable."""

    @property
    def path(self) -> Path: ...
    @property
    def size(self) -> int: ...
    @property
    def footer_version(self) -> int: ...
    @property
    def source_start(self) -> int: ...
    @property
    def source_len(self) -> int: ...
    @property
    def metadata_start(self) -> int: ...
    @property
    def metadata_len(self) -> int: ...
    @property
    def binary_sha256(self) -> bytes: ...
    @property
    def verified(self) -> bool: ...
    @property
    def signed_by(self) -> str | None: ...
    @property
    def metadata(self) -> dict[Any, Any]: ...
    @property
    def dag_ids(self) -> tuple[str, ...]: ...
    @property
    def tasks(self) -> dict[str, tuple[str, ...] | None]: ...
    @property
    def retyped_keys(self) -> tuple[dict[str, Any], ...]: ...
    @property
    def supervisor_schema_version(self) -> str | None: ...
    @property
    def resolved_schema_version(self) -> str | None: ...
    def read_source(self) -> bytes: ...
    def read_manifest(self) -> bytes: ...
    def write_source(self, dest: str | os.PathLike[str] | int) -> None: ...
    def write_manifest(self, dest: str | os.PathLike[str] | int) -> None: ...

@final
class RawScan:
    """The core's raw walk result; :func:`afbundle.scan` turns it into a ScanReport."""

    @property
    def bundles(self) -> list[Bundle]: ...
    @property
    def rejected(self) -> list[Rejection]: ...
    @property
    def skipped(self) -> list[Skip]: ...
    @property
    def missing_roots(self) -> list[int]: ...
    @property
    def stats(self) -> ScanStats: ...
    @property
    def decisions(self) -> tuple[Decision, ...]: ...

@final
class RawFind:
    """The core's raw find result; :func:`afbundle.find` logs it and words errors."""

    @property
    def bundle(self) -> Bundle | None: ...
    @property
    def lost(self) -> list[Rejection]: ...
    @property
    def shadowed(self) -> list[Path]: ...
    @property
    def rejected(self) -> list[Rejection]: ...
    @property
    def skipped(self) -> list[Skip]: ...
    @property
    def missing_roots(self) -> list[int]: ...
    @property
    def stats(self) -> ScanStats: ...

@final
class TrustedSigners:
    """An OpenSSH ``allowed_signers`` file, read once and checked. Immutable."""

    def __new__(cls, path: str | os.PathLike[str]) -> TrustedSigners: ...
    @property
    def path(self) -> Path: ...
    @property
    def content_sha256(self) -> bytes: ...
    @property
    def skipped(self) -> list[tuple[int, str]]: ...
    @property
    def principals(self) -> list[str]: ...
    def __len__(self) -> int: ...
    def __reduce__(self) -> tuple[type[TrustedSigners], tuple[Path]]: ...

_Signers = TrustedSigners | str | os.PathLike[str]

def read_bundle(
    path: str | os.PathLike[str],
    *,
    verify: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    trusted_signers: _Signers | None = None,
) -> Bundle: ...
def check_cache_dir(cache_dir: str | os.PathLike[str]) -> str | None: ...
def scan_roots(
    roots: Sequence[str | os.PathLike[str]],
    *,
    verify: bool = True,
    threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    resolve: Callable[[str], str] | None = None,
    trusted_signers: _Signers | None = None,
) -> RawScan: ...
def decide_bundles(
    bundles: Sequence[Bundle],
    *,
    resolve: Callable[[str], str] | None = None,
) -> tuple[list[int], tuple[Decision, ...]]: ...
def find_bundle(
    roots: Sequence[str | os.PathLike[str]],
    dag_id: str,
    *,
    threads: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    resolve: Callable[[str], str] | None = None,
    trusted_signers: _Signers | None = None,
) -> RawFind: ...
def threads_for(roots: Sequence[str | os.PathLike[str]], threads: int | None = None) -> int: ...
def pack(
    binary: str | os.PathLike[str],
    output: str | os.PathLike[str],
    manifest: bytes,
    source: bytes,
    replace_footer: bool = False,
) -> None: ...
def strip(bundle: str | os.PathLike[str], output: str | os.PathLike[str]) -> bytes: ...
def dump_manifest(manifest: dict[Any, Any]) -> bytes: ...
def build_trailer(source_len: int, metadata_len: int, binary_sha256: bytes) -> bytes: ...
def parse_manifest(data: bytes, label: str = "<manifest>") -> dict[Any, Any]: ...
def retyped_keys(data: bytes, label: str = "<manifest>") -> list[dict[str, Any]]: ...
def read_trailer(path: str | os.PathLike[str]) -> dict[str, Any]: ...
def sha256_prefix(path: str | os.PathLike[str], length: int) -> bytes: ...
def read_region(path: str | os.PathLike[str], region: str) -> bytes: ...
def write_file(path: str | os.PathLike[str], data: bytes) -> None: ...
def seal_bundle(
    path: str | os.PathLike[str], *, trusted_signers: _Signers | None = None
) -> tuple[int, Bundle]: ...
def clear_digest_cache() -> None: ...
def _panic_for_tests(in_worker_thread: bool = False) -> None: ...
def digest_cache_len() -> int: ...
