"""The ``afbundle`` command line, run for real in a subprocess on generated trees.

Bundles come from ``afbundle pack`` itself and from the independent writer in
``_writer.py``; the realistic ones wrap a C program compiled once per session.
Every ``--json`` document is validated against the shipped output schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from _writer import (
    BINARY,
    manifest,
    raw_yaml_manifest,
    write_bundle,
    write_executable,
    write_file,
    write_kind,
)

HELLO_C = b"""#include <stdio.h>
int main(void) { puts("hello from a bundled DAG program"); return 0; }
"""
SOURCE = b"package main\n\nfunc main() {}\n"
FLAGS = ["--language", "c", "--sdk-version", "0.1.0", "--schema-version", "2026-06-16"]


@dataclasses.dataclass
class Run:
    """One finished ``afbundle`` process."""

    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    def json(self) -> Any:
        document = json.loads(self.stdout)
        output_schema().validate(document)
        return document


def afbundle(*args: Any, cwd: Path | None = None, env: dict[str, str] | None = None) -> Run:
    """Run ``python -m afbundle ARGS`` and check that no failure ever shows a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "afbundle", *map(str, args)],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=60,
    )
    run = Run(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", errors="replace"))
    assert "Traceback" not in run.stderr, run.stderr
    return run


_OUTPUT_SCHEMA: list[Draft202012Validator] = []


def output_schema() -> Draft202012Validator:
    if not _OUTPUT_SCHEMA:
        text = resources.files("afbundle").joinpath("schema/scan-output.schema.json").read_text()
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        _OUTPUT_SCHEMA.append(Draft202012Validator(schema))
    return _OUTPUT_SCHEMA[0]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="session")
def hello_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ELF program, compiled once (skipped when gcc is missing)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("gcc is not installed: no real binary to pack")
    work = tmp_path_factory.mktemp("hello")
    (work / "hello.c").write_bytes(HELLO_C)
    subprocess.run([gcc, "-O1", "-o", str(work / "hello"), str(work / "hello.c")], check=True)
    return work / "hello"


@pytest.fixture
def stub_binary(tmp_path: Path) -> Path:
    """A small executable stand-in for a compiled program."""
    return write_executable(tmp_path / "build" / "program", BINARY)


def pack_from_flags(binary: Path, out: Path, *extra: Any, source: Path | None = None) -> Run:
    if source is None:
        source = binary.parent / "main.go"
        source.write_bytes(SOURCE)
    return afbundle(
        "pack", binary, "-o", out, "--source", source,
        "--dag", "hello_dag", "--tasks", "extract,transform,load", *FLAGS, *extra,
    )  # fmt: skip


def write_manifest(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


VALID_MANIFEST = """\
airflow_bundle_metadata_version: "1.0"
sdk:
  language: go
  version: "0.1.0"
  supervisor_schema_version: "2026-06-16"
source: main.go
dags:
  tutorial_dag:
    tasks: [extract, load]
"""


# --------------------------------------------------------------------------- help and import


def test_help_lists_every_subcommand_and_the_exit_statuses() -> None:
    run = afbundle("--help")
    assert run.code == 0
    for command in ("pack", "inspect", "verify", "scan", "find", "strip"):
        assert command in run.out
    assert "exit status:" in run.out
    assert "2  usage error or I/O error" in run.out
    assert afbundle("scan", "--help").out.count("exit status:") == 1
    assert afbundle("--version").out.startswith("afbundle ")


def test_no_subcommand_is_a_usage_error() -> None:
    run = afbundle()
    assert run.code == 2
    assert "usage: afbundle" in run.stderr


def test_importing_afbundle_and_the_cli_loads_neither_jsonschema_nor_yaml() -> None:
    code = "import sys, afbundle.cli; print(sorted({'jsonschema', 'yaml'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- pack


def test_a_packed_c_program_still_runs_and_inspects_as_packed(
    hello_binary: Path, tmp_path: Path
) -> None:
    source = tmp_path / "hello.c"
    source.write_bytes(HELLO_C)
    out = tmp_path / "bundles" / "hello"
    out.parent.mkdir()
    packed = pack_from_flags(hello_binary, out, "--dag", "cleanup", source=source)
    assert packed.code == 0, packed.stderr
    assert f"packed {out}" in packed.out
    assert "cleanup (0 tasks), hello_dag (3 tasks)" in packed.out
    assert "'cleanup' declares no tasks" in packed.stderr

    ran = subprocess.run([str(out)], capture_output=True, text=True, check=True)
    assert ran.stdout == "hello from a bundled DAG program\n"

    bundle = afbundle("inspect", out, "--json").json()["bundle"]
    binary_len = hello_binary.stat().st_size
    assert bundle["regions"]["binary"] == {"offset": 0, "length": binary_len}
    assert bundle["regions"]["source"] == {"offset": binary_len, "length": len(HELLO_C)}
    assert bundle["binary_sha256"] == bundle["binary_sha256_actual"] == sha256_of(hello_binary)
    assert bundle["verified"] is True
    assert (bundle["language"], bundle["source_name"]) == ("c", "hello.c")
    assert bundle["dags"] == [
        {"dag_id": "cleanup", "tasks": []},
        {"dag_id": "hello_dag", "tasks": ["extract", "transform", "load"]},
    ]
    assert bundle["manifest"]["airflow_bundle_metadata_version"] == "1.0"
    assert afbundle("inspect", out, "--source").stdout == HELLO_C


def test_pack_is_deterministic(stub_binary: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert pack_from_flags(stub_binary, first).code == 0
    assert pack_from_flags(stub_binary, second).code == 0
    assert sha256_of(first) == sha256_of(second)
    manifest_file = write_manifest(tmp_path / "m.yaml", VALID_MANIFEST)
    for out in (tmp_path / "third", tmp_path / "fourth"):
        afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert sha256_of(tmp_path / "third") == sha256_of(tmp_path / "fourth")


def test_pack_then_strip_gives_the_binary_back_byte_for_byte(
    hello_binary: Path, tmp_path: Path
) -> None:
    bundle, original = tmp_path / "bundle", tmp_path / "original"
    assert pack_from_flags(hello_binary, bundle).code == 0
    stripped = afbundle("strip", bundle, "-o", original)
    assert stripped.code == 0, stripped.stderr
    assert original.read_bytes() == hello_binary.read_bytes()
    assert os.access(original, os.X_OK)


@pytest.mark.airflow
def test_a_packed_bundle_is_found_by_upstream_airflow(hello_binary: Path, tmp_path: Path) -> None:
    upstream = pytest.importorskip(
        "airflow.sdk.coordinators.executable.coordinator",
        reason="needs the `airflow` extra (apache-airflow-task-sdk)",
    )
    root = tmp_path / "executables"
    (root / "team-a").mkdir(parents=True)
    manifest_file = write_manifest(
        tmp_path / "m.yaml", VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16")
    )
    run = afbundle(
        "pack", hello_binary, "-o", root / "team-a" / "pipeline", "--manifest", manifest_file
    )
    assert run.code == 0, run.stderr
    found = upstream._Bundle.find([root], "tutorial_dag")
    assert found.path == (root / "team-a" / "pipeline").resolve()
    assert found.schema_version == "2026-06-16"


def test_pack_never_runs_the_binary(tmp_path: Path) -> None:
    witness = tmp_path / "it-ran"
    binary = write_executable(tmp_path / "program", f"#!/bin/sh\ntouch {witness}\n".encode())
    assert pack_from_flags(binary, tmp_path / "bundle").code == 0
    assert not witness.exists()


def test_pack_fills_source_from_the_source_file_name(stub_binary: Path, tmp_path: Path) -> None:
    text = VALID_MANIFEST.replace("source: main.go\n", "")
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    source = tmp_path / "pipeline.go"
    source.write_bytes(SOURCE)
    out = tmp_path / "bundle"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file, "--source", source)
    assert run.code == 0, run.stderr
    bundle = afbundle("inspect", out, "--json").json()["bundle"]
    assert bundle["source_name"] == "pipeline.go"
    assert afbundle("inspect", out, "--source").stdout == SOURCE


def test_pack_reads_the_manifest_from_stdin(stub_binary: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "afbundle", "pack", stub_binary, "-o", tmp_path / "b",
         "--manifest", "-"],
        input=VALID_MANIFEST.encode(),
        capture_output=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b").exists()


def test_pack_lists_every_schema_violation_with_its_path_and_writes_nothing(
    stub_binary: Path, tmp_path: Path
) -> None:
    manifest_file = write_manifest(
        tmp_path / "bad.yaml",
        "airflow_bundle_metadata_version: 1.0\n"
        "sdk:\n  language: Go\n  supervisor_schema_version: '2026-6-1'\n"
        "source: ''\n"
        "dags:\n  a:\n    tasks: ['', 3]\n  b: {}\n",
    )
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 1
    expected = [
        "$.airflow_bundle_metadata_version: 1.0 is not of type 'string'",
        "$.dags.a.tasks[0]: '' should be non-empty",
        "$.dags.a.tasks[1]: 3 is not of type 'string'",
        "$.dags.b: 'tasks' is a required property",
        "$.sdk: 'version' is a required property",
        "$.sdk.language: 'Go' does not match",
        "$.sdk.supervisor_schema_version: '2026-6-1' does not match",
        "$.source: '' should be non-empty",
    ]
    lines = run.stderr.splitlines()
    for violation in expected:
        assert any(
            line.startswith(f"afbundle: error: {manifest_file}: {violation}") for line in lines
        )
    assert lines[-1].endswith("manifest does not match the bundle spec's schema (8 violations)")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml", "build"]


def test_pack_names_the_flag_behind_a_violation(stub_binary: Path, tmp_path: Path) -> None:
    source = tmp_path / "main.go"
    source.write_bytes(SOURCE)
    run = afbundle(
        "pack", stub_binary, "-o", tmp_path / "out", "--source", source, "--dag", "d",
        "--language", "c", "--sdk-version", "1", "--schema-version", "2026-6-1",
    )  # fmt: skip
    assert run.code == 1
    assert "$.sdk.supervisor_schema_version: '2026-6-1' does not match" in run.stderr
    assert "(from --schema-version)" in run.stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"- tutorial_dag\n- other\n", "manifest is not a YAML mapping (found a sequence)"),
        (b"just a scalar\n", "manifest is not a YAML mapping (found a string)"),
        (VALID_MANIFEST.encode() + b"note: \xff\xfe\n", "manifest is not valid UTF-8"),
        (b"dags: [unclosed\n", "manifest is not valid YAML"),
        (VALID_MANIFEST.replace("tutorial_dag:\n    tasks: [extract, load]", "{}").encode(),
         "$.dags: {} should be non-empty"),
    ],
    ids=["sequence", "scalar", "invalid-utf8", "invalid-yaml", "empty-dags"],
)  # fmt: skip
def test_pack_refuses_a_bad_manifest_and_writes_nothing(
    stub_binary: Path, tmp_path: Path, content: bytes, reason: str
) -> None:
    manifest_file = tmp_path / "m.yaml"
    manifest_file.write_bytes(content)
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 1
    assert run.stderr.startswith(f"afbundle: error: {manifest_file}: {reason}")
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".afbundle")]


def test_pack_warns_when_yaml_1_1_reads_an_unquoted_date_differently(
    stub_binary: Path, tmp_path: Path
) -> None:
    text = VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16").replace("[extract, load]", "[on]")
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 0, run.stderr
    assert (
        f"afbundle: warning: {manifest_file}:5: $.sdk.supervisor_schema_version: the value reads "
        "as the date 2026-06-16 under YAML 1.1 (PyYAML, Airflow's reader) but as the string "
        "'2026-06-16' under YAML 1.2 (afbundle)"
    ) in run.stderr
    assert (
        f"{manifest_file}:9: $.dags.tutorial_dag.tasks[0]: the value reads as the boolean true"
        in run.stderr
    )
    assert "reads the same under YAML 1.1 and 1.2" in run.stderr
    # What was packed is the YAML 1.2 reading, quoted: PyYAML now agrees.
    embedded = yaml.safe_load(afbundle("inspect", out, "--manifest").stdout)
    assert embedded["sdk"]["supervisor_schema_version"] == "2026-06-16"
    assert embedded["dags"]["tutorial_dag"]["tasks"] == ["on"]


def test_pack_warns_when_yaml_1_1_cannot_read_the_manifest_at_all(
    stub_binary: Path, tmp_path: Path
) -> None:
    text = VALID_MANIFEST.replace('"2026-06-16"', "2026-13-45")  # PyYAML: ValueError
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 0, run.stderr
    assert (
        f"{manifest_file}:5: $: YAML 1.1 (PyYAML, Airflow's reader) cannot read it: "
        "month must be in 1..12"
    ) in run.stderr
    embedded = yaml.safe_load(afbundle("inspect", out, "--manifest").stdout)
    assert embedded["sdk"]["supervisor_schema_version"] == "2026-13-45"


def test_pack_without_yaml_1_1_differences_prints_no_warning(
    stub_binary: Path, tmp_path: Path
) -> None:
    manifest_file = write_manifest(tmp_path / "m.yaml", VALID_MANIFEST)
    run = afbundle("pack", stub_binary, "-o", tmp_path / "out", "--manifest", manifest_file)
    assert (run.code, run.stderr) == (0, "")


def test_pack_skips_the_yaml_lint_with_a_note_when_pyyaml_is_missing(
    stub_binary: Path, tmp_path: Path
) -> None:
    shadow = tmp_path / "no-pyyaml" / "yaml"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('PyYAML is hidden by the test')\n")
    text = VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16")
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    run = afbundle(
        "pack", stub_binary, "-o", tmp_path / "out", "--manifest", manifest_file,
        env={"PYTHONPATH": str(shadow.parent)},
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert "PyYAML is not installed: skipped the YAML 1.1/1.2 portability check" in run.stderr
    assert "warning" not in run.stderr


def test_pack_refuses_an_existing_output_unless_forced(stub_binary: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"precious")
    run = pack_from_flags(stub_binary, out)
    assert run.code == 2
    assert run.stderr == f"afbundle: error: {out}: already exists (pass --force to replace it)\n"
    assert out.read_bytes() == b"precious"
    assert pack_from_flags(stub_binary, out, "--force").code == 0
    assert afbundle("verify", out).code == 0


def test_pack_refuses_a_bundle_as_binary_unless_replace_footer(
    stub_binary: Path, tmp_path: Path
) -> None:
    once, twice = tmp_path / "once", tmp_path / "twice"
    assert pack_from_flags(stub_binary, once).code == 0
    run = pack_from_flags(once, twice)
    assert run.code == 1
    assert "already a bundle" in run.stderr and "--replace-footer" in run.stderr
    assert not twice.exists()
    assert pack_from_flags(once, twice, "--replace-footer").code == 0
    assert afbundle("strip", twice, "-o", tmp_path / "binary").code == 0
    assert (tmp_path / "binary").read_bytes() == stub_binary.read_bytes()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--manifest", "m.yaml", "--dag", "d"], "--manifest cannot be combined with --dag"),
        (["--dag", "d", "--language", "c"], "--sdk-version, --schema-version"),
        (["--tasks", "a", "--dag", "d", *FLAGS], "argument --tasks: must follow the --dag"),
        (["--dag", "d", "--dag", "d", *FLAGS], "dag_id 'd' given twice"),
        (["--dag", "d", "--tasks", "a,,b", *FLAGS], "empty task_id in 'a,,b'"),
        (["--dag", "d", *FLAGS], "--source FILE is required"),
        ([], "give --manifest FILE"),
    ],
    ids=["manifest-and-flags", "missing-flags", "tasks-first", "dag-twice", "empty-task",
         "no-source", "nothing"],
)  # fmt: skip
def test_pack_usage_errors_exit_2(
    stub_binary: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    run = afbundle("pack", stub_binary, "-o", tmp_path / "out", *args, cwd=tmp_path)
    assert run.code == 2
    assert message in run.stderr
    assert not (tmp_path / "out").exists()


def test_pack_io_errors_exit_2(stub_binary: Path, tmp_path: Path) -> None:
    missing = pack_from_flags(tmp_path / "no-such-binary", tmp_path / "out")
    assert missing.code == 2
    assert (
        f"{tmp_path / 'no-such-binary'}: cannot open: No such file or directory" in missing.stderr
    )
    no_dir = pack_from_flags(stub_binary, tmp_path / "no-such-dir" / "out")
    assert no_dir.code == 2
    assert no_dir.stderr == f"afbundle: error: {tmp_path / 'no-such-dir'}: no such directory\n"


# --------------------------------------------------------------------------- inspect


def test_inspect_reports_the_fields_of_a_bundle_from_the_independent_writer(
    tmp_path: Path,
) -> None:
    source = "package main // ünïcode\n".encode()
    meta = manifest(["a_dag", "b_dag"], language="rust", source="main.rs")
    path = write_bundle(tmp_path / "bundle", metadata=meta, source=source)
    meta_len = len(yaml.safe_dump(meta, sort_keys=True).encode())
    size = path.stat().st_size

    bundle = afbundle("inspect", path, "--json").json()["bundle"]
    assert bundle["size"] == size
    assert bundle["footer_version"] == 1
    assert bundle["regions"] == {
        "binary": {"offset": 0, "length": len(BINARY)},
        "source": {"offset": len(BINARY), "length": len(source)},
        "manifest": {"offset": len(BINARY) + len(source), "length": meta_len},
        "trailer": {"offset": size - 64, "length": 64},
    }
    assert bundle["binary_sha256"] == hashlib.sha256(BINARY).hexdigest()
    assert bundle["verified"] is True
    assert bundle["dag_ids"] == ["a_dag", "b_dag"]
    assert (bundle["language"], bundle["sdk_version"]) == ("rust", "0.1.0")
    assert bundle["supervisor_schema_version"] == "2026-06-16"

    human = afbundle("inspect", path)
    assert human.code == 0
    assert f"expected {hashlib.sha256(BINARY).hexdigest()}" in human.out
    assert "verified        yes" in human.out
    assert "sdk.language                     rust" in human.out
    assert "  a_dag       1" in human.out


def test_inspect_shows_expected_and_actual_digest_of_a_corrupted_bundle(tmp_path: Path) -> None:
    wrong = hashlib.sha256(b"another binary").digest()
    path = write_bundle(tmp_path / "bundle", digest=wrong)
    run = afbundle("inspect", path, "--json")
    assert run.code == 1
    bundle = run.json()["bundle"]
    assert bundle["binary_sha256"] == wrong.hex()
    assert bundle["binary_sha256_actual"] == hashlib.sha256(BINARY).hexdigest()
    assert bundle["verified"] is False
    assert "binary_sha256 mismatch" in bundle["problem"]
    human = afbundle("inspect", path)
    assert human.code == 1
    assert f"actual   {hashlib.sha256(BINARY).hexdigest()}" in human.out
    assert "no: the binary region does not hash to binary_sha256" in human.out


def test_inspect_source_and_manifest_write_the_raw_regions(tmp_path: Path) -> None:
    source = b"\x00\xff binary-safe \r\n\x1b"
    raw_manifest = b"# comment kept\n" + yaml.safe_dump(manifest()).encode()
    path = write_bundle(tmp_path / "bundle", source=source, metadata=raw_manifest)
    assert afbundle("inspect", path, "--source").stdout == source
    assert afbundle("inspect", path, "--manifest").stdout == raw_manifest
    assert afbundle("inspect", path, "--source", "--manifest").code == 2


def test_inspect_extract_writes_binary_source_and_manifest(tmp_path: Path) -> None:
    meta = manifest(source="../../../etc/pipeline.go")
    path = write_bundle(tmp_path / "bundles" / "pipeline", metadata=meta, source=SOURCE)
    out = tmp_path / "out"
    run = afbundle("inspect", path, "--extract", out, "--json")
    assert run.code == 0, run.stderr
    assert run.json()["extracted"] == {
        "binary": str(out / "pipeline"),
        "source": str(out / "pipeline.go"),
        "manifest": str(out / "airflow-metadata.yaml"),
    }
    assert (out / "pipeline").read_bytes() == BINARY
    assert (out / "pipeline.go").read_bytes() == SOURCE
    assert yaml.safe_load((out / "airflow-metadata.yaml").read_bytes()) == meta
    assert sorted(p.name for p in out.iterdir()) == [
        "airflow-metadata.yaml",
        "pipeline",
        "pipeline.go",
    ]

    again = afbundle("inspect", path, "--extract", out)
    assert again.code == 2
    assert "already exists (pass --force to replace it)" in again.stderr
    assert afbundle("inspect", path, "--extract", out, "--force").code == 0


def test_inspect_extract_renames_a_binary_that_collides_with_the_source(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "main.go", metadata=manifest(source="main.go"))
    run = afbundle("inspect", path, "--extract", tmp_path / "out", "--json")
    assert run.json()["extracted"]["binary"] == str(tmp_path / "out" / "main.go.bin")


def test_inspect_of_a_bundle_with_an_unreadable_manifest_still_shows_its_regions(
    tmp_path: Path,
) -> None:
    path = write_kind(tmp_path / "bundle", "bad_yaml")
    run = afbundle("inspect", path, "--json")
    assert run.code == 1
    bundle = run.json()["bundle"]
    assert bundle["manifest_error"].startswith("manifest is not valid YAML")
    assert bundle["verified"] is True
    assert bundle["dag_ids"] == []
    assert bundle["manifest"] is None
    assert afbundle("inspect", path, "--manifest").stdout == b"key: : not: valid: yaml: ["
    assert "manifest is not valid YAML" in afbundle("inspect", path).out


def test_a_manifest_python_cannot_hold_is_reported_not_a_traceback(tmp_path: Path) -> None:
    raw = raw_yaml_manifest() + b"? [a, b]\n: x\n"  # a sequence as a mapping key
    path = write_bundle(tmp_path / "root" / "bundle", metadata=raw)
    inspected = afbundle("inspect", path, "--json")
    assert inspected.code == 1
    assert "as a mapping key" in inspected.json()["bundle"]["manifest_error"]
    scanned = afbundle("scan", tmp_path / "root", "--json")
    assert scanned.code == 1
    assert scanned.json()["bundles"] == []
    assert [r["kind"] for r in scanned.json()["rejected"]] == ["manifest"]
    strict = afbundle("verify", "--strict", path)
    assert strict.code == 1
    assert "as a mapping key" in strict.out


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("not_bundle", "no AFBNDL01 magic in the last 8 bytes"),
        ("bad_footer_ver", "unsupported footer_ver=2"),
        ("nonzero_reserved", "trailer reserved bytes 44..56 must be zero"),
    ],
)
def test_inspect_of_a_file_that_is_not_a_valid_bundle_exits_1(
    tmp_path: Path, kind: str, reason: str
) -> None:
    path = write_kind(tmp_path / kind, kind)
    run = afbundle("inspect", path)
    assert run.code == 1
    assert run.stderr.startswith(f"afbundle: error: {path.resolve()}: {reason}")
    assert run.stdout == b""


def test_inspect_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    run = afbundle("inspect", tmp_path / "nope", "--json")
    assert run.code == 2
    assert (
        run.stderr
        == f"afbundle: error: {tmp_path / 'nope'}: cannot open: No such file or directory\n"
    )
    assert run.stdout == b""


# --------------------------------------------------------------------------- verify


def test_verify_prints_one_line_per_file(tmp_path: Path) -> None:
    good = write_bundle(tmp_path / "good")
    corrupt = write_kind(tmp_path / "corrupt", "corrupt_binary")
    plain = write_kind(tmp_path / "plain", "not_bundle")
    run = afbundle("verify", good, corrupt, plain)
    assert run.code == 1
    lines = run.out.splitlines()
    assert lines[0] == f"OK {good}"
    assert lines[1].startswith(f"FAIL {corrupt}: binary_sha256 mismatch: trailer has ")
    assert lines[2] == f"FAIL {plain}: no AFBNDL01 magic in the last 8 bytes"
    assert len(lines) == 3


@pytest.mark.parametrize(
    ("files", "code"),
    [(["good"], 0), (["good", "corrupt"], 1), (["good", "corrupt", "missing"], 2)],
)
def test_verify_exit_status(tmp_path: Path, files: list[str], code: int) -> None:
    write_bundle(tmp_path / "good")
    write_kind(tmp_path / "corrupt", "corrupt_binary")
    assert afbundle("verify", *files, cwd=tmp_path).code == code


def test_verify_strict_validates_the_manifest_against_the_schema(tmp_path: Path) -> None:
    loose = manifest(language="Go")
    del loose["sdk"]["version"]
    path = write_bundle(tmp_path / "loose", metadata=loose)
    assert afbundle("verify", path).code == 0
    run = afbundle("verify", "--strict", path, "--json")
    assert run.code == 1
    (result,) = run.json()["results"]
    assert (result["ok"], result["kind"]) == (False, "schema")
    assert [v["path"] for v in result["violations"]] == ["$.sdk", "$.sdk.language"]
    human = afbundle("verify", "--strict", path)
    assert human.out.startswith(f"FAIL {path}: manifest has 2 schema violations: $.sdk: ")


def test_verify_strict_warns_about_an_embedded_manifest_airflow_reads_differently(
    tmp_path: Path,
) -> None:
    raw = VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16").encode()
    path = write_bundle(tmp_path / "unquoted", metadata=raw)
    run = afbundle("verify", "--strict", path)
    assert run.code == 0
    assert run.out == f"OK {path}\n"
    assert (
        "manifest line 5: $.sdk.supervisor_schema_version: the value reads as the date"
        in run.stderr
    )


def test_verify_json_matches_the_schema(tmp_path: Path) -> None:
    write_bundle(tmp_path / "good")
    write_kind(tmp_path / "corrupt", "corrupt_binary")
    document = afbundle("verify", "good", "corrupt", "missing", "--json", cwd=tmp_path).json()
    assert (document["ok"], document["failed"]) == (1, 2)
    assert [r["kind"] for r in document["results"]] == [None, "integrity", "io"]


# --------------------------------------------------------------------------- scan


@pytest.fixture
def bundle_tree(tmp_path: Path) -> Path:
    """A root with bundles, a duplicate dag_id, a corrupted bundle and non-bundles."""
    root = tmp_path / "root"
    write_bundle(root / "example", dag_ids=["example_dag"])
    write_bundle(root / "team-a" / "pipeline", dag_ids=["pipeline_dag", "backfill"])
    write_bundle(root / "team-b" / "zz-old", metadata=manifest(["pipeline_dag"], language="zig"))
    write_kind(root / "team-b" / "broken", "corrupt_binary", dag_ids=["broken_dag"])
    write_executable(root / "tool.sh")
    write_file(root / "README.md", b"bundles live here\n", executable=False)
    return root


def test_scan_tables_bundles_rejections_duplicates_and_counters(bundle_tree: Path) -> None:
    run = afbundle("scan", bundle_tree)
    assert run.code == 1  # a rejected bundle
    out = run.out
    assert "bundles (3, in precedence order)" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(f"  {bundle_tree}")]
    assert [Path(r[0]).relative_to(bundle_tree).as_posix() for r in rows[:3]] == [
        "example",
        "team-a/pipeline",
        "team-b/zz-old",
    ]
    assert rows[1][1:3] == ["backfill,", "pipeline_dag"]
    zz_old_size = (bundle_tree / "team-b" / "zz-old").stat().st_size
    assert rows[2][1:] == ["pipeline_dag", "zig", "2026-06-16", str(zz_old_size), "B", "yes"]
    assert "rejected (1)" in out and "integrity  binary_sha256 mismatch" in out
    assert "duplicate dag_ids (1)" in out
    dup = next(line for line in out.splitlines() if line.startswith("  pipeline_dag"))
    assert dup.split()[1:] == [
        str(bundle_tree / "team-a" / "pipeline"),
        str(bundle_tree / "team-b" / "zz-old"),
        "(shadowed)",
    ]
    assert "scanned 3 directories, 6 files: 5 executable, 1 not executable" in out
    assert run.stderr == ""  # no progress spinner when stderr is not a terminal


def test_scan_json_matches_the_schema_and_keeps_precedence_order(bundle_tree: Path) -> None:
    document = afbundle("scan", bundle_tree, "--json").json()
    assert [Path(b["path"]).name for b in document["bundles"]] == ["example", "pipeline", "zz-old"]
    assert all(b["verified"] is True for b in document["bundles"])
    assert document["rejected"][0]["kind"] == "integrity"
    assert document["duplicates"] == [
        {
            "dag_id": "pipeline_dag",
            "winner": str(bundle_tree / "team-a" / "pipeline"),
            "shadowed": [
                {
                    "path": str(bundle_tree / "team-b" / "zz-old"),
                    "kind": "shadowed",
                    "reason": "an earlier bundle in precedence order declares the dag_id",
                }
            ],
        }
    ]
    assert document["stats"]["executables"] == 5
    assert document["verify"] is True


def test_scan_without_verification_marks_bundles_unchecked(bundle_tree: Path) -> None:
    document = afbundle("scan", bundle_tree, "--verify", "none", "--json").json()
    assert len(document["bundles"]) == 4
    assert {b["verified"] for b in document["bundles"]} == {None}
    assert document["stats"]["bytes_hashed"] == 0
    assert "unchecked" in afbundle("scan", bundle_tree, "--verify", "none").out


@pytest.mark.parametrize(
    ("roots", "code"),
    [(["clean"], 0), (["clean", "root"], 1), (["clean", "missing"], 2)],
)
def test_scan_exit_status(bundle_tree: Path, roots: list[str], code: int) -> None:
    write_bundle(bundle_tree.parent / "clean" / "only")
    run = afbundle("scan", *roots, "--threads", "2", cwd=bundle_tree.parent)
    assert run.code == code
    if code == 2:
        assert "missing roots (1)" in run.out


def test_scan_usage_errors_exit_2(tmp_path: Path) -> None:
    assert afbundle("scan", tmp_path, "--threads", "0").code == 2
    assert afbundle("scan", tmp_path, "--verify", "some").code == 2
    assert afbundle("scan").code == 2


# --------------------------------------------------------------------------- find


def test_find_prints_only_the_winning_path(bundle_tree: Path) -> None:
    run = afbundle("find", "pipeline_dag", bundle_tree)
    assert run.code == 0
    assert run.out == f"{bundle_tree / 'team-a' / 'pipeline'}\n"
    assert "dag_id is declared by several bundles" in run.stderr
    document = afbundle("find", "example_dag", bundle_tree, "--json").json()
    assert document["found"] is True
    assert document["bundle"]["path"] == str(bundle_tree / "example")
    assert document["bundle"]["verified"] is True


def test_find_explains_on_stderr_when_nothing_is_found(bundle_tree: Path) -> None:
    run = afbundle("find", "broken_dag", bundle_tree)
    assert run.code == 1
    assert run.stdout == b""
    assert run.stderr.startswith(
        "afbundle: error: cannot find executable bundle containing dag_id='broken_dag'"
    )
    assert "matching bundles failed verification" in run.stderr
    document = afbundle("find", "broken_dag", bundle_tree, "--json").json()
    assert (document["found"], document["bundle"]) == (False, None)
    assert [r["kind"] for r in document["rejected"]] == ["integrity"]


def test_find_usage_errors_exit_2(bundle_tree: Path) -> None:
    assert afbundle("find", "example_dag").code == 2
    assert afbundle("find", "example_dag", bundle_tree, "--threads", "x").code == 2


# --------------------------------------------------------------------------- strip


def test_strip_exit_status(tmp_path: Path) -> None:
    good = write_bundle(tmp_path / "good")
    corrupt = write_kind(tmp_path / "corrupt", "corrupt_binary")
    out = tmp_path / "out"
    assert afbundle("strip", corrupt, "-o", out).code == 1
    assert afbundle("strip", tmp_path / "missing", "-o", out).code == 2
    assert not out.exists()
    ok = afbundle("strip", good, "-o", out)
    assert ok.code == 0
    assert out.read_bytes() == BINARY
    again = afbundle("strip", good, "-o", out)
    assert again.code == 2 and "already exists" in again.stderr
    assert afbundle("strip", good, "-o", out, "--force").code == 0


# --------------------------------------------------------------------------- colour


def _run_on_a_terminal(args: list[Any], env: dict[str, str]) -> bytes:
    """Run the CLI with stdout on a pseudo-terminal and return what it printed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "afbundle", *map(str, args)],
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        os.close(follower)
        chunks = list(_drain(leader))
        proc.wait(timeout=60)
    finally:
        os.close(leader)
    return b"".join(chunks)


def _drain(fd: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        yield chunk


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    good = write_bundle(tmp_path / "good")
    env = {"NO_COLOR": "", "TERM": "xterm"}
    assert b"\x1b[32mOK\x1b[0m" in _run_on_a_terminal(["verify", good], env)
    assert b"\x1b[" not in _run_on_a_terminal(["verify", good], {"NO_COLOR": "1", "TERM": "xterm"})
    assert b"\x1b[" not in afbundle("verify", good, env={"TERM": "xterm"}).stdout


# --------------------------------------------------------------------------- progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_spinner_turns_only_while_slow_work_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from afbundle import cli

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.with_progress("scanning /opt", lambda: time.sleep(0.35) or 42, show=True) == 42
    drawn = terminal.getvalue()
    assert re.search(r"\r[|/\-\\] scanning /opt \(\d+\.\d s\)", drawn), drawn
    assert drawn.endswith("\r\x1b[K")

    terminal.seek(0), terminal.truncate()
    assert cli.with_progress("scanning /opt", lambda: 7, show=True) == 7
    assert cli.with_progress("scanning /opt", lambda: time.sleep(0.2) or 8, show=False) == 8
    assert terminal.getvalue() == ""
    with pytest.raises(ZeroDivisionError):
        cli.with_progress("scanning /opt", lambda: 1 // 0, show=True)


def test_scan_and_find_use_the_cache_dir_given_and_no_cache_leaves_it_alone(
    tmp_path: Path,
) -> None:
    write_bundle(tmp_path / "root" / "b", dag_ids=["d"])
    cache = tmp_path / "cache"
    untouched = afbundle("scan", tmp_path / "root", "--no-cache", "--json")
    assert untouched.code == 0 and not cache.exists()
    first = afbundle("scan", tmp_path / "root", "--cache-dir", cache, "--json").json()
    assert first["stats"]["cache_hits"] == 0 and any(cache.rglob("*"))
    second = afbundle("scan", tmp_path / "root", "--cache-dir", cache, "--json").json()
    assert (second["stats"]["cache_hits"], second["stats"]["bytes_hashed"]) == (1, 0)
    found = afbundle("find", "d", tmp_path / "root", "--cache-dir", cache)
    assert found.code == 0 and found.out.strip() == str((tmp_path / "root" / "b").resolve())
    both = afbundle("scan", tmp_path / "root", "--cache-dir", cache, "--no-cache")
    assert both.code == 2
