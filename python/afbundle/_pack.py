"""pack(): append source, manifest and trailer to a binary, atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping

from afbundle import _core

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light
if TYPE_CHECKING:
    from typing import Any, TypeAlias

__all__ = ["dump_manifest", "pack", "strip"]

if TYPE_CHECKING:
    PathArg: TypeAlias = "str | os.PathLike[str]"


def dump_manifest(manifest: Mapping[str, Any]) -> bytes:
    """Serialise a manifest the canonical way: YAML, keys sorted at every level.

    Strings that a YAML 1.1 reader (PyYAML, hence upstream Airflow) would read
    as another type -- dates, ``yes``/``no``, octal-looking numbers -- are
    quoted, so every reader sees the same values.

    Example:
        >>> afbundle.dump_manifest({"b": 1, "a": "2026-06-16"})
        b'a: "2026-06-16"\\nb: 1\\n'
    """
    return _core.dump_manifest(dict(manifest))


def pack(
    binary: PathArg,
    output: PathArg,
    *,
    manifest: Mapping[str, Any] | bytes | str,
    source: bytes | str = b"",
    replace_footer: bool = False,
) -> _core.Bundle:
    """Write ``output``: a copy of ``binary`` followed by source, manifest and trailer.

    ``manifest`` is a mapping (serialised canonically by :func:`dump_manifest`)
    or raw YAML that must load as a mapping. The bundle is written to a
    temporary file beside ``output``, fsynced and renamed into place, so a
    reader never sees half a bundle, and a directory walk never sees the
    temporary file as a bundle. The output's permission bits are the
    binary's, with execute added where read is allowed, limited by the
    umask; setuid, setgid and sticky bits are dropped.
    Identical inputs give byte-identical output. The binary is never run.

    Raises:
        BundleFormatError: ``binary`` already ends with a bundle trailer and
            ``replace_footer`` is false.
        ManifestError: the manifest does not load as a YAML mapping.
        TypeError: ``manifest`` or ``source`` has a type it cannot be.

    Example:
        >>> afbundle.pack("build/pipeline", "dist/pipeline", manifest=manifest,
        ...               source=Path("main.rs").read_bytes())
        <Bundle '/…/dist/pipeline' dags=('my_dag',) verified>
    """
    if isinstance(manifest, Mapping):
        manifest_bytes = dump_manifest(manifest)
    elif isinstance(manifest, str):
        manifest_bytes = manifest.encode("utf-8")
    elif isinstance(manifest, (bytes, bytearray, memoryview)):
        manifest_bytes = bytes(manifest)
    else:
        raise TypeError(
            f"manifest: expected a mapping, bytes or str, got {type(manifest).__name__}"
        )
    if isinstance(source, str):
        source_bytes = source.encode("utf-8")
    elif isinstance(source, (bytes, bytearray, memoryview)):
        source_bytes = bytes(source)
    else:
        raise TypeError(f"source: expected bytes or str, got {type(source).__name__}")
    _core.pack(binary, output, manifest_bytes, source_bytes, replace_footer)
    return _core.read_bundle(output, verify=True)


def strip(bundle: PathArg, output: PathArg) -> bytes:
    """Write the binary region of ``bundle`` to ``output``, byte for byte, atomically.

    The bytes are read through one descriptor and hashed as they are copied;
    nothing is written unless that digest matches the trailer's
    ``binary_sha256`` (:class:`BundleIntegrityError` otherwise), so what is
    written is exactly what was verified, even if the path is swapped
    meanwhile. ``output`` gets the bundle's permission bits, limited by the
    umask, never setuid/setgid. Returns the digest of the bytes written.

    Example:
        >>> afbundle.strip("dist/pipeline", "build/pipeline").hex()
        '5f1c...'
    """
    return _core.strip(bundle, output)
