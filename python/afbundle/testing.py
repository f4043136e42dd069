"""A pytest helper for DAG-integrity tests: every ``@task.stub`` task has a bundle.

Users already load the DagBag in CI and assert there are no import errors;
this adds the check they are missing, with the same findings as
``afbundle check`` (:func:`afbundle.check_dags`). Imports Airflow when called,
never at import.

Example (``tests/test_dag_integrity.py``)::

    from airflow.dag_processing.dagbag import DagBag
    from afbundle.testing import assert_dags_deployable

    def test_every_stub_task_has_a_bundle():
        assert_dags_deployable(dagbag=DagBag())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afbundle._roots import PathArg
    from afbundle.check import CheckReport

__all__ = ["assert_dags_deployable"]


def assert_dags_deployable(
    dags: PathArg | None = None,
    *,
    dagbag: Any = None,
    strict: bool = False,
    **options: Any,
) -> CheckReport:
    """Fail the calling test when :func:`afbundle.check_dags` finds an error.

    ``dags``/``dagbag`` and ``options`` (``queues``, ``roots``, ``cache_dir``,
    ``persistent_cache``, ``threads``, ``trusted_signers``, ``timeout``) are passed on to
    ``check_dags``; with ``strict`` warnings fail too. The assertion message lists every
    finding, one per line, as ``afbundle check`` words them. Returns the report.

    DAG files (of ``dags``) and the routed coordinator classes are executed, with the
    test's privileges, in a child process (a ``dagbag`` was loaded by the test itself).

    Example:
        >>> report = assert_dags_deployable("dags/", queues=["native"], roots=["dist/"])
        >>> len(report.stub_tasks), report.errors
        (7, ())
    """
    from afbundle.check import check_dags

    report = check_dags(dags, dagbag=dagbag, **options)
    if report.failed(strict):
        raise AssertionError("afbundle check found problems:\n" + str(report))
    return report
