"""read_bundle(): the Bundle it returns, the manifest it parses, and the errors it raises.

Spec, "Reader algorithm" steps 6-8 and "airflow-metadata.yaml schema".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import afbundle
from afbundle import _core

from _writer import (
    BINARY,
    bundle_bytes,
    manifest,
    raw_yaml_manifest,
    settle,
    tamper_keeping_mtime,
    trailer,
    write_bundle,
    write_file,
)

SOURCE = b"package main\n\nfunc main() {}\n"


def write_meta(path: Path, metadata: bytes | dict) -> Path:
    return write_file(path, bundle_bytes(metadata=metadata))


# --- the Bundle object -----------------------------------------------------------------------


def test_bundle_reports_every_region_of_the_file(tmp_path) -> None:
    meta = manifest(["a"])
    path = write_bundle(tmp_path / "b", metadata=meta, source=SOURCE)
    raw = path.read_bytes()
    bundle = afbundle.read_bundle(path)
    assert bundle.size == len(raw)
    assert bundle.footer_version == 1
    assert bundle.source_start == len(BINARY)
    assert bundle.source_len == len(SOURCE)
    assert bundle.metadata_start == len(BINARY) + len(SOURCE)
    assert bundle.metadata_len == len(raw) - 64 - bundle.metadata_start
    assert bundle.binary_sha256 == hashlib.sha256(BINARY).digest()
    assert isinstance(bundle.binary_sha256, bytes)


def test_bundle_path_is_resolved_and_absolute(tmp_path, monkeypatch) -> None:
    write_bundle(tmp_path / "dir" / "b")
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    monkeypatch.chdir(tmp_path)
    bundle = afbundle.read_bundle("link/../dir/./b")
    assert isinstance(bundle.path, Path)
    assert bundle.path.is_absolute()
    assert bundle.path == (tmp_path / "dir" / "b").resolve()


def test_bundle_path_of_a_symlink_is_its_target(tmp_path) -> None:
    target = write_bundle(tmp_path / "real")
    (tmp_path / "alias").symlink_to(target)
    assert afbundle.read_bundle(tmp_path / "alias").path == target.resolve()


def test_read_bundle_accepts_str_and_pathlike(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    assert afbundle.read_bundle(str(path)).path == afbundle.read_bundle(path).path


def test_read_source_returns_the_embedded_source(tmp_path) -> None:
    path = write_bundle(tmp_path / "b", source=SOURCE)
    assert afbundle.read_bundle(path).read_source() == SOURCE


def test_an_empty_source_region_reads_as_empty_bytes(tmp_path) -> None:
    path = write_bundle(tmp_path / "b", source=b"")
    bundle = afbundle.read_bundle(path)
    assert bundle.source_len == 0
    assert bundle.read_source() == b""


def test_read_manifest_returns_the_raw_metadata_bytes(tmp_path) -> None:
    raw = raw_yaml_manifest() + b"# a comment that parsing would drop\n"
    path = write_meta(tmp_path / "b", raw)
    assert afbundle.read_bundle(path).read_manifest() == raw


def test_metadata_is_the_parsed_manifest(tmp_path) -> None:
    meta = manifest(["a", "b"])
    path = write_meta(tmp_path / "b", meta)
    assert afbundle.read_bundle(path).metadata == meta


def test_metadata_is_a_fresh_copy_each_time(tmp_path) -> None:
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", manifest(["a"])))
    first = bundle.metadata
    first["dags"]["intruder"] = {}
    first["sdk"].clear()
    assert bundle.metadata == manifest(["a"])
    assert bundle.metadata is not bundle.metadata
    assert bundle.dag_ids == ("a",)


def test_bundle_is_immutable(tmp_path) -> None:
    bundle = afbundle.read_bundle(write_bundle(tmp_path / "b"))
    with pytest.raises(AttributeError):
        bundle.size = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        bundle.path = tmp_path  # type: ignore[misc]


def test_dag_ids_are_the_dags_keys_in_manifest_order(tmp_path) -> None:
    dags = "".join(f"  {name}:\n    tasks: [t]\n" for name in ["zeta", "alpha", "mid"])
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw_yaml_manifest(dags)))
    assert bundle.dag_ids == ("zeta", "alpha", "mid")
    assert isinstance(bundle.dag_ids, tuple)


def test_dag_ids_skip_keys_that_are_not_strings(tmp_path) -> None:
    dags = "  1:\n    tasks: []\n  true:\n    tasks: []\n  false: {}\n  null: {}\n  2.5: {}\n"
    dags += '  real:\n    tasks: []\n  "1":\n    tasks: []\n'
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw_yaml_manifest(dags)))
    assert bundle.dag_ids == ("real", "1")


@pytest.mark.parametrize(
    "dags_yaml",
    [" [a, b]\n", " just-a-string\n", " 42\n", " null\n", " \n"],
    ids=["list", "string", "int", "null", "empty"],
)
def test_dag_ids_are_empty_when_dags_is_not_a_mapping(tmp_path, dags_yaml: str) -> None:
    path = write_meta(
        tmp_path / "b", raw_yaml_manifest().split(b"dags:")[0] + b"dags:" + dags_yaml.encode()
    )
    assert afbundle.read_bundle(path).dag_ids == ()


def test_dag_ids_are_empty_when_there_is_no_dags_key(tmp_path) -> None:
    meta = manifest(["a"])
    del meta["dags"]
    assert afbundle.read_bundle(write_meta(tmp_path / "b", meta)).dag_ids == ()


def test_supervisor_schema_version_is_read_from_sdk(tmp_path) -> None:
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", manifest(["a"])))
    assert bundle.supervisor_schema_version == "2026-06-16"


@pytest.mark.parametrize(
    "value",
    ["", 20260616, None, ["2026-06-16"], {"v": "2026-06-16"}, True],
    ids=["empty", "int", "null", "list", "mapping", "bool"],
)
def test_supervisor_schema_version_is_none_unless_a_non_empty_string(tmp_path, value) -> None:
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", manifest(["a"], schema_version=value)))
    assert bundle.supervisor_schema_version is None


def test_supervisor_schema_version_is_none_when_missing(tmp_path) -> None:
    meta = manifest(["a"])
    del meta["sdk"]["supervisor_schema_version"]
    assert afbundle.read_bundle(write_meta(tmp_path / "b", meta)).supervisor_schema_version is None


@pytest.mark.parametrize("sdk", [None, "go", ["2026-06-16"]], ids=["null", "string", "list"])
def test_supervisor_schema_version_is_none_when_sdk_is_not_a_mapping(tmp_path, sdk) -> None:
    meta = manifest(["a"])
    meta["sdk"] = sdk
    assert afbundle.read_bundle(write_meta(tmp_path / "b", meta)).supervisor_schema_version is None


def test_resolved_schema_version_defaults_to_the_declared_one(tmp_path) -> None:
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", manifest(["a"], schema_version="v1")))
    assert bundle.resolved_schema_version == "v1"
    meta = manifest(["a"])
    del meta["sdk"]["supervisor_schema_version"]
    assert afbundle.read_bundle(write_meta(tmp_path / "c", meta)).resolved_schema_version is None


def test_unknown_manifest_keys_are_kept_and_ignored(tmp_path) -> None:
    meta = manifest(["a"])
    meta["future_field"] = {"x": [1, 2]}
    meta["dags"]["a"]["owner"] = "me"
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", meta))
    assert bundle.metadata["future_field"] == {"x": [1, 2]}
    assert bundle.dag_ids == ("a",)


# --- YAML 1.2 values, routing as Airflow's YAML 1.1 reader decides ---------------------------


def test_an_unquoted_date_schema_version_is_a_date_as_airflow_reads_it(tmp_path) -> None:
    raw = raw_yaml_manifest(schema_version_yaml="2026-06-16")
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw))
    assert bundle.supervisor_schema_version is None  # a datetime.date to Airflow
    assert bundle.metadata["sdk"]["supervisor_schema_version"] == "2026-06-16"


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF"])
def test_yaml_11_booleans_are_strings(tmp_path, word: str) -> None:
    raw = raw_yaml_manifest() + f"flag: {word}\n".encode()
    assert afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata["flag"] == word


def test_yaml_12_booleans_are_booleans(tmp_path) -> None:
    raw = raw_yaml_manifest() + b"t: true\nf: false\n"
    meta = afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata
    assert meta["t"] is True
    assert meta["f"] is False


def test_0o_octal_is_an_integer(tmp_path) -> None:
    raw = raw_yaml_manifest() + b"mode: 0o17\nhex: 0x1F\nplain: 42\n"
    meta = afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata
    assert meta["mode"] == 15
    assert meta["hex"] == 31
    assert meta["plain"] == 42


def test_a_duplicate_key_keeps_the_last_value(tmp_path) -> None:
    raw = raw_yaml_manifest() + b"dup: first\ndup: second\n"
    assert afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata["dup"] == "second"


def test_a_duplicate_dag_id_is_listed_once(tmp_path) -> None:
    dags = "  a:\n    tasks: [one]\n  a:\n    tasks: [two]\n"
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw_yaml_manifest(dags)))
    assert bundle.dag_ids == ("a",)
    assert bundle.metadata["dags"]["a"] == {"tasks": ["two"]}


def test_anchors_and_aliases_are_resolved(tmp_path) -> None:
    dags = "  a: &entry\n    tasks: [t1, t2]\n  b: *entry\n"
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw_yaml_manifest(dags)))
    assert bundle.dag_ids == ("a", "b")
    assert bundle.metadata["dags"]["b"] == {"tasks": ["t1", "t2"]}


def test_unicode_dag_ids_round_trip(tmp_path) -> None:
    meta = manifest(["daß_dag", "数据管道", "emoji_🚀"])
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", meta))
    assert bundle.dag_ids == ("daß_dag", "emoji_🚀", "数据管道")  # PyYAML sorted the keys


# --- manifest errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "metadata",
    [
        b"dags: {a: 1}\nnote: \xff\xfe\n",
        b"\xc3\x28: 1\n",
        b"key: : not: valid: yaml: [",
        b"a: [1, 2\n",
        b"a:\n\tb: 1\n",
        b"- a\n- b\n",
        b"just-a-scalar\n",
        b"42\n",
        b"",
        b"~\n",
        b"# only a comment\n",
    ],
    ids=[
        "invalid-utf8",
        "invalid-utf8-key",
        "bad-yaml",
        "unclosed-flow",
        "tab-indent",
        "list",
        "scalar",
        "int",
        "empty",
        "null",
        "comment-only",
    ],
)
def test_metadata_that_is_not_a_utf8_yaml_mapping_is_a_manifest_error(
    tmp_path, metadata: bytes
) -> None:
    path = write_meta(tmp_path / "b", metadata)
    with pytest.raises(afbundle.ManifestError) as info:
        afbundle.read_bundle(path)
    assert info.value.kind == "manifest"
    assert info.value.path == str(path)


def test_multiple_yaml_documents_are_a_manifest_error(tmp_path) -> None:
    path = write_meta(tmp_path / "b", raw_yaml_manifest() + b"---\nother: doc\n")
    with pytest.raises(afbundle.ManifestError):
        afbundle.read_bundle(path)


def test_the_manifest_is_checked_even_without_verification(tmp_path) -> None:
    path = write_meta(tmp_path / "b", b"- not a mapping\n")
    with pytest.raises(afbundle.ManifestError):
        afbundle.read_bundle(path, verify=False)


def test_metadata_over_16_mib_is_a_manifest_error(tmp_path) -> None:
    big = b"a: " + b"x" * (16 * 1024 * 1024) + b"\n"
    path = write_meta(tmp_path / "b", big)
    with pytest.raises(afbundle.ManifestError) as info:
        afbundle.read_bundle(path, verify=False)
    assert info.value.path == str(path)


def test_metadata_well_under_the_limit_is_fine(tmp_path) -> None:
    meta = manifest(["a"])
    meta["blob"] = "x" * (1024 * 1024)
    assert afbundle.read_bundle(write_meta(tmp_path / "b", meta)).metadata["blob"] == meta["blob"]


# Hostile manifests run in a child process with a memory cap and a timeout: a reader
# without limits would otherwise eat the machine or overflow its stack (a crash, not an
# exception), which must fail this test rather than kill the test run.
HOSTILE_CHILD = """
import resource, sys, time
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
import afbundle
start = time.perf_counter()
try:
    afbundle.read_bundle(sys.argv[1], verify=False)
except afbundle.ManifestError as exc:
    print("ManifestError", round(time.perf_counter() - start, 3), exc.reason[:200])
else:
    print("accepted")
"""


def run_hostile(path: Path) -> str:
    import subprocess
    import sys

    try:
        proc = subprocess.run(
            [sys.executable, "-c", HOSTILE_CHILD, str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading the manifest did not finish within 30 s")
    assert proc.returncode == 0, f"reader crashed (rc={proc.returncode}): {proc.stderr[-2000:]}"
    return proc.stdout


BILLION_LAUGHS = (
    b"a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + b"".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode()
        for i in range(8)
    )
    + b"dags: *i\n"
)


def test_an_alias_bomb_is_a_manifest_error(tmp_path) -> None:
    path = write_meta(tmp_path / "b", BILLION_LAUGHS)
    assert run_hostile(path).startswith("ManifestError")


def test_an_alias_bomb_under_sdk_is_a_manifest_error(tmp_path) -> None:
    bomb = BILLION_LAUGHS.replace(b"dags: *i\n", b"sdk: {supervisor_schema_version: *i}\n")
    path = write_meta(tmp_path / "b", bomb)
    assert run_hostile(path).startswith("ManifestError")


@pytest.mark.parametrize(
    "nest",
    [
        lambda n: b"a: " + b"[" * n + b"]" * n + b"\n",
        lambda n: b"a: " + b"{a: " * n + b"1" + b"}" * n + b"\n",
        # One-space indentation keeps 4000 block levels at ~8 MB, under the size limit.
        lambda n: b"".join(b" " * i + b"k:\n" for i in range(n // 5)) + b" " * (n // 5) + b"v\n",
        lambda n: b"a:\n" + b"".join(b" " * i + b"- \n" for i in range(1, n // 5)),
    ],
    ids=["flow-sequence", "flow-mapping", "block-mapping", "block-sequence"],
)
def test_yaml_nested_deeper_than_the_budget_is_a_manifest_error(tmp_path, nest) -> None:
    path = write_meta(tmp_path / "b", nest(20_000))
    assert run_hostile(path).startswith("ManifestError")


def test_moderate_nesting_is_fine(tmp_path) -> None:
    raw = raw_yaml_manifest() + b"deep: " + b"[" * 20 + b"1" + b"]" * 20 + b"\n"
    meta = afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata
    value = meta["deep"]
    for _ in range(20):
        value = value[0]
    assert value == 1


# --- every error names the path and the reason -----------------------------------------------


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"#!/bin/sh\n" + bytes(80), afbundle.NotABundleError),
        (bundle_bytes(footer_ver=3), afbundle.UnsupportedFooterVersionError),
        (bundle_bytes(reserved=b"\x01" * 12), afbundle.BundleFormatError),
        (bundle_bytes(binary=b""), afbundle.BundleFormatError),
        (bundle_bytes(digest=b"\x11" * 32), afbundle.BundleIntegrityError),
        (bundle_bytes(metadata=b"[1, 2]"), afbundle.ManifestError),
    ],
    ids=["not-a-bundle", "footer-version", "reserved", "empty-binary", "integrity", "manifest"],
)
def test_every_error_names_the_path_and_the_reason(tmp_path, data: bytes, error) -> None:
    path = write_file(tmp_path / "the-bundle-file", data)
    with pytest.raises(error) as info:
        afbundle.read_bundle(path)
    exc = info.value
    assert type(exc) is error
    assert isinstance(exc, afbundle.BundleError)
    assert isinstance(exc, ValueError)
    assert isinstance(exc.path, str)
    assert exc.path == str(path)
    assert isinstance(exc.reason, str)
    assert exc.reason
    assert exc.path in str(exc)
    assert exc.reason in str(exc)
    assert exc.kind == error.kind


def test_an_integrity_error_shows_the_expected_and_actual_digests(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(digest=b"\x11" * 32))
    with pytest.raises(afbundle.BundleIntegrityError) as info:
        afbundle.read_bundle(path)
    assert (b"\x11" * 32).hex() in str(info.value)
    assert hashlib.sha256(BINARY).hexdigest() in str(info.value)


def test_a_missing_file_is_an_os_error_not_a_bundle_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        afbundle.read_bundle(tmp_path / "nope")
    assert not isinstance(info.value, afbundle.BundleError)


def test_a_directory_is_not_read_as_a_bundle(tmp_path) -> None:
    with pytest.raises((OSError, afbundle.NotABundleError)):
        afbundle.read_bundle(tmp_path)


def test_a_non_utf8_file_name_works(tmp_path) -> None:
    name = os.fsencode(tmp_path) + b"/bundle-\xff\xfe"
    with open(name, "wb") as f:
        f.write(bundle_bytes())
    path_str = os.fsdecode(name)
    bundle = afbundle.read_bundle(path_str)
    assert bundle.path == Path(path_str)
    assert os.fsencode(bundle.path) == name


def test_a_non_utf8_file_name_is_kept_in_errors(tmp_path) -> None:
    name = os.fsencode(tmp_path) + b"/broken-\xff"
    with open(name, "wb") as f:
        f.write(bundle_bytes(digest=b"\x00" * 32))
    with pytest.raises(afbundle.BundleIntegrityError) as info:
        afbundle.read_bundle(os.fsdecode(name))
    assert os.fsencode(info.value.path) == name


# --- the digest cache ------------------------------------------------------------------------


def test_a_verified_read_fills_the_digest_cache(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    settle(path)
    assert _core.digest_cache_len() == 0
    afbundle.read_bundle(path)
    assert _core.digest_cache_len() == 1
    afbundle.read_bundle(path)
    assert _core.digest_cache_len() == 1
    _core.clear_digest_cache()
    assert _core.digest_cache_len() == 0


def test_an_unverified_read_does_not_hash(tmp_path) -> None:
    afbundle.read_bundle(write_bundle(tmp_path / "b"), verify=False)
    assert _core.digest_cache_len() == 0


def test_a_bundle_tampered_in_place_with_mtime_restored_is_still_rejected(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    assert afbundle.read_bundle(path).verified  # warms the cache
    tamper_keeping_mtime(path, offset=3)
    with pytest.raises(afbundle.BundleIntegrityError):
        afbundle.read_bundle(path)


def test_a_bundle_repaired_in_place_is_accepted_again(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    tamper_keeping_mtime(path, offset=3)
    with pytest.raises(afbundle.BundleIntegrityError):
        afbundle.read_bundle(path)
    tamper_keeping_mtime(path, offset=3)  # flipping again restores the original byte
    assert afbundle.read_bundle(path).verified


def test_a_bundle_replaced_by_rename_is_reverified(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    afbundle.read_bundle(path)
    bad = write_file(tmp_path / "b.new", bundle_bytes(digest=b"\x00" * 32))
    os.utime(bad, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
    os.replace(bad, path)
    with pytest.raises(afbundle.BundleIntegrityError):
        afbundle.read_bundle(path)


def test_the_cache_does_not_confuse_a_different_trailer_over_the_same_binary(tmp_path) -> None:
    good = bundle_bytes()
    path = write_file(tmp_path / "b", good)
    afbundle.read_bundle(path)
    # Same size, new source_start: one byte moves from the binary into the source region.
    meta_len = int.from_bytes(good[-60:-56], "little")
    source_len = int.from_bytes(good[-64:-60], "little")
    moved = good[:-64] + trailer(source_len + 1, meta_len, good[-52:-20])
    path.write_bytes(moved)
    with pytest.raises(afbundle.BundleIntegrityError):
        afbundle.read_bundle(path)


# --- children must not see a half-initialised module -----------------------------------------


def test_read_bundle_works_in_a_fresh_interpreter(tmp_path, python_child) -> None:
    path = write_bundle(tmp_path / "b")
    proc = python_child(
        f"""
        import afbundle
        b = afbundle.read_bundle({str(path)!r})
        print(b.dag_ids, b.verified)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "('tutorial_dag',) True"


# --- found by probing the contract's edges -------------------------------------------------


@pytest.mark.parametrize("literal", [".inf", "-.inf", ".nan", ".NaN", "+.INF"])
def test_non_finite_floats_are_valid_manifest_values(tmp_path, literal: str) -> None:
    raw = raw_yaml_manifest() + f"timeout: {literal}\n".encode()
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw))
    value = bundle.metadata["timeout"]
    assert isinstance(value, float)
    assert value != value if "nan" in literal.lower() else abs(value) == float("inf")


@pytest.mark.xfail(
    strict=True,
    reason="known limitation (README, YAML notes): integers outside the 64-bit range come "
    "back as floats (123456789012345678901234567890 -> 1.2345678901234568e+29); PyYAML "
    "keeps them exact",
)
@pytest.mark.parametrize("value", [2**64 + 1, -(2**63) - 1, 123456789012345678901234567890])
def test_integers_beyond_64_bits_keep_their_value(tmp_path, value: int) -> None:
    raw = raw_yaml_manifest() + f"big: {value}\n".encode()
    read = afbundle.read_bundle(write_meta(tmp_path / "b", raw)).metadata["big"]
    assert type(read) is int
    assert read == value


@pytest.mark.parametrize("key", ["[a, b]", "{a: 1}"], ids=["sequence-key", "mapping-key"])
def test_a_manifest_python_cannot_hold_is_refused_when_read(tmp_path, key: str) -> None:
    dags = f"  ? {key}\n  : {{tasks: [t]}}\n  tutorial_dag:\n    tasks: [t]\n"
    path = write_meta(tmp_path / "b", raw_yaml_manifest(dags))
    with pytest.raises(afbundle.ManifestError):
        afbundle.read_bundle(path)


def test_a_bundles_metadata_property_never_raises_after_a_successful_read(tmp_path) -> None:
    """Whatever read_bundle accepts, .metadata can hand back (here: scalar non-string keys)."""
    dags = "  1: {}\n  false: {}\n  null: {}\n  1.5: {}\n  tutorial_dag: {}\n"
    bundle = afbundle.read_bundle(write_meta(tmp_path / "b", raw_yaml_manifest(dags)))
    keys = list(bundle.metadata["dags"])
    assert keys == [1, False, None, 1.5, "tutorial_dag"]
    assert [type(k) for k in keys] == [int, bool, type(None), float, str]
