"""Looking at one bundle file's parts, even when its manifest is broken.

For tools that examine bundles (``afbundle inspect``): the trailer and region
layout without the manifest, the raw bytes of a region, the binary region's
SHA-256 as it is now, and the atomic file write the core uses. Every byte is
read through the compiled core, one descriptor per call, bounded by the
trailer's lengths.

Example:
    >>> from afbundle import inspection
    >>> t = inspection.read_trailer("dist/hello")
    >>> [name for name, _, _ in inspection.regions(t)]
    ['binary', 'source', 'manifest', 'trailer']
"""

from __future__ import annotations

import os
from pathlib import Path

from afbundle import _core

TYPE_CHECKING = False  # not from typing: keep imports light
if TYPE_CHECKING:
    from typing import Literal, Protocol, TypeAlias

    PathArg: TypeAlias = "str | os.PathLike[str]"

    class Layout(Protocol):
        """What :class:`afbundle.Bundle` and :class:`Trailer` have in common."""

        @property
        def size(self) -> int: ...
        @property
        def source_start(self) -> int: ...
        @property
        def source_len(self) -> int: ...
        @property
        def metadata_start(self) -> int: ...
        @property
        def metadata_len(self) -> int: ...


__all__ = ["Trailer", "binary_sha256_now", "read_region", "read_trailer", "regions", "write_file"]


class Trailer:
    """A bundle's trailer and region layout, read without its manifest. Immutable.

    Has the layout attributes of :class:`afbundle.Bundle`: ``path`` (resolved),
    ``size``, ``footer_version``, ``source_start``, ``source_len``,
    ``metadata_start``, ``metadata_len``, ``binary_sha256``.
    """

    __slots__ = (
        "binary_sha256",
        "footer_version",
        "metadata_len",
        "metadata_start",
        "path",
        "size",
        "source_len",
        "source_start",
    )

    def __init__(self, path: Path, fields: dict[str, object]) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, path if name == "path" else fields[name])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    if TYPE_CHECKING:
        path: Path
        size: int
        footer_version: int
        source_start: int
        source_len: int
        metadata_start: int
        metadata_len: int
        binary_sha256: bytes

    def __repr__(self) -> str:
        return f"<Trailer {str(self.path)!r} size={self.size}>"


def read_trailer(path: PathArg) -> Trailer:
    """The trailer and region layout of the bundle at ``path``; the manifest is not read.

    Raises:
        NotABundleError, BundleFormatError: no valid trailer.
        OSError: the file cannot be opened.
    """
    fields = _core.read_trailer(path)
    return Trailer(Path(os.path.realpath(path)), fields)


def read_region(path: PathArg, region: Literal["source", "manifest"]) -> bytes:
    """The raw bytes of the ``source`` or ``manifest`` region (the manifest is not parsed).

    Example:
        >>> inspection.read_region("dist/hello", "manifest")[:31]
        b'airflow_bundle_metadata_version'
    """
    return _core.read_region(path, region)


def binary_sha256_now(path: PathArg, length: int) -> bytes:
    """SHA-256 of the first ``length`` bytes of ``path`` (the binary region) as they are now."""
    return _core.sha256_prefix(path, length)


def regions(layout: Layout) -> list[tuple[str, int, int]]:
    """``(name, offset, length)`` of the binary, source, manifest and trailer regions.

    ``layout`` is an :class:`afbundle.Bundle` or a :class:`Trailer`.
    """
    return [
        ("binary", 0, layout.source_start),
        ("source", layout.source_start, layout.source_len),
        ("manifest", layout.metadata_start, layout.metadata_len),
        ("trailer", layout.size - _core.TRAILER_SIZE, _core.TRAILER_SIZE),
    ]


def write_file(path: PathArg, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temporary file, fsync, rename, fsync of the directory.

    The directory must exist. The file gets mode ``0o666`` less the umask.
    """
    _core.write_file(path, bytes(data))
