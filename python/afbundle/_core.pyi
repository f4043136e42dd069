"""Type stubs for the compiled core (checked against the module by stubtest)."""

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, final

__all__ = [
    "FOOTER_VERSION",
    "MAGIC",
    "SIGNATURE_NAMESPACE",
    "TRAILER_SIZE",
    "Bundle",
    "RawScan",
    "TrustedSigners",
    "__version__",
    "_panic_for_tests",
    "build_trailer",
    "check_cache_dir",
    "clear_digest_cache",
    "digest_cache_len",
    "dump_manifest",
    "pack",
    "parse_manifest",
    "read_bundle",
    "read_trailer",
    "scan_roots",
    "seal_bundle",
    "sha256_prefix",
    "strip",
    "verify_again",
]

__version__: str
#: Size of the bundle trailer in bytes.
TRAILER_SIZE: int
#: The trailer magic, ``b"AFBNDL01"``.
MAGIC: bytes
#: The trailer format version this reader supports.
FOOTER_VERSION: int
#: The sshsig namespace of bundle signatures, ``"afbundle"``.
SIGNATURE_NAMESPACE: str

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
    def supervisor_schema_version(self) -> str | None: ...
    @property
    def resolved_schema_version(self) -> str | None: ...
    def read_source(self) -> bytes: ...
    def read_manifest(self) -> bytes: ...
    def _with_resolved_schema_version(self, version: str) -> Bundle: ...

@final
class RawScan:
    """The core's raw walk result; :func:`afbundle.scan` turns it into a ScanReport."""

    @property
    def bundles(self) -> list[Bundle]: ...
    @property
    def rejected(self) -> list[tuple[Path, str, str]]: ...
    @property
    def skipped(self) -> list[tuple[Path, str]]: ...
    @property
    def missing_roots(self) -> list[int]: ...
    @property
    def stats(self) -> dict[str, int]: ...

@final
class TrustedSigners:
    """An OpenSSH ``allowed_signers`` file, read once and checked. Immutable."""

    def __new__(cls, path: str | os.PathLike[str]) -> TrustedSigners: ...
    @property
    def path(self) -> Path: ...
    @property
    def content_sha256(self) -> bytes: ...
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
def verify_again(
    bundle: Bundle,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    trusted_signers: _Signers | None = None,
) -> Bundle: ...
def check_cache_dir(cache_dir: str | os.PathLike[str]) -> str | None: ...
def scan_roots(
    roots: Sequence[str | os.PathLike[str]],
    *,
    verify: bool = True,
    threads: int | None = None,
    dag_id: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    trusted_signers: _Signers | None = None,
) -> RawScan: ...
def pack(
    binary: str | os.PathLike[str],
    output: str | os.PathLike[str],
    manifest: bytes,
    source: bytes,
    replace_footer: bool = False,
) -> None: ...
def strip(bundle: str | os.PathLike[str], output: str | os.PathLike[str]) -> None: ...
def dump_manifest(manifest: dict[Any, Any]) -> bytes: ...
def build_trailer(source_len: int, metadata_len: int, binary_sha256: bytes) -> bytes: ...
def parse_manifest(data: bytes, label: str = "<manifest>") -> dict[Any, Any]: ...
def read_trailer(path: str | os.PathLike[str]) -> dict[str, Any]: ...
def sha256_prefix(path: str | os.PathLike[str], length: int) -> bytes: ...
def seal_bundle(
    path: str | os.PathLike[str], *, trusted_signers: _Signers | None = None
) -> tuple[int, Bundle]: ...
def clear_digest_cache() -> None: ...
def _panic_for_tests(in_worker_thread: bool = False) -> None: ...
def digest_cache_len() -> int: ...
