"""The two ways a check fails without a report: a configuration it cannot use, and a
child process (DAG files, coordinator classes) that gave no report."""

from __future__ import annotations

from typing import Any

__all__ = ["CheckConfigError", "CheckLoadError"]


class CheckConfigError(ValueError):
    """Airflow's ``[sdk]`` configuration (or an override) cannot be used as given."""


class CheckLoadError(Exception):
    """The child process loading DAG files and coordinator classes gave no report.

    It exited or was killed before reporting, or took longer than the timeout
    (then it was killed). ``stage`` says what it was doing, e.g. ``"parsing DAG
    file /dags/etl.py"``.
    """

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.stage))
