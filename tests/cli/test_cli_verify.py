"""``afbundle verify``: one line per file, exit statuses, ``--check-manifest`` (``--strict``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _cli import (
    afbundle,
)
from _writer import (
    VALID_MANIFEST,
    manifest,
    write_bundle,
    write_kind,
)


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


def test_verify_check_manifest_validates_the_manifest_against_the_schema(tmp_path: Path) -> None:
    loose = manifest(language="Go")
    del loose["sdk"]["version"]
    path = write_bundle(tmp_path / "loose", metadata=loose)
    assert afbundle("verify", path).code == 0
    run = afbundle("verify", "--check-manifest", path, "--json")
    assert run.code == 1
    (result,) = run.json()["results"]
    assert (result["ok"], result["kind"]) == (False, "schema")
    assert [v["path"] for v in result["violations"]] == ["$.sdk", "$.sdk.language"]
    human = afbundle("verify", "--check-manifest", path)
    assert human.out.startswith(f"FAIL {path}: manifest has 2 schema violations: $.sdk: ")


def test_verify_check_manifest_warns_about_an_embedded_manifest_airflow_reads_differently(
    tmp_path: Path,
) -> None:
    raw = VALID_MANIFEST.replace('"2026-06-16"', "2026-06-16").encode()
    path = write_bundle(tmp_path / "unquoted", metadata=raw)
    run = afbundle("verify", "--check-manifest", path)
    assert run.code == 0
    assert run.out == f"OK {path}\n"
    assert (
        "manifest line 5: $.sdk.supervisor_schema_version: the value reads as the date"
        in run.stderr
    )


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("tutorial_dag:", "0o17:", "$.dags['0o17']: dag key '0o17' reads as the string '0o17'"),
        ("tutorial_dag:", "on:", "$.dags.on: dag key 'on' reads as the boolean true"),
        ("tutorial_dag:", "null:", "$.dags.null: dag key 'null' is null"),
        ("[extract, load]", "[extract, 1_000]", "$.dags.tutorial_dag.tasks[1]: task '1_000'"),
    ],
)
def test_verify_check_manifest_fails_a_bundle_whose_dag_or_task_keys_airflow_retypes(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    path = write_bundle(tmp_path / "b", metadata=VALID_MANIFEST.replace(old, new).encode())
    assert afbundle("verify", path).code == 0
    run = afbundle("verify", "--check-manifest", path)
    assert run.code == 1
    assert run.out.startswith(f"FAIL {path}: manifest has 1 retyped dag or task key: {named}")
    (result,) = afbundle("verify", "--check-manifest", path, "--json").json()["results"]
    assert (result["ok"], result["kind"]) == (False, "schema")


def test_verify_json_matches_the_schema(tmp_path: Path) -> None:
    write_bundle(tmp_path / "good")
    write_kind(tmp_path / "corrupt", "corrupt_binary")
    document = afbundle("verify", "good", "corrupt", "missing", "--json", cwd=tmp_path).json()
    assert (document["ok"], document["failed"]) == (1, 2)
    assert [r["kind"] for r in document["results"]] == [None, "integrity", "io"]


def test_verify_strict_is_the_older_name_of_check_manifest(tmp_path: Path) -> None:
    loose = manifest(language="Go")
    path = write_bundle(tmp_path / "loose", metadata=loose)
    new = afbundle("verify", "--check-manifest", path, "--json")
    old = afbundle("verify", "--strict", path, "--json")
    assert new.code == old.code == 1
    assert new.json() == old.json()
    assert (new.json()["check_manifest"], new.json()["strict"]) == (True, True)
    plain = afbundle("verify", path, "--json")
    assert plain.code == 0
    assert (plain.json()["check_manifest"], plain.json()["strict"]) == (False, False)
