"""afbundle: find, verify, run, pack and inspect Apache Airflow executable bundles.

A bundle is a compiled DAG program with its source, a YAML manifest and a
64-byte trailer appended (Airflow's Executable Bundle Spec 1.0). The heavy
lifting -- walking, trailer parsing, SHA-256 -- is in the compiled
``afbundle._core`` and runs without the GIL.

Example:
    >>> import afbundle
    >>> bundle = afbundle.find(["/opt/airflow/executable-bundles"], "example_dag")
    >>> bundle.path, bundle.supervisor_schema_version
    (PosixPath('/opt/airflow/executable-bundles/example'), '2026-06-16')

This module imports no Airflow; ``afbundle.ExecutableCoordinator`` is loaded
on first access (it needs the ``airflow`` extra).
"""

from __future__ import annotations

from afbundle._core import (
    FOOTER_VERSION,
    MAGIC,
    TRAILER_SIZE,
    Bundle,
    Rejection,
    ScanStats,
    Skip,
    TrustedSigners,
    __version__,
)
from afbundle._digest_cache import default_cache_dir
from afbundle._pack import dump_manifest, pack, strip
from afbundle._read import read_bundle
from afbundle._report import ScanReport
from afbundle._scan import find, scan
from afbundle._sealed import SealedBundle, seal
from afbundle._signing import (
    SIDECAR_SUFFIX,
    SIGNATURE_NAMESPACE,
    load_signers,
    sidecar_path,
    sign,
)
from afbundle.errors import (
    BundleError,
    BundleFormatError,
    BundleIntegrityError,
    BundleNotFoundError,
    BundleSignatureError,
    ManifestError,
    NotABundleError,
    UnsupportedFooterVersionError,
)

TYPE_CHECKING = False  # not from typing: `import afbundle` stays light
if TYPE_CHECKING:
    from typing import Any

    from afbundle._manifest_check import ManifestFinding, check_manifest, parse_manifest
    from afbundle.check import (
        CheckConfigError,
        CheckLoadError,
        CheckReport,
        CoordinatorEntry,
        Finding,
        StubTask,
        check_dags,
    )
    from afbundle.coordinator import ExecutableCoordinator

__all__ = [
    "FOOTER_VERSION",
    "MAGIC",
    "SIDECAR_SUFFIX",
    "SIGNATURE_NAMESPACE",
    "TRAILER_SIZE",
    "Bundle",
    "BundleError",
    "BundleFormatError",
    "BundleIntegrityError",
    "BundleNotFoundError",
    "BundleSignatureError",
    "CheckConfigError",
    "CheckLoadError",
    "CheckReport",
    "CoordinatorEntry",
    "ExecutableCoordinator",
    "Finding",
    "ManifestError",
    "ManifestFinding",
    "NotABundleError",
    "Rejection",
    "ScanReport",
    "ScanStats",
    "SealedBundle",
    "Skip",
    "StubTask",
    "TrustedSigners",
    "UnsupportedFooterVersionError",
    "__version__",
    "check_dags",
    "check_manifest",
    "default_cache_dir",
    "dump_manifest",
    "find",
    "load_signers",
    "pack",
    "parse_manifest",
    "read_bundle",
    "scan",
    "seal",
    "sidecar_path",
    "sign",
    "strip",
]


_MANIFEST_CHECKS = frozenset({"ManifestFinding", "check_manifest", "parse_manifest"})
#: `afbundle check` (imports Airflow when run; never the coordinator module).
_DAG_CHECKS = frozenset(
    {
        "CheckConfigError",
        "CheckLoadError",
        "CheckReport",
        "CoordinatorEntry",
        "Finding",
        "StubTask",
        "check_dags",
    }
)


def __getattr__(name: str) -> Any:
    # Airflow is heavy and optional: import the coordinator only when asked for.
    if name == "ExecutableCoordinator":
        from afbundle.coordinator import ExecutableCoordinator

        return ExecutableCoordinator
    # Manifest checks import jsonschema/PyYAML when run; load them on first use.
    if name in _MANIFEST_CHECKS:
        from afbundle import _manifest_check

        return getattr(_manifest_check, name)
    if name in _DAG_CHECKS:
        from afbundle import check

        return getattr(check, name)
    raise AttributeError(f"module 'afbundle' has no attribute {name!r}")
