"""Helpers for tests that drive the real Airflow task SDK."""

from __future__ import annotations

import uuid
from typing import Any


def make_ti(dag_id: str = "tutorial_dag", **fields: Any) -> Any:
    """A TaskInstance for ``dag_id`` on the ``native`` queue; ``fields`` override the rest."""
    from airflow.sdk.api.datamodels._generated import TaskInstance

    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "task_id": "task_1",
        "dag_id": dag_id,
        "run_id": "run_1",
        "try_number": 1,
        "dag_version_id": uuid.uuid4(),
        "queue": "native",
        **fields,
    }
    return TaskInstance(**values)
