"""``afbundle inspect``: fields, digests, raw regions, extraction, damaged bundles."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from _cli import (
    SOURCE,
    afbundle,
)
from _writer import (
    BINARY,
    manifest,
    raw_yaml_manifest,
    write_bundle,
    write_kind,
)


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


def test_inspect_lists_the_dags_airflow_routes_and_warns_about_keys_it_retypes(
    tmp_path: Path,
) -> None:
    dags = "  0o17:\n    tasks: [a, on]\n  on:\n    tasks: [a]\n"
    path = write_bundle(tmp_path / "bundle", metadata=raw_yaml_manifest(dags))
    run = afbundle("inspect", path)
    assert run.code == 0, run.stderr
    assert "dags (1)" in run.out and "0o17" in run.out
    assert (
        f"afbundle: warning: {path}: manifest line 10: dag key 'on' reads as the boolean true"
        in run.stderr
    )
    assert "task 'on' (tasks[1] of dag '0o17')" in run.stderr
    (dag,) = afbundle("inspect", path, "--json").json()["bundle"]["dags"]
    assert dag == {"dag_id": "0o17", "tasks": ["a"]}


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


def test_inspect_extract_creates_the_directory_but_never_its_missing_parents(
    tmp_path: Path,
) -> None:
    path = write_bundle(tmp_path / "bundle")
    run = afbundle("inspect", path, "--extract", tmp_path / "missing" / "out")
    assert run.code == 2
    assert run.stderr == f"afbundle: error: {tmp_path / 'missing'}: no such directory\n"
    assert not (tmp_path / "missing").exists()
    assert afbundle("inspect", path, "--extract", tmp_path / "out").code == 0
    assert (tmp_path / "out" / "bundle").read_bytes() == BINARY


def test_inspect_extract_writes_files_with_the_umask_and_leaves_no_temporary_files(
    tmp_path: Path,
) -> None:
    path = write_bundle(tmp_path / "bundle", source=SOURCE)
    out = tmp_path / "out"
    proc = subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", sys.executable, "-m", "afbundle",
         "inspect", str(path), "--extract", str(out)],
        capture_output=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (out / "airflow-metadata.yaml").stat().st_mode & 0o777 == 0o600
    assert (out / "example.go").read_bytes() == SOURCE
    assert sorted(p.name for p in out.iterdir()) == [
        "airflow-metadata.yaml",
        "bundle",
        "example.go",
    ]


def test_a_directory_where_a_bundle_is_expected_exits_2(tmp_path: Path) -> None:
    for args in (["inspect", tmp_path], ["strip", tmp_path, "-o", tmp_path / "out"]):
        run = afbundle(*args)
        assert run.code == 2, args
        assert run.stderr == f"afbundle: error: {tmp_path}: is a directory, not a file\n"
    verified = afbundle("verify", tmp_path)
    assert verified.code == 2
    assert verified.out == f"FAIL {tmp_path}: is a directory, not a file\n"
