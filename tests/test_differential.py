"""Differential tests: afbundle.find against upstream Airflow's own ``_Bundle.find``.

On the same files both must pick the same bundle, or both must fail -- and when
upstream reports that matching bundles were rejected (its second message form),
so must afbundle. The deliberate differences (deterministic precedence, YAML 1.2
syntax outside routing) are asserted *as differences* at the end of this module.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import structlog
import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

import afbundle
from afbundle import _core

from _writer import (
    KINDS,
    bundle_bytes,
    manifest,
    raw_yaml_manifest,
    write_bundle,
    write_file,
    write_kind,
)

pytestmark = pytest.mark.airflow

upstream = pytest.importorskip(
    "airflow.sdk.coordinators.executable.coordinator",
    reason="differential tests need the `airflow` extra (apache-airflow-task-sdk)",
)
schema = pytest.importorskip("airflow.sdk.execution_time.schema")

RESOLVE = schema.get_schema_version_migrator().resolve_version
FORM_2 = "matching bundles were rejected ("


@pytest.fixture(autouse=True, scope="module")
def _quiet_upstream_logs() -> Iterator[None]:
    """Upstream logs every skipped file at debug through structlog; keep the output readable."""
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**previous)


def upstream_find(roots: list[Path], dag_id: str) -> tuple[str, object]:
    upstream._digest_cache.clear()
    try:
        found = upstream._Bundle.find([Path(r) for r in roots], dag_id)
    except FileNotFoundError as exc:
        return "missing", str(exc)
    return "found", found.path


def afbundle_find(roots: list[Path], dag_id: str) -> tuple[str, object]:
    _core.clear_digest_cache()
    try:
        found = afbundle.find(roots, dag_id, resolve_schema_version=RESOLVE)
    except FileNotFoundError as exc:
        assert isinstance(exc, afbundle.BundleNotFoundError)
        return "missing", str(exc)
    assert found.verified
    return "found", found.path


def assert_same_answer(roots: list[Path], dag_id: str) -> str:
    """Compare both implementations; return the shared outcome ("found", "missing", "missing/2")."""
    theirs = upstream_find(roots, dag_id)
    ours = afbundle_find(roots, dag_id)
    context = f"dag_id={dag_id!r} roots={roots}\n upstream: {theirs}\n afbundle: {ours}"
    assert theirs[0] == ours[0], context
    if theirs[0] == "found":
        assert theirs[1] == ours[1], context
        return "found"
    upstream_message, our_message = str(theirs[1]), str(ours[1])
    if FORM_2 in upstream_message:
        head, _, tail = upstream_message.partition(FORM_2)
        assert our_message.startswith(head + FORM_2), context
        for detail in tail[:-1].split("; "):  # each "path: reason" upstream lists, we list too
            assert detail in our_message, context
        return "missing, form 2"
    elif FORM_2 not in our_message:
        # afbundle may say form 2 where upstream does not: it checks schema versions
        # before hashing, so a corrupt bundle with a bad schema version is reported as
        # "rejected" instead of silently skipped. Otherwise the first form must match.
        assert our_message.startswith(upstream_message), context
    return "missing"


@contextmanager
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="afbundle-diff-") as d:
        yield Path(d).resolve()


# --- one file of every kind ------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fallback", [False, True], ids=["alone", "with-fallback"])
def test_every_kind_of_file_is_judged_like_upstream(tmp_path, kind: str, fallback: bool) -> None:
    write_kind(tmp_path / "a-first" / kind, kind, ["d", "other"])
    if fallback:
        write_bundle(tmp_path / "z-last" / "fallback", dag_ids=["d"])
    for dag_id in ["d", "other", "absent", "1", "true"]:
        assert_same_answer([tmp_path], dag_id)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_of_file_as_a_root_is_judged_like_upstream(tmp_path, kind: str) -> None:
    path = write_kind(tmp_path / kind, kind, ["d"])
    assert_same_answer([path], "d")
    assert_same_answer([tmp_path / "absent", path], "d")


# --- hand-made shapes ------------------------------------------------------------------------


def test_several_roots_agree_with_upstream(tmp_path) -> None:
    r1, r2, r3 = tmp_path / "r1", tmp_path / "r2", tmp_path / "r3"
    write_kind(r1 / "x", "unknown_schema", ["a"])
    write_bundle(r2 / "deep" / "y", dag_ids=["a", "b"])
    write_bundle(r3 / "z", dag_ids=["b", "c"])
    write_kind(r3 / "w", "corrupt_binary", ["c", "e"])
    roots = [r1, tmp_path / "missing", r2, r3]
    for dag_id in ["a", "b", "c", "e", "absent"]:
        assert_same_answer(roots, dag_id)
        assert_same_answer(list(reversed(roots)), dag_id)


def test_symlink_loops_agree_with_upstream(tmp_path) -> None:
    write_bundle(tmp_path / "inner" / "pipeline", dag_ids=["loop_dag"])
    (tmp_path / "inner" / "loop").symlink_to(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "to_b").symlink_to(tmp_path / "b")
    (tmp_path / "b" / "to_a").symlink_to(tmp_path / "a")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    for dag_id in ["loop_dag", "absent"]:
        assert_same_answer([tmp_path], dag_id)
        assert_same_answer([tmp_path / "inner"], dag_id)


def test_symlinked_files_and_directories_agree_with_upstream(tmp_path) -> None:
    store = tmp_path / "store"
    write_bundle(store / "real", dag_ids=["f"])
    write_bundle(store / "sub" / "other", dag_ids=["g"])
    root = tmp_path / "root"
    root.mkdir()
    (root / "file-link").symlink_to(store / "real")
    (root / "dir-link").symlink_to(store / "sub")
    (root / "dangling").symlink_to(tmp_path / "gone")
    for dag_id in ["f", "g", "absent"]:
        assert_same_answer([root], dag_id)


def test_files_without_exec_bits_and_special_files_agree_with_upstream(tmp_path) -> None:
    write_bundle(tmp_path / "noexec", dag_ids=["d"], executable=False)
    os.mkfifo(tmp_path / "fifo-plain")
    write_file(tmp_path / "readme", b"not a bundle\n", executable=False)
    assert_same_answer([tmp_path], "d")


def test_non_string_dag_keys_agree_with_upstream(tmp_path) -> None:
    dags = "  1:\n    tasks: [t]\n  true:\n    tasks: [t]\n  null:\n    tasks: [t]\n"
    dags += '  "2":\n    tasks: [t]\n  1.5:\n    tasks: [t]\n'
    write_file(tmp_path / "b", bundle_bytes(metadata=raw_yaml_manifest(dags)))
    for dag_id in ["1", "2", "true", "True", "null", "None", "1.5"]:
        assert_same_answer([tmp_path], dag_id)


def test_non_utf8_names_agree_with_upstream(tmp_path) -> None:
    root = os.fsencode(tmp_path)
    os.mkdir(root + b"/dir-\xff")
    with open(root + b"/dir-\xff/bundle-\xfe", "wb") as f:
        f.write(bundle_bytes(dag_ids=["d"]))
    os.chmod(root + b"/dir-\xff/bundle-\xfe", 0o755)
    assert_same_answer([tmp_path], "d")


def test_upstream_finds_what_afbundle_packs(tmp_path) -> None:
    """Interoperability: dump_manifest quotes YAML 1.1 look-alikes, so PyYAML agrees."""
    binary = tmp_path / "bin"
    binary.write_bytes(b"\x7fELF" + b"\x00" * 100)
    binary.chmod(0o755)
    (tmp_path / "root").mkdir()
    dag_ids = ["yes", "on", "2026-06-16", "null", "1", "0o17", "1e3", "0E0", "plain"]
    afbundle.pack(binary, tmp_path / "root" / "packed", manifest=manifest(dag_ids), source=b"src")
    for dag_id in dag_ids:
        assert upstream_find([tmp_path / "root"], dag_id) == ("found", tmp_path / "root" / "packed")
        assert_same_answer([tmp_path / "root"], dag_id)


# --- generated trees -------------------------------------------------------------------------

DIRS = ["", "a", "a/b", "c", "c/d"]
DAGS = ["d0", "d1", "d2"]
LINK_KINDS = ["loop", "dir", "file", "dangling"]


@st.composite
def trees(draw) -> dict:
    """Roots with files of every kind, symlinks, a missing root and file roots.

    Upstream's precedence between two *usable* bundles for one dag_id inside one
    root follows directory-listing order, which the OS does not define; that is a
    deliberate difference tested separately. So each root holds at most one usable
    ("valid") bundle per dag_id; any number of unusable ones may share it.
    """
    n_dirs = draw(st.integers(1, 3))
    entries = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_dirs - 1),
                st.sampled_from(DIRS),
                st.sampled_from(KINDS + ("valid",) * 7),  # about a quarter usable
                st.lists(st.sampled_from(DAGS), min_size=1, max_size=2, unique=True),
            ),
            max_size=12,
        )
    )
    links = draw(
        st.lists(
            st.tuples(
                st.integers(0, n_dirs - 1), st.sampled_from(DIRS), st.sampled_from(LINK_KINDS)
            ),
            max_size=3,
        )
    )
    order = draw(st.permutations(list(range(n_dirs))))
    missing_at = draw(st.none() | st.integers(0, n_dirs))
    file_root = draw(st.none() | st.integers(0, max(0, len(entries) - 1)))
    return {
        "n_dirs": n_dirs,
        "entries": entries,
        "links": links,
        "order": order,
        "missing_at": missing_at,
        "file_root": file_root,
    }


def build(base: Path, tree: dict) -> tuple[list[Path], list[str]]:
    dirs = [base / f"root{i}" for i in range(tree["n_dirs"])]
    for d in dirs:
        d.mkdir()
    claimed: list[set[str]] = [set() for _ in dirs]
    files: list[tuple[int, Path]] = []
    extra_dags: list[str] = []
    for i, (root_index, directory, kind, dag_ids) in enumerate(tree["entries"]):
        if kind == "valid":
            dag_ids = [d for d in dag_ids if d not in claimed[root_index]]
            if not dag_ids:
                dag_ids = [f"solo{i}"]
                extra_dags.append(dag_ids[0])
            claimed[root_index].update(dag_ids)
        path = dirs[root_index] / directory / f"{i:02}-{kind}"
        files.append((root_index, write_kind(path, kind, dag_ids)))
    for j, (root_index, directory, link) in enumerate(tree["links"]):
        where = dirs[root_index] / directory / f"link{j}"
        where.parent.mkdir(parents=True, exist_ok=True)
        same_root_files = [p for r, p in files if r == root_index]
        if link == "loop":
            where.symlink_to(dirs[root_index])
        elif link == "dir":
            where.symlink_to(dirs[root_index] / DIRS[(j + 1) % len(DIRS)])
        elif link == "file" and same_root_files:
            where.symlink_to(same_root_files[j % len(same_root_files)])
        else:
            where.symlink_to(base / "nowhere")
    roots = [dirs[i] for i in tree["order"]]
    if tree["missing_at"] is not None:
        roots.insert(tree["missing_at"], base / "missing")
    if tree["file_root"] is not None and files:
        roots.append(files[tree["file_root"]][1])
    return roots, [*DAGS, *extra_dags, "absent"]


@settings(max_examples=80)
@given(trees())
def test_generated_trees_agree_with_upstream(tree: dict) -> None:
    with scratch() as base:
        roots, dag_ids = build(base, tree)
        outcomes = {assert_same_answer(roots, dag_id) for dag_id in dag_ids}
    for outcome in sorted(outcomes):
        event(outcome)


# --- YAML edge cases --------------------------------------------------------------------------

SDK_YAML = 'sdk: {language: go, version: "0.1.0", supervisor_schema_version: "2026-06-16"}\n'
DAG_D = "dags: {d: {tasks: [t]}}\n"

#: Manifests on which YAML 1.1 (PyYAML) and YAML 1.2 must agree.
YAML_EDGE_CASES = {
    "merge-key": "base: &b {tasks: [t]}\n" + SDK_YAML + "dags:\n  d:\n    <<: *b\n",
    "merge-into-dags": "extra: &e {d: {tasks: [t]}}\n" + SDK_YAML + "dags:\n  <<: *e\n",
    "byte-order-mark": "\ufeff" + SDK_YAML + DAG_D,
    "yaml-1.1-directive": "%YAML 1.1\n---\n" + SDK_YAML + DAG_D,
    "document-markers": "---\n" + SDK_YAML + DAG_D + "...\n",
    "binary-tag": SDK_YAML + "x: !!binary aGVsbG8=\n" + DAG_D,
    "str-tagged-date": "sdk: {supervisor_schema_version: !!str 2026-06-16}\n" + DAG_D,
    "duplicate-dag-key": SDK_YAML + "dags: {d: 1, d: 2}\n",
    "duplicate-dags-key": SDK_YAML + "dags: {x: 1}\n" + DAG_D,
    "escaped-nul": SDK_YAML + 'x: "a\\0b"\n' + DAG_D,
    "raw-control-char": SDK_YAML + "x: a\x01b\n" + DAG_D,
    "crlf": (SDK_YAML + DAG_D).replace("\n", "\r\n"),
    "utf-16": "utf-16",
    "null-and-int-top-keys": SDK_YAML + "~: 1\n1: 2\n" + DAG_D,
    "sexagesimal-dag-key": SDK_YAML + "dags: {1:30: 1, d: 1}\n",
    "empty-dags": SDK_YAML + "dags: {}\n",
    "flow-document": '{sdk: {supervisor_schema_version: "2026-06-16"}, dags: {d: 1}}',
    "float-schema-version": "sdk: {supervisor_schema_version: 2026.06}\n" + DAG_D,
    "padded-schema-version": 'sdk: {supervisor_schema_version: " 2026-06-16"}\n' + DAG_D,
    "literal-schema-version": "sdk:\n  supervisor_schema_version: |-\n    2026-06-16\n" + DAG_D,
    "folded-schema-version": "sdk:\n  supervisor_schema_version: >\n    2026-06-16\n" + DAG_D,
    "escaped-schema-version": 'sdk: {supervisor_schema_version: "2026\\x2d06-16"}\n' + DAG_D,
    "alias-as-dag-key": SDK_YAML + "n: &n d\ndags: {*n : 1}\n",
    "octal-and-hex-dag-keys": SDK_YAML + "dags: {0o17: 1, 017: 1, 0x1: 1, d: 1}\n",
    "trailing-garbage": SDK_YAML + DAG_D + "]\n",
    "bad-indentation": SDK_YAML + "dags:\n  d: 1\n e: 2\n",
}


def write_yaml_case(root: Path, text: str) -> Path:
    meta = (SDK_YAML + DAG_D).encode("utf-16") if text == "utf-16" else text.encode()
    return write_file(root / "b", bundle_bytes(metadata=meta))


@pytest.mark.parametrize("name", list(YAML_EDGE_CASES))
def test_yaml_edge_cases_are_judged_like_upstream(tmp_path, name: str) -> None:
    write_yaml_case(tmp_path, YAML_EDGE_CASES[name])
    assert_same_answer([tmp_path], "d")


@pytest.mark.parametrize("tag", ["!!python/object/apply:os.system", "!custom"])
def test_unknown_yaml_tags_are_judged_like_upstream(tmp_path, tag: str) -> None:
    write_yaml_case(tmp_path, SDK_YAML + f'x: {tag} ["true"]\n' + DAG_D)
    assert_same_answer([tmp_path], "d")


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}"], ids=["sequence-key", "mapping-key"])
def test_unhashable_keys_are_judged_like_upstream(tmp_path, key: str) -> None:
    write_yaml_case(tmp_path, SDK_YAML + f"dags:\n  ? {key}\n  : 1\n  d: 1\n")
    assert_same_answer([tmp_path], "d")


@pytest.mark.parametrize("extra", ["timeout: .inf\n", "x: -.inf\n", "x: .nan\n", "x: 1e400\n"])
def test_non_finite_floats_are_judged_like_upstream(tmp_path, extra: str) -> None:
    write_yaml_case(tmp_path, SDK_YAML + extra + DAG_D)
    assert_same_answer([tmp_path], "d")


# --- deliberate differences ------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["!!set {a, b}", "!!omap [a: 1]", "!!timestamp 2026-06-16"])
def test_difference_yaml_1_1_only_tags_are_refused_by_afbundle(tmp_path, tag: str) -> None:
    """YAML 1.2's core schema has no !!set/!!omap/!!timestamp; afbundle refuses every tag it
    does not know (as PyYAML's safe loader refuses application tags), upstream accepts these."""
    write_yaml_case(tmp_path, SDK_YAML + f"x: {tag}\n" + DAG_D)
    kind, _ = upstream_find([tmp_path], "d")
    assert kind == "found"
    with pytest.raises(FileNotFoundError):
        afbundle.find([tmp_path], "d", resolve_schema_version=RESOLVE)


def test_an_unquoted_date_schema_version_is_rejected_by_both(tmp_path) -> None:
    """YAML 1.1 reads 2026-06-16 as a date: no usable schema version, for both readers."""
    write_file(
        tmp_path / "b",
        bundle_bytes(metadata=raw_yaml_manifest(schema_version_yaml="2026-06-16")),
    )
    assert assert_same_answer([tmp_path], "tutorial_dag") == "missing, form 2"


@pytest.mark.parametrize("dag_id", ["yes", "on", "1_000", "2024-01-01", "0755", "1:30", "null"])
def test_an_unquoted_dag_key_yaml_1_1_types_otherwise_is_routed_by_neither(
    tmp_path, dag_id: str
) -> None:
    dags = f"  {dag_id}:\n    tasks: [t]\n  d:\n    tasks: [t]\n"
    write_file(tmp_path / "b", bundle_bytes(metadata=raw_yaml_manifest(dags)))
    assert assert_same_answer([tmp_path], dag_id) == "missing"
    assert assert_same_answer([tmp_path], "d") == "found"


def test_difference_precedence_between_duplicates_is_the_byte_wise_first_path(tmp_path) -> None:
    """Upstream picks whichever the directory listing yields first; afbundle does not guess."""
    names = ["m-bundle", "B-bundle", "z-bundle", "a-bundle", "b/nested"]
    for name in names:
        write_bundle(tmp_path / name, dag_ids=["shared"])
    expected = tmp_path / min(names, key=lambda n: n.encode())
    answers = {
        afbundle.find([tmp_path], "shared", threads=threads).path
        for threads in (1, 2, 4, 8)
        for _ in range(3)
    }
    assert answers == {expected}
    # Upstream finds *one* of them; which one is not defined, so it is not asserted.
    kind, path = upstream_find([tmp_path], "shared")
    assert kind == "found"
    assert path in {tmp_path / n for n in names}


def test_difference_yaml_12_syntax_a_tab_after_a_colon_is_allowed(tmp_path) -> None:
    """YAML 1.2 allows a tab as separation space after ':'; PyYAML refuses the document.

    The README names it (differences, item 6: syntax is YAML 1.2's).
    """
    path = write_yaml_case(tmp_path, SDK_YAML + "x:\tvalue\n" + DAG_D)
    assert upstream_find([tmp_path], "d")[0] == "missing"
    assert afbundle.find([tmp_path], "d", resolve_schema_version=RESOLVE).path == path


def test_difference_yaml_12_syntax_nel_is_not_a_line_break(tmp_path) -> None:
    """YAML 1.1 treats U+0085 (NEL) as a line break; YAML 1.2 does not.

    The README names it (differences, item 6: syntax is YAML 1.2's).
    """
    write_yaml_case(tmp_path, SDK_YAML + "dags: {d: 1}\x85x: 1\n")
    assert upstream_find([tmp_path], "d")[0] == "found"
    with pytest.raises(afbundle.BundleNotFoundError):
        afbundle.find([tmp_path], "d", resolve_schema_version=RESOLVE)


@pytest.mark.parametrize("dag_id", ["1e3", "0E0", "1.0e3", "0o17"])
def test_dag_ids_pyyaml_leaves_unquoted_are_routed_by_both(tmp_path, dag_id: str) -> None:
    """PyYAML writes these dag_ids as plain scalars (strings in YAML 1.1, numbers in YAML
    1.2): afbundle routes them as Airflow does."""
    meta = yaml.safe_dump(manifest([dag_id]), sort_keys=True).encode()
    assert f"\n  {dag_id}:".encode() in meta  # really unquoted
    write_file(tmp_path / "b", bundle_bytes(metadata=meta))
    assert assert_same_answer([tmp_path], dag_id) == "found"
