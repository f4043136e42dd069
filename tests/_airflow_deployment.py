"""A real Airflow deployment on 127.0.0.1, started and stopped by a test.

``Deployment`` runs the processes an operator runs -- ``airflow api-server``,
``airflow scheduler``, ``airflow dag-processor`` and, for the CeleryExecutor,
``redis-server`` and ``airflow celery worker`` -- from the virtualenv that
``make airflow-venv`` builds (Airflow 3.3.2, the Celery provider, afbundle's
wheel), with a sqlite metadata database in a temporary directory. It talks to
Airflow only through the REST API, the way a user would.

Hygiene, because a hung or leaked Airflow must never outlive a test run:

* every process starts in its own process group, with its output in a file;
* every wait has a deadline, and checks that no process died meanwhile;
* ``stop()`` sends SIGTERM to each process, then SIGKILL to its group and to
  every descendant seen before (LocalExecutor workers ignore SIGTERM while idle);
* every failure message ends with the tail of each process's output.

When the test runs as root, the Airflow processes run without
``CAP_SYS_PTRACE`` (``setpriv``), like a non-root worker or root in a default
Docker container: the setting in which a child cannot open
``/proc/<non-dumpable supervisor>/fd/N``.

The bundles' program is a small C program compiled here: it prints which file
the kernel executed (``/proc/self/exe``) and then becomes ``_bundle_child.py``,
the stand-in runtime that speaks the coordinator protocol over ``--comm`` and
``--logs``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
CHILD = TESTS / "_bundle_child.py"

#: Set by ``make test``: the deployment venv must exist (the tests fail instead of skipping).
VENV_ENV_VAR = "AFBUNDLE_AIRFLOW_VENV"
DEFAULT_VENV = REPO / ".airflow-venv"

#: Schema version the bundles declare; Airflow 3.3.2's supervisor resolves it.
SCHEMA_VERSION = "2026-06-16"
#: Task id of the one stub task in every DAG of the DAG file.
TASK_ID = "native"
TERMINAL_STATES = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})

#: Every wait of one deployment, from `db migrate` to the last task, fits in this.
BUDGET = 300.0
STEP_TIMEOUT = 180.0  # one `airflow db migrate`, one gcc or pack
START_TIMEOUT = 120.0  # api-server healthy, scheduler heartbeating, DAGs parsed
STOP_GRACE = 10.0  # SIGTERM -> SIGKILL
POLL_INTERVAL = 0.5
PR_SET_PDEATHSIG = 1
HTTP_TIMEOUT = 20.0
TAIL_LINES = 40

T = TypeVar("T")

#: Executor name -> ``[core] executor`` value (Celery's is not a core alias in Airflow 3).
EXECUTORS = {
    "LocalExecutor": "LocalExecutor",
    "CeleryExecutor": "airflow.providers.celery.executors.celery_executor.CeleryExecutor",
}

_PROGRAM_SOURCE = r"""
/* A stand-in compiled DAG program. It says which file the kernel executed,
   then becomes the stand-in runtime with the bundle's mode and Airflow's
   --comm/--logs arguments. */
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    exe[n < 0 ? 0 : n] = '\0';
    printf("native program started: exe=%s\n", exe);
    fflush(stdout);
    char *args[argc + 4];
    args[0] = PYTHON;
    args[1] = CHILD;
    args[2] = argv[0];
    args[3] = MODE;
    for (int i = 1; i < argc; i++) args[i + 3] = argv[i];
    args[argc + 3] = NULL;
    execv(PYTHON, args);
    perror("execv " PYTHON);
    return 127;
}
"""

_DAG_FILE = '''\
"""One DAG per case, each with one @task.stub task on the case's queue."""

import pendulum
from airflow.sdk import dag, task

CASES = {cases!r}


def native_dag(dag_id, queue):
    @dag(
        dag_id=dag_id,
        schedule=None,
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        default_args={{"retries": 0}},
    )
    def pipeline():
        @task.stub(queue=queue)
        def {task_id}(): ...

        {task_id}()

    return pipeline()


for _dag_id, _queue in CASES.items():
    globals()[_dag_id] = native_dag(_dag_id, _queue)
'''


class DeploymentError(AssertionError):
    """Airflow did not come up, died, or did not finish in time (message has the logs)."""


def airflow_venv() -> Path:
    return Path(os.environ.get(VENV_ENV_VAR) or DEFAULT_VENV)


def deployment_required() -> bool:
    """``make test`` names the venv: then a missing prerequisite fails instead of skipping."""
    return bool(os.environ.get(VENV_ENV_VAR))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def has_cap_sys_ptrace(pid: int) -> bool:
    """Whether ``CAP_SYS_PTRACE`` (bit 19) is in the process's effective set."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 19 & 1)
    raise AssertionError(f"no CapEff line in /proc/{pid}/status")


def without_ptrace_capability() -> list[str]:
    """Command prefix that drops ``CAP_SYS_PTRACE`` for good (only root has it to drop)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace", "--"]


@dataclass
class Process:
    """One started process: its own process group, its output in ``log``."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    descendants: dict[int, psutil.Process] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = TAIL_LINES) -> str:
        """The last ``lines`` lines of output, without the api-server's access log."""
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no output: {exc})"
        kept = [line for line in text.splitlines() if "[http.access]" not in line]
        return "\n".join(kept[-lines:])

    def remember_descendants(self) -> None:
        """Note every current descendant, to kill it by pid even if it left the group."""
        try:
            for child in psutil.Process(self.pid).children(recursive=True):
                self.descendants.setdefault(child.pid, child)
        except psutil.NoSuchProcess:
            pass

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the process, wait up to ``grace``, then SIGKILL its group and descendants.

        Only the process we started gets SIGTERM, so Airflow and Celery shut
        their own workers down in their own way first.
        """
        self.remember_descendants()
        if self.alive():
            self.popen.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=grace)
        # The group outlives its leader while members remain, so its id cannot be reused.
        _signal_group(self.pid, signal.SIGKILL)
        for child in self.descendants.values():
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()  # psutil checks the creation time: never a recycled pid
        try:
            self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=grace)
        deadline = time.monotonic() + grace
        while still_running(self.descendants.values()) and time.monotonic() < deadline:
            time.sleep(0.05)


def still_running(processes: Iterable[psutil.Process]) -> list[psutil.Process]:
    """Those still running: a zombie is dead (init reaps it, or this container never does)."""
    running = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies without stopping it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


@dataclass(frozen=True)
class TaskResult:
    """The one task of a DAG run, as the REST API reports it after the run ended."""

    dag_id: str
    run_id: str
    state: str | None
    try_number: int
    log: list[dict[str, Any]]

    def log_text(self) -> str:
        return "\n".join(json.dumps(line, sort_keys=True) for line in self.log)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [line for line in self.log if line.get("event") == name]


class Round:
    """The results of DAG runs triggered together.

    A task that did not end (the round failed) raises the round's error: in
    full the first time, with the processes' output; then as a pointer to it.
    """

    def __init__(self, results: dict[str, TaskResult], error: DeploymentError | None) -> None:
        self.results = results
        self.error = error
        self._reported = False

    def __getitem__(self, dag_id: str) -> TaskResult:
        if dag_id not in self.results and self.error is not None:
            if self._reported:
                raise DeploymentError("the round of DAG runs failed: see the first error above")
            self._reported = True
            raise self.error
        return self.results[dag_id]


class Deployment:
    """Airflow with one executor, the DAG file of ``cases`` and ``coordinators``, on 127.0.0.1.

    ``cases`` maps each dag_id to the queue of its stub task; ``coordinators``
    and ``queue_to_coordinator`` are the ``[sdk]`` settings, as objects.
    """

    def __init__(
        self,
        home: Path,
        *,
        executor: str,
        cases: Mapping[str, str],
        coordinators: Mapping[str, Any],
        queue_to_coordinator: Mapping[str, str],
    ) -> None:
        self.venv = airflow_venv()
        self.home = home
        self.executor = executor
        self.cases = dict(cases)
        self.processes: list[Process] = []
        self.api_url = f"http://127.0.0.1:{free_port()}"
        self._token: str | None = None
        self.deadline = time.monotonic() + BUDGET
        self.redis_port = free_port() if executor == "CeleryExecutor" else None
        (home / "dags").mkdir(parents=True)
        (home / "logs").mkdir()
        (home / "process-logs").mkdir()
        (home / "user-home").mkdir(mode=0o700)
        self.env = self._environment(coordinators, queue_to_coordinator)

    # --- configuration --------------------------------------------------------------------

    def _environment(
        self, coordinators: Mapping[str, Any], queue_to_coordinator: Mapping[str, str]
    ) -> dict[str, str]:
        port = self.api_url.rsplit(":", 1)[1]
        settings = {
            "CORE__EXECUTOR": EXECUTORS[self.executor],
            "CORE__DAGS_FOLDER": str(self.home / "dags"),
            "CORE__LOAD_EXAMPLES": "False",
            "CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "CORE__PARALLELISM": "4",
            "CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "API__HOST": "127.0.0.1",
            "API__PORT": port,
            "API__BASE_URL": self.api_url,
            "API__WORKERS": "1",
            "API__SECRET_KEY": secrets.token_hex(16),
            "API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            "LOGGING__NAMESPACE_LEVELS": "afbundle=DEBUG",
            # Never the default 8793: other deployments may run on this machine.
            "LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            # The supervisor notices the bundle's exit sooner (changes no outcome).
            "WORKERS__MIN_HEARTBEAT_INTERVAL": "1",
            "SDK__COORDINATORS": json.dumps(coordinators),
            "SDK__QUEUE_TO_COORDINATOR": json.dumps(queue_to_coordinator),
        }
        if self.redis_port is not None:
            settings |= {
                "CELERY__BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
                "CELERY__RESULT_BACKEND": f"redis://127.0.0.1:{self.redis_port}/1",
                "CELERY__WORKER_CONCURRENCY": "2",
                # Celery's default pool, named: it forks after importing Airflow (and afbundle).
                "CELERY__POOL": "prefork",
            }
        return {
            "PATH": f"{self.venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home / "user-home"),
            "LANG": "C.UTF-8",
            "AIRFLOW_HOME": str(self.home),
            **{f"AIRFLOW__{key}": value for key, value in settings.items()},
        }

    def write_dag_file(self) -> None:
        text = _DAG_FILE.format(cases=self.cases, task_id=TASK_ID)
        (self.home / "dags" / "native_dags.py").write_text(text)

    # --- processes ------------------------------------------------------------------------

    def start(self) -> None:
        """Migrate the DB and start every process; return once the DAGs are parsed."""
        self.write_dag_file()
        self.run_step("airflow db migrate", [self.airflow, "db", "migrate"])
        if self.redis_port is not None:
            self.start_redis()
        self.spawn("api-server", [self.airflow, "api-server"])
        self.wait_until("the api-server answers", self._api_is_up)
        no_ptrace = without_ptrace_capability()
        self.spawn("scheduler", [*no_ptrace, self.airflow, "scheduler", "--skip-serve-logs"])
        self.spawn("dag-processor", [self.airflow, "dag-processor"])
        if self.executor == "CeleryExecutor":
            queues = ",".join(sorted(set(self.cases.values())))
            worker = [self.airflow, "celery", "worker", "--queues", queues, "--skip-serve-logs"]
            worker += ["--concurrency", "2"]
            self.spawn("celery-worker", [*no_ptrace, *worker])
        self.wait_until("every DAG is parsed and active", self._dags_are_ready)

    @property
    def airflow(self) -> str:
        return str(self.venv / "bin" / "airflow")

    def run_step(self, name: str, args: list[str]) -> None:
        """Run a command to completion (bounded), as a process of its own group."""
        step = self.spawn(name.replace(" ", "-"), args)
        try:
            status = step.popen.wait(timeout=self._remaining(STEP_TIMEOUT))
        except subprocess.TimeoutExpired:
            step.stop()
            raise DeploymentError(self.explain(f"`{name}` did not finish in time")) from None
        finally:
            self.processes.remove(step)
        if status != 0:
            raise DeploymentError(f"`{name}` exited with {status}:\n{step.tail()}")

    def spawn(self, name: str, args: list[str]) -> Process:
        log = self.home / "process-logs" / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                args,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
                cwd=self.home,
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def start_redis(self) -> None:
        port = str(self.redis_port)
        args = ["redis-server", "--bind", "127.0.0.1", "--port", port, "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.home), "--daemonize", "no"]
        self.spawn("redis-server", args)
        self.wait_until("redis answers PING", self._redis_is_up)

    def _redis_is_up(self) -> bool:
        assert self.redis_port is not None
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def process(self, name: str) -> Process:
        [found] = [p for p in self.processes if p.name == name]
        return found

    def stop(self) -> None:
        """Stop every process, newest first; never raises for a process already gone."""
        for process in reversed(self.processes):
            process.stop()

    def check_alive(self) -> None:
        dead = [
            f"{p.name} (exit status {p.popen.returncode})" for p in self.processes if not p.alive()
        ]
        if dead:
            raise DeploymentError(self.explain(f"exited while the test needed it: {dead}"))

    def explain(self, message: str) -> str:
        """``message`` followed by the tail of every process's output."""
        parts = [message]
        for process in self.processes:
            for child in _live_children(process):
                process.descendants.setdefault(child.pid, child)
            state = "running" if process.alive() else f"exited {process.popen.returncode}"
            parts.append(f"\n----- {process.name} (pid {process.pid}, {state}) -----")
            parts.append(process.tail())
        return "\n".join(parts)

    def wait_until(
        self, what: str, probe: Callable[[], T | None], timeout: float = START_TIMEOUT
    ) -> T:
        """Poll ``probe`` until it returns a truthy value; fail after ``timeout`` seconds.

        The deployment's ``BUDGET`` caps every wait, so a slow start leaves less
        time for the tasks instead of stretching the whole test.
        """
        timeout = self._remaining(timeout)
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            self.check_alive()
            if time.monotonic() > deadline:
                raise DeploymentError(self.explain(f"timed out after {timeout:.0f} s: {what}"))
            time.sleep(POLL_INTERVAL)

    def _remaining(self, timeout: float) -> float:
        return max(1.0, min(timeout, self.deadline - time.monotonic()))

    # --- REST API -------------------------------------------------------------------------

    def request(
        self, method: str, path: str, body: Any = None, *, accept: str = "application/json"
    ) -> Any:
        headers = {"Accept": accept, "Content-Type": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.api_url + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise DeploymentError(
                self.explain(f"{method} {path} -> HTTP {exc.code}: {detail}")
            ) from None

    def _api_is_up(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5):
                pass
        except OSError:  # refused while starting; URLError and HTTPError are OSErrors
            return False
        # The SimpleAuthManager with all-admins hands out a token without credentials.
        self._token = self.request("GET", "/auth/token")["access_token"]
        return True

    def _dags_are_ready(self) -> bool:
        errors = self.request("GET", "/api/v2/importErrors")
        if errors["total_entries"]:
            raise DeploymentError(self.explain(f"the DAG file does not import: {errors}"))
        health = self.request("GET", "/api/v2/monitor/health")
        if (health.get("scheduler") or {}).get("status") != "healthy":
            return False
        dags = self.request("GET", "/api/v2/dags?limit=100")["dags"]
        ready = {d["dag_id"] for d in dags if not d["is_paused"]}
        return ready >= set(self.cases)

    def trigger(self, dag_id: str) -> str:
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None})
        run_id: str = run["dag_run_id"]
        return run_id

    def task_instance(self, dag_id: str, run_id: str) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}"
        ti: dict[str, Any] = self.request("GET", path)
        return ti

    def task_log(self, dag_id: str, run_id: str, try_number: int) -> list[dict[str, Any]]:
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{TASK_ID}"
            f"/logs/{try_number}?full_content=true"
        )
        content = self.request("GET", path)["content"]
        return [line if isinstance(line, dict) else {"event": str(line)} for line in content]

    def run_round(self, dag_ids: Iterable[str], timeout: float) -> Round:
        """Trigger one run of each DAG at once; wait until every task has ended.

        When a process dies or the deadline passes, the tasks that did end are
        still reported; the others raise the error.
        """
        runs = {dag_id: self.trigger(dag_id) for dag_id in dag_ids}
        states: dict[str, dict[str, Any]] = {}

        def all_ended() -> bool:
            for dag_id, run_id in runs.items():
                states[dag_id] = self.task_instance(dag_id, run_id)
            return all(ti.get("state") in TERMINAL_STATES for ti in states.values())

        error = None
        try:
            self.wait_until("every triggered task ends", all_ended, timeout=timeout)
        except DeploymentError as exc:
            summary = {dag_id: ti.get("state") for dag_id, ti in states.items()}
            error = DeploymentError(f"task states: {summary}\n{exc}")
        results = {}
        for dag_id, ti in states.items():
            if ti.get("state") in TERMINAL_STATES:
                log = self.task_log(dag_id, runs[dag_id], ti["try_number"])
                results[dag_id] = TaskResult(
                    dag_id, runs[dag_id], ti["state"], ti["try_number"], log
                )
        return Round(results, error)


def _live_children(process: Process) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return children


# --- bundles ----------------------------------------------------------------------------------


class BundleFactory:
    """Compiles the stand-in program once per mode and packs it with ``afbundle pack``."""

    def __init__(self, workdir: Path, python: Path) -> None:
        self.workdir = workdir
        self.python = python
        self.programs: dict[str, Path] = {}
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "program.c").write_text(_PROGRAM_SOURCE)

    def program(self, mode: str) -> Path:
        if mode not in self.programs:
            out = self.workdir / f"program-{len(self.programs)}"
            defines = {"PYTHON": str(self.python), "CHILD": str(CHILD), "MODE": mode}
            args = ["gcc", "-O1", "-o", str(out), str(self.workdir / "program.c")]
            args += [f"-D{name}={json.dumps(value)}" for name, value in defines.items()]
            subprocess.run(args, check=True, timeout=STEP_TIMEOUT, capture_output=True)
            self.programs[mode] = out
        return self.programs[mode]

    def pack(self, out: Path, dag_id: str, mode: str = "succeed") -> Path:
        """Pack a bundle declaring ``dag_id`` whose program runs in ``mode``; replace ``out``."""
        out.parent.mkdir(parents=True, exist_ok=True)
        afbundle = self.python.with_name("afbundle")
        args = [str(afbundle), "pack", str(self.program(mode)), "-o", str(out), "--force"]
        args += ["--source", str(self.workdir / "program.c"), "--dag", dag_id]
        args += ["--tasks", TASK_ID, "--language", "c", "--sdk-version", "0.1.0"]
        args += ["--schema-version", SCHEMA_VERSION]
        completed = subprocess.run(args, capture_output=True, text=True, timeout=STEP_TIMEOUT)
        assert completed.returncode == 0, f"{args}: {completed.stderr}"
        return out

    @staticmethod
    def tamper(bundle: Path) -> None:
        """Flip one byte in the middle of the binary region (its recorded digest stays)."""
        with bundle.open("r+b") as f:
            offset = bundle.stat().st_size // 4
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0xFF]))


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run a deployment (empty when everything is there)."""
    missing = []
    if not (airflow_venv() / "bin" / "airflow").exists():
        missing.append(f"no Airflow in {airflow_venv()} (run `make airflow-venv`)")
    elif not (airflow_venv() / "bin" / "afbundle").exists():
        missing.append(f"afbundle's wheel is not installed in {airflow_venv()}")
    for tool in ("gcc", "setpriv"):
        if shutil.which(tool) is None:
            missing.append(f"no `{tool}` on PATH")
    return missing
