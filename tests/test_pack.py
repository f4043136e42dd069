"""pack() and dump_manifest(): canonical, atomic, byte-identical bundles.

Spec, "Build Pipeline Ordering" (append source, metadata, trailer in one step)
and "Determinism" (canonical sorted-key manifest gives byte-identical bundles).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import afbundle
from afbundle import _core

from _writer import BINARY, bundle_bytes, manifest, trailer, write_file

SOURCE = b"package main\n\nfunc main() {}\n"


def make_binary(path: Path, data: bytes = BINARY, mode: int = 0o755) -> Path:
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def listing(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


# --- layout ----------------------------------------------------------------------------------


def test_pack_writes_binary_source_canonical_manifest_and_trailer(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["a", "b"])
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=meta, source=SOURCE)
    dumped = afbundle.dump_manifest(meta)
    expected = (
        BINARY
        + SOURCE
        + dumped
        + trailer(len(SOURCE), len(dumped), hashlib.sha256(BINARY).digest())
    )
    assert (tmp_path / "out").read_bytes() == expected
    assert bundle.path == (tmp_path / "out").resolve()


def test_the_packed_trailer_is_what_build_trailer_makes(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=manifest(), source=SOURCE)
    out = (tmp_path / "out").read_bytes()
    built = _core.build_trailer(bundle.source_len, bundle.metadata_len, bundle.binary_sha256)
    assert out[-64:] == built


def test_pack_returns_the_verified_bundle_it_wrote(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["a", "b"])
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=meta, source=SOURCE)
    assert isinstance(bundle, afbundle.Bundle)
    assert bundle.verified
    assert bundle.metadata == meta
    assert bundle.dag_ids == ("a", "b")
    assert bundle.read_source() == SOURCE
    assert bundle.source_start == len(BINARY)


def test_a_packed_bundle_reads_back_through_the_independent_layout(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["x"])
    afbundle.pack(binary, tmp_path / "out", manifest=meta, source=SOURCE)
    out = (tmp_path / "out").read_bytes()
    source_len = int.from_bytes(out[-64:-60], "little")
    meta_len = int.from_bytes(out[-60:-56], "little")
    meta_bytes = out[-64 - meta_len : -64]
    assert yaml.safe_load(meta_bytes) == meta
    assert out[-64 - meta_len - source_len : -64 - meta_len] == SOURCE


def test_the_source_defaults_to_empty(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=manifest())
    assert bundle.source_len == 0
    assert bundle.read_source() == b""


def test_a_str_source_is_written_as_utf8(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    bundle = afbundle.pack(
        binary, tmp_path / "out", manifest=manifest(), source="fn main() {} // ü"
    )
    assert bundle.read_source() == "fn main() {} // ü".encode()


@pytest.mark.parametrize("as_type", [bytes, str])
def test_a_raw_manifest_is_written_verbatim(tmp_path, as_type) -> None:
    raw = (
        "# hand written\nsdk: {supervisor_schema_version: '2026-06-16'}\ndags:\n  z: {}\n  a: {}\n"
    )
    binary = make_binary(tmp_path / "bin")
    value = raw.encode() if as_type is bytes else raw
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=value)
    assert bundle.read_manifest() == raw.encode()
    assert bundle.dag_ids == ("z", "a")


@pytest.mark.parametrize(
    ("manifest_or_text", "named"),
    [
        ("dags:\n  0o17: {tasks: [t]}\n", "dag key '0o17' reads as the string '0o17'"),
        ("dags:\n  d: {tasks: [t, off]}\n", "task 'off' (tasks[1] of dag 'd')"),
        ({"dags": {1: {"tasks": ["t"]}}}, "dag key '1' is the integer 1"),
        ({"dags": {None: {"tasks": ["t"]}}}, "dag key 'null' is null"),
        ({"dags": {"d": {"tasks": [True]}}}, "task 'true' (tasks[0] of dag 'd')"),
    ],
)
def test_pack_refuses_dag_and_task_keys_airflow_retypes(
    tmp_path, manifest_or_text: object, named: str
) -> None:
    binary = make_binary(tmp_path / "bin")
    with pytest.raises(afbundle.ManifestError, match="must be quoted") as caught:
        afbundle.pack(binary, tmp_path / "out", manifest=manifest_or_text)  # type: ignore[arg-type]
    assert named in caught.value.reason
    assert listing(tmp_path) == {"bin"}


def test_the_packed_bundle_is_found(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    (tmp_path / "root").mkdir()
    out = tmp_path / "root" / "pipeline"
    afbundle.pack(binary, out, manifest=manifest(["my_dag"]), source=SOURCE)
    assert afbundle.find([tmp_path / "root"], "my_dag").path == out


# --- determinism -----------------------------------------------------------------------------


def test_identical_inputs_give_byte_identical_bundles(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["a", "b"])
    afbundle.pack(binary, tmp_path / "one", manifest=meta, source=SOURCE)
    afbundle.pack(binary, tmp_path / "two", manifest=meta, source=SOURCE)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()


def test_key_order_of_the_manifest_mapping_does_not_matter(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["a", "b"])
    reordered = {k: meta[k] for k in reversed(list(meta))}
    reordered["dags"] = {k: meta["dags"][k] for k in reversed(list(meta["dags"]))}
    afbundle.pack(binary, tmp_path / "one", manifest=meta)
    afbundle.pack(binary, tmp_path / "two", manifest=reordered)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes()


def test_dump_manifest_sorts_keys_at_every_level() -> None:
    meta = {"b": {"z": 1, "a": {"y": 2, "c": 3}}, "a": [{"q": 1, "p": 2}]}
    dumped = afbundle.dump_manifest(meta)
    loaded = yaml.safe_load(dumped)
    assert loaded == meta
    assert list(loaded) == ["a", "b"]
    assert list(loaded["b"]) == ["a", "z"]
    assert list(loaded["b"]["a"]) == ["c", "y"]
    assert list(loaded["a"][0]) == ["p", "q"]


def test_dump_manifest_matches_its_documented_example() -> None:
    assert afbundle.dump_manifest({"b": 1, "a": "2026-06-16"}) == b'a: "2026-06-16"\nb: 1\n'


def test_dump_manifest_returns_bytes_ending_in_a_newline() -> None:
    dumped = afbundle.dump_manifest(manifest())
    assert isinstance(dumped, bytes)
    assert dumped.endswith(b"\n")
    dumped.decode("utf-8")


# --- YAML 1.1 readers see the same values ----------------------------------------------------

YAML11_LOOKALIKES = [
    "2026-06-16",
    "2026-6-1",
    "2026-06-16 12:00:00",
    "2026-06-16T12:00:00Z",
    "yes",
    "no",
    "Yes",
    "NO",
    "on",
    "off",
    "On",
    "OFF",
    "y",
    "n",
    "true",
    "False",
    "TRUE",
    "null",
    "Null",
    "~",
    "",
    "0o17",
    "017",
    "0x1F",
    "0b101",
    "1_000",
    "1e3",
    "1.5",
    "1.0e+3",
    ".inf",
    "-.Inf",
    ".nan",
    "12:30",
    "190:20:30.15",
    "+1",
    "-0",
    "=",
    "<<",
    " leading space",
    "trailing space ",
    "a: b",
    "# not a comment",
    "- not a list",
    "[not, a, list]",
    "{not: a map}",
    "!not-a-tag",
    "&anchor",
    "*alias",
    "|",
    ">",
    "?",
    "%",
    "@at",
    "`tick",
    "'single",
    '"double',
    "multi\nline",
    "tab\there",
    "carriage\rreturn",
    "nel\x85line",
    "line\u2028separator",
    "bom\ufeff",
    "nul\x00byte",
    "bell\x07",
    "üñïçødé",
    "emoji 🚀",
]


@pytest.mark.parametrize("value", YAML11_LOOKALIKES)
def test_dump_manifest_quotes_strings_so_pyyaml_reads_them_back_unchanged(value: str) -> None:
    meta = {"value": value, "nested": {"list": [value]}}
    assert yaml.safe_load(afbundle.dump_manifest(meta)) == meta


@pytest.mark.parametrize("key", ["yes", "no", "on", "2026-06-16", "1", "null", "true", "<<"])
def test_dump_manifest_quotes_keys_so_pyyaml_reads_them_back_unchanged(key: str) -> None:
    meta = {"dags": {key: {"tasks": ["t"]}}}
    assert yaml.safe_load(afbundle.dump_manifest(meta)) == meta


def test_a_packed_date_string_is_a_string_for_upstream_and_for_afbundle(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["d"], schema_version="2026-06-16")
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=meta)
    assert (
        yaml.safe_load(bundle.read_manifest())["sdk"]["supervisor_schema_version"] == "2026-06-16"
    )
    assert bundle.supervisor_schema_version == "2026-06-16"


@pytest.mark.parametrize(
    "value",
    [0, -1, 2**31, 2**63 - 1, -(2**63), True, False, None, 1.5, -0.25, 1e300, [], {}],
    ids=repr,
)
def test_dump_manifest_keeps_non_string_scalars(value) -> None:
    meta = {"v": value}
    assert yaml.safe_load(afbundle.dump_manifest(meta)) == meta


YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.text(max_size=20)
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text(max_size=10), YAML_VALUES, max_size=5))
def test_dump_manifest_round_trips_through_pyyaml_and_afbundle(meta) -> None:
    dumped = afbundle.dump_manifest(meta)
    assert yaml.safe_load(dumped) == meta
    with tempfile.TemporaryDirectory() as d:
        binary = make_binary(Path(d) / "bin")
        bundle = afbundle.pack(binary, Path(d) / "out", manifest=meta)
        assert bundle.metadata == meta
        assert bundle.read_manifest() == dumped


@given(st.floats(allow_nan=False, allow_infinity=True))
def test_dump_manifest_floats_read_back_the_same_in_pyyaml(value: float) -> None:
    assert yaml.safe_load(afbundle.dump_manifest({"f": value})) == {"f": value}


# --- permissions and atomicity ---------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o755, 0o750, 0o711, 0o700, 0o555])
def test_pack_keeps_an_executable_binarys_permission_bits(tmp_path, mode: int) -> None:
    binary = make_binary(tmp_path / "bin", mode=mode)
    afbundle.pack(binary, tmp_path / "out", manifest=manifest())
    assert (tmp_path / "out").stat().st_mode & 0o7777 == mode


@pytest.mark.parametrize(
    ("mode", "expected"), [(0o644, 0o755), (0o640, 0o750), (0o600, 0o700), (0o604, 0o705)]
)
def test_pack_makes_the_bundle_executable_wherever_it_is_readable(
    tmp_path, mode: int, expected: int
) -> None:
    """rust/write/pack.rs: the binary's bits, with execute added wherever read is allowed."""
    binary = make_binary(tmp_path / "bin", mode=mode)
    afbundle.pack(binary, tmp_path / "out", manifest=manifest())
    assert (tmp_path / "out").stat().st_mode & 0o7777 == expected


def test_pack_leaves_no_temporary_files(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    out_dir = tmp_path / "dist"
    out_dir.mkdir()
    afbundle.pack(binary, out_dir / "out", manifest=manifest())
    afbundle.pack(binary, out_dir / "out", manifest=manifest(["other"]))
    assert listing(out_dir) == {"out"}
    assert listing(tmp_path) == {"bin", "dist"}


def test_pack_replaces_an_existing_output_by_rename(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    out = tmp_path / "out"
    out.write_bytes(b"old contents")
    with open(out, "rb") as old:
        old_inode = os.fstat(old.fileno()).st_ino
        afbundle.pack(binary, out, manifest=manifest())
        assert old.read() == b"old contents"  # a reader never sees a half-written file
    assert out.stat().st_ino != old_inode
    assert afbundle.read_bundle(out).verified


@pytest.mark.parametrize(
    "bad",
    [b"- a\n- b\n", "just a scalar", b"key: : [", b"\xff\xfe: 1\n", b"", "42"],
    ids=["list", "scalar", "bad-yaml", "not-utf8", "empty", "int"],
)
def test_a_manifest_that_is_not_a_mapping_is_refused_and_nothing_is_written(tmp_path, bad) -> None:
    binary = make_binary(tmp_path / "bin")
    with pytest.raises(afbundle.ManifestError):
        afbundle.pack(binary, tmp_path / "out", manifest=bad)
    assert listing(tmp_path) == {"bin"}


def test_a_refused_manifest_leaves_an_existing_output_untouched(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    out = tmp_path / "out"
    afbundle.pack(binary, out, manifest=manifest())
    before = out.read_bytes()
    with pytest.raises(afbundle.ManifestError):
        afbundle.pack(binary, out, manifest=b"[1, 2]")
    assert out.read_bytes() == before
    assert listing(tmp_path) == {"bin", "out"}


def test_pack_refuses_a_binary_that_is_already_a_bundle(tmp_path) -> None:
    bundle = write_file(tmp_path / "already", bundle_bytes())
    with pytest.raises(afbundle.BundleFormatError):
        afbundle.pack(bundle, tmp_path / "out", manifest=manifest())
    assert listing(tmp_path) == {"already"}


def test_pack_refuses_a_binary_with_a_broken_bundle_trailer(tmp_path) -> None:
    broken = write_file(tmp_path / "broken", bundle_bytes(digest=b"\x00" * 32))
    with pytest.raises(afbundle.BundleFormatError):
        afbundle.pack(broken, tmp_path / "out", manifest=manifest())
    assert not (tmp_path / "out").exists()


def test_replace_footer_strips_the_old_footer_first(tmp_path) -> None:
    old = write_file(tmp_path / "old", bundle_bytes(source=b"old source", dag_ids=["old_dag"]))
    meta = manifest(["new_dag"])
    bundle = afbundle.pack(
        old, tmp_path / "new", manifest=meta, source=b"new source", replace_footer=True
    )
    dumped = afbundle.dump_manifest(meta)
    expected = (
        BINARY
        + b"new source"
        + dumped
        + trailer(len(b"new source"), len(dumped), hashlib.sha256(BINARY).digest())
    )
    assert (tmp_path / "new").read_bytes() == expected
    assert bundle.dag_ids == ("new_dag",)
    assert bundle.verified


def test_repacking_a_bundle_with_its_own_manifest_reproduces_it(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = manifest(["d"])
    first = afbundle.pack(binary, tmp_path / "first", manifest=meta, source=SOURCE)
    afbundle.pack(
        tmp_path / "first",
        tmp_path / "second",
        manifest=first.metadata,
        source=SOURCE,
        replace_footer=True,
    )
    assert (tmp_path / "first").read_bytes() == (tmp_path / "second").read_bytes()


def test_replace_footer_on_a_plain_binary_just_packs(tmp_path) -> None:
    binary = make_binary(tmp_path / "bin")
    afbundle.pack(binary, tmp_path / "a", manifest=manifest())
    afbundle.pack(binary, tmp_path / "b", manifest=manifest(), replace_footer=True)
    assert (tmp_path / "a").read_bytes() == (tmp_path / "b").read_bytes()


def test_pack_never_changes_the_binary(tmp_path) -> None:
    old = write_file(tmp_path / "old", bundle_bytes())
    before = old.read_bytes()
    afbundle.pack(old, tmp_path / "new", manifest=manifest(["x"]), replace_footer=True)
    assert old.read_bytes() == before


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_pack_accepts_a_manifest_with_non_finite_floats(tmp_path, value: float) -> None:
    binary = make_binary(tmp_path / "bin")
    meta = {**manifest(["d"]), "timeout": value}
    bundle = afbundle.pack(binary, tmp_path / "out", manifest=meta)
    assert bundle.metadata == meta
