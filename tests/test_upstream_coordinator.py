"""Airflow's own coordinator tests, unmodified, pass against afbundle's coordinator.

The test file is upstream's (apache-airflow-task-sdk 1.3.2,
``tests/task_sdk/coordinators/executable/test_coordinator.py``), so it is not
in this repository: it is read at test time from the sdist the package index
serves for that release, downloaded once with pip into ``target/upstream/``
and checked against the SHA-256 pinned here. pytest runs it in a child process
with ``_upstream_shim.py`` standing in for the module it imports (see there).

Every test must pass, except the 7 of upstream's private in-process LRU class
(``TestBinaryDigestCache``), which afbundle does not have: its digest caches
are in the compiled core. Among them, upstream's log assertions: a refused
bundle is logged with upstream's event and exactly upstream's keywords.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

pytest.importorskip("airflow.sdk.coordinators.executable", reason="needs apache-airflow-task-sdk")
pytest.importorskip("uuid6", reason="upstream's tests need uuid6 (an Airflow dependency)")

pytestmark = pytest.mark.airflow

TESTS = Path(__file__).resolve().parent
CACHE = TESTS.parent / "target" / "upstream"

RELEASE = "apache-airflow-task-sdk==1.3.2"
SDIST = "apache_airflow_task_sdk-1.3.2.tar.gz"
SDIST_SHA256 = "d9a1c7785684a215df3927b028a44b2b6927dacebd54c0d281b5906febc3efef"
MEMBER = "apache_airflow_task_sdk-1.3.2/tests/task_sdk/coordinators/executable/test_coordinator.py"

#: Upstream's private in-process LRU (``_BinaryDigestCache``): no afbundle counterpart.
PRIVATE_LRU_TESTS = (
    "test_get_returns_none_for_missing_key",
    "test_put_then_get_returns_stored_digest",
    "test_put_updates_existing_key",
    "test_eviction_drops_oldest_when_over_maxsize",
    "test_get_promotes_entry_so_it_is_not_evicted_next",
    "test_put_promotes_existing_entry",
    "test_clear_drops_all_entries",
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def upstream_test_file() -> bytes:
    """Upstream's test file, from the pinned sdist (downloaded on first use)."""
    sdist = CACHE / SDIST
    if not sdist.exists() or _sha256(sdist) != SDIST_SHA256:
        CACHE.mkdir(parents=True, exist_ok=True)
        requirements = CACHE / "requirements.txt"
        requirements.write_text(f"{RELEASE} --hash=sha256:{SDIST_SHA256}\n")
        download = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", "--require-hashes", "-r", str(requirements),
             "-d", str(CACHE)],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert download.returncode == 0, f"cannot download {SDIST}:\n{download.stderr}"
    assert _sha256(sdist) == SDIST_SHA256
    with tarfile.open(sdist) as tar:
        member = tar.extractfile(MEMBER)
        assert member is not None, f"{SDIST} has no {MEMBER}"
        return member.read()


def test_airflows_coordinator_tests_pass_against_afbundle(tmp_path: Path) -> None:
    test_file = tmp_path / "test_coordinator.py"
    test_file.write_bytes(upstream_test_file())
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # not this project's configuration
    report = tmp_path / "report.xml"
    deselect = [f"--deselect=test_coordinator.py::TestBinaryDigestCache::{name}"
                for name in PRIVATE_LRU_TESTS]  # fmt: skip
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "_upstream_shim",
         "-c", str(tmp_path / "pytest.ini"), f"--junitxml={report}", *deselect, test_file.name],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    cases = ElementTree.parse(report).getroot().iter("testcase")
    outcomes = {
        case.get("name"): [child.tag for child in case if child.tag != "system-out"]
        for case in cases
    }
    assert all(outcome == [] for outcome in outcomes.values()), outcomes  # no failure, no skip
    assert len(outcomes) == 24 and not set(PRIVATE_LRU_TESTS) & set(outcomes)
    assert "7 deselected" in run.stdout
