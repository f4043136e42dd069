"""``afbundle check``: prove before deploy that every ``@task.stub`` task has a bundle that runs it.

The public names are those in ``__all__`` (also importable from :mod:`afbundle`);
the modules of this package are its stages, see :mod:`afbundle.check.pipeline`.
Importing it imports no Airflow: :func:`check_dags` does, when it runs.
"""

from afbundle.check.load import DEFAULT_TIMEOUT, CheckConfigError, CheckLoadError
from afbundle.check.pipeline import (
    CODES,
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
