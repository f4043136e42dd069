"""``afbundle check``: prove before deploy that every ``@task.stub`` task has a bundle that runs it.

The public names are those in ``__all__`` (the main ones are also importable
from :mod:`afbundle`); the modules of this package are the stages of one
pipeline, read top to bottom in :mod:`afbundle.check.pipeline`. Importing it
imports no Airflow: :func:`check_dags` does, when it runs.
"""

from afbundle.check.errors import CheckConfigError, CheckLoadError
from afbundle.check.load import DEFAULT_TIMEOUT
from afbundle.check.pipeline import check_dags
from afbundle.check.report import CODES, CheckReport, CoordinatorEntry, Finding, StubTask

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
