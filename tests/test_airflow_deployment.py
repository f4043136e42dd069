"""End to end against a real Airflow 3.3.2 deployment, under the LocalExecutor and Celery.

Each executor gets a fresh deployment (see ``_airflow_deployment``): a DAG file
of ``@task.stub`` tasks, bundles packed with ``afbundle pack``, and three
``[sdk] coordinators`` entries routed by queue -- afbundle's coordinator, the
same with ``verified_exec``, and Airflow's built-in one beside them. Runs are
triggered through the REST API, and states and task logs read back through it.

The scheduler (and so its LocalExecutor workers) and the Celery worker run
without ``CAP_SYS_PTRACE``, as a non-root worker does.

Every case runs in one round of DAG runs triggered together (the expensive
part is starting Airflow, not a stub task); a second round checks that the
deployment still runs tasks after a rejected and a missing bundle.

Run just these: ``make airflow-venv`` then
``.venv/bin/python -m pytest -m airflow_deployment``.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]
import pytest
from _airflow_deployment import (
    BundleFactory,
    Deployment,
    Process,
    Round,
    TaskResult,
    airflow_venv,
    deployment_required,
    has_cap_sys_ptrace,
    missing_prerequisites,
    still_running,
)

pytestmark = pytest.mark.airflow_deployment

#: Each DAG's one stub task runs on the queue named here.
CASES = {
    "e2e_success": "afbundle",
    "e2e_precedence": "afbundle",
    "e2e_tampered": "afbundle",
    "e2e_missing": "afbundle",
    "e2e_verified": "verified",
    "e2e_builtin": "builtin",
}
QUEUE_TO_COORDINATOR = {"afbundle": "afbundle", "verified": "sealed", "builtin": "builtin"}
ROUND_TIMEOUT = 180.0


@pytest.fixture(scope="module", params=["LocalExecutor", "CeleryExecutor"])
def executor(request: pytest.FixtureRequest) -> str:
    missing = missing_prerequisites()
    if request.param == "CeleryExecutor" and shutil.which("redis-server") is None:
        missing.append("no `redis-server` on PATH (make test-tools)")
    if missing:
        if deployment_required():
            pytest.fail("cannot run the Airflow deployment: " + "; ".join(missing))
        pytest.skip("; ".join(missing))
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def bundles(executor: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The two roots, in precedence order: ``first`` then ``second``."""
    base = tmp_path_factory.mktemp(f"bundles-{executor}")
    base = base.resolve()
    return {"first": base / "first", "second": base / "second"}


@pytest.fixture(scope="module")
def factory(executor: str, tmp_path_factory: pytest.TempPathFactory) -> BundleFactory:
    return BundleFactory(
        tmp_path_factory.mktemp(f"programs-{executor}"), airflow_venv() / "bin" / "python"
    )


@pytest.fixture(scope="module")
def deployment(
    executor: str,
    bundles: dict[str, Path],
    factory: BundleFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployment]:
    first, second = bundles["first"], bundles["second"]
    factory.pack(first / "team-a" / "success", "e2e_success")
    # Duplicates: the first root wins over a byte-wise smaller path in the second, and
    # within the first root "team-a/dup" wins over "team-b/dup". Losers fail if run.
    factory.pack(first / "team-a" / "dup", "e2e_precedence")
    factory.pack(first / "team-b" / "dup", "e2e_precedence", mode="exit=3")
    factory.pack(second / "aaa" / "dup", "e2e_precedence", mode="exit=4")
    BundleFactory.tamper(factory.pack(first / "team-a" / "tampered", "e2e_tampered"))
    factory.pack(first / "team-a" / "verified", "e2e_verified")
    factory.pack(second / "builtin", "e2e_builtin")
    roots = [str(first), str(second)]
    timeout = {"task_startup_timeout": 60}
    coordinators = {
        "afbundle": {
            "classpath": "afbundle.ExecutableCoordinator",
            "kwargs": {"executables_root": roots, **timeout},
        },
        "sealed": {
            "classpath": "afbundle.ExecutableCoordinator",
            "kwargs": {"executables_root": roots, "verified_exec": True, **timeout},
        },
        "builtin": {
            "classpath": "airflow.sdk.coordinators.executable.ExecutableCoordinator",
            "kwargs": {"executables_root": roots, **timeout},
        },
    }
    deployment = Deployment(
        tmp_path_factory.mktemp(f"airflow-{executor}"),
        executor=executor,
        cases=CASES,
        coordinators=coordinators,
        queue_to_coordinator=QUEUE_TO_COORDINATOR,
    )
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture(scope="module")
def first_round(deployment: Deployment) -> Round:
    return deployment.run_round(CASES, timeout=ROUND_TIMEOUT)


def program_started(result: TaskResult) -> str:
    """The ``exe=`` the stand-in program printed to stdout (drained into the task log)."""
    found = [
        match[1]
        for line in result.log
        if (match := re.fullmatch(r"native program started: exe=(.+)", str(line.get("event"))))
    ]
    assert len(found) == 1, f"expected one start line in the task log:\n{result.log_text()}"
    return found[0]


def launch_failure(result: TaskResult) -> dict[str, Any]:
    """The coordinator's record, in the task log, of why the bundle could not run."""
    found = result.events("Cannot run the task's executable bundle")
    assert len(found) == 1, f"no launch failure in the task log:\n{result.log_text()}"
    assert found[0]["dag_id"] == result.dag_id
    return found[0]


def assert_state(deployment: Deployment, result: TaskResult, state: str) -> None:
    assert result.state == state, deployment.explain(
        f"{result.dag_id} run {result.run_id}: task {result.state}, expected {state}; "
        f"task log:\n{result.log_text()}"
    )


def test_stop_kills_a_process_tree_that_ignores_sigterm_even_outside_its_group(
    tmp_path: Path,
) -> None:
    # Like an idle LocalExecutor worker: SIGTERM is ignored (and inherited as ignored).
    script = "trap '' TERM; sleep 300 & setsid sleep 300 & wait"
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(["sh", "-c", script], stdout=out, start_new_session=True)
    process = Process("stubborn", popen, log)
    deadline = time.monotonic() + 30
    while len(psutil.Process(popen.pid).children()) < 2:
        assert time.monotonic() < deadline, "the test's children did not start"
        time.sleep(0.05)
    children = psutil.Process(popen.pid).children(recursive=True)

    process.stop(grace=1)

    assert popen.returncode == -signal.SIGKILL
    assert still_running(children) == []


def test_airflow_processes_run_without_cap_sys_ptrace(deployment: Deployment) -> None:
    workers = ["scheduler"] + (["celery-worker"] if deployment.executor == "CeleryExecutor" else [])
    for name in workers:
        assert not has_cap_sys_ptrace(deployment.process(name).pid), name


def test_a_bundle_runs_and_its_task_succeeds(
    deployment: Deployment, first_round: Round, bundles: dict[str, Path]
) -> None:
    result = first_round["e2e_success"]
    assert_state(deployment, result, "success")
    assert program_started(result) == str(bundles["first"] / "team-a" / "success")
    [startup] = result.events("startup received")
    assert (startup["dag_id"], startup["task_id"]) == ("e2e_success", "native")
    assert result.events("success acknowledged")


def test_the_first_root_then_the_bytewise_first_path_wins_a_duplicate_dag_id(
    deployment: Deployment, first_round: Round, bundles: dict[str, Path]
) -> None:
    result = first_round["e2e_precedence"]
    assert_state(deployment, result, "success")
    assert program_started(result) == str(bundles["first"] / "team-a" / "dup")


def test_a_tampered_bundle_fails_its_task_without_running(
    deployment: Deployment, first_round: Round, bundles: dict[str, Path]
) -> None:
    result = first_round["e2e_tampered"]
    assert_state(deployment, result, "failed")
    assert "native program started" not in result.log_text()
    reason = launch_failure(result)
    assert reason["error_type"] == "BundleNotFoundError"
    assert "binary_sha256 mismatch" in reason["error"]
    assert str(bundles["first"] / "team-a" / "tampered") in reason["error"]
    deployment.check_alive()


def test_a_missing_bundle_fails_its_task_and_the_scheduler_stays_up(
    deployment: Deployment, first_round: Round
) -> None:
    result = first_round["e2e_missing"]
    assert_state(deployment, result, "failed")
    reason = launch_failure(result)
    assert reason["error_type"] == "BundleNotFoundError"
    assert reason["error"].startswith(
        "cannot find executable bundle containing dag_id='e2e_missing'"
    )
    deployment.check_alive()


def test_verified_exec_runs_the_sealed_copy_without_cap_sys_ptrace(
    deployment: Deployment, first_round: Round
) -> None:
    result = first_round["e2e_verified"]
    assert_state(deployment, result, "success")
    # The kernel executed the sealed memfd (named after the bundle), not the file.
    assert program_started(result).startswith("/memfd:afbundle:verified")
    assert result.events("success acknowledged")


def test_the_builtin_coordinator_runs_beside_afbundle(
    deployment: Deployment, first_round: Round, bundles: dict[str, Path]
) -> None:
    result = first_round["e2e_builtin"]
    assert_state(deployment, result, "success")
    assert program_started(result) == str(bundles["second"] / "builtin")


def test_after_a_rejected_and_a_missing_bundle_the_next_runs_succeed(
    deployment: Deployment,
    first_round: Round,
    bundles: dict[str, Path],
    factory: BundleFactory,
) -> None:
    factory.pack(bundles["first"] / "team-a" / "tampered", "e2e_tampered")
    factory.pack(bundles["second"] / "missing", "e2e_missing")

    second_round = deployment.run_round(["e2e_tampered", "e2e_missing"], timeout=ROUND_TIMEOUT)

    for dag_id in ("e2e_tampered", "e2e_missing"):
        assert_state(deployment, second_round[dag_id], "success")
    assert program_started(second_round["e2e_missing"]) == str(bundles["second"] / "missing")
