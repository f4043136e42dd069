"""The single-file primitives tools build on: parse_manifest, read_trailer, sha256_prefix."""

from __future__ import annotations

import hashlib

import pytest

import afbundle
from afbundle import _core

from _writer import BINARY, bundle_bytes, write_bundle


def test_parse_manifest_reads_yaml_1_2_like_a_bundle_does() -> None:
    parsed = _core.parse_manifest(b"sdk: {supervisor_schema_version: 2026-06-16}\nok: yes\n")
    assert parsed == {"sdk": {"supervisor_schema_version": "2026-06-16"}, "ok": "yes"}


@pytest.mark.parametrize("raw", [b"- a list\n", b"\xff\xfe", b"a: [", b"a: !custom x\n"])
def test_parse_manifest_refuses_what_the_reader_refuses(raw: bytes) -> None:
    with pytest.raises(afbundle.ManifestError) as caught:
        _core.parse_manifest(raw, "m.yaml")
    assert caught.value.path == "m.yaml"
    assert str(caught.value).startswith("m.yaml: ")


def test_read_trailer_gives_the_regions_even_when_the_manifest_is_bad(tmp_path) -> None:
    path = write_bundle(tmp_path / "b", metadata=b"- not a mapping\n", source=b"src")
    with pytest.raises(afbundle.ManifestError):
        afbundle.read_bundle(path)
    trailer = _core.read_trailer(path)
    assert trailer["source_start"] == len(BINARY)
    assert trailer["source_len"] == 3
    assert trailer["metadata_start"] == len(BINARY) + 3
    assert trailer["size"] == path.stat().st_size
    assert trailer["binary_sha256"] == hashlib.sha256(BINARY).digest()


def test_read_trailer_refuses_a_file_without_one(tmp_path) -> None:
    path = tmp_path / "plain"
    path.write_bytes(b"x" * 100)
    with pytest.raises(afbundle.NotABundleError):
        _core.read_trailer(path)


def test_sha256_prefix_hashes_exactly_the_prefix(tmp_path) -> None:
    path = tmp_path / "b"
    path.write_bytes(bundle_bytes())
    assert _core.sha256_prefix(path, len(BINARY)) == hashlib.sha256(BINARY).digest()
    with pytest.raises(afbundle.BundleIntegrityError):
        _core.sha256_prefix(path, path.stat().st_size + 1)
