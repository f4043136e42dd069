"""A DAG-integrity test with afbundle: run it in CI with the workers' Airflow config.

``[core] dags_folder``, ``[sdk] coordinators`` and ``[sdk] queue_to_coordinator``
come from ``airflow.cfg`` or ``AIRFLOW__*`` variables, exactly as on a worker;
the bundles must be where the coordinators' ``executables_root`` says (on a
CI machine without worker config, pass ``queues=["native"], roots=["dist/"]``).
"""

import pytest
from airflow.dag_processing.dagbag import DagBag

from afbundle.testing import assert_dags_deployable


@pytest.fixture(scope="session")
def dagbag() -> DagBag:
    return DagBag()  # Airflow's [core] dags_folder


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}


def test_every_stub_task_has_a_bundle_that_runs_it(dagbag: DagBag) -> None:
    assert_dags_deployable(dagbag=dagbag)
