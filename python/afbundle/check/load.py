"""The user code a check runs -- DAG files, coordinator classes -- runs in a child process.

:func:`afbundle.check_dags` sees what a worker sees only by running what a
worker runs: Airflow's DagBag executes every DAG file, and each ``[sdk]
coordinators`` classpath is imported as a worker imports it. That code runs
with the caller's privileges, here in a child process, so a file that calls
``os._exit``, forks, leaves a thread running or hangs cannot end, duplicate or
stall the check; the parent never imports a DAG file or a coordinator module.

Parent side, :class:`Loader`; child side, :func:`child_main`:

* the child is ``python -I -B -c BOOT`` in a new session (its own process
  group, no controlling terminal), killed if the parent dies
  (``PR_SET_PDEATHSIG``). Its stdin carries two JSON lines, then reads
  ``/dev/null``: first the caller's ``sys.path`` (nothing in the child's
  working directory is imported before it takes that path: ``-I``), upon which
  it imports Airflow's DagBag while the caller imports its own Airflow; then
  the job (the classes to import, the DAG folder). Nothing secret is on its
  command line;
* it writes JSON lines on a pipe of its own: a ``stage`` before each step that
  runs user code, then one ``result`` of plain data (:class:`Loaded`) or one
  ``error``. Only the process that was started writes: a copy forked by a DAG
  file stays silent;
* its stdout and stderr (Airflow's log lines, a DAG file's prints) are relayed
  to the caller's stderr as they come, so the caller's stdout stays its own;
* once the result is in, the child is gone or the timeout has passed, the
  whole process group is killed (a left-over thread or fork with it) before the
  child is reaped. No result is :class:`CheckLoadError`, naming the stage.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from afbundle.check.errors import CheckConfigError, CheckLoadError

__all__ = [
    "DEFAULT_TIMEOUT",
    "CoordinatorImport",
    "Loaded",
    "LoadedDag",
    "LoadedDags",
    "LoadedTask",
    "Loader",
    "dags_of",
]

#: Seconds the child may take, all steps together, before it is killed.
#: Airflow's own ``[core] dagbag_import_timeout`` still limits each DAG file.
DEFAULT_TIMEOUT = 300.0

#: How often the parent looks whether the child is gone while its pipes are
#: quiet (a fork of it may hold them open after it exited).
_POLL_SECONDS = 0.1

#: The child's first words: read the first line, take the caller's import path, run.
BOOT = (
    "import json, sys; first = json.loads(sys.stdin.buffer.readline()); "
    "sys.path[:] = first['sys_path']; "
    "from afbundle.check.load import child_main; child_main(first, int(sys.argv[1]))"
)


@dataclasses.dataclass(frozen=True)
class CoordinatorImport:
    """An ``[sdk] coordinators`` entry whose class the child imports (and, when
    ``kwargs`` is not ``None``, constructs with them, as a worker does)."""

    name: str
    classpath: str
    kwargs: Mapping[str, Any] | None


@dataclasses.dataclass(frozen=True)
class LoadedTask:
    """A task of a loaded DAG: ``kind`` is how the DAG file wrote it (``@task``, ...)."""

    task_id: str
    queue: str | None
    stub: bool
    kind: str
    mapped: bool


@dataclasses.dataclass(frozen=True)
class LoadedDag:
    dag_id: str
    file: str | None
    tasks: tuple[LoadedTask, ...]


@dataclasses.dataclass(frozen=True)
class LoadedDags:
    """What Airflow's DagBag loaded, as plain data: DAGs by dag_id, import errors
    (absolute path, Airflow's text) and every DAG file parsed."""

    dags: tuple[LoadedDag, ...]
    import_errors: tuple[tuple[str, str], ...]
    files: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadedDags:
        return cls(
            dags=tuple(
                LoadedDag(d["dag_id"], d["file"], tuple(LoadedTask(**t) for t in d["tasks"]))
                for d in data["dags"]
            ),
            import_errors=tuple((path, error) for path, error in data["import_errors"]),
            files=tuple(data["files"]),
        )


@dataclasses.dataclass(frozen=True)
class Loaded:
    """The child's answer: why each imported entry cannot be used (``None``: it can),
    and the DAGs when they were asked for."""

    coordinators: Mapping[str, str | None]
    dags: LoadedDags | None


def dags_of(dagbag: Any) -> LoadedDags:
    """The plain data of an Airflow ``DagBag`` (the child's, or one the caller loaded)."""
    base = getattr(dagbag, "bundle_path", None)
    # A DagBag with a bundle path keys import errors relative to it.
    errors = sorted(
        (str(Path(base, file)) if base is not None else str(file), str(error))
        for file, error in dagbag.import_errors.items()
    )
    dags = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        tasks = tuple(
            LoadedTask(
                task_id=str(task.task_id),
                queue=None if task.queue is None else str(task.queue),
                stub=_is_stub(task),
                kind=_kind(task),
                mapped=bool(getattr(task, "is_mapped", False)),
            )
            for task in sorted(dag.tasks, key=lambda t: t.task_id)
        )
        dags.append(LoadedDag(str(dag_id), str(getattr(dag, "fileloc", "") or "") or None, tasks))
    files = sorted({*map(str, dagbag.file_last_changed), *(path for path, _ in errors)})
    return LoadedDags(tuple(dags), tuple(errors), tuple(files))


def _is_stub(task: Any) -> bool:
    """A ``@task.stub`` task (plain or mapped): the standard provider's stub operator."""
    if getattr(task, "custom_operator_name", None) == "@task.stub":
        return True
    return getattr(task, "task_type", None) == "_StubOperator"


def _kind(task: Any) -> str:
    """How the DAG file wrote the task: ``@task``, ``BashOperator``..."""
    return str(getattr(task, "custom_operator_name", None) or task.task_type)


def one_line(text: str) -> str:
    """The last non-blank line of ``text`` (an exception's own line ends a traceback)."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "import failed"


def _error_words(exc: BaseException) -> str:
    """An exception in one line: its type and message (``SystemExit`` says its code)."""
    if isinstance(exc, SystemExit):
        return f"it calls sys.exit({exc.code!r})"
    text = one_line(str(exc)) if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def config_errors() -> tuple[type[Exception], ...]:
    """What Airflow raises for a configuration it cannot read (file syntax or a value)."""
    import configparser

    errors: list[type[Exception]] = [configparser.Error]
    for module in ("airflow._shared.configuration.exceptions",
                   "airflow.sdk._shared.configuration.exceptions"):  # fmt: skip
        with contextlib.suppress(ImportError):
            errors.append(__import__(module, fromlist=["_"]).AirflowConfigException)
    return tuple(errors)


def airflow_missing(message: str, name: str | None) -> ImportError:
    """The ImportError a check raises when Airflow's parts are not installed."""
    return ImportError(
        f"afbundle check needs Airflow: apache-airflow-core and "
        f"apache-airflow-providers-standard (or apache-airflow): {message}",
        name=name,
    )


# --------------------------------------------------------------------------- parent


class Loader:
    """The child process, started before its job is known: with ``prepare_dags`` it
    imports Airflow's DagBag while the caller imports its own Airflow. Leaving the
    ``with`` block kills it (and whatever it left running) and reaps it.

    Example:
        >>> with Loader() as loader:  # the caller reads its configuration meanwhile
        ...     loaded = loader.load([], with_dags=True, dags="dags/")
        >>> [dag.dag_id for dag in loaded.dags.dags]
        ['nightly_report']
    """

    def __init__(
        self, *, timeout: float | None = DEFAULT_TIMEOUT, prepare_dags: bool = True
    ) -> None:
        import subprocess

        self.timeout = timeout
        self.stage = "starting Python"
        self._lines = b""
        self._decoder: Any = None
        messages, messages_w = os.pipe()
        output, output_w = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-B", "-c", BOOT, str(messages_w)],
                stdin=subprocess.PIPE,
                stdout=output_w,
                stderr=output_w,
                pass_fds=(messages_w,),
                start_new_session=True,
            )
        except OSError as exc:
            os.close(messages)
            os.close(output)
            raise CheckLoadError(
                f"cannot start {sys.executable or 'Python'} to load DAG files "
                f"and coordinator classes: {exc}",
                self.stage,
            ) from exc
        finally:
            os.close(messages_w)
            os.close(output_w)
        assert self._proc.stdin is not None
        self._messages, self._output, self._input = messages, output, self._proc.stdin.fileno()
        for fd in (messages, output, self._input):
            os.set_blocking(fd, False)
        first = {"sys_path": list(sys.path), "parent": os.getpid(), "prepare_dags": prepare_dags}
        self._pending = memoryview(json.dumps(first).encode() + b"\n")
        self._send_some()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(
        self, coordinators: Sequence[CoordinatorImport], *, with_dags: bool, dags: str | None
    ) -> Loaded:
        """Send the job; wait (at most ``timeout`` seconds from now) for the answer.

        Raises:
            CheckLoadError: the child gave no report (exited, killed, timed out).
            CheckConfigError: Airflow cannot read its configuration there.
            FileNotFoundError, PermissionError, NotADirectoryError: ``dags``.
            ImportError: Airflow is not installed.
        """
        job = {
            "coordinators": [dataclasses.asdict(c) for c in coordinators],
            "with_dags": with_dags,
            "dags": dags,
        }
        self._pending = memoryview(bytes(self._pending) + json.dumps(job).encode() + b"\n")
        answer = self._wait()
        return Loaded(
            coordinators=answer["coordinators"],
            dags=None if answer["dags"] is None else LoadedDags.from_json(answer["dags"]),
        )

    def close(self) -> None:
        """Kill the child's process group, reap the child, relay its last output."""
        import signal

        if self._proc.returncode is not None:
            return
        # Not reaped yet, so its pid still names its process group: a thread or
        # a fork it left behind dies with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        self._proc.wait()
        with contextlib.suppress(OSError):
            self._proc.stdin.close()  # type: ignore[union-attr]
        self._relay(_read(self._output))
        os.close(self._messages)
        os.close(self._output)

    def _send_some(self) -> None:
        try:
            self._pending = self._pending[os.write(self._input, self._pending) :]
        except BlockingIOError:
            pass
        except BrokenPipeError:  # it died before reading: seen when waiting
            self._pending = self._pending[:0]

    def _wait(self) -> dict[str, Any]:
        import selectors
        import signal
        import time

        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._messages, selectors.EVENT_READ)
            selector.register(self._output, selectors.EVENT_READ)
            if self._pending:
                selector.register(self._input, selectors.EVENT_WRITE)
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise CheckLoadError(
                        f"timed out after {self.timeout:g} s while {self.stage}", self.stage
                    )
                wait = _POLL_SECONDS if left is None else min(_POLL_SECONDS, left)
                for key, _ in selector.select(wait):
                    if key.fd == self._input:
                        self._send_some()
                        if not self._pending:
                            selector.unregister(self._input)
                        continue
                    data = _read(key.fd)
                    if not data:
                        selector.unregister(key.fd)
                    elif key.fd == self._output:
                        self._relay(data)
                    else:
                        answer = self._heard(data)
                        if answer is not None:
                            return answer
                pid = self._proc.pid
                gone = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if gone is not None:  # what it wrote before it went is in the pipe
                    answer = self._heard(_read(self._messages))
                    if answer is not None:
                        return answer
                    raise CheckLoadError(
                        f"the process loading DAG files and coordinator classes "
                        f"{_how(gone, signal)} while {self.stage}, before it reported",
                        self.stage,
                    )

    def _heard(self, data: bytes) -> dict[str, Any] | None:
        """Take in the child's messages; its result, or ``None`` while there is none."""
        self._lines += data
        *complete, self._lines = self._lines.split(b"\n")
        for line in complete:
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError(message)
            except ValueError:
                raise CheckLoadError(
                    f"the process loading DAG files and coordinator classes sent "
                    f"unreadable data while {self.stage}",
                    self.stage,
                ) from None
            if "stage" in message:
                self.stage = str(message["stage"])
            elif "result" in message:
                return dict(message["result"])
            else:
                raise _raised(message.get("error", {}), self.stage)
        return None

    def _relay(self, data: bytes) -> None:
        """The child's output to our stderr, bytes as they are where the stream allows."""
        stream = sys.stderr
        if not data or stream is None:
            return
        stream.flush()
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
            return
        if self._decoder is None:
            import codecs

            self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        stream.write(self._decoder.decode(data))
        stream.flush()


def _read(fd: int) -> bytes:
    """Everything readable now from a non-blocking pipe (``b""`` at its end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def _how(gone: Any, signal: Any) -> str:
    """How a child ended, from ``waitid``'s answer."""
    if gone.si_code == os.CLD_EXITED:
        return f"exited with status {gone.si_status}"
    try:
        name = signal.Signals(gone.si_status).name
    except ValueError:
        name = f"signal {gone.si_status}"
    return f"was killed by {name}"


def _raised(error: Mapping[str, Any], stage: str) -> Exception:
    """The exception a child's ``error`` message stands for."""
    kind = error.get("type")
    message = str(error.get("message", ""))
    if kind == "os":
        args = (error["errno"], error["strerror"])
        filename = error.get("filename")
        return OSError(*args) if filename is None else OSError(*args, filename)
    if kind == "config":
        return CheckConfigError(message)
    if kind == "import":
        return airflow_missing(message, error.get("name"))
    return CheckLoadError(f"loading failed while {stage}: {message}", stage)


# --------------------------------------------------------------------------- child


def child_main(first: Mapping[str, Any], fd: int) -> None:
    """Prepare, read the job, run it (see the module's doc) and report on ``fd``; never
    returns. ``first`` is the first line the parent sent (its ``sys.path`` and pid)."""
    started_as = os.getpid()
    _die_with(first["parent"])

    def send(message: Mapping[str, Any]) -> None:
        if os.getpid() != started_as:  # a copy a DAG file forked: only we report
            return
        data = (json.dumps(message) + "\n").encode()
        while data:
            data = data[os.write(fd, data) :]

    def stage(words: str) -> None:
        send({"stage": words})

    prepared: BaseException | None = None
    if first["prepare_dags"]:  # Airflow's own code, while the parent imports its own
        stage("importing Airflow's DagBag")
        try:
            _dagbag_class()
        except BaseException as exc:
            prepared = exc
    stage("waiting for the job")
    job = json.loads(sys.stdin.buffer.readline() or b"null")
    if job is None:  # the parent went away without one
        os._exit(0)
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.close(stdin)
    try:
        if prepared is not None:
            raise prepared
        problems = {}
        for entry in job["coordinators"]:
            stage(f"importing coordinator class {entry['classpath']!r} (entry {entry['name']!r})")
            problems[entry["name"]] = _coordinator_problem(entry["classpath"], entry["kwargs"])
        dags = _load_dags(job["dags"], stage) if job["with_dags"] else None
        _flush()  # its output reaches the parent's pipe before the result
        loaded = None if dags is None else dataclasses.asdict(dags)
        send({"result": {"coordinators": problems, "dags": loaded}})
    except BaseException as exc:
        _flush()
        send({"error": _error_data(exc)})
    finally:
        os._exit(0)  # a thread left running does not keep this process


def _die_with(parent: int) -> None:
    """Be killed when the parent dies (a SIGKILLed check leaves no loader behind)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()


class _NoAirflow(ImportError):
    """Airflow's parts the child needs are not installed."""


def _coordinator_problem(classpath: str, kwargs: Mapping[str, Any] | None) -> str | None:
    """Why a worker could not import (or construct) ``classpath``; ``None`` if it can."""
    try:
        from airflow.sdk._shared.module_loading import import_string
    except ImportError as exc:
        raise _NoAirflow(str(exc), name=exc.name) from exc

    try:
        cls = import_string(classpath)
    except (Exception, SystemExit) as exc:  # a worker fails the same way: not our crash
        return f"classpath {classpath!r} does not import: {_error_words(exc)}"
    if kwargs is None:
        return None
    try:
        cls(**kwargs)
    except (Exception, SystemExit) as exc:
        return f"cannot be constructed: {_error_words(exc)}"
    return None


def _dagbag_class() -> Any:
    """Airflow's ``BundleDagBag`` (importing it reads Airflow's configuration)."""
    try:
        from airflow.dag_processing.dagbag import BundleDagBag
    except ImportError as exc:
        raise _NoAirflow(str(exc), name=exc.name) from exc
    return BundleDagBag


def _load_dags(dags: str | None, stage: Callable[[str], None]) -> LoadedDags:
    """Airflow's ``BundleDagBag`` of ``dags`` (a folder or a ``.py`` file), as a DAG
    processor parses a bundle: absolute, its folder on ``sys.path``."""
    stage("importing Airflow's DagBag")
    BundleDagBag = _dagbag_class()
    from airflow import settings

    given = dags if dags is not None else settings.DAGS_FOLDER
    if not os.path.exists(given):
        raise FileNotFoundError(2, "no such DAG file or folder", given)
    is_dir = os.path.isdir(given)
    if not is_dir and not (os.path.isfile(given) and given.endswith(".py")):
        raise NotADirectoryError(20, "not a DAG folder or a .py DAG file", given)
    if not os.access(given, os.R_OK | (os.X_OK if is_dir else 0)):
        raise PermissionError(13, "cannot read the DAG file or folder", given)
    # Absolute: the DagBag keys files (and import errors, duplicate dag_ids among
    # them) relative to the bundle path, which fails silently for a relative folder.
    folder = os.path.abspath(given)

    class AnnouncingDagBag(BundleDagBag):  # type: ignore[misc,valid-type]
        """Says which file it parses, so a file that ends the process is named."""

        _logger_name = f"{BundleDagBag.__module__}.{BundleDagBag.__name__}"  # Airflow's

        def process_file(self, filepath: Any, *args: Any, **kwargs: Any) -> Any:
            stage(f"parsing DAG file {filepath}")
            return super().process_file(filepath, *args, **kwargs)

    bundle_path = Path(folder if is_dir else os.path.dirname(folder))
    bag = AnnouncingDagBag(dag_folder=folder, bundle_path=bundle_path)
    stage("reading the loaded DAGs")
    return dags_of(bag)


def _error_data(exc: BaseException) -> dict[str, Any]:
    """A failure of the job as plain data for the parent (see :func:`_raised`)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        filename = None if exc.filename is None else os.fsdecode(exc.filename)
        return {"type": "os", "errno": exc.errno, "strerror": exc.strerror, "filename": filename}
    if isinstance(exc, config_errors()):
        return {"type": "config", "message": " ".join(str(exc).split())}
    if isinstance(exc, _NoAirflow):
        return {"type": "import", "message": str(exc), "name": exc.name}
    import traceback

    traceback.print_exception(exc)  # relayed to the caller's stderr
    return {"type": "crash", "message": _error_words(exc)}
