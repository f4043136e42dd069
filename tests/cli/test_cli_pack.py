"""``afbundle pack`` and ``afbundle strip``, run for real on generated programs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _cli import (
    FLAGS,
    HELLO_C,
    SOURCE,
    afbundle,
    pack_from_flags,
    sha256_of,
    write_manifest,
)
from _writer import (
    BINARY,
    VALID_MANIFEST,
    write_bundle,
    write_executable,
    write_kind,
)


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
    text = VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16") + "flag: on\n"
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 0, run.stderr
    assert (
        f"afbundle: warning: {manifest_file}:5: $.sdk.supervisor_schema_version: the value reads "
        "as the date 2026-06-16 under YAML 1.1 (PyYAML, Airflow's reader) but as the string "
        "'2026-06-16' under YAML 1.2 (afbundle)"
    ) in run.stderr
    assert f"{manifest_file}:10: $.flag: the value reads as the boolean true" in run.stderr
    assert "reads the same under YAML 1.1 and 1.2" in run.stderr
    # What was packed is the YAML 1.2 reading, quoted: PyYAML now agrees.
    embedded = yaml.safe_load(afbundle("inspect", out, "--manifest").stdout)
    assert embedded["sdk"]["supervisor_schema_version"] == "2026-06-16"
    assert embedded["flag"] == "on"


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("tutorial_dag:", "0o17:", "dag key '0o17' reads as the string '0o17' under YAML 1.1"),
        ("tutorial_dag:", "1e3:", "dag key '1e3' reads as the string '1e3' under YAML 1.1"),
        ("tutorial_dag:", "on:", "dag key 'on' reads as the boolean true under YAML 1.1"),
        ("tutorial_dag:", "null:", "dag key 'null' is null under YAML 1.1"),
        ("tutorial_dag:", "true:", "dag key 'true' is the boolean true under YAML 1.1"),
        ("tutorial_dag:", "123:", "dag key '123' is the integer 123 under YAML 1.1"),
        ("[extract, load]", "[extract, yes]", "task 'yes' (tasks[1] of dag 'tutorial_dag')"),
    ],
)
def test_pack_refuses_dag_and_task_keys_airflow_retypes_instead_of_rewriting_them(
    stub_binary: Path, tmp_path: Path, old: str, new: str, named: str
) -> None:
    manifest_file = write_manifest(tmp_path / "m.yaml", VALID_MANIFEST.replace(old, new))
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 1, run.stderr
    assert f"afbundle: error: {manifest_file}:" in run.stderr
    assert named in run.stderr
    assert "nothing was rewritten or written" in run.stderr.splitlines()[-1]
    assert not out.exists()


def test_pack_refuses_a_manifest_yaml_1_1_cannot_read_at_all(
    stub_binary: Path, tmp_path: Path
) -> None:
    text = VALID_MANIFEST.replace('"2026-06-16"', "2026-13-45")  # PyYAML: ValueError
    manifest_file = write_manifest(tmp_path / "m.yaml", text)
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file)
    assert run.code == 1, run.stderr
    assert (
        f"afbundle: error: {manifest_file}: manifest cannot be read by Airflow's YAML 1.1 "
        'reader (PyYAML): line 5: "2026-13-45": month must be in 1..12'
    ) in run.stderr
    assert not out.exists()


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


def test_pack_refuses_a_directory_as_binary_output_or_input_with_exit_2(
    stub_binary: Path, tmp_path: Path
) -> None:
    as_binary = pack_from_flags(tmp_path, tmp_path / "out")
    assert as_binary.code == 2
    assert as_binary.stderr == f"afbundle: error: {tmp_path}: is a directory, not a file\n"
    as_output = pack_from_flags(stub_binary, tmp_path)
    assert as_output.code == 2
    assert as_output.stderr == f"afbundle: error: {tmp_path}: is a directory\n"
    manifest_dir = afbundle("pack", stub_binary, "-o", tmp_path / "o", "--manifest", tmp_path)
    assert manifest_dir.code == 2
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_pack_warns_when_the_manifest_names_another_source_file(
    stub_binary: Path, tmp_path: Path
) -> None:
    manifest_file = write_manifest(tmp_path / "m.yaml", VALID_MANIFEST)  # source: main.go
    source = tmp_path / "report.c"
    source.write_bytes(b"int main(void) { return 0; }\n")
    out = tmp_path / "out"
    run = afbundle("pack", stub_binary, "-o", out, "--manifest", manifest_file, "--source", source)
    assert run.code == 0, run.stderr
    assert (
        f"afbundle: warning: {manifest_file}: source is main.go but --source embeds report.c"
        in run.stderr
    )
    same = afbundle(
        "pack", stub_binary, "-o", tmp_path / "o2", "--manifest", manifest_file,
        "--source", tmp_path / "build" / "main.go",
    )  # fmt: skip
    assert "source is" not in same.stderr
