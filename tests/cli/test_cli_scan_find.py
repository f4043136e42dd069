"""``afbundle scan`` and ``afbundle find`` on generated bundle trees."""

from __future__ import annotations

import os
import resource
from pathlib import Path

import pytest

from _cli import (
    afbundle,
)
from _writer import manifest, settle, write_bundle


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


@pytest.mark.parametrize("off", ["--no-persistent-cache", "--no-cache"])  # --no-cache: old name
def test_scan_and_find_use_the_cache_dir_given_and_no_persistent_cache_leaves_it_alone(
    tmp_path: Path, off: str
) -> None:
    settle(write_bundle(tmp_path / "root" / "b", dag_ids=["d"]))
    cache = tmp_path / "cache"
    default = Path(os.environ["XDG_CACHE_HOME"]) / "afbundle"  # this test's own
    both = afbundle("scan", tmp_path / "root", off, "--cache-dir", cache, "--json")
    assert both.code == 2  # where, and not at all: one or the other
    untouched = afbundle("scan", tmp_path / "root", off, "--json")
    assert untouched.code == 0 and not any(default.rglob("*"))
    untouched = afbundle("find", "d", tmp_path / "root", off)
    assert untouched.code == 0 and not any(default.rglob("*"))
    first = afbundle("scan", tmp_path / "root", "--cache-dir", cache, "--json").json()
    assert first["stats"]["cache_hits"] == 0 and any(cache.rglob("*"))
    second = afbundle("scan", tmp_path / "root", "--cache-dir", cache, "--json").json()
    assert (second["stats"]["cache_hits"], second["stats"]["bytes_hashed"]) == (1, 0)
    found = afbundle("find", "d", tmp_path / "root", "--cache-dir", cache)
    assert found.code == 0 and found.out.strip() == str((tmp_path / "root" / "b").resolve())


def test_find_prints_the_precedence_winner_whatever_the_open_file_limit(tmp_path: Path) -> None:
    """80 duplicates under a 64-descriptor limit: the CLI prints the winner scan names
    (it used to print a later duplicate, with exit status 0)."""
    root = tmp_path / "root"
    first = write_bundle(root / "a" / "first")  # first byte-wise, but one level down
    for i in range(80):
        write_bundle(root / f"b{i:03d}", binary=f"duplicate {i}".encode())

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))

    run = afbundle("find", "tutorial_dag", root, preexec_fn=limit)
    assert (run.code, run.out) == (0, f"{first}\n"), run.stderr
    document = afbundle("scan", root, "--json", preexec_fn=limit).json()
    assert document["skipped"] == []
    assert document["bundles"][0]["path"] == str(first)


def test_find_warns_about_a_missing_root_among_several(bundle_tree: Path, tmp_path: Path) -> None:
    run = afbundle("find", "example_dag", tmp_path / "gone", bundle_tree)
    assert run.code == 0
    assert run.out == f"{bundle_tree / 'example'}\n"
    assert (
        f"afbundle: warning: {tmp_path / 'gone'}: no such file or directory (root skipped)"
        in run.stderr
    )


def test_find_hints_when_the_root_and_the_dag_id_look_swapped(bundle_tree: Path) -> None:
    run = afbundle("find", bundle_tree, "example_dag", cwd=bundle_tree.parent)
    assert run.code == 1
    assert "afbundle: warning: example_dag: no such file or directory" in run.stderr
    assert (
        "afbundle: hint: the dag_id comes first: afbundle find DAG_ID ROOT... "
        f"(did you mean `afbundle find example_dag {bundle_tree}`?)"
    ) in run.stderr


def test_scan_names_the_bundle_find_runs_as_the_winner_of_a_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write_bundle(root / "a", metadata=manifest(["d1"], schema_version=None))
    write_bundle(root / "b", dag_ids=["d1"])
    found = afbundle("find", "d1", root)
    assert found.out == f"{root / 'b'}\n"
    (duplicate,) = afbundle("scan", root, "--json").json()["duplicates"]
    assert duplicate == {
        "dag_id": "d1",
        "winner": str(root / "b"),
        "shadowed": [
            {
                "path": str(root / "a"),
                "kind": "schema",
                "reason": "missing or invalid sdk.supervisor_schema_version",
            }
        ],
    }
    table = afbundle("scan", root).out
    row = next(line for line in table.splitlines() if line.startswith("  d1 "))
    assert row.split() == ["d1", str(root / "b"), str(root / "a"), "(schema)"]
