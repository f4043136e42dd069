"""afbundle.check_manifest and afbundle.inspection: library logic the CLI shares with API users."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import afbundle
from afbundle import inspection

from _writer import BINARY, VALID_MANIFEST, manifest, write_bundle

VALID = VALID_MANIFEST.encode()


def test_a_valid_manifest_has_no_findings() -> None:
    assert afbundle.check_manifest(VALID) == []
    assert afbundle.check_manifest(VALID.decode()) == []
    assert afbundle.check_manifest(manifest()) == []


def test_schema_violations_are_errors_sorted_by_path() -> None:
    findings = afbundle.check_manifest({"sdk": {"language": "Go"}, "dags": {}})
    assert findings, "an invalid manifest must have findings"
    assert {(f.code, f.severity) for f in findings} == {("schema", "error")}
    paths = [f.path for f in findings]
    assert paths == sorted(paths)
    assert "$.sdk.language" in paths and "$.dags" in paths
    assert str(findings[0]).startswith("error: $: ")


def test_yaml_1_1_differences_are_warnings_with_their_line() -> None:
    raw = VALID.replace(b'"2026-06-16"', b"2026-06-16") + b"flag: on\n"
    findings = afbundle.check_manifest(raw)
    assert [(f.code, f.severity, f.path, f.line) for f in findings] == [
        ("yaml-1.1", "warning", "$.sdk.supervisor_schema_version", 5),
        ("yaml-1.1", "warning", "$.flag", 10),
    ]
    assert "the date 2026-06-16 under YAML 1.1" in findings[0].message
    assert afbundle.check_manifest(raw, portability=False) == []


@pytest.mark.parametrize(
    ("replace", "new", "path", "line", "words"),
    [
        (b"[extract, load]", b"[on, load]", "$.dags.tutorial_dag.tasks[0]", 9, "task 'on' (tasks"),
        (b"tutorial_dag:", b"on:", "$.dags.on", 8, "dag key 'on' reads as the boolean true"),
        (b"tutorial_dag:", b"0o17:", "$.dags['0o17']", 8, "dag key '0o17' reads as the string"),
        (b"tutorial_dag:", b"1_000:", "$.dags['1_000']", 8, "dag key '1_000' reads as the integer"),
        (b"tutorial_dag:", b"null:", "$.dags.null", 8, "dag key 'null' is null under YAML 1.1"),
    ],
)
def test_dag_and_task_keys_airflow_retypes_are_errors_whatever_is_switched_off(
    replace: bytes, new: bytes, path: str, line: int, words: str
) -> None:
    raw = VALID.replace(replace, new)
    for findings in (
        afbundle.check_manifest(raw),
        afbundle.check_manifest(raw, schema=False, portability=False),
    ):
        (finding,) = [f for f in findings if f.severity == "error"]
        assert (finding.code, finding.path, finding.line) == ("retyped-key", path, line)
        assert words in finding.message


def test_an_empty_task_list_is_a_warning() -> None:
    (finding,) = afbundle.check_manifest(manifest(["d"]) | {"dags": {"d": {"tasks": []}}})
    assert (finding.code, finding.severity, finding.path) == (
        "no-tasks",
        "warning",
        "$.dags.d.tasks",
    )


def test_text_that_is_not_a_yaml_mapping_raises_manifest_error() -> None:
    with pytest.raises(afbundle.ManifestError) as caught:
        afbundle.check_manifest(b"- a\n- b\n", label="m.yaml")
    assert caught.value.path == "m.yaml"
    assert afbundle.parse_manifest(b"a: 2026-06-16") == {"a": "2026-06-16"}


def test_importing_afbundle_loads_no_manifest_checker_until_asked(tmp_path: Path) -> None:
    code = (
        "import sys, json, afbundle\n"
        "before = sorted({'jsonschema', 'yaml', 'afbundle._manifest_check'} & set(sys.modules))\n"
        "afbundle.check_manifest({'a': 1})\n"
        "after = sorted({'jsonschema', 'afbundle._manifest_check'} & set(sys.modules))\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [[], ["afbundle._manifest_check", "jsonschema"]]


def test_regions_of_a_bundle_with_a_broken_manifest_are_read_through_the_core(
    tmp_path: Path,
) -> None:
    path = write_bundle(tmp_path / "b", metadata=b"- not a mapping\n", source=b"src")
    with pytest.raises(afbundle.ManifestError):
        afbundle.read_bundle(path)
    trailer = inspection.read_trailer(path)
    assert trailer.source_start == len(BINARY)
    assert [name for name, _, _ in inspection.regions(trailer)] == [
        "binary", "source", "manifest", "trailer",
    ]  # fmt: skip
    assert inspection.read_region(path, "source") == b"src"
    assert inspection.read_region(path, "manifest") == b"- not a mapping\n"
    with pytest.raises(ValueError, match="region must be"):
        inspection.read_region(path, "binary")  # type: ignore[arg-type]
    with pytest.raises(AttributeError):
        trailer.size = 0  # type: ignore[misc]


def test_write_file_is_atomic_and_needs_an_existing_directory(tmp_path: Path) -> None:
    target = tmp_path / "f"
    inspection.write_file(target, b"one")
    inspection.write_file(target, b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]
    with pytest.raises(OSError) as caught:
        inspection.write_file(tmp_path / "missing" / "f", b"x")
    assert str(tmp_path / "missing") in str(caught.value)
    assert not (tmp_path / "missing").exists()


def test_strip_gives_the_binary_back(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b")
    afbundle.strip(path, tmp_path / "bin")
    assert (tmp_path / "bin").read_bytes() == BINARY
