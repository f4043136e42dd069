"""What crosses a process boundary survives it: forked children work, exceptions pickle.

Airflow's LocalExecutor reports a task's exception to the scheduler through a
multiprocessing queue (pickled there, unpickled in the scheduler loop);
Celery's prefork pool, gunicorn --preload and multiprocessing's fork start
method fork after afbundle was imported and used. Every wait here is bounded:
a hang fails the test, it never blocks the suite.
"""

from __future__ import annotations

import copy
import multiprocessing
import os
import pickle
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

import afbundle

from _writer import write_bundle

CHILD_DEADLINE = 30


def _in_forked_child(work: Any) -> tuple[int, str]:
    """Run ``work()`` in a forked child; return its exit status and what it wrote, or fail."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        status = 1
        try:
            signal.alarm(CHILD_DEADLINE)  # a hang kills the child, it never blocks
            os.close(read_end)
            os.write(write_end, str(work()).encode())
            status = 0
        except BaseException as exc:
            os.write(write_end, f"{type(exc).__name__}: {exc}".encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read().decode()
    _, wait_status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(wait_status):
        pytest.fail(f"the forked child was killed by signal {os.WTERMSIG(wait_status)} (a hang?)")
    return os.waitstatus_to_exitcode(wait_status), output


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for i in range(12):
        write_bundle(tmp_path / f"d{i % 3}" / f"b{i}", binary=b"bin%d" % i, dag_ids=[f"dag{i}"])
    return tmp_path


@pytest.mark.parametrize("threads", [None, 1, 3])
def test_find_and_scan_work_in_a_child_forked_after_they_ran(tree: Path, threads: Any) -> None:
    assert afbundle.find(tree, "dag5", threads=threads, persistent_cache=False).dag_ids == ("dag5",)
    assert len(afbundle.scan(tree, threads=threads, persistent_cache=False).bundles) == 12

    def work() -> str:
        found = afbundle.find(tree, "dag7", threads=threads, persistent_cache=False)
        report = afbundle.scan(tree, threads=threads, persistent_cache=False)
        return f"{found.dag_ids[0]} {len(report.bundles)}"

    status, output = _in_forked_child(work)
    assert (status, output) == (0, "dag7 12")
    # The parent's pools are untouched by the child.
    assert afbundle.find(tree, "dag1", threads=threads, persistent_cache=False).dag_ids == ("dag1",)


def test_a_fork_while_another_thread_scans_leaves_the_child_usable(tree: Path) -> None:
    """The pool registry and digest-cache locks are held across fork(), so a child
    never inherits them locked by a thread that does not exist in it."""
    stop = threading.Event()

    def keep_scanning() -> None:
        while not stop.is_set():
            afbundle.scan(tree, threads=2, persistent_cache=False)

    scanner = threading.Thread(target=keep_scanning)
    scanner.start()
    try:
        results = [
            _in_forked_child(lambda: len(afbundle.scan(tree, persistent_cache=False).bundles))
            for _ in range(5)
        ]
    finally:
        stop.set()
        scanner.join(timeout=CHILD_DEADLINE)
    assert results == [(0, "12")] * 5


def test_seal_and_hashing_work_in_a_forked_child(tree: Path) -> None:
    afbundle.read_bundle(tree / "d0" / "b0")

    def work() -> str:
        with afbundle.seal(tree / "d0" / "b0") as sealed:
            return str(sealed.bundle.verified and afbundle.read_bundle(tree / "d1" / "b1").verified)

    assert _in_forked_child(work) == (0, "True")


def test_thread_counts_are_bounded(tree: Path) -> None:
    for bad in (0, -1, 257, 2**62):
        with pytest.raises((ValueError, OverflowError)):
            afbundle.scan(tree, threads=bad, persistent_cache=False)
    for n in range(1, 41):
        afbundle.scan(tree, threads=n, verify=False, persistent_cache=False)
    # At most two pools are kept (40 + 39 threads), never one per value asked for.
    # Threads of an evicted pool exit on their own shortly after: wait for that,
    # bounded (no timing is asserted, only the end state).
    deadline = threading.Event()
    for _ in range(100):
        if _afbundle_threads() <= 40 + 39:
            break
        deadline.wait(0.1)
    assert _afbundle_threads() <= 40 + 39


def _afbundle_threads() -> int:
    return sum(name.startswith("afbundle-") for name in _thread_names())


def _thread_names() -> list[str]:
    names = []
    for tid in os.listdir("/proc/self/task"):
        try:
            names.append(Path(f"/proc/self/task/{tid}/comm").read_text().strip())
        except OSError:
            continue
    return names


# --- Exceptions and records survive pickle, copy and multiprocessing ------------------------


def _not_found(tree: Path) -> afbundle.BundleNotFoundError:
    (tree / "bad").mkdir()
    bundle = write_bundle(tree / "bad" / "b", binary=b"ok", dag_ids=["wanted"])
    data = bytearray(bundle.read_bytes())
    data[0] ^= 0xFF
    bundle.write_bytes(bytes(data))
    with pytest.raises(afbundle.BundleNotFoundError) as raised:
        afbundle.find(tree, "wanted", persistent_cache=False)
    return raised.value


def _same_exception(a: BaseException, b: BaseException) -> None:
    assert type(a) is type(b)
    assert str(a) == str(b)
    assert a.args == b.args
    assert vars(a) == vars(b)


def _every_exception(tree: Path) -> list[BaseException]:
    return [
        _not_found(tree),
        afbundle.BundleError("message", "/p", "reason"),
        afbundle.NotABundleError("m", "/p", "r"),
        afbundle.BundleFormatError("m", "/p", "r"),
        afbundle.UnsupportedFooterVersionError("m", "/p", "r"),
        afbundle.BundleIntegrityError("m", "/p", "r"),
        afbundle.ManifestError("m", "/p", "r"),
    ]


@pytest.mark.parametrize(
    "roundtrip",
    [lambda e: pickle.loads(pickle.dumps(e)), copy.copy, copy.deepcopy],
    ids=["pickle", "copy", "deepcopy"],
)
def test_every_exception_survives_pickle_and_copy(tree: Path, roundtrip: Any) -> None:
    for exc in _every_exception(tree):
        _same_exception(exc, roundtrip(exc))


def test_not_found_keeps_its_data_and_stays_a_file_not_found_error(tree: Path) -> None:
    exc = _not_found(tree)
    back = pickle.loads(pickle.dumps(exc))
    assert isinstance(back, FileNotFoundError)
    assert back.dag_id == "wanted"
    assert back.roots == (tree,)
    [rejection] = back.rejected
    assert rejection.kind == "integrity"
    assert rejection == exc.rejected[0]
    assert back.stats == exc.stats


def _raise_not_found(root: str) -> None:
    afbundle.find(root, "no_such_dag", persistent_cache=False)


def test_an_exception_crosses_a_multiprocessing_pool_as_the_local_executor_sends_it(
    tree: Path,
) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        pending = pool.apply_async(_raise_not_found, (str(tree),))
        with pytest.raises(afbundle.BundleNotFoundError) as raised:
            pending.get(timeout=CHILD_DEADLINE)
    assert raised.value.dag_id == "no_such_dag"
    assert "no_such_dag" in str(raised.value)


def test_the_core_records_pickle(tree: Path) -> None:
    report = afbundle.scan(tree, persistent_cache=False)
    for record in (report.stats, *report.rejected, *report.skipped):
        assert pickle.loads(pickle.dumps(record)) == record


def test_a_rejection_and_a_decision_pickle_with_what_they_carry(tmp_path: Path) -> None:
    from afbundle import _core

    write_bundle(tmp_path / "a", binary=b"one", dag_ids=["d", "e"])
    write_bundle(tmp_path / "b", binary=b"two", dag_ids=["d"])
    tampered = write_bundle(tmp_path / "c", binary=b"three", dag_ids=["d", "f"])
    data = bytearray(tampered.read_bytes())
    data[0] ^= 0xFF
    tampered.write_bytes(bytes(data))
    raw = _core.scan_roots([tmp_path])
    [rejection] = raw.rejected
    [decision] = [d for d in raw.decisions if d.dag_id == "d"]
    assert (decision.winner, decision.resolved_schema_version) == (0, "2026-06-16")
    assert [(i, r.kind, r.dag_ids) for i, r in decision.losers] == [(1, "shadowed", ("d",))]
    for record in (rejection, decision):
        back = pickle.loads(pickle.dumps(record))
        assert back == record and repr(back) == repr(record)
    back = pickle.loads(pickle.dumps(rejection))
    assert (back.dag_ids, back.context["stage"]) == (("d", "f"), "hash")
    with pytest.raises(AttributeError):
        decision.winner = 1  # type: ignore[misc]
