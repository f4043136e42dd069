"""The one stub in the end-to-end tests: Airflow's Execution API server.

The supervisor reports task state over HTTP to the Execution API server,
which needs the Airflow scheduler database and cannot run inside a unit
test. Everything on the worker side stays real: Airflow's own
``airflow.sdk.api.client.Client`` builds, serialises and sends each request,
and only its httpx *transport* is replaced by :class:`ExecutionAPIStub`,
which records the request and answers the few endpoints a task run touches.
Any other endpoint gets a 404, so an unexpected call fails the test.
"""

from __future__ import annotations

import datetime
import json
import re
from typing import Any

import attrs
import httpx
from airflow.sdk.api.client import Client
from airflow.sdk.api.datamodels._generated import DagRun, DagRunState, DagRunType, TIRunContext

_TI_PATH = re.compile(r"^/task-instances/(?P<id>[^/]+)/(?P<action>run|heartbeat|state)$")


@attrs.define
class RecordedCall:
    """One request the supervisor sent to the API server."""

    method: str
    path: str
    action: str | None
    body: Any


@attrs.define
class ExecutionAPIStub:
    """Records Execution API requests and answers them like a server with one task.

    :param should_retry: what the server says on ``/run`` when asked whether a
        failed try may be retried (it decides ``failed`` vs ``up_for_retry``).
    """

    should_retry: bool = False
    calls: list[RecordedCall] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        match = _TI_PATH.match(request.url.path)
        action = match["action"] if match else None
        self.calls.append(RecordedCall(request.method, request.url.path, action, body))
        if action == "run" and request.method == "PATCH":
            return httpx.Response(200, content=self._run_context().model_dump_json())
        if action in ("heartbeat", "state"):
            return httpx.Response(204)
        return httpx.Response(404, json={"detail": f"not stubbed: {request.method} {request.url}"})

    def _run_context(self) -> TIRunContext:
        now = datetime.datetime.now(datetime.timezone.utc)
        dag_run = DagRun(
            dag_id="stub",
            run_id="stub_run",
            logical_date=now,
            data_interval_start=None,
            data_interval_end=None,
            run_after=now,
            start_date=now,
            end_date=None,
            run_type=DagRunType.MANUAL,
            state=DagRunState.RUNNING,
            consumed_asset_events=[],
            partition_key=None,
        )
        return TIRunContext(dag_run=dag_run, max_tries=1, should_retry=self.should_retry)

    def client(self) -> Client:
        """Airflow's real API client, its transport routed to this stub."""
        return Client(base_url=None, dry_run=True, token="", transport=httpx.MockTransport(self))

    def actions(self) -> list[str | None]:
        """The task-instance actions called, in order (``run``, ``heartbeat``, ``state``)."""
        return [call.action for call in self.calls]

    def final_state_reported(self) -> str | None:
        """The state of the last ``/state`` call, or ``None`` when none was made."""
        states = [call.body["state"] for call in self.calls if call.action == "state"]
        return states[-1] if states else None
