"""End to end: real bundles run as real processes by Airflow's own supervisor.

Each bundle's binary region is a two-line ``#!/bin/sh`` script that ``exec``s
``_bundle_child.py``, a stand-in native runtime speaking the coordinator
protocol. ``sh`` runs the ``exec`` on line 2 and never reads the source,
manifest and trailer bytes after it, so the file is at once a valid bundle
and a runnable program.

What is real: afbundle's lookup, Airflow's ``SubprocessCoordinator`` and
supervisor (listening sockets, ``--comm``/``--logs``, the process-tree check
on each connection, draining, ``task_startup_timeout``, the
``StartupDetails`` frame, heartbeats, the exit-code-to-state rule) and
Airflow's API client. What is stubbed: only the Execution API server behind
that client -- see ``_execution_api_stub``. One setting is shortened:
``[workers] min_heartbeat_interval`` (see ``prompt_exit_detection``).

A hang guard (``SIGALRM``) fails any test that blocks for more than
``HANG_GUARD_SECONDS``; it is the only use of wall-clock time here.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow
pytest.importorskip(
    "airflow.sdk",
    reason="the coordinator tests need apache-airflow-task-sdk: pip install 'afbundle[airflow]'",
)

import psutil  # type: ignore[import-untyped]  # noqa: E402
import structlog  # noqa: E402
from _execution_api_stub import ExecutionAPIStub  # noqa: E402
from airflow.sdk.api.datamodels._generated import BundleInfo, TaskInstance  # noqa: E402
from airflow.sdk.execution_time import supervisor  # noqa: E402
from airflow.sdk.execution_time.coordinator import BaseCoordinator  # noqa: E402

from afbundle import BundleNotFoundError  # noqa: E402
from afbundle.coordinator import ExecutableCoordinator  # noqa: E402

from _airflow import make_ti  # noqa: E402
from _writer import manifest, write_bundle  # noqa: E402

TESTS = Path(__file__).resolve().parent
CHILD = TESTS / "_bundle_child.py"
DRIVER = TESTS / "_supervise_task_driver.py"
HANG_GUARD_SECONDS = 30
SUBPROCESS_TIMEOUT = 60
ADDRESS = r"127\.0\.0\.1:\d+"


class HangGuardExpired(Exception):
    """The test blocked for longer than HANG_GUARD_SECONDS."""


@pytest.fixture(autouse=True)
def hard_deadline() -> Iterator[None]:
    def expire(signum: int, frame: object) -> None:
        raise HangGuardExpired(f"test still blocked after {HANG_GUARD_SECONDS}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, HANG_GUARD_SECONDS)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def prompt_exit_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Equivalent of ``[workers] min_heartbeat_interval = 1`` for the supervisor in this process.

    The supervisor polls for the child's exit between socket events, at most
    every ``min_heartbeat_interval`` seconds (default 5). Once the child has
    closed its sockets nothing else wakes the poll, so a shorter interval
    keeps each test short. It changes no outcome.
    """
    monkeypatch.setattr(supervisor, "MIN_HEARTBEAT_INTERVAL", 1)


def _running_children() -> list[psutil.Process]:
    """Live descendants of this test process that run the stand-in runtime."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if str(CHILD) in proc.cmdline() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(autouse=True)
def reap_children() -> Iterator[None]:
    """Kill any stand-in runtime a failing test left behind (only our own children)."""
    yield
    leftovers = _running_children()
    for proc in leftovers:
        proc.kill()
    psutil.wait_procs(leftovers, timeout=5)


def write_native_bundle(path: Path, dag_id: str, mode: str, **kwargs: Any) -> Path:
    """A bundle declaring ``dag_id`` whose program runs ``_bundle_child.py`` in ``mode``."""
    python, child, quoted_mode = (shlex.quote(a) for a in (sys.executable, str(CHILD), mode))
    script = f'#!/bin/sh\nexec {python} {child} "$0" {quoted_mode} "$@"\n'
    kwargs.setdefault("metadata", manifest([dag_id]))
    return write_bundle(path, binary=script.encode(), source=b"// DAG source\n", **kwargs)


def native_ti(dag_id: str) -> TaskInstance:
    return make_ti(dag_id, task_id="native_task", run_id="manual__1")


def run_task(
    coordinator: ExecutableCoordinator, dag_id: str, api: ExecutionAPIStub
) -> tuple[BaseCoordinator.ExecutionResult, list[MutableMapping[str, Any]]]:
    """Execute one task the way the worker does; return the result and every log event."""
    with structlog.testing.capture_logs() as events:
        result = coordinator.execute_task(
            what=native_ti(dag_id),
            dag_rel_path=dag_id,
            bundle_info=BundleInfo(name="native-bundles"),
            client=api.client(),
            subprocess_logs_to_stdout=False,
        )
    return result, events


def events_named(
    events: list[MutableMapping[str, Any]], name: str
) -> list[MutableMapping[str, Any]]:
    return [event for event in events if event.get("event") == name]


def test_a_bundle_connects_gets_its_task_and_reports_success(tmp_path: Path) -> None:
    bundle = write_native_bundle(tmp_path / "bundles" / "pipeline", "e2e_dag", "succeed")
    api = ExecutionAPIStub()

    result, events = run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert isinstance(result, BaseCoordinator.ExecutionResult)
    assert (result.exit_code, result.final_state) == (0, "success")
    # The supervisor told the server the task started, then that it succeeded.
    assert api.actions()[0] == "run"
    assert api.final_state_reported() == "success"
    # The bundle was exec'd by its resolved path with Airflow's two arguments.
    [hello] = events_named(events, "hello from the bundle")
    assert hello["logger"] == "bundle.child"
    assert hello["argv"][0] == str(bundle.resolve())
    assert re.fullmatch(f"--comm={ADDRESS}", hello["argv"][1])
    assert re.fullmatch(f"--logs={ADDRESS}", hello["argv"][2])
    # StartupDetails arrived over the comm socket.
    [startup] = events_named(events, "startup received")
    assert (startup["type"], startup["dag_id"], startup["task_id"]) == (
        "StartupDetails",
        "e2e_dag",
        "native_task",
    )
    [ack] = events_named(events, "success acknowledged")
    assert ack["error"] is None


def test_output_written_before_connecting_is_drained_into_the_task_log(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "e2e_dag", "succeed")

    _, events = run_task(
        ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", ExecutionAPIStub()
    )

    [stdout] = events_named(events, "bundle stdout before connect")
    assert stdout["logger"] == "task.stdout"


def test_a_non_zero_exit_code_propagates_and_fails_the_task(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "e2e_dag", "exit=3")
    api = ExecutionAPIStub()

    result, events = run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert (result.exit_code, result.final_state) == (3, "failed")
    assert api.final_state_reported() == "failed"
    assert events_named(events, "exiting on purpose")
    [abnormal] = events_named(events, "Process exited abnormally")
    assert abnormal["exit_code"] == 3


def test_a_failed_try_is_up_for_retry_when_the_server_allows_retries(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "e2e_dag", "exit=1")
    api = ExecutionAPIStub(should_retry=True)

    result, _ = run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert (result.exit_code, result.final_state) == (1, "up_for_retry")
    # Note: Airflow 3.3's supervisor sends no /state call for this case (UP_FOR_RETRY is in
    # STATES_SENT_DIRECTLY, although only a RetryTask message sends it directly); the server
    # learns the outcome from the missed heartbeats instead. Not ours to assert either way.


def test_a_bundle_that_never_connects_times_out_and_is_terminated(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "e2e_dag", "never-connect")
    api = ExecutionAPIStub()
    coordinator = ExecutableCoordinator(executables_root=tmp_path, task_startup_timeout=2)

    with pytest.raises(TimeoutError, match="did not connect within timeout"):
        run_task(coordinator, "e2e_dag", api)

    assert api.calls == [], "the server must not hear of a task that never started"
    assert _running_children() == []


def test_a_bundle_that_exits_before_connecting_reports_its_exit_code(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "e2e_dag", "exit-before-connect=5")
    api = ExecutionAPIStub()

    with pytest.raises(RuntimeError, match="process exited with 5 before connecting"):
        run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert api.calls == []


def test_a_missing_bundle_fails_before_anything_is_launched(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "pipeline", "other_dag", "succeed")
    api = ExecutionAPIStub()

    with pytest.raises(BundleNotFoundError, match="dag_id='e2e_dag'") as raised:
        run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert isinstance(raised.value, FileNotFoundError)
    assert api.calls == []
    assert _running_children() == []


def test_why_a_bundle_could_not_run_is_written_to_the_task_log(tmp_path: Path) -> None:
    # Airflow's supervisor passes the task log's logger; without this record the
    # reason would only be in the worker's output and the task log would stay empty.
    write_native_bundle(tmp_path / "pipeline", "other_dag", "succeed")
    task_log = structlog.testing.CapturingLogger()

    with pytest.raises(BundleNotFoundError) as raised:
        ExecutableCoordinator(executables_root=tmp_path).execute_task(
            what=native_ti("e2e_dag"),
            dag_rel_path="e2e_dag",
            bundle_info=BundleInfo(name="native-bundles"),
            client=ExecutionAPIStub().client(),
            logger=task_log,
            subprocess_logs_to_stdout=False,
        )

    [call] = task_log.calls
    assert (call.method_name, call.args) == ("error", ("Cannot run the task's executable bundle",))
    assert call.kwargs == {
        "dag_id": "e2e_dag",
        "error_type": "BundleNotFoundError",
        "error": str(raised.value),
    }


def test_a_bundle_with_an_unknown_schema_version_is_never_executed(tmp_path: Path) -> None:
    bundle = write_native_bundle(
        tmp_path / "pipeline",
        "e2e_dag",
        "succeed",
        metadata=manifest(["e2e_dag"], schema_version="1999-01-01"),
    )
    api = ExecutionAPIStub()

    with pytest.raises(BundleNotFoundError, match="matching bundles were rejected") as raised:
        run_task(ExecutableCoordinator(executables_root=tmp_path), "e2e_dag", api)

    assert str(bundle.resolve()) in str(raised.value)
    assert api.calls == []


def test_the_first_root_wins_when_two_bundles_declare_the_dag(tmp_path: Path) -> None:
    first = write_native_bundle(tmp_path / "first" / "pipeline", "e2e_dag", "exit=0")
    write_native_bundle(tmp_path / "second" / "pipeline", "e2e_dag", "exit=9")
    coordinator = ExecutableCoordinator(executables_root=[tmp_path / "first", tmp_path / "second"])

    result, events = run_task(coordinator, "e2e_dag", ExecutionAPIStub())

    assert result.exit_code == 0
    [hello] = events_named(events, "hello from the bundle")
    assert hello["argv"][0] == str(first.resolve())


# --- Through Airflow's worker entry point, configured the way operators configure it ----------


#: Run a command as root without CAP_SYS_PTRACE, as Airflow's workers run under
#: Docker's default capabilities (and as every non-root worker runs).
WITHOUT_PTRACE = ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace"]


def run_worker(
    tmp_path: Path,
    dag_id: str,
    *,
    queue: str = "native",
    prefix: Sequence[str] = (),
    **coordinator_kwargs: Any,
) -> dict[str, Any]:
    """Run ``supervise_task`` in a fresh interpreter configured through AIRFLOW__SDK__*."""
    coordinators = {
        "native": {
            "classpath": "afbundle.ExecutableCoordinator",
            "kwargs": {
                "executables_root": [str(tmp_path / "bundles")],
                "task_startup_timeout": 5,
                **coordinator_kwargs,
            },
        }
    }
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(tmp_path / "logs"),
        # See prompt_exit_detection.
        "AIRFLOW__WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
        "AIRFLOW__SDK__COORDINATORS": json.dumps(coordinators),
        "AIRFLOW__SDK__QUEUE_TO_COORDINATOR": json.dumps({"native": "native"}),
    }
    completed = subprocess.run(
        [*prefix, sys.executable, str(DRIVER), dag_id, queue, "task.log"],
        env=env,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def task_log_events(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "logs" / "task.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize(
    ("mode", "exit_code", "state"), [("succeed", 0, "success"), ("exit=4", 4, "failed")]
)
def test_airflow_worker_runs_the_bundle_through_the_configured_coordinator(
    tmp_path: Path, mode: str, exit_code: int, state: str
) -> None:
    write_native_bundle(tmp_path / "bundles" / "team-a" / "pipeline", "e2e_dag", mode)

    outcome = run_worker(tmp_path, "e2e_dag")

    assert outcome.get("error") is None
    assert outcome["coordinator"] == "afbundle.coordinator.ExecutableCoordinator"
    assert outcome["exit_code"] == exit_code
    assert outcome["final_state_reported"] == state
    # The bundle's own log line reached the task log file Airflow's UI reads.
    [hello] = [e for e in task_log_events(tmp_path) if e.get("event") == "hello from the bundle"]
    assert hello["logger"] == "bundle.child"


def test_airflow_worker_reports_a_missing_bundle_as_file_not_found(tmp_path: Path) -> None:
    (tmp_path / "bundles").mkdir()

    outcome = run_worker(tmp_path, "e2e_dag")

    assert outcome["error"].startswith("BundleNotFoundError: cannot find executable bundle")
    assert outcome["actions"] == []


def test_verified_exec_runs_the_sealed_copy(tmp_path: Path) -> None:
    write_native_bundle(tmp_path / "bundles" / "pipeline", "e2e_dag", "succeed")
    api = ExecutionAPIStub()
    coordinator = ExecutableCoordinator(executables_root=tmp_path, verified_exec=True)

    result, events = run_task(coordinator, "e2e_dag", api)

    assert (result.exit_code, result.final_state) == (0, "success")
    [hello] = events_named(events, "hello from the bundle")
    # The kernel ran the launched process's own sealed memfd, not the path.
    assert re.fullmatch(r"/proc/self/fd/\d+", hello["argv"][0])
    assert re.fullmatch(f"--comm={ADDRESS}", hello["argv"][1])


def test_verified_exec_works_in_a_real_worker_without_ptrace(tmp_path: Path) -> None:
    """supervise_task makes the supervisor non-dumpable; without CAP_SYS_PTRACE no
    other process may open its /proc/<pid>/fd. The sealed copy must run anyway."""
    write_native_bundle(tmp_path / "bundles" / "pipeline", "e2e_dag", "succeed")

    outcome = run_worker(tmp_path, "e2e_dag", prefix=WITHOUT_PTRACE, verified_exec=True)

    assert outcome.get("error") is None
    assert (outcome["exit_code"], outcome["final_state_reported"]) == (0, "success")
    [hello] = [e for e in task_log_events(tmp_path) if e.get("event") == "hello from the bundle"]
    assert re.fullmatch(r"/proc/self/fd/\d+", hello["argv"][0])


def test_verified_exec_refuses_a_bundle_replaced_after_the_lookup(tmp_path: Path) -> None:
    """The launcher seals what is on disk at launch time; if that is no longer the
    bundle the supervisor verified, it exits 126 and says why, and nothing runs."""
    path = write_native_bundle(tmp_path / "bundles" / "pipeline", "e2e_dag", "succeed")
    coordinator = ExecutableCoordinator(executables_root=tmp_path, verified_exec=True)
    command, _ = coordinator._build_execute_task_command(what=native_ti("e2e_dag"))
    write_native_bundle(tmp_path / "swap", "e2e_dag", "exit=3")
    os.replace(tmp_path / "swap", path)

    launched = subprocess.run(command, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)

    assert launched.returncode == 126
    assert "changed since it was verified" in launched.stderr
    assert "hello" not in launched.stdout + launched.stderr
