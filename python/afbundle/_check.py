"""The old home of :mod:`afbundle.check` (kept as an alias: earlier READMEs named it)."""

from afbundle.check import (
    CODES,
    DEFAULT_TIMEOUT,
    CheckConfigError,
    CheckLoadError,
    CheckReport,
    CoordinatorEntry,
    Finding,
    StubTask,
    check_dags,
)

__all__ = [
    "CODES",
    "DEFAULT_TIMEOUT",
    "CheckConfigError",
    "CheckLoadError",
    "CheckReport",
    "CoordinatorEntry",
    "Finding",
    "StubTask",
    "check_dags",
]
