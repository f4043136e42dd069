"""Same operation, same tree, same run: upstream's reader vs afbundle.

Upstream is `airflow.sdk.coordinators.executable.coordinator._Bundle.find` from
apache-airflow-task-sdk. "cold" clears each implementation's in-process digest
cache before every round (what a fresh worker process sees); the OS page cache
is warm for both. Ratios are computed by benches/report.py.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

import afbundle
from afbundle import _core

upstream = pytest.importorskip(
    "airflow.sdk.coordinators.executable.coordinator", reason="needs apache-airflow-task-sdk"
)
from airflow.sdk.execution_time.schema import get_schema_version_migrator  # noqa: E402

# Neither side should pay for printing debug lines.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
logging.getLogger("afbundle").setLevel(logging.ERROR)

TARGET = "target_dag"
MISSING = "no_such_dag"
ROUNDS = int(os.environ.get("AFBUNDLE_BENCH_ROUNDS", "5"))
resolve = get_schema_version_migrator().resolve_version


def upstream_find(root: Path, dag_id: str) -> object:
    try:
        return upstream._Bundle.find([root], dag_id)
    except FileNotFoundError:
        return None


def afbundle_find(root: Path, dag_id: str) -> object:
    try:
        # In-process comparison: the persistent cache is the fresh-process case's.
        return afbundle.find([root], dag_id, resolve_schema_version=resolve, persistent_cache=False)
    except FileNotFoundError:
        return None


FIND = {"upstream": upstream_find, "afbundle": afbundle_find}
CLEAR = {"upstream": upstream._digest_cache.clear, "afbundle": _core.clear_digest_cache}


def _run(benchmark, fn, *, setup=None, rounds=ROUNDS):
    return benchmark.pedantic(fn, setup=setup, rounds=rounds, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["upstream", "afbundle"])
@pytest.mark.parametrize("dag_id", [TARGET, MISSING], ids=["target", "missing"])
@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_find(benchmark, tree, impl, dag_id, cache):
    name, root = tree
    benchmark.group = f"{name} find({'target' if dag_id == TARGET else 'missing'}) {cache}"
    find = FIND[impl]
    setup = CLEAR[impl] if cache == "cold" else None
    found = _run(benchmark, lambda: find(root, dag_id), setup=setup)
    assert (found is not None) == (dag_id == TARGET)


@pytest.mark.parametrize("impl", ["upstream", "afbundle-t1", "afbundle-t2", "afbundle-t8"])
def test_verify_all(benchmark, tree, impl):
    """Hash every bundle. Upstream has no scan; find(missing dag) hashes everything."""
    name, root = tree
    benchmark.group = f"{name} verify every bundle, cold"
    if impl == "upstream":
        _run(benchmark, lambda: upstream_find(root, MISSING), setup=CLEAR["upstream"], rounds=3)
    else:
        threads = int(impl.rsplit("t", 1)[1])
        report = _run(
            benchmark,
            lambda: afbundle.scan([root], verify=True, threads=threads, persistent_cache=False),
            setup=CLEAR["afbundle"],
            rounds=3,
        )
        assert not report.rejected


def test_verify_all_reference_openssl(benchmark, tree):
    """Physical reference: `openssl dgst -sha256` over every bundle, one process per core."""
    name, root = tree
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed")
    benchmark.group = f"{name} verify every bundle, cold"
    bundles = [str(b.path) for b in afbundle.scan([root], verify=False).bundles]
    cores = str(os.cpu_count() or 1)

    def run() -> None:
        subprocess.run(
            ["xargs", "-0", "-P", cores, "-n", "8", "openssl", "dgst", "-sha256"],
            input="\0".join(bundles).encode(),
            stdout=subprocess.DEVNULL,
            check=True,
        )

    _run(benchmark, run, rounds=3)


@pytest.mark.parametrize("impl", ["afbundle", "reference-find"])
def test_walk(benchmark, tree, impl):
    """Walk and classify every file (afbundle also reads every candidate's trailer)."""
    name, root = tree
    benchmark.group = f"{name} walk"
    if impl == "afbundle":
        _run(benchmark, lambda: afbundle.scan([root], verify=False, persistent_cache=False))
    else:
        cmd = ["find", str(root), "-type", "f", "-perm", "-u+x"]
        _run(benchmark, lambda: subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True))


WORKER = {
    "upstream": (
        "import pathlib, sys, time\n"
        "from airflow.sdk.coordinators.executable.coordinator import _Bundle\n"
        "t = time.perf_counter()\n"
        "_Bundle.find([pathlib.Path(sys.argv[1])], sys.argv[2])\n"
        "print(time.perf_counter() - t)\n"
    ),
    "afbundle": (
        "import sys, time, afbundle\n"
        "from airflow.sdk.execution_time.schema import get_schema_version_migrator as m\n"
        "resolve = m().resolve_version\n"
        "t = time.perf_counter()\n"
        "afbundle.find([sys.argv[1]], sys.argv[2], resolve_schema_version=resolve,\n"
        "              cache_dir=sys.argv[3])\n"
        "print(time.perf_counter() - t)\n"
    ),
}


@pytest.mark.parametrize("impl", ["upstream", "afbundle"])
def test_worker_process(benchmark, tree, impl, tmp_path_factory):
    """What a worker pays per task: a fresh interpreter, the imports, one find.

    afbundle's persistent digest cache is warm after the warm-up round, as on a
    worker that already ran a task; upstream has no cross-process cache. The
    time of the find call alone, measured inside each process, goes to
    ``extra_info["find_seconds"]``.
    """
    name, root = tree
    benchmark.group = f"{name} fresh process: import + find(target)"
    cache = tmp_path_factory.mktemp("digest-cache")
    cmd = [sys.executable, "-c", WORKER[impl], str(root), TARGET, str(cache)]
    inside: list[float] = []

    def run() -> None:
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        inside.append(float(out.stdout.split()[-1]))

    _run(benchmark, run, rounds=3)
    measured = inside[1:]  # the first call was the warm-up round
    benchmark.extra_info["find_seconds"] = sum(measured) / len(measured)


@pytest.mark.parametrize("impl", ["afbundle", "afbundle+sealed-copy"])
def test_verified_exec_cost(benchmark, tree, impl):
    """What verified exec adds to a cold find: copying the winner into a sealed
    memfd and hashing that copy (afbundle.seal)."""
    name, root = tree
    benchmark.group = f"{name} find(target) cold, path vs sealed copy"

    def run() -> None:
        bundle = afbundle_find(root, TARGET)
        if impl.endswith("sealed-copy"):
            afbundle.seal(bundle.path).close()

    _run(benchmark, run, setup=CLEAR["afbundle"])


FLOOR_WORKER = (
    "import sys, time, afbundle\n"
    "t = time.perf_counter()\n"
    "afbundle.find([sys.argv[1]], sys.argv[2], cache_dir=sys.argv[3])\n"
    "print(time.perf_counter() - t)\n"
)


@pytest.mark.parametrize("impl", ["afbundle", "floor"])
def test_floor(benchmark, tree, impl, tmp_path_factory):
    """The physical floor of find(target), each side a fresh process, cold caches.

    Floor: a serial ``find -type f -perm -u+x`` of the tree, plus (BIG) OpenSSL's
    SHA-256 of the one bundle found: the walk and the hash any reader must do.
    afbundle: the first ``find`` call in a fresh interpreter (after its
    imports, measured inside the process) with an empty persistent cache.
    """
    name, root = tree
    benchmark.group = f"{name} floor: find(target), fresh process, cold cache"
    walk = ["find", str(root), "-type", "f", "-perm", "-u+x"]
    target = next(root.rglob("zzzz-target"))
    if impl == "floor":

        def run() -> None:
            subprocess.run(walk, stdout=subprocess.DEVNULL, check=True)
            if name == "BIG":
                subprocess.run(
                    ["openssl", "dgst", "-sha256", str(target)],
                    stdout=subprocess.DEVNULL,
                    check=True,
                )

        if name == "BIG" and shutil.which("openssl") is None:
            pytest.skip("openssl not installed")
        _run(benchmark, run)
        return
    inside: list[float] = []

    def run_afbundle() -> None:
        cache = tmp_path_factory.mktemp("cold-cache")
        cmd = [sys.executable, "-c", FLOOR_WORKER, str(root), TARGET, str(cache)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        inside.append(float(out.stdout.split()[-1]))

    _run(benchmark, run_afbundle)
    measured = inside[1:]  # the first call was the warm-up round
    benchmark.extra_info["find_seconds"] = sum(measured) / len(measured)
