"""Run one task through Airflow's worker entry point, in a fresh interpreter.

``python _supervise_task_driver.py DAG_ID QUEUE LOG_PATH`` calls
``airflow.sdk.execution_time.supervisor.supervise_task`` exactly as a worker
does. The coordinator is whatever ``[sdk] coordinators`` and
``[sdk] queue_to_coordinator`` in the environment route ``QUEUE`` to. Only
the Execution API server is stubbed (see ``_execution_api_stub``). The last
line of stdout is a JSON object: the coordinator class the queue resolved to,
the exit code or the exception raised, and the API calls made.

A separate interpreter keeps ``supervise_task``'s process-wide side effects
(it marks the process non-dumpable and resets the secrets masker) out of the
test process, and lets the test put a hard timeout on the whole run.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _execution_api_stub import ExecutionAPIStub
from airflow.executors.workloads.base import BundleInfo
from airflow.executors.workloads.task import TaskInstanceDTO
from airflow.sdk._shared.module_loading import qualname
from airflow.sdk.execution_time.coordinator import get_coordinator_manager
from airflow.sdk.execution_time.supervisor import supervise_task


def main(dag_id: str, queue: str, log_path: str) -> None:
    api = ExecutionAPIStub()
    # The types an executor hands to supervise_task (see BaseExecutor.run_workload).
    ti = TaskInstanceDTO(
        id=uuid.uuid4(),
        task_id="native_task",
        dag_id=dag_id,
        run_id="manual__1",
        try_number=1,
        map_index=-1,
        dag_version_id=uuid.uuid4(),
        queue=queue,
        pool_slots=1,
        priority_weight=1,
    )
    result: dict[str, object] = {}
    try:
        result["coordinator"] = qualname(type(get_coordinator_manager().for_queue(queue)))
        result["exit_code"] = supervise_task(
            ti=ti,  # type: ignore[arg-type]  # duck-types as TaskInstance, as in run_workload
            bundle_info=BundleInfo(name="native-bundles"),
            dag_rel_path=dag_id,
            token="",
            client=api.client(),
            log_path=log_path,
        )
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
    result["actions"] = api.actions()
    result["final_state_reported"] = api.final_state_reported()
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
