"""Roots: the directories (or bundle files) a search walks, as every caller names them.

One normaliser for :func:`afbundle.scan`/:func:`afbundle.find`, the coordinator's
``executables_root`` and ``afbundle check``'s routing, so a value means the same
search wherever it is given: one path or an iterable of them (``str``,
``os.PathLike`` or ``bytes``, decoded as :mod:`os` decodes them), ``~``
expanded, order kept. An empty (or blank) path is refused rather than read as
the current directory; anything that is not a path is a :class:`TypeError`.
"""

from __future__ import annotations

import os
from pathlib import Path

TYPE_CHECKING = False  # not from typing: keep `import afbundle` light
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import TypeAlias

    PathArg: TypeAlias = "str | os.PathLike[str]"
    #: One root or several; each is a directory (walked recursively) or a file.
    Roots: TypeAlias = "PathArg | Iterable[PathArg]"

__all__ = ["Roots", "as_roots"]


def as_roots(roots: object, what: str = "roots") -> tuple[Path, ...]:
    """``roots`` as a tuple of paths, ``~`` expanded; ``what`` names the argument in errors.

    Raises:
        TypeError: ``roots`` (or one of its items) is not a path.
        ValueError: one of them is empty or blank (it would mean the current directory).

    Example:
        >>> as_roots(["~/bundles", b"/opt/bundles"])
        (PosixPath('/home/airflow/bundles'), PosixPath('/opt/bundles'))
    """

    def one(root: object) -> Path:
        if isinstance(root, bytes):
            root = os.fsdecode(root)
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"{what}: expected a path or paths, got {type(root).__name__}")
        text = os.fspath(root)
        if not isinstance(text, str):  # a PathLike returning bytes
            text = os.fsdecode(text)
        if not text.strip():
            raise ValueError(
                f"{what}: {text!r} is not a path (it would mean the current directory)"
            )
        return Path(text).expanduser()

    if isinstance(roots, (str, bytes, os.PathLike)):
        return (one(roots),)
    try:
        items = list(roots)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{what}: expected a path or paths, got {type(roots).__name__}") from None
    return tuple(one(r) for r in items)
