"""find() on a network file system: upstream vs afbundle behind per-operation latency.

The benchmark builds ``latencyfs`` (benches/latencyfs.c, a FUSE passthrough
that sleeps AFBUNDLE_NFS_DELAY_US before every operation, 1 ms by default,
with the kernel's attribute, entry and page caches off), mounts the NFS tree
(200 bundles of 64 KiB + 3,800 other files in 40 directories) through it, and
times upstream's ``_Bundle.find`` and ``afbundle.find`` on the mount in the
same run. Each call's FUSE operations (round trips) and the threads that had
them in flight go to ``extra_info``; benches/report.py derives the
latency-hiding efficiency, (round trips x latency / threads) / time.

Needs /dev/fuse, ``fusermount3``, a C compiler and libfuse3's headers
(Debian: ``apt-get install fuse3 libfuse3-dev``); skipped with the reason
otherwise. Everything mounted or started is unmounted and stopped when the
session ends, whether the benchmarks passed or not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BENCH_DIR
from test_bench import CLEAR, MISSING, TARGET, upstream_find

import afbundle
from afbundle import _core

from treegen import NFS, generate

HERE = Path(__file__).resolve().parent
DELAY_US = int(os.environ.get("AFBUNDLE_NFS_DELAY_US", "1000"))
ROUNDS = int(os.environ.get("AFBUNDLE_NFS_ROUNDS", "3"))
#: latencyfs's operations, in the order of its counters file.
OPS = (
    "getattr",
    "access",
    "readlink",
    "open",
    "read",
    "flush",
    "release",
    "opendir",
    "readdir",
    "releasedir",
    "statfs",
)


class LatencyFs:
    """A mounted latencyfs: its mount point and its operation counters."""

    def __init__(self, mountpoint: Path, counters: Path) -> None:
        self.mountpoint = mountpoint
        self._counters = counters

    def ops(self) -> dict[str, int]:
        raw = self._counters.read_bytes()[: 8 * len(OPS)]
        return dict(zip(OPS, struct.unpack(f"{len(OPS)}Q", raw), strict=True))

    def round_trips(self) -> int:
        return sum(self.ops().values())


def _why_fuse_cannot_run() -> str | None:
    if not os.path.exists("/dev/fuse"):
        return "/dev/fuse does not exist (no FUSE in this kernel or container)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not readable and writable by this user"
    for tool in ("fusermount3", "pkg-config", "cc"):
        if shutil.which(tool) is None:
            return f"{tool} not found (Debian: apt-get install fuse3 libfuse3-dev gcc pkg-config)"
    probe = subprocess.run(["pkg-config", "--exists", "fuse3"], check=False)
    if probe.returncode != 0:
        return "libfuse3 headers not found (Debian: apt-get install libfuse3-dev)"
    return None


def _unmount(mountpoint: Path) -> None:
    for args in (["-u"], ["-uz"]):
        done = subprocess.run(
            ["fusermount3", *args, str(mountpoint)], capture_output=True, check=False
        )
        if done.returncode == 0 or not os.path.ismount(mountpoint):
            return


@contextlib.contextmanager
def latencyfs(source: Path, delay_us: int) -> Iterator[LatencyFs]:
    """Build latencyfs, mount ``source`` through it, and always clean up."""
    with tempfile.TemporaryDirectory(prefix="afbundle-latencyfs-") as tmp:
        work = Path(tmp)
        binary = work / "latencyfs"
        flags = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "fuse3"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        subprocess.run(
            ["cc", "-O2", "-Wall", "-o", str(binary), str(HERE / "latencyfs.c"), *flags],
            check=True,
        )
        mountpoint = work / "mnt"
        mountpoint.mkdir()
        counters = work / "counters"
        log = (work / "latencyfs.log").open("w")
        # -f: stay in the foreground, so the process is ours to stop.
        # max_threads: enough daemon threads that the client's concurrency,
        # not the server's, limits the round trips in flight.
        args = [str(binary), str(source), str(delay_us), str(counters), str(mountpoint)]
        proc = subprocess.Popen(
            [*args, "-f", "-o", "ro,fsname=latencyfs,max_threads=512,max_idle_threads=512"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 20
            while not os.path.ismount(mountpoint):
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    detail = (work / "latencyfs.log").read_text().strip()
                    raise RuntimeError(f"latencyfs did not mount {mountpoint}: {detail}")
                time.sleep(0.05)
            yield LatencyFs(mountpoint, counters)
        finally:
            _unmount(mountpoint)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()


@pytest.fixture(scope="module")
def nfs() -> Iterator[LatencyFs]:
    reason = _why_fuse_cannot_run()
    if reason:
        pytest.skip(f"cannot mount a FUSE file system: {reason}")
    source = generate(BENCH_DIR / "NFS", NFS)
    with latencyfs(source, DELAY_US) as fs:
        yield fs


def afbundle_find(root: Path, dag_id: str, threads: int | None) -> object:
    try:
        return afbundle.find([root], dag_id, threads=threads, persistent_cache=False)
    except FileNotFoundError:
        return None


#: (implementation, threads: None = afbundle's default for the mount, rounds)
IMPLS = {
    "upstream": (None, 1),
    "afbundle": (None, ROUNDS),
    "afbundle-t2": (2, 1),
}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("dag_id", [TARGET, MISSING], ids=["target", "missing"])
def test_nfs_find(benchmark, nfs: LatencyFs, impl: str, dag_id: str) -> None:
    which = "target" if dag_id == TARGET else "missing"
    benchmark.group = f"NFS find({which}), {DELAY_US} us per round trip"
    threads, rounds = IMPLS[impl]
    root = nfs.mountpoint
    if impl == "upstream":
        concurrency = 1

        def find() -> object:
            return upstream_find(root, dag_id)

        clear = CLEAR["upstream"]
    else:
        concurrency = _core.threads_for([root], threads)

        def find() -> object:
            return afbundle_find(root, dag_id, threads)

        clear = CLEAR["afbundle"]
    trips: list[int] = []
    ops: dict[str, int] = {}

    def run() -> object:
        before = nfs.ops()
        found = find()
        after = nfs.ops()
        ops.clear()
        ops.update({op: after[op] - before[op] for op in OPS if after[op] != before[op]})
        trips.append(sum(ops.values()))
        return found

    # afbundle warms up once (its pool's threads start); upstream is too slow
    # to run twice and has nothing to warm.
    warmup = 1 if rounds > 1 else 0
    found = benchmark.pedantic(run, setup=clear, rounds=rounds, iterations=1, warmup_rounds=warmup)
    assert (found is not None) == (dag_id == TARGET)
    benchmark.extra_info.update(
        round_trips=trips[-1],
        threads=concurrency,
        delay_us=DELAY_US,
        ops=ops,
    )
