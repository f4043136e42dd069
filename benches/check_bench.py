"""`afbundle check` on 1,000 bundles and 300 stub DAGs, against one `afbundle scan`.

    python benches/check_bench.py [--tree DIR] [--rounds N]

The tree is benches/treegen.py's MANY tree (1,000 bundles of 200 KiB among
19,000 other files); 300 DAG files declare stub tasks for 300 of its dag_ids.
Airflow's own DAG parsing (DagBag) is timed once in this process and reported
apart; the check is timed on the parsed DagBag (``check_dags(dagbag=...)``),
cold in-process digest cache and no persistent cache each round, like the scan
it is compared with. Target: check within 2x of one scan of the same root.

``check_dags(dags)`` parses the DAG files in a child process (isolation from
the code they run): its ``load_dags`` time (start, Airflow's import, parsing,
the answer) is compared with Airflow's import and parsing in this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import treegen

DAGS = 300
DAG_FILE = """\
from airflow.sdk import dag, task


@dag(schedule=None)
def {dag}():
    @task.stub(queue="native")
    def extract(): ...

    @task.stub(queue="native")
    def load(): ...

    extract() >> load()


{dag}()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", type=Path, default=Path(tempfile.gettempdir()) / "afbundle-many")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    root = treegen.generate(args.tree, treegen.MANY)
    work = Path(tempfile.mkdtemp(prefix="afbundle-check-bench-"))
    dags = work / "dags"
    dags.mkdir()
    for i in range(DAGS):
        (dags / f"dag_{i:05d}.py").write_text(DAG_FILE.format(dag=f"dag_{i:05d}"))
    os.environ["AIRFLOW_HOME"] = str(work / "airflow-home")

    import afbundle
    from afbundle import _core

    started = time.perf_counter()
    from airflow.dag_processing.dagbag import BundleDagBag

    import_seconds = time.perf_counter() - started
    sys.dont_write_bytecode = True
    started = time.perf_counter()
    bag = BundleDagBag(dag_folder=str(dags), bundle_path=dags)
    parse_seconds = time.perf_counter() - started

    loads = []
    for _ in range(args.rounds):
        report = afbundle.check_dags(dags, queues=["native"], roots=[root], persistent_cache=False)
        loads.append(report.timings["load_dags"])

    scans, checks = [], []
    for _ in range(args.rounds):
        _core.clear_digest_cache()
        started = time.perf_counter()
        afbundle.scan([root], persistent_cache=False)
        scans.append(time.perf_counter() - started)
        _core.clear_digest_cache()
        report = afbundle.check_dags(
            dagbag=bag, queues=["native"], roots=[root], persistent_cache=False
        )
        checks.append(report.timings["check"])
    errors = len(report.errors)
    scan, check = statistics.median(scans), statistics.median(checks)
    load, in_process = statistics.median(loads), import_seconds + parse_seconds
    print(f"tree: {root} (1,000 bundles, 19,000 other files); {DAGS} stub DAG files")
    print(f"airflow import:           {import_seconds * 1000:8.0f} ms (once)")
    print(f"airflow DagBag parse:     {parse_seconds * 1000:8.0f} ms (once, {len(bag.dags)} DAGs)")
    print(f"loaded in a child:        {load * 1000:8.0f} ms (median of {args.rounds}; "
          f"{(load - in_process) * 1000:+.0f} ms vs import + parse here)")  # fmt: skip
    print(f"afbundle scan, cold:      {scan * 1000:8.0f} ms (median of {args.rounds})")
    print(f"afbundle check, cold:     {check * 1000:8.0f} ms (median of {args.rounds})")
    print(f"check / scan:             {check / scan:8.2f}x (target <= 2x)")
    print(f"findings: {errors} errors, {len(report.warnings)} warnings (700 orphan-dag expected)")


if __name__ == "__main__":
    main()
