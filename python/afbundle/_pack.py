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
    reader never sees half a bundle; the binary's permission bits are kept.
    Identical inputs give byte-identical output. The binary is never run.

    Raises:
        BundleFormatError: ``binary`` already ends with a bundle trailer and
            ``replace_footer`` is false.
        ManifestError: the manifest does not load as a YAML mapping.

    Example:
        >>> afbundle.pack("build/pipeline", "dist/pipeline", manifest=manifest,
        ...               source=Path("main.rs").read_bytes())
        <Bundle '/…/dist/pipeline' dags=('my_dag',) verified>
    """
    if isinstance(manifest, Mapping):
        manifest_bytes = dump_manifest(manifest)
    elif isinstance(manifest, str):
        manifest_bytes = manifest.encode("utf-8")
    else:
        manifest_bytes = bytes(manifest)
    source_bytes = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    _core.pack(binary, output, manifest_bytes, source_bytes, replace_footer)
    return _core.read_bundle(output, verify=True)


def strip(bundle: PathArg, output: PathArg) -> None:
    """Write the binary region of ``bundle`` to ``output``, byte for byte, atomically.

    The copy is hashed as it is written; ``output`` keeps the bundle's
    permission bits. Verify the bundle first (:func:`afbundle.read_bundle`)
    to be sure what is written is the binary the trailer vouches for.

    Example:
        >>> afbundle.strip("dist/pipeline", "build/pipeline")
    """
    _core.strip(bundle, output)
