"""The kwargs of afbundle's ``ExecutableCoordinator``: one rule each, and no Airflow.

An ``[sdk] coordinators`` entry's ``kwargs`` reach a worker as keyword
arguments. :mod:`afbundle.coordinator` builds its attrs fields from
:data:`KWARGS` (each rule is its field's converter), and ``afbundle check``
judges an entry with the same rules through :func:`construct` -- without
importing the coordinator module (which imports Airflow's task SDK) and without
constructing it. So what the check says a worker cannot construct is exactly
what the worker refuses.

A rule takes the configured value and returns the field's value, or raises
:class:`TypeError`/:class:`ValueError` naming the kwarg (``kwarg 'threads' must
be a positive int or None, not '4'``). Kwargs of Airflow's
``SubprocessCoordinator`` (``task_startup_timeout``) are Airflow's to judge.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, Final

from afbundle._roots import as_roots

__all__ = ["KWARGS", "UNSET", "Kwarg", "construct", "persistent_cache_setting"]


class _Unset:
    """A default that must be told from any value given; one object per name, also
    after a pickle round trip (a copied coordinator keeps its fields' meaning)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self) -> str:
        return self.name


#: Not given (``persistent_cache`` and its old name ``digest_cache``).
UNSET: Final = _Unset("UNSET")
#: The default of a kwarg without one (``executables_root``).
REQUIRED: Final = _Unset("REQUIRED")


@dataclasses.dataclass(frozen=True)
class Kwarg:
    """One kwarg: its name, its rule and its default (``REQUIRED``: none).

    ``alias_of`` names the kwarg this one is an older name of.
    """

    name: str
    convert: Callable[[Any], Any]
    default: Any
    alias_of: str | None = None

    def field_converter(self, value: Any) -> Any:
        """The attrs converter: the rule, except for the ``UNSET`` default."""
        return value if value is UNSET else self.convert(value)


def _roots(name: str) -> Callable[[Any], list[Path]]:
    def convert(value: Any) -> list[Path]:
        what = f"kwarg {name!r}"
        roots = [] if value is None else list(as_roots(value, what))
        if not roots:
            raise ValueError(f"{what} must name at least one directory, not {value!r}")
        return roots

    return convert


def _positive_int_or_none(name: str) -> Callable[[Any], int | None]:
    def convert(value: Any) -> int | None:
        if value is None:
            return None
        why = f"kwarg {name!r} must be a positive int or None, not {value!r}"
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(why)
        if value < 1:
            raise ValueError(why)
        return value

    return convert


def _bool(name: str) -> Callable[[Any], bool]:
    def convert(value: Any) -> bool:
        # A JSON string "false" must never silently mean True.
        if not isinstance(value, bool):
            raise TypeError(f"kwarg {name!r} must be true or false, not {value!r}")
        return value

    return convert


def _path_or_none(name: str) -> Callable[[Any], Path | None]:
    def convert(value: Any) -> Path | None:
        if value is None:
            return None
        if not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"kwarg {name!r} must be a path or null, not {value!r}")
        text = os.fspath(value)
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"kwarg {name!r} must be a path or null, not {value!r}")
        return Path(text).expanduser()

    return convert


#: afbundle's own kwargs, beyond those of Airflow's ``SubprocessCoordinator``.
KWARGS: Mapping[str, Kwarg] = {
    k.name: k
    for k in (
        Kwarg("executables_root", _roots("executables_root"), REQUIRED),
        Kwarg("threads", _positive_int_or_none("threads"), None),
        Kwarg("persistent_cache", _bool("persistent_cache"), UNSET),
        Kwarg("digest_cache", _bool("digest_cache"), UNSET, alias_of="persistent_cache"),
        Kwarg("cache_dir", _path_or_none("cache_dir"), None),
        Kwarg("verified_exec", _bool("verified_exec"), False),
        Kwarg("trusted_signers", _path_or_none("trusted_signers"), None),
    )
}


def persistent_cache_setting(persistent_cache: Any, digest_cache: Any) -> bool:
    """Whether the persistent digest cache is used: ``persistent_cache``, or its old
    name ``digest_cache``; on when neither is given.

    Raises:
        ValueError: both are given, with different values.
    """
    if persistent_cache is UNSET:
        return True if digest_cache is UNSET else bool(digest_cache)
    if digest_cache is not UNSET and digest_cache != persistent_cache:
        raise ValueError(
            f"kwarg 'digest_cache' (the old name of 'persistent_cache') is {digest_cache!r} "
            f"but 'persistent_cache' is {persistent_cache!r}: give one"
        )
    return bool(persistent_cache)


def construct(
    kwargs: Mapping[str, Any], inherited: Collection[str], *, roots_given: bool = False
) -> dict[str, Any]:
    """The values a worker would construct afbundle's coordinator with, from an entry's
    ``kwargs`` (``inherited``: the kwargs Airflow's ``SubprocessCoordinator`` takes).

    With ``roots_given`` (``afbundle check --root``), ``executables_root`` is not judged:
    the roots given replace it.

    Raises:
        ValueError: why a worker could not construct it, as one line.
    """
    out: dict[str, Any] = {}
    for key, value in kwargs.items():
        kwarg = KWARGS.get(key)
        if kwarg is None:
            if key in inherited:
                continue
            accepted = ", ".join(sorted({*KWARGS, *inherited}))
            raise ValueError(f"unexpected kwarg {key!r} (accepted: {accepted})")
        if roots_given and key == "executables_root":
            continue
        try:
            out[key] = kwarg.convert(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(str(exc)) from exc
    if not roots_given and "executables_root" not in out:
        raise ValueError("its kwargs have no executables_root")
    out["persistent_cache"] = persistent_cache_setting(
        out.pop("persistent_cache", UNSET), out.pop("digest_cache", UNSET)
    )
    return out
