"""``afbundle check`` and ``afbundle.check_dags``: what a worker would meet, before deploy.

Most tests run the check's stages in this process on constructed inputs
(:func:`afbundle.check.pipeline.check_loaded`: DAGs and routing as plain data,
bundles packed for real and scanned by the core). The rest run a real
``afbundle check`` (or a small Python process for the API) with its own
``AIRFLOW_HOME``: whatever needs Airflow's own DagBag and configuration (read
once per process), the exit statuses and ``--json`` of the command, and the
child process that executes DAG files and coordinator modules. Bundles are
packed with afbundle's own ``pack`` from a program that would leave a marker
file if it were ever run.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

import afbundle
from afbundle import _core
from afbundle.check import CODES

from _writer import bundle_bytes, raw_yaml_manifest, write_file

pytest.importorskip("airflow.dag_processing.dagbag", reason="needs apache-airflow-core")
pytest.importorskip("airflow.providers.standard", reason="needs the standard provider")

from afbundle.check import route
from afbundle.check.load import LoadedDag, LoadedDags, LoadedTask, _coordinator_problem
from afbundle.check.pipeline import check_loaded

pytestmark = pytest.mark.airflow

SCHEMA = "2026-06-16"
AFBUNDLE = "afbundle.ExecutableCoordinator"
AIRFLOW_EXECUTABLE = "airflow.sdk.coordinators.executable.ExecutableCoordinator"


def check_schema() -> Draft202012Validator:
    text = resources.files("afbundle").joinpath("schema/check-output.schema.json").read_text()
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def native_entry(*roots: Path, classpath: str = AFBUNDLE) -> dict[str, Any]:
    return {"classpath": classpath, "kwargs": {"executables_root": [str(r) for r in roots]}}


def pack_bundle(
    program: Path, path: Path, dags: dict[str, list[str]], *, schema: str = SCHEMA
) -> afbundle.Bundle:
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "airflow_bundle_metadata_version": "1.0",
        "sdk": {"language": "go", "version": "0.1.0", "supervisor_schema_version": schema},
        "source": "main.go",
        "dags": {d: {"tasks": tasks} for d, tasks in dags.items()},
    }
    return afbundle.pack(program, path, manifest=manifest, source=b"package main\n")


def marker_program(base: Path) -> tuple[Path, Path]:
    """A program that leaves a marker file if it is ever run; the marker's path."""
    marker = base / "a-bundle-ran"
    program = base / "build" / "program"
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_text(f"#!/bin/sh\ntouch {marker}\n")
    program.chmod(0o755)
    return program, marker


# --------------------------------------------------------------------------- in this process


def stub(task_id: str, queue: str | None = "native", *, mapped: bool = False) -> LoadedTask:
    return LoadedTask(task_id, queue, True, "@task.stub", mapped)


def python_task(task_id: str, queue: str | None = "default", kind: str = "@task") -> LoadedTask:
    return LoadedTask(task_id, queue, False, kind, False)


def stub_dag(dag_id: str, *stubs: str, queue: str | None = "native") -> LoadedDag:
    """A loaded DAG with one stub task per name, all on ``queue`` (``None``: no queue=)."""
    return LoadedDag(dag_id, f"/dags/{dag_id}.py", tuple(stub(s, queue) for s in stubs))


#: The DAG of the real GOOD_DAG file below, as Airflow's DagBag loads it.
GOOD = LoadedDag(
    "good_dag",
    "/dags/good.py",
    (stub("extract"), stub("fan_out", mapped=True), stub("grp.load"), python_task("items")),
)
GOOD_TASKS = ["extract", "grp.load", "fan_out"]


def resolve(version: str) -> str:
    """Airflow's schema-version resolver, as a worker's coordinator calls it."""
    from airflow.sdk.execution_time.schema import get_schema_version_migrator

    resolved: str = get_schema_version_migrator().resolve_version(version)
    return resolved


def inherited() -> frozenset[str]:
    import attrs
    from airflow.sdk.coordinators._subprocess import SubprocessCoordinator

    return frozenset(f.alias or f.name for f in attrs.fields(SubprocessCoordinator) if f.init)


@dataclass
class Case:
    """DAGs and routing as plain data, real bundles under ``base``; checked in this process."""

    base: Path
    dags: list[LoadedDag] = field(default_factory=list)
    import_errors: list[tuple[str, str]] = field(default_factory=list)
    coordinators: dict[str, Any] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.program, self.marker = marker_program(self.base)
        self.roots = self.base / "bundles"

    def bundle(
        self, name: str | Path, dags: dict[str, list[str]], *, schema: str = SCHEMA
    ) -> afbundle.Bundle:
        path = name if isinstance(name, Path) else self.roots / name
        return pack_bundle(self.program, path, dags, schema=schema)

    def route(self, coordinators: dict[str, Any], queues: dict[str, str]) -> None:
        self.coordinators, self.queues = coordinators, queues

    def check(self, **options: Any) -> afbundle.CheckReport:
        """The check of these DAGs; coordinator classes other than afbundle's are imported
        here, as the child imports them (only Airflow's own or missing ones in this file)."""
        queues = dict(self.queues)
        for queue in options.pop("command_line_queues", ()):
            queues[queue] = route.COMMAND_LINE_ENTRY
        routing = route.Routing(self.coordinators, queues, inherited())
        imported = {i.name: _coordinator_problem(i.classpath, i.kwargs) for i in routing.imports()}
        files = tuple(
            sorted({*(d.file for d in self.dags if d.file), *(p for p, _ in self.import_errors)})
        )
        dags = LoadedDags(tuple(self.dags), tuple(self.import_errors), files)
        _core.clear_digest_cache()  # as a fresh process: pack() verified each bundle here
        report = check_loaded(dags, routing, imported=imported, resolve=resolve, **options)
        assert not self.marker.exists(), "a bundle was executed"
        return report


@pytest.fixture
def case(tmp_path: Path) -> Case:
    """One DAG (plain, grouped and mapped stubs, a Python task), its bundle, routed."""
    one = Case(tmp_path)
    one.dags.append(GOOD)
    one.bundle("good", {"good_dag": GOOD_TASKS})
    one.route({"native": native_entry(one.roots)}, {"native": "native"})
    return one


def found(report: afbundle.CheckReport) -> list[tuple[str, str | None, str | None]]:
    return [(f.code, f.dag_id, f.task_id) for f in report.findings]


def table(report: afbundle.CheckReport, strict: bool = False) -> str:
    """What ``afbundle check`` prints for ``report`` (no colour)."""
    from afbundle.cli.check import print_check
    from afbundle.cli.printer import Palette

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        print_check(report, strict, Palette(False))
    return out.getvalue()


def document(report: afbundle.CheckReport, strict: bool = False) -> Any:
    """The ``--json`` document of ``report``, valid against the shipped schema."""
    from afbundle.cli.check import check_json

    doc = json.loads(json.dumps(check_json(report, strict)))
    check_schema().validate(doc)
    return doc


def test_a_clean_setup_has_no_findings(case: Case) -> None:
    report = case.check()
    assert report.findings == () and not report.failed(strict=True)
    assert {(t.task_id, t.queue, t.mapped) for t in report.stub_tasks} == {
        ("extract", "native", False), ("grp.load", "native", False), ("fan_out", "native", True)
    }  # fmt: skip
    assert [c.name for c in report.coordinators] == ["native"]
    assert report.dag_statuses() == {"good_dag": "ok"}
    assert "ok  good_dag (3 stub tasks)" in table(report)
    assert "0 errors, 0 warnings" in table(report)
    assert document(report)["ok"] is True


def test_without_routing_every_stub_is_unrouted(case: Case) -> None:
    case.route({}, {})
    assert {f.code for f in case.check().findings} == {"unrouted-stub"}


def test_queues_and_roots_stand_in_for_worker_config(case: Case) -> None:
    case.route({}, {})
    report = case.check(command_line_queues=["native"], roots=(case.roots,))
    assert report.findings == ()
    assert [c.name for c in report.coordinators] == ["(command line)"]


def test_roots_replace_configured_roots(case: Case) -> None:
    empty = case.base / "empty"
    empty.mkdir()
    assert [f.code for f in case.check(roots=(empty,)).findings] == ["missing-bundle"]


def test_queues_without_roots_are_a_config_error() -> None:
    with pytest.raises(afbundle.CheckConfigError, match="without roots"):
        afbundle.check_dags("dags", queues=["native"])


def mistakes_case(base: Path) -> Case:
    """One minimal case per finding code."""
    one = Case(base)
    one.dags.append(GOOD)
    one.bundle("good", {"good_dag": GOOD_TASKS})
    one.dags.append(stub_dag("no_bundle_dag", "a"))
    one.dags.append(stub_dag("renamed_dag", "a", "b"))
    one.bundle("renamed", {"renamed_dag": ["a", "c"]})
    one.dags.append(stub_dag("unrouted_dag", "a", queue=None))
    one.dags.append(stub_dag("ghost_dag", "a", queue="ghost"))
    one.dags.append(stub_dag("old_schema_dag", "a"))
    one.bundle("old", {"old_schema_dag": ["a"]}, schema="1999-01-01")
    one.dags.append(stub_dag("shadow_dag", "a"))
    one.bundle("a-first", {"shadow_dag": ["a"]})
    one.bundle("b-second", {"shadow_dag": ["a"]})
    one.dags.append(
        LoadedDag("python_on_native", "/dags/p.py", (python_task("compute", "native"),))
    )
    one.import_errors.append(
        ("/dags/broken.py", "Traceback ...\nModuleNotFoundError: No module named 'no_such_module'")
    )
    one.bundle("retired", {"retired_dag": ["a"]})
    # As a packer writing plain keys would: `1_000` is an integer to Airflow's YAML 1.1 reader.
    write_file(
        one.roots / "plain-keys",
        bundle_bytes(
            metadata=raw_yaml_manifest(
                "  1_000:\n    tasks: [a]\n", schema_version_yaml=f'"{SCHEMA}"'
            )
        ),
    )
    one.route(
        {"native": native_entry(one.roots), "java": {"classpath": "no.such.Coordinator"}},
        {"native": "native", "ghost": "nowhere", "legacy": "java"},
    )
    return one


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


@pytest.fixture(scope="module")
def mistakes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Case, afbundle.CheckReport]:
    one = mistakes_case(tmp_path_factory.mktemp("mistakes"))
    return one, one.check()


def test_every_finding_code_is_triggered_by_its_minimal_case(
    mistakes: tuple[Case, afbundle.CheckReport],
) -> None:
    _, report = mistakes
    assert report.failed()
    assert sorted(found(report), key=str) == sorted(EXPECTED, key=str)
    assert report.codes() == set(CODES)
    assert not any(f.dag_id == "good_dag" for f in report.findings)
    status = report.dag_statuses()
    assert status["good_dag"] == "ok"
    assert all(status[f.dag_id] == "findings" for f in report.findings if f.dag_id in status)
    assert document(report)["errors"] == len(report.errors)


def test_findings_name_what_they_are_about(mistakes: tuple[Case, afbundle.CheckReport]) -> None:
    one, report = mistakes
    by_code = {f.code: f for f in report.findings}
    roots = one.roots
    assert by_code["missing-task"].bundle == roots / "renamed"
    assert (by_code["missing-task"].queue, by_code["missing-task"].coordinator) == (
        "native", "native"
    )  # fmt: skip
    assert by_code["unsupported-schema"].bundle == roots / "old"
    assert "1999-01-01" in by_code["unsupported-schema"].message
    shadowed = by_code["shadowed"]
    assert shadowed.bundle == roots / "a-first"
    assert str(roots / "b-second") in shadowed.message and "shadowed" in shadowed.message
    assert by_code["import-error"].file == "/dags/broken.py"
    assert (
        by_code["import-error"].message == "ModuleNotFoundError: No module named 'no_such_module'"
    )
    assert by_code["orphan-dag"].bundle == roots / "retired"
    assert by_code["retyped-key"].bundle == roots / "plain-keys"
    assert "dag key '1_000' reads as the integer 1000" in by_code["retyped-key"].message
    assert "no bundle under" in by_code["missing-bundle"].message
    unknown = {f.queue: f for f in report.findings if f.code == "unknown-coordinator"}
    assert unknown["ghost"].coordinator == "nowhere"
    assert "does not import" in unknown["legacy"].message
    assert all("\n" not in f.message for f in report.findings)


def test_the_table_groups_findings_by_dag(mistakes: tuple[Case, afbundle.CheckReport]) -> None:
    _, report = mistakes
    out = table(report)
    assert out.index("DAG renamed_dag") < out.index("DAG shadow_dag")
    section = out.split("DAG renamed_dag", 1)[1].split("\n\n", 1)[0]
    assert "missing-task" in section and "extra-task" in section
    assert "shadowed" not in section
    assert out.startswith("configuration\n")
    assert "ok  good_dag (3 stub tasks)" in out
    assert "\x1b" not in out  # no palette: no colour


def test_missing_bundle_says_why_each_candidate_was_rejected(tmp_path: Path) -> None:
    one = Case(tmp_path)
    one.dags.append(stub_dag("tampered_dag", "a"))
    bundle = one.bundle("t", {"tampered_dag": ["a"]})
    with open(bundle.path, "r+b") as f:
        f.seek(3)
        f.write(b"X")
    one.route({"native": native_entry(one.roots)}, {"native": "native"})
    (finding,) = one.check().findings
    assert finding.code == "missing-bundle"
    assert "rejected" in finding.message and "integrity" in finding.message


def test_warnings_alone_fail_only_when_strict(case: Case) -> None:
    case.bundle("retired", {"retired_dag": ["x"]})
    report = case.check()
    assert found(report) == [("orphan-dag", "retired_dag", None)]
    assert not report.failed() and report.failed(strict=True)
    assert document(report, strict=True)["ok"] is False


def test_control_characters_in_names_are_shown_escaped(case: Case) -> None:
    case.bundle("evil\x1b]0;owned\x07", {"retired": ["x"]})
    out = table(case.check())
    assert "\x1b" not in out and "\x07" not in out
    assert "\\e]0;owned\\a" in out


def test_each_root_is_walked_once_and_each_bundle_hashed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = Case(tmp_path)
    first, second = tmp_path / "bundles", tmp_path / "more-bundles"
    for i in range(3):
        one.dags.append(stub_dag(f"dag_{i}", "a", queue=f"q{i % 2}"))
        one.bundle(first / f"b{i}", {f"dag_{i}": ["a"]})
    # Searched as [second, first] by entry "two": the bundle in `second` wins there.
    one.dags.append(stub_dag("dag_shared", "a", queue="q2"))
    one.bundle(first / "shared", {"dag_shared": ["a"]})
    one.bundle(second / "shared", {"dag_shared": ["a"]})
    # Stubs on two entries with the same roots: one shadowed and one extra-task
    # warning, not one per entry.
    one.dags.append(LoadedDag("dag_twice", "/dags/twice.py", (stub("a", "q0"), stub("b", "q3"))))
    one.bundle(first / "twice-1", {"dag_twice": ["a", "b", "extra"]})
    one.bundle(first / "twice-2", {"dag_twice": ["a", "b"]})
    one.route(
        {
            "one": native_entry(first),
            "two": native_entry(second, first, classpath=AIRFLOW_EXECUTABLE),
            "three": native_entry(first),
        },
        {"q0": "one", "q1": "two", "q2": "two", "q3": "three", "native": "one"},
    )  # fmt: skip
    calls = []
    real_scan = afbundle.scan

    def counting_scan(roots: Any, **kw: Any) -> afbundle.ScanReport:
        calls.append([str(r) for r in roots])
        return real_scan(roots, **kw)

    monkeypatch.setattr(afbundle, "scan", counting_scan)
    report = one.check()
    assert sorted(calls) == [[str(first)], [str(second)]]
    stats = [r.stats for r in report.scans.values()]
    bundles = {b.path: b for r in report.scans.values() for b in r.bundles}
    assert sum(s.bytes_hashed for s in stats) == sum(b.source_start for b in bundles.values()) > 0
    assert sum(s.bundles_read for s in stats) == 7
    assert sorted((f.code, f.dag_id, f.task_id, f.bundle) for f in report.findings) == [
        ("extra-task", "dag_twice", "extra", first / "twice-1"),
        ("shadowed", "dag_shared", None, second / "shared"),
        ("shadowed", "dag_twice", None, first / "twice-1"),
    ]


def test_a_dag_whose_stubs_were_not_checked_is_not_shown_as_ok(tmp_path: Path) -> None:
    one = Case(tmp_path)
    one.dags += [stub_dag("ghost_dag", "a", queue="ghost"), stub_dag("java_dag", "a", queue="java")]
    # Imports fine but is no executable coordinator: its stubs have no roots to check.
    one.route(
        {"java": {"classpath": "airflow.sdk.execution_time.coordinator.BaseCoordinator"}},
        {"ghost": "nowhere", "java": "java"},
    )
    report = one.check()
    out = table(report)
    assert "ok  ghost_dag" not in out and "ok  java_dag" not in out, out
    assert "not checked  ghost_dag (1 stub task: coordinator 'nowhere' is not defined)" in out
    assert "not checked  java_dag (1 stub task: coordinator 'java'" in out
    assert "is not an executable one" in out
    dags = {d["dag_id"]: d for d in document(report)["checked"]["dags"]}
    assert dags["ghost_dag"]["status"] == dags["java_dag"]["status"] == "not-checked"
    assert dags["ghost_dag"]["not_checked"] == ["coordinator 'nowhere' is not defined"]
    assert "is not an executable one" in dags["java_dag"]["not_checked"][0]


@pytest.mark.parametrize(
    ("classpath", "kwargs", "words"),
    [
        (AFBUNDLE, {"thread": 4}, "unexpected kwarg 'thread'"),
        (AFBUNDLE, {"threads": "4"}, "kwarg 'threads' must be a positive int"),
        (AFBUNDLE, {"verified_exec": "yes"}, "kwarg 'verified_exec' must be true or false"),
        (AFBUNDLE, {"persistent_cache": True, "digest_cache": False}, "give one"),
        (AFBUNDLE, {"cache_dir": ""}, "kwarg 'cache_dir' must be a path or null"),
        (AIRFLOW_EXECUTABLE, {"threads": 4}, "unexpected keyword argument 'threads'"),
    ],
)
def test_kwargs_a_worker_cannot_construct_the_coordinator_with_are_a_finding(
    case: Case, classpath: str, kwargs: dict[str, Any], words: str
) -> None:
    entry = native_entry(case.roots, classpath=classpath)
    entry["kwargs"].update(kwargs)
    case.route({"native": entry}, {"native": "native"})
    (finding,) = case.check().findings
    assert (finding.code, finding.coordinator) == ("unknown-coordinator", "native")
    assert "cannot be constructed" in finding.message and words in finding.message


def test_inherited_own_and_old_kwargs_of_both_coordinators_are_accepted(case: Case) -> None:
    entry = native_entry(case.roots)
    entry["kwargs"].update(threads=2, persistent_cache=False, verified_exec=True, cache_dir="/c",
                           task_startup_timeout=5)  # fmt: skip
    old = native_entry(case.roots)
    old["kwargs"].update(digest_cache=False)  # the old name of persistent_cache
    builtin = native_entry(case.roots, classpath=AIRFLOW_EXECUTABLE)
    builtin["kwargs"]["task_startup_timeout"] = 5
    case.route(
        {"native": entry, "old": old, "builtin": builtin},
        {"native": "native", "o": "old", "b": "builtin"},
    )
    assert case.check().findings == ()


def test_an_unusable_trusted_signers_kwarg_is_a_finding_naming_the_entry(case: Case) -> None:
    entry = native_entry(case.roots)
    entry["kwargs"]["trusted_signers"] = str(case.base / "no-such-signers")
    case.route({"native": entry}, {"native": "native"})
    (finding,) = case.check().findings
    assert (finding.code, finding.coordinator) == ("unknown-coordinator", "native")
    assert "no-such-signers" in finding.message


def test_unsupported_schema_names_every_rejected_bundle(tmp_path: Path) -> None:
    one = Case(tmp_path)
    one.dags.append(stub_dag("old_dag", "a"))
    one.bundle("a-old", {"old_dag": ["a"]}, schema="1999-01-01")
    one.bundle("b-older", {"old_dag": ["a"]}, schema="1998-01-01")
    one.route({"native": native_entry(one.roots)}, {"native": "native"})
    (finding,) = one.check().findings
    assert finding.code == "unsupported-schema"
    assert finding.bundle == one.roots / "a-old"
    for name, version in (("a-old", "1999-01-01"), ("b-older", "1998-01-01")):
        assert str(one.roots / name) in finding.message and version in finding.message


def test_missing_bundle_mentions_files_not_read_for_lack_of_the_execute_bit(
    tmp_path: Path,
) -> None:
    one = Case(tmp_path)
    one.dags.append(stub_dag("plain_dag", "a"))
    bundle = one.bundle("p", {"plain_dag": ["a"]})
    one.route({"native": native_entry(one.roots)}, {"native": "native"})
    bundle.path.chmod(0o644)
    (finding,) = one.check().findings
    assert finding.code == "missing-bundle"
    assert "no bundle under" in finding.message
    assert "(1 file without +x or on a noexec mount not read)" in finding.message


@pytest.mark.parametrize("root", ["", "  ", ["/opt/bundles", ""]])
def test_an_empty_root_is_refused_not_read_as_the_current_directory(root: Any) -> None:
    with pytest.raises(ValueError, match="current directory"):
        afbundle.check_dags("dags", roots=root)


# --------------------------------------------------------------------------- --signers


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Case, Path]:
    """A case whose one bundle is signed by a trusted key; the signer file."""
    from _signing import allowed, keygen, line, ssh_sign

    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen (openssh-client) is not installed; `make test` installs it")
    tmp_path.chmod(0o700)  # a signer file is refused under a directory others can write
    one = Case(tmp_path)
    one.dags.append(stub_dag("signed_dag", "a"))
    bundle = one.bundle("b", {"signed_dag": ["a"]}).path
    key = keygen(tmp_path, "release")
    ssh_sign(bundle, key)
    one.route({"native": native_entry(one.roots)}, {"native": "native"})
    return one, allowed(tmp_path, line("release@example.com", key))


def test_signers_accept_a_signed_bundle(signed: tuple[Case, Path]) -> None:
    one, signers = signed
    assert one.check(trusted_signers=afbundle.load_signers(signers)).findings == ()


@pytest.mark.parametrize(
    ("how", "words"),
    [("unsigned", "not signed"), ("tampered", "does not match"), ("foreign key", "SHA256:")],
)
def test_signers_turn_a_bundle_without_a_trusted_signature_into_a_missing_bundle(
    signed: tuple[Case, Path], how: str, words: str
) -> None:
    from _signing import keygen, ssh_sign

    one, signers = signed
    bundle = one.roots / "b"
    if how == "unsigned":
        Path(f"{bundle}.sig").unlink()
    elif how == "tampered":  # the source region: the trailer digest still matches
        with open(bundle, "r+b") as f:
            f.seek(afbundle.read_bundle(bundle).source_start)
            f.write(b"#")
    else:
        ssh_sign(bundle, keygen(one.base, "intruder"))
    assert one.check().findings == ()  # without signers the bundle serves the DAG
    report = one.check(trusted_signers=afbundle.load_signers(signers))
    (finding,) = report.findings
    assert (finding.code, finding.dag_id) == ("missing-bundle", "signed_dag")
    assert "every bundle declaring it was rejected for its signature" in finding.message
    assert f"{bundle} (signature: " in finding.message and words in finding.message
    assert "missing-bundle" in table(report)


def test_a_trusted_signers_kwarg_is_each_entrys_own(signed: tuple[Case, Path]) -> None:
    one, signers = signed
    Path(f"{one.roots / 'b'}.sig").unlink()
    entry = native_entry(one.roots)
    entry["kwargs"]["trusted_signers"] = str(signers)
    one.route({"native": entry, "plain": native_entry(one.roots)}, {"native": "native"})
    assert found(one.check()) == [("missing-bundle", "signed_dag", None)]


# --------------------------------------------------------------------- the command, in process


def cli_check(*argv: Any) -> tuple[int, str]:
    """``afbundle check ARGV`` in this process: its exit status and its error line."""
    from afbundle.cli.args import build_parser
    from afbundle.cli.check import run
    from afbundle.cli.exit import CliError

    args: argparse.Namespace = build_parser().parse_args(["check", *map(str, argv)])
    try:
        return int(run(args)), ""
    except CliError as exc:
        return int(exc.code), str(exc)


@pytest.mark.parametrize("strict", [False, True])
def test_warnings_alone_exit_0_and_1_with_strict(
    case: Case, strict: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    case.bundle("retired", {"retired_dag": ["x"]})
    report = case.check()
    monkeypatch.setattr(afbundle, "check_dags", lambda *a, **kw: report)
    code, _ = cli_check("--json", *(["--strict"] if strict else []))
    assert code == (1 if strict else 0)
    assert json.loads(capsys.readouterr().out)["ok"] is not strict


def test_an_empty_dags_folder_is_checked_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = Case(tmp_path).check()
    monkeypatch.setattr(afbundle, "check_dags", lambda *a, **kw: report)
    assert cli_check("--dags", tmp_path / "empty-dags") == (0, "")
    assert f"afbundle: warning: no Python DAG files found in {tmp_path / 'empty-dags'}" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("how", ["missing", "writable by others", "a fifo"])
def test_an_unusable_signers_file_exits_2_naming_it(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path.chmod(0o700)
    signers = tmp_path / "allowed_signers"
    if how == "writable by others":
        signers.write_text("")
        signers.chmod(0o666)
    elif how == "a fifo":  # never opened, so never waited on
        os.mkfifo(signers)
    monkeypatch.setattr(afbundle, "check_dags", lambda *a, **kw: pytest.fail("checked anyway"))
    code, error = cli_check("--signers", signers, "--json")
    assert code == 2
    assert error.startswith(f"{signers}: "), error


# --------------------------------------------------------------------------- a real command


@dataclass
class Site:
    """A machine to check for real: DAG files, bundle roots, an AIRFLOW_HOME, routing."""

    base: Path

    def __post_init__(self) -> None:
        self.dags = self.base / "dags"
        self.home = self.base / "airflow-home"
        self.cache = self.base / "xdg-cache"
        for d in (self.dags, self.home, self.cache):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.cache, 0o700)
        self.program, self.marker = marker_program(self.base)
        self.env: dict[str, str] = {}

    def dag(self, name: str, body: str) -> Path:
        path = self.dags / f"{name}.py"
        path.write_text(textwrap.dedent(body))
        return path

    def bundle(
        self, path: Path, dags: dict[str, list[str]], *, schema: str = SCHEMA
    ) -> afbundle.Bundle:
        return pack_bundle(self.program, path, dags, schema=schema)

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
        doc = json.loads(self.out)
        check_schema().validate(doc)
        return doc


def codes(doc: Any) -> list[tuple[str, str | None, str | None]]:
    return [(f["code"], f["dag_id"], f["task_id"]) for f in doc["findings"]]


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


def stub_dag_file(dag_id: str, *stubs: str, queue: str | None = "native") -> str:
    """A DAG file with one stub task per name, all on ``queue`` (``None``: no queue=)."""
    q = "" if queue is None else f"(queue={queue!r})"
    tasks = "\n".join(f"    @task.stub{q}\n    def {s}(): ...\n    {s}()\n" for s in stubs)
    head = f"from airflow.sdk import dag, task\n\n@dag(schedule=None)\ndef {dag_id}():\n"
    return f"{head}{tasks}\n{dag_id}()\n"


@pytest.fixture
def clean_site(tmp_path: Path) -> Site:
    """The real GOOD_DAG file (what :data:`GOOD` stands for), its bundle, env routing."""
    site = Site(tmp_path)
    site.dag("good", GOOD_DAG)
    site.bundle(tmp_path / "bundles" / "good", {"good_dag": GOOD_TASKS})
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    return site


def test_airflows_dagbag_loads_what_the_in_process_tests_construct(clean_site: Site) -> None:
    """The command, end to end: grouped and mapped stubs as :data:`GOOD` has them, exit 0."""
    run = clean_site.check("--json")
    assert run.code == 0, run.err
    doc = run.json()
    assert doc["findings"] == [] and doc["ok"]
    loaded = {(t["task_id"], t["queue"], t["mapped"]) for t in doc["checked"]["stub_tasks"]}
    assert loaded == {(t.task_id, t.queue, t.mapped) for t in GOOD.tasks if t.stub}
    assert [d["status"] for d in doc["checked"]["dags"]] == ["ok"]
    assert not clean_site.marker.exists(), "a bundle was executed"


def test_routing_and_the_dags_folder_come_from_airflow_cfg(clean_site: Site) -> None:
    clean_site.env.clear()
    entry = json.dumps({"cfg-native": native_entry(clean_site.base / "bundles")})
    (clean_site.home / "airflow.cfg").write_text(
        f"[core]\ndags_folder = {clean_site.dags}\n"
        f'[sdk]\ncoordinators = {entry}\nqueue_to_coordinator = {{"native": "cfg-native"}}\n'
    )
    doc = clean_site.check("--json", dags=False).json()
    assert doc["findings"] == []
    assert [c["name"] for c in doc["checked"]["coordinators"]] == ["cfg-native"]
    assert [d["dag_id"] for d in doc["checked"]["dags"]] == ["good_dag"]


def test_every_finding_code_from_real_dag_files_exits_1(tmp_path: Path) -> None:
    """Airflow's DagBag gives the import error, a Python task's kind and the stubs that
    the in-process mistakes case constructs; the command exits 1 with every code."""
    site = Site(tmp_path)
    roots = tmp_path / "bundles"
    site.dag("good", GOOD_DAG)
    site.bundle(roots / "good", {"good_dag": GOOD_TASKS})
    site.dag("renamed", stub_dag_file("renamed_dag", "a", "b"))
    site.bundle(roots / "renamed", {"renamed_dag": ["a", "c"]})
    site.dag("unrouted", stub_dag_file("unrouted_dag", "a", queue=None))
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
    site.route({"native": native_entry(roots)}, {"native": "native"})
    run = site.check("--json", dag_tracebacks=True)
    assert run.code == 1
    doc = run.json()
    assert sorted(codes(doc), key=str) == sorted(
        [
            ("import-error", None, None),
            ("not-a-stub", "python_on_native", "compute"),
            ("extra-task", "renamed_dag", "c"),
            ("missing-task", "renamed_dag", "b"),
            ("unrouted-stub", "unrouted_dag", "a"),
        ],
        key=str,
    )
    by_code = {f["code"]: f for f in doc["findings"]}
    assert by_code["import-error"]["file"] == str(site.dags / "broken.py")
    assert "no_such_module_for_a_dag" in by_code["import-error"]["message"]
    assert "a @task task on queue 'native'" in by_code["not-a-stub"]["message"]
    assert not site.marker.exists(), "a bundle was executed"


def test_invalid_airflow_config_exits_2(clean_site: Site) -> None:
    clean_site.env["AIRFLOW__SDK__COORDINATORS"] = "{not json"
    run = clean_site.check()
    assert run.code == 2
    assert "afbundle: error: invalid Airflow configuration" in run.err
    assert run.out == ""


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


def test_a_missing_dags_folder_exits_2(clean_site: Site) -> None:
    run = clean_site.check("--dags", clean_site.base / "nowhere", dags=False)
    assert run.code == 2
    assert "nowhere: no such DAG file or folder" in run.err


def test_dags_that_is_neither_a_folder_nor_a_python_file_exits_2(clean_site: Site) -> None:
    run = clean_site.check("--dags", "/dev/null", dags=False)  # a device: never opened
    assert run.code == 2
    assert "/dev/null: not a DAG folder or a .py DAG file" in run.err and run.out == ""


def test_json_stdout_stays_clean_when_dag_files_print(clean_site: Site) -> None:
    clean_site.dag("noisy", "print('hello from a DAG file')\n" + stub_dag_file("noisy_dag", "x"))
    clean_site.bundle(clean_site.base / "bundles" / "noisy", {"noisy_dag": ["x"]})
    run = clean_site.check("--json")
    assert run.code == 0
    assert run.json()["findings"] == []
    assert "hello from a DAG file" in run.err


def test_a_relative_dags_folder_still_reports_a_duplicate_dag_id(tmp_path: Path) -> None:
    site = Site(tmp_path)
    site.dag("a_first", stub_dag_file("dup_dag", "a"))
    site.dag("b_second", stub_dag_file("dup_dag", "a"))
    site.bundle(tmp_path / "bundles" / "dup", {"dup_dag": ["a"]})
    site.route({"native": native_entry(tmp_path / "bundles")}, {"native": "native"})
    run = site.check("--json", "--dags", "dags", dags=False, cwd=tmp_path, dag_tracebacks=True)
    assert run.code == 1, run.out + run.err
    doc = run.json()
    (error,) = [f for f in doc["findings"] if f["code"] == "import-error"]
    files = {str(site.dags / "a_first.py"), str(site.dags / "b_second.py")}
    assert error["file"] in files  # whichever Airflow bagged second, by its absolute path
    assert "dup_dag" in error["message"] and (files - {error["file"]}).pop() in error["message"]
    assert doc["checked"]["dag_files"] == [
        str(site.dags / "a_first.py"), str(site.dags / "b_second.py")
    ]  # fmt: skip


def test_the_check_and_the_coordinator_agree_on_every_kwarg_value(tmp_path: Path) -> None:
    """An entry the check says a worker cannot construct is exactly one the coordinator
    refuses (one rule for both: afbundle._coordinator_kwargs), judged end to end."""
    from afbundle.coordinator import ExecutableCoordinator

    roots = str(tmp_path / "bundles")
    cases: dict[str, dict[str, Any]] = {
        "plain": {},
        "threads-str": {"threads": "4"},
        "threads-zero": {"threads": 0},
        "threads-bool": {"threads": True},
        "cache-str": {"persistent_cache": "false"},
        "old-cache-name": {"digest_cache": False},
        "both-cache-names": {"persistent_cache": True, "digest_cache": False},
        "both-agree": {"persistent_cache": False, "digest_cache": False},
        "cache-dir-empty": {"cache_dir": ""},
        "cache-dir-blank": {"cache_dir": "  "},
        "signers-empty": {"trusted_signers": ""},
        "exec-null": {"verified_exec": None},
        "roots-blank": {"executables_root": "  "},
        "roots-one-empty": {"executables_root": [roots, ""]},
        "roots-empty-list": {"executables_root": []},
        "roots-null": {"executables_root": None},
        "unknown": {"thread": 4},
    }
    site = Site(tmp_path)
    site.route(
        {
            name: {"classpath": AFBUNDLE, "kwargs": {"executables_root": [roots], **kwargs}}
            for name, kwargs in cases.items()
        },
        {f"q-{name}": name for name in cases},
    )
    refused_by_check = set(
        site.api(
            f"""
            report = afbundle.check_dags({str(site.dags)!r})
            result = sorted(f.coordinator for f in report.findings)
            """
        )
    )
    refused_by_worker = set()
    for name, kwargs in cases.items():
        try:
            ExecutableCoordinator(**{"executables_root": [roots], **kwargs})
        except (TypeError, ValueError):
            refused_by_worker.add(name)
    assert refused_by_check == refused_by_worker
    assert {"cache-dir-empty", "signers-empty", "both-cache-names"} <= refused_by_worker
    assert "old-cache-name" not in refused_by_worker


def test_import_afbundle_imports_no_airflow() -> None:
    code = (
        "import sys, afbundle, afbundle.testing, afbundle.check; afbundle.check_dags; "
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


def test_check_dags_takes_trusted_signers(signed: tuple[Case, Path]) -> None:
    """The API loads a signer path itself (``~`` expanded), before any DAG file runs."""
    one, signers = signed
    site = Site(one.base)
    site.dag("d", stub_dag_file("signed_dag", "a"))
    site.route({"native": native_entry(one.roots)}, {"native": "native"})
    Path(f"{one.roots / 'b'}.sig").unlink()
    site.env["HOME"] = str(signers.parent)
    result = site.api(
        f"""
        report = afbundle.check_dags({str(site.dags)!r}, trusted_signers="~/{signers.name}")
        result = [(f.code, f.dag_id) for f in report.errors]
        """
    )
    assert result == [["missing-bundle", "signed_dag"]]


# --------------------------------------------------------------------------- user code in a child


def _modules(site: Site, **modules: str) -> Path:
    """Python modules on the PYTHONPATH of the check (coordinator classes)."""
    folder = site.base / "modules"
    folder.mkdir(exist_ok=True)
    for name, body in modules.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(body))
    site.env["PYTHONPATH"] = str(folder)
    return folder


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


def test_dag_files_and_coordinator_modules_run_in_a_child_process(tmp_path: Path) -> None:
    """The checking process never executes them: each records the pid that ran it. It
    writes nothing beside the DAGs, the bundles or in AIRFLOW_HOME, and never imports
    afbundle's coordinator module (judged by name)."""
    site = Site(tmp_path)
    ran = tmp_path / "ran"
    record = f"import os\nopen({str(ran)!r}, 'a').write(f'{{__name__}} {{os.getpid()}}\\n')\n"
    (site.dags / "helper_module.py").write_text("VALUE = 1\n")  # the DAG folder is on sys.path
    site.dag("d", record + "import helper_module\n" + stub_dag_file("d_dag", "a", queue="custom"))
    site.dag("n", stub_dag_file("n_dag", "a"))
    site.bundle(tmp_path / "bundles" / "n", {"n_dag": ["a"]})
    _modules(site, my_coordinators=record + "class Coordinator: ...\n")
    site.route(
        {"mine": {"classpath": "my_coordinators.Coordinator"},
         "native": native_entry(tmp_path / "bundles")},
        {"custom": "mine", "native": "native"},
    )  # fmt: skip
    logs = site.home / "logs"  # Airflow's own logging setup may create it
    before = _tree(site.dags, tmp_path / "bundles", site.home, skip=[logs])
    result = site.api(
        f"""\
        import os
        report = afbundle.check_dags({str(site.dags)!r})
        result = {{
            "pid": os.getpid(),
            "codes": [f.code for f in report.findings],
            "dags": list(report.dags),
            "coordinator_imported": "afbundle.coordinator" in sys.modules,
            "imported": [
                name for name, module in sys.modules.items()
                if name in ("my_coordinators", "helper_module")
                or str(getattr(module, "__file__", None)).startswith({str(site.dags)!r})
            ],
        }}
        """
    )
    assert result["codes"] == [] and sorted(result["dags"]) == ["d_dag", "n_dag"]
    assert result["imported"] == [] and result["coordinator_imported"] is False
    runs = [line.split() for line in ran.read_text().splitlines()]
    assert sorted(name.startswith("unusual_prefix") for name, _ in runs) == [False, True]
    assert all(int(pid) != result["pid"] for _, pid in runs), "executed by the checking process"
    after = _tree(site.dags, tmp_path / "bundles", site.home, skip=[logs])
    assert after == before, "the check wrote beside the DAGs, the bundles or in AIRFLOW_HOME"
    assert not site.marker.exists()


def test_coordinator_modules_that_fail_on_import_are_findings_and_write_no_bytecode(
    tmp_path: Path,
) -> None:
    site = Site(tmp_path)
    for queue in ("raises", "exits", "fine"):
        site.dag(queue, stub_dag_file(f"{queue}_dag", "a", queue=queue))
    modules = _modules(
        site,
        raising_coordinators="raise RuntimeError('no JVM here')\nclass Coordinator: ...\n",
        exiting_coordinators="import sys\nsys.exit(3)\nclass Coordinator: ...\n",
        fine_coordinators="class Coordinator: ...\n",
    )
    site.route(
        {
            "raises": {"classpath": "raising_coordinators.Coordinator"},
            "exits": {"classpath": "exiting_coordinators.Coordinator"},
            "fine": {"classpath": "fine_coordinators.Coordinator"},
        },
        {"raises": "raises", "exits": "exits", "fine": "fine"},
    )
    run = site.check("--json")
    assert run.code == 1, run.err
    findings = {f["coordinator"]: f for f in run.json()["findings"]}
    assert set(findings) == {"raises", "exits"}
    assert all(f["code"] == "unknown-coordinator" for f in findings.values())
    assert "does not import: RuntimeError: no JVM here" in findings["raises"]["message"]
    assert "does not import: it calls sys.exit(3)" in findings["exits"]["message"]
    assert not (modules / "__pycache__").exists(), "checking wrote bytecode beside the modules"


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
    site.dag("d", stub_dag_file("d_dag", "a", queue="custom"))
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
    site.dag("d", stub_dag_file("d_dag", "a", queue="custom"))
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
