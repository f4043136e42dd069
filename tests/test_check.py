"""``afbundle check`` and ``afbundle.check_dags``: real DAG files, Airflow's own DagBag and config.

Every run is a real ``afbundle check`` process (or a small Python process for
the API) with its own ``AIRFLOW_HOME``: Airflow reads ``airflow.cfg`` once per
process, and its logging setup must not leak into the rest of the suite.
Bundles are packed with afbundle's own ``pack`` from a program that would
leave a marker file if it were ever run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import afbundle
from afbundle.check import CODES

from _writer import bundle_bytes, raw_yaml_manifest, write_file

pytest.importorskip("airflow.dag_processing.dagbag", reason="needs apache-airflow-core")
pytest.importorskip("airflow.providers.standard", reason="needs the standard provider")

pytestmark = pytest.mark.airflow

SCHEMA = "2026-06-16"
AFBUNDLE = "afbundle.ExecutableCoordinator"
AIRFLOW_EXECUTABLE = "airflow.sdk.coordinators.executable.ExecutableCoordinator"


def check_schema() -> Draft202012Validator:
    text = resources.files("afbundle").joinpath("schema/check-output.schema.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@dataclass
class Site:
    """A machine to check: DAG files, bundle roots, an AIRFLOW_HOME, and routing."""

    base: Path

    def __post_init__(self) -> None:
        self.dags = self.base / "dags"
        self.home = self.base / "airflow-home"
        self.cache = self.base / "xdg-cache"
        self.marker = self.base / "a-bundle-ran"
        for d in (self.dags, self.home, self.cache):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.cache, 0o700)
        self.program = self.base / "build" / "program"
        self.program.parent.mkdir(exist_ok=True)
        self.program.write_text(f"#!/bin/sh\ntouch {self.marker}\n")
        self.program.chmod(0o755)
        self.env: dict[str, str] = {}

    def dag(self, name: str, body: str) -> Path:
        path = self.dags / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        return path

    def bundle(
        self, path: Path, dags: dict[str, list[str]], *, schema: str = SCHEMA
    ) -> afbundle.Bundle:
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = {
            "airflow_bundle_metadata_version": "1.0",
            "sdk": {"language": "go", "version": "0.1.0", "supervisor_schema_version": schema},
            "source": "main.go",
            "dags": {d: {"tasks": tasks} for d, tasks in dags.items()},
        }
        return afbundle.pack(self.program, path, manifest=manifest, source=b"package main\n")

    def route(self, coordinators: dict[str, Any], queues: dict[str, str]) -> None:
        """Routing through the environment, the way a worker's AIRFLOW__SDK__* set it."""
        self.env["AIRFLOW__SDK__COORDINATORS"] = json.dumps(coordinators)
        self.env["AIRFLOW__SDK__QUEUE_TO_COORDINATOR"] = json.dumps(queues)

    def environ(self) -> dict[str, str]:
        # Without PYTHONDONTWRITEBYTECODE (set on some CI machines): the check itself
        # must keep Python from writing __pycache__ beside DAG files and modules.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AIRFLOW") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env.update(
            AIRFLOW_HOME=str(self.home),
            XDG_CACHE_HOME=str(self.cache),
            AIRFLOW__CORE__LOAD_EXAMPLES="False",
        )
        env.update(self.env)
        return env

    def check(
        self,
        *args: Any,
        dags: bool = True,
        cwd: Path | None = None,
        dag_tracebacks: bool = False,
        timeout: float = 180,
        stdin: bytes = b"",
    ) -> Run:
        """``afbundle check`` in a fresh process; a traceback on stderr fails the test, except,
        with ``dag_tracebacks``, those Airflow logs for a DAG file that fails to import.
        ``timeout`` is a hang guard; ``stdin`` what the command is given to read."""
        argv = [sys.executable, "-m", "afbundle", "check", *map(str, args)]
        if dags:
            argv += ["--dags", str(self.dags)]
        proc = subprocess.run(
            argv, capture_output=True, env=self.environ(), timeout=timeout, cwd=cwd, input=stdin
        )
        run = Run(proc.returncode, proc.stdout.decode(), proc.stderr.decode())
        lines = run.err.splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):  # only right after a DagBag error log line
                assert dag_tracebacks and i and "airflow.dag_processing" in lines[i - 1], run.err
        return run

    def api(self, code: str) -> Any:
        """Run ``code`` (which sets ``result`` to something JSON-able) in a fresh process."""
        script = "import json, sys\nimport afbundle\n" + textwrap.dedent(code)
        script += "\nsys.stdout.write('\\nRESULT ' + json.dumps(result))\n"
        proc = subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            env=self.environ(),
            cwd=self.base,
            timeout=180,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.rsplit("RESULT ", 1)[1])


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        document = json.loads(self.out)
        check_schema().validate(document)
        return document


def codes(document: Any) -> list[tuple[str, str | None, str | None]]:
    return [(f["code"], f["dag_id"], f["task_id"]) for f in document["findings"]]


GOOD_DAG = """\
    from airflow.sdk import dag, task, task_group

    @dag(schedule=None)
    def good_dag():
        @task.stub(queue="native")
        def extract(): ...

        @task_group
        def grp():
            @task.stub(queue="native")
            def load(): ...

            load()

        @task.stub(queue="native")
        def fan_out(x): ...

        @task
        def items():
            return [1, 2]

        extract() >> grp()
        fan_out.expand(x=items())

    good_dag()
"""
GOOD_TASKS = ["extract", "grp.load", "fan_out"]


def stub_dag(dag_id: str, *stubs: str, queue: str | None = "native") -> str:
    """A DAG file with one stub task per name, all on ``queue`` (``None``: no queue=)."""
    q = "" if queue is None else f"(queue={queue!r})"
    tasks = "\n".join(f"    @task.stub{q}\n    def {s}(): ...\n    {s}()\n" for s in stubs)
    head = f"from airflow.sdk import dag, task\n\n@dag(schedule=None)\ndef {dag_id}():\n"
    return f"{head}{tasks}\n{dag_id}()\n"


def native_entry(*roots: Path, classpath: str = AFBUNDLE) -> dict[str, Any]:
    return {"classpath": classpath, "kwargs": {"executables_root": [str(r) for r in roots]}}


@pytest.fixture
def clean_site(tmp_path: Path) -> Site:
    """One DAG (plain, grouped and mapped stubs, a Python task), its bundle, env routing."""
    site = Site(tmp_path)
    site.dag("good", GOOD_DAG)
    site.bundle(tmp_path / "bundles" / "good", {"good_dag": GOOD_TASKS})
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    return site


# --------------------------------------------------------------------------- clean


def test_a_clean_setup_has_no_findings_and_exits_0(clean_site: Site) -> None:
    run = clean_site.check("--json")
    assert run.code == 0, run.err
    document = run.json()
    assert document["findings"] == [] and document["ok"]
    stubs = {(t["task_id"], t["queue"], t["mapped"]) for t in document["checked"]["stub_tasks"]}
    assert stubs == {("extract", "native", False), ("grp.load", "native", False),
                     ("fan_out", "native", True)}  # fmt: skip
    assert document["checked"]["coordinators"][0]["name"] == "native"
    statuses = {(d["status"], d["stub_tasks"], tuple(d["not_checked"]))
                for d in document["checked"]["dags"]}  # fmt: skip
    assert statuses == {("ok", 3, ())}
    assert not clean_site.marker.exists(), "a bundle was executed"


def test_the_table_says_ok_for_a_clean_dag(clean_site: Site) -> None:
    run = clean_site.check()
    assert run.code == 0, run.err
    assert "ok  good_dag (3 stub tasks)" in run.out
    assert "0 errors, 0 warnings" in run.out


def test_routing_from_airflow_cfg(clean_site: Site) -> None:
    clean_site.env.clear()
    entry = json.dumps({"cfg-native": native_entry(clean_site.base / "bundles")})
    (clean_site.home / "airflow.cfg").write_text(
        f'[sdk]\ncoordinators = {entry}\nqueue_to_coordinator = {{"native": "cfg-native"}}\n'
    )
    document = clean_site.check("--json").json()
    assert document["findings"] == []
    assert [c["name"] for c in document["checked"]["coordinators"]] == ["cfg-native"]


def test_without_routing_every_stub_is_unrouted(clean_site: Site) -> None:
    clean_site.env.clear()
    run = clean_site.check("--json")
    assert run.code == 1
    assert {c for c, _, _ in codes(run.json())} == {"unrouted-stub"}


def test_queue_and_root_options_stand_in_for_worker_config(clean_site: Site) -> None:
    clean_site.env.clear()
    run = clean_site.check("--queue", "native", "--root", clean_site.base / "bundles", "--json")
    assert run.code == 0, run.err
    assert run.json()["checked"]["coordinators"][0]["name"] == "(command line)"


def test_root_option_replaces_configured_roots(clean_site: Site) -> None:
    empty = clean_site.base / "empty"
    empty.mkdir()
    run = clean_site.check("--root", empty, "--json")
    assert [c for c, _, _ in codes(run.json())] == ["missing-bundle"]


def test_the_default_dags_folder_is_airflows(clean_site: Site) -> None:
    clean_site.env["AIRFLOW__CORE__DAGS_FOLDER"] = str(clean_site.dags)
    run = clean_site.check("--json", dags=False)
    assert run.code == 0, run.err
    assert [d["dag_id"] for d in run.json()["checked"]["dags"]] == ["good_dag"]


# --------------------------------------------------------------------------- every mistake


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, Any, Run]:
    """One site with one minimal case per finding code, checked once."""
    base = tmp_path_factory.mktemp("mistakes")
    site = Site(base)
    roots = base / "bundles"
    site.dag("good", GOOD_DAG)
    site.bundle(roots / "good", {"good_dag": GOOD_TASKS})
    site.dag("no_bundle", stub_dag("no_bundle_dag", "a"))
    site.dag("renamed", stub_dag("renamed_dag", "a", "b"))
    site.bundle(roots / "renamed", {"renamed_dag": ["a", "c"]})
    site.dag("unrouted", stub_dag("unrouted_dag", "a", queue=None))
    site.dag("ghost", stub_dag("ghost_dag", "a", queue="ghost"))
    site.dag("old", stub_dag("old_schema_dag", "a"))
    site.bundle(roots / "old", {"old_schema_dag": ["a"]}, schema="1999-01-01")
    site.dag("shadow", stub_dag("shadow_dag", "a"))
    site.bundle(roots / "a-first", {"shadow_dag": ["a"]})
    site.bundle(roots / "b-second", {"shadow_dag": ["a"]})
    site.dag(
        "python_on_native",
        """\
        from airflow.sdk import dag, task

        @dag(schedule=None)
        def python_on_native():
            @task(queue="native")
            def compute():
                return 1

            compute()

        python_on_native()
        """,
    )
    site.dag("broken", "from airflow.sdk import dag\nimport no_such_module_for_a_dag\n")
    site.bundle(roots / "retired", {"retired_dag": ["a"]})
    # As a packer writing plain keys would: `1_000` is an integer to Airflow's YAML 1.1 reader.
    write_file(
        roots / "plain-keys",
        bundle_bytes(
            metadata=raw_yaml_manifest(
                "  1_000:\n    tasks: [a]\n", schema_version_yaml=f'"{SCHEMA}"'
            )
        ),
    )
    site.route(
        {"native": native_entry(roots), "java": {"classpath": "no.such.Coordinator"}},
        {"native": "native", "ghost": "nowhere", "legacy": "java"},
    )
    run = site.check("--json", dag_tracebacks=True)
    return site, run.json(), run


EXPECTED = [
    ("unknown-coordinator", None, None),  # queue "ghost" -> entry "nowhere" (undefined)
    ("unknown-coordinator", None, None),  # queue "legacy" -> a classpath that does not import
    ("import-error", None, None),
    ("missing-bundle", "no_bundle_dag", None),
    ("unsupported-schema", "old_schema_dag", None),
    ("not-a-stub", "python_on_native", "compute"),
    ("extra-task", "renamed_dag", "c"),
    ("missing-task", "renamed_dag", "b"),
    ("orphan-dag", "retired_dag", None),
    ("retyped-key", "1_000", None),
    ("shadowed", "shadow_dag", None),
    ("unrouted-stub", "unrouted_dag", "a"),
]


def test_every_finding_code_is_triggered_by_its_minimal_case(mistakes: Any) -> None:
    _, document, run = mistakes
    assert run.code == 1
    assert sorted(codes(document), key=str) == sorted(EXPECTED, key=str)
    assert {f["code"] for f in document["findings"]} == set(CODES)
    assert not any(f["dag_id"] == "good_dag" for f in document["findings"])
    status = {d["dag_id"]: d["status"] for d in document["checked"]["dags"]}
    named = {f["dag_id"] for f in document["findings"]}
    assert status["good_dag"] == "ok"
    assert all(status[d] == "findings" for d in named if d in status)


def test_findings_name_what_they_are_about(mistakes: Any) -> None:
    site, document, _ = mistakes
    by_code = {f["code"]: f for f in document["findings"]}
    roots = site.base / "bundles"
    assert by_code["missing-task"]["bundle"] == str(roots / "renamed")
    assert by_code["missing-task"]["queue"] == "native"
    assert by_code["missing-task"]["coordinator"] == "native"
    assert by_code["unsupported-schema"]["bundle"] == str(roots / "old")
    assert "1999-01-01" in by_code["unsupported-schema"]["message"]
    shadowed = by_code["shadowed"]
    assert shadowed["bundle"] == str(roots / "a-first")
    assert str(roots / "b-second") in shadowed["message"]
    assert "shadowed" in shadowed["message"]
    assert by_code["import-error"]["file"].endswith("broken.py")
    assert "no_such_module_for_a_dag" in by_code["import-error"]["message"]
    assert by_code["orphan-dag"]["bundle"] == str(roots / "retired")
    assert by_code["retyped-key"]["bundle"] == str(roots / "plain-keys")
    assert "dag key '1_000' reads as the integer 1000" in by_code["retyped-key"]["message"]
    assert "no bundle under" in by_code["missing-bundle"]["message"]
    unknown = {f["queue"]: f for f in document["findings"] if f["code"] == "unknown-coordinator"}
    assert unknown["ghost"]["coordinator"] == "nowhere"
    assert "does not import" in unknown["legacy"]["message"]
    assert all("\n" not in f["message"] for f in document["findings"])
    assert not site.marker.exists(), "a bundle was executed"


def test_the_table_groups_findings_by_dag(mistakes: Any) -> None:
    site, _, _ = mistakes
    run = site.check(dag_tracebacks=True)
    assert run.code == 1
    assert run.out.index("DAG renamed_dag") < run.out.index("DAG shadow_dag")
    section = run.out.split("DAG renamed_dag", 1)[1].split("\n\n", 1)[0]
    assert "missing-task" in section and "extra-task" in section
    assert "shadowed" not in section
    assert run.out.startswith("configuration\n")
    assert "ok  good_dag (3 stub tasks)" in run.out
    assert "\x1b" not in run.out  # not a terminal: no colour


def test_missing_bundle_says_why_each_candidate_was_rejected(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("tampered_dag", "a"))
    bundle = site.bundle(tmp_path / "bundles" / "t", {"tampered_dag": ["a"]})
    with open(bundle.path, "r+b") as f:
        f.seek(3)
        f.write(b"X")
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    finding = site.check("--json").json()["findings"][0]
    assert finding["code"] == "missing-bundle"
    assert "rejected" in finding["message"] and "integrity" in finding["message"]


# --------------------------------------------------------------------------- exit statuses


def test_warnings_alone_exit_0_and_1_with_strict(clean_site: Site) -> None:
    clean_site.bundle(clean_site.base / "bundles" / "retired", {"retired_dag": ["x"]})
    run = clean_site.check("--json")
    assert run.code == 0 and codes(run.json()) == [("orphan-dag", "retired_dag", None)]
    strict = clean_site.check("--json", "--strict")
    assert strict.code == 1 and strict.json()["ok"] is False


def test_invalid_airflow_config_exits_2(clean_site: Site) -> None:
    clean_site.env["AIRFLOW__SDK__COORDINATORS"] = "{not json"
    run = clean_site.check()
    assert run.code == 2
    assert "afbundle: error: invalid Airflow configuration" in run.err
    assert run.out == ""


def test_a_missing_dags_folder_exits_2(clean_site: Site) -> None:
    run = clean_site.check("--dags", clean_site.base / "nowhere", dags=False)
    assert run.code == 2
    assert "nowhere: no such DAG file or folder" in run.err


def test_queue_without_root_is_a_usage_error(clean_site: Site) -> None:
    run = clean_site.check("--queue", "native")
    assert run.code == 2 and "without roots" in run.err


def test_json_stdout_stays_clean_when_dag_files_print(clean_site: Site) -> None:
    clean_site.dag("noisy", "print('hello from a DAG file')\n" + stub_dag("noisy_dag", "x"))
    clean_site.bundle(clean_site.base / "bundles" / "noisy", {"noisy_dag": ["x"]})
    run = clean_site.check("--json")
    assert run.code == 0
    assert run.json()["findings"] == []
    assert "hello from a DAG file" in run.err


def test_control_characters_in_names_are_shown_escaped(clean_site: Site) -> None:
    clean_site.bundle(clean_site.base / "bundles" / "evil\x1b]0;owned\x07", {"retired": ["x"]})
    run = clean_site.check()
    assert "\x1b" not in run.out and "\x07" not in run.out
    assert "\\e]0;owned\\a" in run.out


# --------------------------------------------------------------------------- cost and side effects


def _tree(*roots: Path, skip: Iterable[Path] = ()) -> set[tuple[str, int, int]]:
    skipped = {str(p) for p in skip}
    out = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) not in skipped]
            for name in dirnames + filenames:
                st = os.lstat(os.path.join(dirpath, name))
                out.add((os.path.join(dirpath, name), st.st_size, st.st_mtime_ns))
    return out


def test_each_root_is_walked_once_and_each_bundle_hashed_once(tmp_path: Path) -> None:
    site = Site(tmp_path)
    first, second = tmp_path / "bundles", tmp_path / "more-bundles"
    for i in range(3):
        site.dag(f"d{i}", stub_dag(f"dag_{i}", "a", queue=f"q{i % 2}"))
        site.bundle(first / f"b{i}", {f"dag_{i}": ["a"]})
    (site.dags / "helper_module.py").write_text("VALUE = 1\n")
    site.dag("uses_helper", "import helper_module\n" + stub_dag("dag_helper", "a"))
    site.bundle(first / "helper", {"dag_helper": ["a"]})
    # Searched as [second, first] by entry "two": the bundle in `second` wins there.
    site.dag("shared", stub_dag("dag_shared", "a", queue="q2"))
    site.bundle(first / "shared", {"dag_shared": ["a"]})
    site.bundle(second / "shared", {"dag_shared": ["a"]})
    # Stubs on two entries with the same roots: one shadowed and one extra-task
    # warning, not one per entry.
    twice = stub_dag("dag_twice", "a", "b", queue="q0").replace(
        "(queue='q0')\n    def b", "(queue='q3')\n    def b"
    )
    assert twice.count("queue='q3'") == 1
    site.dag("twice", twice)
    site.bundle(first / "twice-1", {"dag_twice": ["a", "b", "extra"]})
    site.bundle(first / "twice-2", {"dag_twice": ["a", "b"]})
    site.route(
        {
            "one": native_entry(first),
            "two": native_entry(second, first, classpath=AIRFLOW_EXECUTABLE),
            "three": native_entry(first),
        },
        {"q0": "one", "q1": "two", "q2": "two", "q3": "three", "native": "one"},
    )  # fmt: skip
    logs = site.home / "logs"  # Airflow's own logging setup may create it
    before = _tree(site.dags, first, second, site.home, skip=[logs])
    result = site.api(
        f"""\
        calls = []
        real_scan = afbundle.scan
        def counting_scan(roots, **kw):
            calls.append([str(r) for r in roots])
            return real_scan(roots, **kw)
        afbundle.scan = counting_scan
        report = afbundle.check_dags({str(site.dags)!r})
        stats = [r.stats.as_dict() for r in report.scans.values()]
        bundles = {{b.path: b for r in report.scans.values() for b in r.bundles}}
        result = {{
            "calls": calls,
            "findings": [(f.code, f.dag_id, f.task_id, str(f.bundle)) for f in report.findings],
            "coordinator_imported": "afbundle.coordinator" in sys.modules,
            "hashed": sum(s["bytes_hashed"] for s in stats),
            "binary_bytes": sum(b.source_start for b in bundles.values()),
            "bundles_read": sum(s["bundles_read"] for s in stats),
        }}
        """
    )
    assert sorted(result["calls"]) == [[str(first)], [str(second)]]
    assert result["hashed"] == result["binary_bytes"] > 0  # every bundle hashed exactly once
    assert result["bundles_read"] == 8
    assert sorted(map(tuple, result["findings"])) == [
        ("extra-task", "dag_twice", "extra", str(first / "twice-1")),
        ("shadowed", "dag_shared", None, str(second / "shared")),
        ("shadowed", "dag_twice", None, str(first / "twice-1")),
    ]
    assert result["coordinator_imported"] is False
    after = _tree(site.dags, first, second, site.home, skip=[logs])
    assert after == before, "the check wrote beside the DAGs, the bundles or in AIRFLOW_HOME"
    assert not site.marker.exists()


def test_import_afbundle_imports_no_airflow() -> None:
    code = (
        "import sys, afbundle, afbundle.testing; afbundle.check_dags; "
        "print(any(m.startswith('airflow') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_example_dag_integrity_test_passes_and_fails(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parent.parent / "examples" / "dag-integrity"
    site = Site(tmp_path)

    def pytest_run(extra: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
        env = site.environ()
        env["AIRFLOW__CORE__DAGS_FOLDER"] = str(example / "dags")
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             str(example / "test_dag_integrity.py"), *extra],
            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path,
        )  # fmt: skip

    roots = tmp_path / "bundles"
    site.bundle(roots / "nightly", {"nightly_report": ["collect", "render"]})
    site.route({"native": native_entry(roots)}, {"native": "native"})
    passed = pytest_run()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    site.bundle(roots / "nightly", {"nightly_report": ["collect"]})
    failed = pytest_run()
    assert failed.returncode == 1
    assert "missing-task nightly_report/render" in failed.stdout


# --------------------------------------------------------------------------- --signers


@pytest.fixture
def signed_site(tmp_path: Path) -> tuple[Site, Path, Path]:
    """A site whose one bundle is signed by a trusted key; the signer file; the key."""
    from _signing import allowed, keygen, line, ssh_sign

    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed; `make test` installs it")
    tmp_path.chmod(0o700)  # a signer file is refused under a directory others can write
    site = Site(tmp_path)
    site.dag("d", stub_dag("signed_dag", "a"))
    bundle = site.bundle(tmp_path / "bundles" / "b", {"signed_dag": ["a"]}).path
    key = keygen(tmp_path, "release")
    ssh_sign(bundle, key)
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    return site, allowed(tmp_path, line("release@example.com", key)), key


def test_signers_accept_a_signed_bundle(signed_site: tuple[Site, Path, Path]) -> None:
    site, signers, _ = signed_site
    run = site.check("--signers", signers, "--json")
    assert run.code == 0, run.err
    assert run.json()["findings"] == []


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("unsigned", "not signed"),
        ("tampered", "does not match"),
        ("foreign key", "SHA256:"),
    ],
)
def test_signers_turn_a_bundle_without_a_trusted_signature_into_a_missing_bundle(
    signed_site: tuple[Site, Path, Path], case: str, words: str
) -> None:
    from _signing import keygen, ssh_sign

    site, signers, _ = signed_site
    bundle = site.base / "bundles" / "b"
    if case == "unsigned":
        Path(f"{bundle}.sig").unlink()
    elif case == "tampered":  # the source region: the trailer digest still matches
        with open(bundle, "r+b") as f:
            f.seek(afbundle.read_bundle(bundle).source_start)
            f.write(b"#")
    else:
        ssh_sign(bundle, keygen(site.base, "intruder"))
    assert site.check("--json").code == 0  # without --signers the bundle serves the DAG
    run = site.check("--signers", signers, "--json")
    assert run.code == 1
    (finding,) = run.json()["findings"]
    assert (finding["code"], finding["dag_id"]) == ("missing-bundle", "signed_dag")
    assert "every bundle declaring it was rejected for its signature" in finding["message"]
    assert f"{bundle} (signature: " in finding["message"] and words in finding["message"]
    table = site.check("--signers", signers)
    assert table.code == 1 and "missing-bundle" in table.out
    assert not site.marker.exists()


def test_check_dags_takes_trusted_signers(signed_site: tuple[Site, Path, Path]) -> None:
    site, signers, _ = signed_site
    Path(f"{site.base / 'bundles' / 'b'}.sig").unlink()
    result = site.api(
        f"""
        report = afbundle.check_dags({str(site.dags)!r}, trusted_signers={str(signers)!r})
        result = [(f.code, f.dag_id) for f in report.errors]
        """
    )
    assert result == [["missing-bundle", "signed_dag"]]


@pytest.mark.parametrize("how", ["missing", "writable by others", "a fifo"])
def test_an_unusable_signers_file_exits_2_naming_it(
    signed_site: tuple[Site, Path, Path], how: str
) -> None:
    site, signers, _ = signed_site
    if how == "missing":
        signers = site.base / "nowhere"
    elif how == "writable by others":
        signers.chmod(0o666)
    else:  # a malformed line is skipped, as OpenSSH skips it; a FIFO is never opened
        signers.unlink()
        os.mkfifo(signers)
    run = site.check("--signers", signers, "--json")
    assert run.code == 2
    assert run.err.startswith(f"afbundle: error: {signers}: "), run.err
    assert run.out == ""


# --------------------------------------------------------------------------- review of #13


def test_a_relative_dags_folder_still_reports_a_duplicate_dag_id(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("a_first", stub_dag("dup_dag", "a"))
    site.dag("b_second", stub_dag("dup_dag", "a"))
    site.bundle(tmp_path / "bundles" / "dup", {"dup_dag": ["a"]})
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    run = site.check("--json", "--dags", "dags", dags=False, cwd=tmp_path, dag_tracebacks=True)
    assert run.code == 1, run.out + run.err
    document = run.json()
    (error,) = [f for f in document["findings"] if f["code"] == "import-error"]
    files = {str(site.dags / "a_first.py"), str(site.dags / "b_second.py")}
    assert error["file"] in files  # whichever Airflow bagged second, by its absolute path
    assert "dup_dag" in error["message"] and (files - {error["file"]}).pop() in error["message"]
    assert document["checked"]["dag_files"] == [
        str(site.dags / "a_first.py"), str(site.dags / "b_second.py")
    ]  # fmt: skip


def test_a_dag_whose_stubs_were_not_checked_is_not_shown_as_ok(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("ghost", stub_dag("ghost_dag", "a", queue="ghost"))
    site.dag("java", stub_dag("java_dag", "a", queue="java"))
    # Imports fine but is no executable coordinator: its stubs have no roots to check.
    site.route(
        {"java": {"classpath": "airflow.sdk.execution_time.coordinator.BaseCoordinator"}},
        {"ghost": "nowhere", "java": "java"},
    )
    run = site.check()
    assert "ok  ghost_dag" not in run.out and "ok  java_dag" not in run.out, run.out
    assert "not checked  ghost_dag (1 stub task: coordinator 'nowhere' is not defined)" in run.out
    assert "not checked  java_dag (1 stub task: coordinator 'java'" in run.out
    assert "is not an executable one" in run.out
    dags = {d["dag_id"]: d for d in site.check("--json").json()["checked"]["dags"]}
    assert dags["ghost_dag"]["status"] == dags["java_dag"]["status"] == "not-checked"
    assert dags["ghost_dag"]["not_checked"] == ["coordinator 'nowhere' is not defined"]
    assert "is not an executable one" in dags["java_dag"]["not_checked"][0]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("raise RuntimeError('no JVM here')", "RuntimeError: no JVM here"),
        ("import sys\nsys.exit(3)", "sys.exit(3)"),
    ],
)
def test_a_coordinator_module_that_fails_on_import_is_a_finding(
    tmp_path: Path, body: str, words: str
) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("d_dag", "a", queue="custom"))
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "my_coordinators.py").write_text(body + "\nclass Coordinator: ...\n")
    site.env["PYTHONPATH"] = str(modules)
    site.route({"mine": {"classpath": "my_coordinators.Coordinator"}}, {"custom": "mine"})
    run = site.check("--json")
    assert run.code == 1, run.err
    (finding,) = run.json()["findings"]
    assert (finding["code"], finding["coordinator"]) == ("unknown-coordinator", "mine")
    assert words in finding["message"] and "does not import" in finding["message"]
    assert not (modules / "__pycache__").exists(), "checking wrote bytecode beside the module"


def test_importing_a_coordinator_classpath_writes_no_bytecode(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("d_dag", "a", queue="custom"))
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "my_coordinators.py").write_text("class Coordinator: ...\n")
    site.env["PYTHONPATH"] = str(modules)
    site.route({"mine": {"classpath": "my_coordinators.Coordinator"}}, {"custom": "mine"})
    run = site.check("--json")
    assert run.code == 0, run.err
    assert not (modules / "__pycache__").exists(), "checking wrote bytecode beside the module"


def test_a_malformed_airflow_cfg_exits_2(clean_site: Site) -> None:
    (clean_site.home / "airflow.cfg").write_text("[sdk\ncoordinators = {}\n")
    run = clean_site.check()
    assert run.code == 2, run.err
    assert "afbundle: error: invalid Airflow configuration: File contains no section" in run.err
    assert "airflow.cfg" in run.err and run.out == ""


def test_an_invalid_core_setting_exits_2(clean_site: Site) -> None:
    clean_site.env["AIRFLOW__CORE__DAG_DISCOVERY_SAFE_MODE"] = "maybe"
    run = clean_site.check("--json")
    assert run.code == 2, run.err
    assert "invalid Airflow configuration" in run.err and "DAG_DISCOVERY_SAFE_MODE" in run.err
    assert run.out == ""


@pytest.mark.parametrize(
    ("classpath", "kwargs", "words"),
    [
        (AFBUNDLE, {"thread": 4}, "unexpected kwarg 'thread'"),
        (AFBUNDLE, {"threads": "4"}, "kwarg 'threads' must be a positive int"),
        (AFBUNDLE, {"verified_exec": "yes"}, "kwarg 'verified_exec' must be true or false"),
        (AIRFLOW_EXECUTABLE, {"threads": 4}, "unexpected keyword argument 'threads'"),
    ],
)
def test_kwargs_a_worker_cannot_construct_the_coordinator_with_are_a_finding(
    clean_site: Site, classpath: str, kwargs: dict[str, Any], words: str
) -> None:
    entry = native_entry(clean_site.base / "bundles", classpath=classpath)
    entry["kwargs"].update(kwargs)
    clean_site.route({"native": entry}, {"native": "native"})
    run = clean_site.check("--json")
    assert run.code == 1, run.err
    (finding,) = run.json()["findings"]
    assert (finding["code"], finding["coordinator"]) == ("unknown-coordinator", "native")
    assert "cannot be constructed" in finding["message"] and words in finding["message"]


def test_inherited_and_own_kwargs_of_both_coordinators_are_accepted(clean_site: Site) -> None:
    entry = native_entry(clean_site.base / "bundles")
    entry["kwargs"].update(threads=2, digest_cache=False, verified_exec=True, cache_dir="/c",
                           task_startup_timeout=5)  # fmt: skip
    builtin = native_entry(clean_site.base / "bundles", classpath=AIRFLOW_EXECUTABLE)
    builtin["kwargs"]["task_startup_timeout"] = 5
    clean_site.route({"native": entry, "builtin": builtin}, {"native": "native", "b": "builtin"})
    run = clean_site.check("--json")
    assert run.code == 0 and run.json()["findings"] == [], run.out + run.err


def test_the_checked_kwargs_are_those_of_afbundles_coordinator() -> None:
    attrs = pytest.importorskip("attrs")
    from airflow.sdk.coordinators._subprocess import SubprocessCoordinator

    from afbundle.check.pipeline import AFBUNDLE_COORDINATOR_KWARGS
    from afbundle.coordinator import ExecutableCoordinator

    def init_fields(cls: type) -> set[str]:
        return {f.alias or f.name for f in attrs.fields(cls) if f.init}

    own = init_fields(ExecutableCoordinator) - init_fields(SubprocessCoordinator)
    assert set(AFBUNDLE_COORDINATOR_KWARGS) == own


def test_an_unusable_trusted_signers_kwarg_is_a_finding_naming_the_entry(
    clean_site: Site,
) -> None:
    entry = native_entry(clean_site.base / "bundles")
    entry["kwargs"]["trusted_signers"] = str(clean_site.base / "no-such-signers")
    clean_site.route({"native": entry}, {"native": "native"})
    run = clean_site.check("--json")
    assert run.code == 1, run.err
    (finding,) = run.json()["findings"]
    assert (finding["code"], finding["coordinator"]) == ("unknown-coordinator", "native")
    assert "no-such-signers" in finding["message"]


def test_unsupported_schema_names_every_rejected_bundle(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("old_dag", "a"))
    site.bundle(tmp_path / "bundles" / "a-old", {"old_dag": ["a"]}, schema="1999-01-01")
    site.bundle(tmp_path / "bundles" / "b-older", {"old_dag": ["a"]}, schema="1998-01-01")
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    (finding,) = site.check("--json").json()["findings"]
    assert finding["code"] == "unsupported-schema"
    assert finding["bundle"] == str(tmp_path / "bundles" / "a-old")
    for name, version in (("a-old", "1999-01-01"), ("b-older", "1998-01-01")):
        assert str(tmp_path / "bundles" / name) in finding["message"]
        assert version in finding["message"]


@pytest.mark.parametrize("what", ["notes.txt", "/dev/null"])
def test_dags_that_is_neither_a_folder_nor_a_python_file_exits_2(
    clean_site: Site, what: str
) -> None:
    path = Path(what) if what.startswith("/") else clean_site.base / what
    if not path.exists():
        path.write_text("not python\n")
    run = clean_site.check("--dags", path, dags=False)
    assert run.code == 2
    assert f"{path}: not a DAG folder or a .py DAG file" in run.err and run.out == ""


def test_an_empty_dags_folder_is_checked_with_a_warning(clean_site: Site) -> None:
    empty = clean_site.base / "empty-dags"
    empty.mkdir()
    run = clean_site.check("--dags", empty, dags=False)
    assert run.code == 0
    assert f"afbundle: warning: no Python DAG files found in {empty}" in run.err


def test_missing_bundle_mentions_files_not_read_for_lack_of_the_execute_bit(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("plain_dag", "a"))
    bundle = site.bundle(tmp_path / "bundles" / "p", {"plain_dag": ["a"]})
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    bundle.path.chmod(0o644)
    (finding,) = site.check("--json").json()["findings"]
    assert finding["code"] == "missing-bundle"
    assert "no bundle under" in finding["message"]
    assert "(1 file without +x or on a noexec mount not read)" in finding["message"]


# --------------------------------------------------------------------------- user code in a child


def _modules(site: Site, **modules: str) -> Path:
    """Python modules on the PYTHONPATH of the check (coordinator classes)."""
    folder = site.base / "modules"
    folder.mkdir(exist_ok=True)
    for name, body in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))
    site.env["PYTHONPATH"] = str(folder)
    return folder


def test_dag_files_and_coordinator_modules_run_in_a_child_process(tmp_path: Path) -> None:
    """The checking process never executes them: each records the pid that ran it."""
    site = Site(tmp_path)
    ran = tmp_path / "ran"
    record = f"import os\nopen({str(ran)!r}, 'a').write(f'{{__name__}} {{os.getpid()}}\\n')\n"
    site.dag("d", record + stub_dag("d_dag", "a", queue="custom"))
    _modules(site, my_coordinators=record + "class Coordinator: ...\n")
    site.route({"mine": {"classpath": "my_coordinators.Coordinator"}}, {"custom": "mine"})
    result = site.api(
        f"""\
        import os
        report = afbundle.check_dags({str(site.dags)!r})
        result = {{
            "pid": os.getpid(),
            "codes": [f.code for f in report.findings],
            "dags": list(report.dags),
            "imported": [
                name for name, module in sys.modules.items()
                if name == "my_coordinators"
                or str(getattr(module, "__file__", None)).startswith({str(site.dags)!r})
            ],
        }}
        """
    )
    assert result["codes"] == [] and result["dags"] == ["d_dag"]
    assert result["imported"] == []
    runs = [line.split() for line in ran.read_text().splitlines()]
    assert sorted(name.startswith("unusual_prefix") for name, _ in runs) == [False, True]
    assert all(int(pid) != result["pid"] for _, pid in runs), "executed by the checking process"


@pytest.mark.parametrize(
    ("body", "how"),
    [
        ("os._exit(0)", "exited with status 0"),
        ("os.kill(os.getpid(), signal.SIGKILL)", "was killed by SIGKILL"),
    ],
)
def test_a_dag_file_that_ends_the_process_exits_2_naming_it(
    clean_site: Site, body: str, how: str
) -> None:
    path = clean_site.dag("ends", f"from airflow.sdk import dag\nimport os, signal\n{body}\n")
    run = clean_site.check("--json")
    assert run.code == 2, run.out + run.err
    assert run.out == ""
    assert (
        f"afbundle: error: the process loading DAG files and coordinator classes {how} "
        f"while parsing DAG file {path}, before it reported"
    ) in run.err


def test_a_thread_a_dag_file_leaves_running_does_not_keep_the_check_alive(
    clean_site: Site,
) -> None:
    clean_site.dag(
        "lingers",
        "from airflow.sdk import dag\nimport threading\n"
        "threading.Thread(target=threading.Event().wait).start()  # never returns\n",
    )
    run = clean_site.check("--json", timeout=120)  # the hang guard: the thread never ends
    assert run.code == 0, run.err
    assert run.json()["findings"] == []


def test_a_dag_file_that_forks_gets_one_report(clean_site: Site) -> None:
    clean_site.dag(
        "forks", "from airflow.sdk import dag\nimport os\nos.fork()\nprint('after the fork')\n"
    )
    run = clean_site.check("--json", timeout=120)
    assert run.code == 0, run.err
    assert run.json()["findings"] == []  # one JSON document, not one per process
    assert "after the fork" in run.err


def test_a_daemon_a_dag_file_starts_does_not_hold_the_commands_output(clean_site: Site) -> None:
    """A process that leaves the loader's process group outlives it, but holds none of
    the command's own pipes: whoever reads the command's output sees it end."""
    pid_file = clean_site.base / "daemon-pid"
    clean_site.dag(
        "daemon",
        f"""\
        from airflow.sdk import dag
        import os, time
        if os.fork() == 0:
            os.setsid()
            open({str(pid_file)!r}, "w").write(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        """,
    )
    try:
        run = clean_site.check("--json", timeout=120)  # the hang guard
        assert run.code == 0, run.err
        assert run.json()["findings"] == []
    finally:
        for _ in range(100):
            if pid_file.exists() and pid_file.read_text():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
                break
            time.sleep(0.1)


def test_a_coordinator_module_that_hangs_on_import_times_out_with_exit_2(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("d_dag", "a", queue="custom"))
    _modules(site, slow_coordinators="import threading\nthreading.Event().wait()\n")
    site.route({"mine": {"classpath": "slow_coordinators.Coordinator"}}, {"custom": "mine"})
    # Long enough for the child to start on a busy machine; the import never returns.
    run = site.check("--timeout", "10", "--json", timeout=120)
    assert run.code == 2, run.out + run.err
    assert run.out == ""
    assert (
        "afbundle: error: timed out after 10 s while importing coordinator class "
        "'slow_coordinators.Coordinator' (entry 'mine')"
    ) in run.err


def test_a_dag_file_reads_nothing_the_check_was_given_on_stdin(clean_site: Site) -> None:
    """A DAG file cannot read the operator's terminal: its stdin is /dev/null."""
    seen = clean_site.base / "seen"
    clean_site.dag(
        "reads",
        f"from airflow.sdk import dag\nimport sys\n"
        f"open({str(seen)!r}, 'w').write(sys.stdin.read())\n",
    )
    run = clean_site.check("--json", stdin=b"typed at the terminal\n")
    assert run.code == 0, run.err
    assert seen.read_text() == ""


def test_the_loader_imports_nothing_from_the_working_directory(clean_site: Site) -> None:
    """A shared working directory (another user's files) is not on the loader's path."""
    shared = clean_site.base / "shared-cwd"
    shared.mkdir()
    planted = clean_site.base / "planted-module-ran"
    for name in ("json", "afbundle"):
        (shared / f"{name}.py").write_text(f"open({str(planted)!r}, 'w').close()\n")
    script = Path(sys.executable).with_name("afbundle")  # as installed: no cwd on sys.path
    proc = subprocess.run(
        [script, "check", "--dags", clean_site.dags, "--json"],
        capture_output=True, env=clean_site.environ(), cwd=shared, timeout=180,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr.decode()
    assert not planted.exists(), "the loader imported a module from the working directory"


def test_killing_the_check_kills_its_loader(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("d", stub_dag("d_dag", "a", queue="custom"))
    pid_file = tmp_path / "loader-pid"
    _modules(
        site,
        stuck_coordinators=f"""\
        import os, threading
        open({str(pid_file)!r}, "w").write(str(os.getpid()))
        threading.Event().wait()
        """,
    )
    site.route({"mine": {"classpath": "stuck_coordinators.Coordinator"}}, {"custom": "mine"})
    check = subprocess.Popen(
        [sys.executable, "-m", "afbundle", "check", "--dags", str(site.dags)],
        env=site.environ(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(1200):  # hang guard: 120 s for Airflow's import and the child's start
            if pid_file.exists() and pid_file.read_text():
                break
            assert check.poll() is None, "the check ended before importing the module"
            time.sleep(0.1)
        loader = int(pid_file.read_text())
        assert loader != check.pid
    finally:
        check.kill()
        check.wait()
    for _ in range(600):
        if not _alive(loader):
            break
        time.sleep(0.1)
    assert not _alive(loader), "the loader outlived the check"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for an init that does not reap is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def test_check_load_errors_pickle() -> None:
    import pickle

    from afbundle.check import CheckLoadError

    error = CheckLoadError(
        "timed out after 1 s while parsing DAG file d.py", "parsing DAG file d.py"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.stage) == (CheckLoadError, str(error), error.stage)
