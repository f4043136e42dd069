"""The 64-byte trailer: constants, building, and the reader's checks in spec order.

Spec, "Trailer Layout" and "Reader algorithm" steps 1-6.
"""

from __future__ import annotations

import hashlib
import struct

import pytest

import afbundle
from afbundle import _core

from _writer import BINARY, MAGIC, bundle_bytes, raw_bundle_bytes, trailer, write_file

DIGEST = hashlib.sha256(BINARY).digest()


# --- constants -------------------------------------------------------------------------------


def test_trailer_size_is_64() -> None:
    assert afbundle.TRAILER_SIZE == 64
    assert _core.TRAILER_SIZE == 64


def test_magic_is_afbndl01() -> None:
    assert afbundle.MAGIC == b"AFBNDL01"
    assert isinstance(afbundle.MAGIC, bytes)


def test_supported_footer_version_is_1() -> None:
    assert afbundle.FOOTER_VERSION == 1


# --- build_trailer ---------------------------------------------------------------------------


def test_build_trailer_matches_the_independent_writer() -> None:
    assert _core.build_trailer(29, 123, DIGEST) == trailer(29, 123, DIGEST)


def test_build_trailer_lays_fields_out_little_endian_in_spec_order() -> None:
    out = _core.build_trailer(0x01020304, 0x0A0B0C0D, DIGEST)
    assert len(out) == 64
    assert struct.unpack_from("<III", out, 0) == (0x01020304, 0x0A0B0C0D, 1)
    assert out[12:44] == DIGEST
    assert out[44:56] == bytes(12)
    assert out[56:64] == MAGIC


def test_build_trailer_accepts_the_largest_u32_lengths() -> None:
    out = _core.build_trailer(2**32 - 1, 2**32 - 1, DIGEST)
    assert struct.unpack_from("<II", out, 0) == (2**32 - 1, 2**32 - 1)


@pytest.mark.parametrize("digest", [b"", b"\x00" * 31, b"\x00" * 33], ids=["0", "31", "33"])
def test_build_trailer_refuses_a_digest_that_is_not_32_bytes(digest: bytes) -> None:
    with pytest.raises((ValueError, TypeError)):
        _core.build_trailer(0, 0, digest)


@pytest.mark.parametrize("length", [-1, 2**32])
def test_build_trailer_refuses_lengths_outside_u32(length: int) -> None:
    with pytest.raises((ValueError, OverflowError, TypeError)):
        _core.build_trailer(length, 0, DIGEST)
    with pytest.raises((ValueError, OverflowError, TypeError)):
        _core.build_trailer(0, length, DIGEST)


# --- step 1-2: no trailer means "not a bundle" ----------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 8, 63])
def test_a_file_shorter_than_the_trailer_is_not_a_bundle(tmp_path, size: int) -> None:
    data = (bundle_bytes() * 2)[-size:] if size else b""
    path = write_file(tmp_path / "short", data)
    with pytest.raises(afbundle.NotABundleError):
        afbundle.read_bundle(path)


def test_a_file_without_the_magic_is_not_a_bundle(tmp_path) -> None:
    path = write_file(tmp_path / "sh", b"#!/bin/sh\nexit 0\n" + bytes(100))
    with pytest.raises(afbundle.NotABundleError):
        afbundle.read_bundle(path)


def test_a_wrong_magic_is_not_a_bundle_even_when_the_rest_is_valid(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(magic=b"AFBNDL02"))
    with pytest.raises(afbundle.NotABundleError):
        afbundle.read_bundle(path)


def test_the_magic_is_checked_before_the_footer_version(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(magic=b"XXXXXXXX", footer_ver=7))
    with pytest.raises(afbundle.NotABundleError):
        afbundle.read_bundle(path)


def test_not_a_bundle_is_a_bundle_error_and_a_value_error(tmp_path) -> None:
    path = write_file(tmp_path / "sh", b"#!/bin/sh\n")
    with pytest.raises(afbundle.NotABundleError) as info:
        afbundle.read_bundle(path)
    assert isinstance(info.value, afbundle.BundleError)
    assert isinstance(info.value, ValueError)
    assert info.value.kind == "not_a_bundle"


# --- step 3: footer version ------------------------------------------------------------------


@pytest.mark.parametrize("footer_ver", [0, 2, 256, 2**32 - 1])
def test_unknown_footer_version_is_an_error(tmp_path, footer_ver: int) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(footer_ver=footer_ver))
    with pytest.raises(afbundle.UnsupportedFooterVersionError) as info:
        afbundle.read_bundle(path)
    assert isinstance(info.value, afbundle.BundleFormatError)
    assert info.value.kind == "footer_version"
    assert str(footer_ver) in str(info.value)


def test_unknown_footer_version_is_reported_before_reserved_bytes(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(footer_ver=2, reserved=b"\xff" * 12))
    with pytest.raises(afbundle.UnsupportedFooterVersionError):
        afbundle.read_bundle(path)


def test_unknown_footer_version_is_reported_before_impossible_lengths(tmp_path) -> None:
    data = raw_bundle_bytes(BINARY, b"", b"a: 1\n", source_len=2**32 - 1, footer_ver=9)
    path = write_file(tmp_path / "b", data)
    with pytest.raises(afbundle.UnsupportedFooterVersionError):
        afbundle.read_bundle(path)


# --- step 4-5: reserved bytes and regions -----------------------------------------------------


@pytest.mark.parametrize("position", range(12))
def test_a_non_zero_reserved_byte_is_a_format_error(tmp_path, position: int) -> None:
    reserved = bytearray(12)
    reserved[position] = 0x01
    path = write_file(tmp_path / "b", bundle_bytes(reserved=bytes(reserved)))
    with pytest.raises(afbundle.BundleFormatError) as info:
        afbundle.read_bundle(path)
    assert not isinstance(info.value, afbundle.UnsupportedFooterVersionError)
    assert info.value.kind == "format"


def test_reserved_bytes_are_checked_before_the_regions(tmp_path) -> None:
    data = raw_bundle_bytes(BINARY, b"", b"a: 1\n", source_len=10_000, reserved=b"\x01" * 12)
    path = write_file(tmp_path / "b", data)
    with pytest.raises(afbundle.BundleFormatError) as info:
        afbundle.read_bundle(path)
    assert "reserved" in info.value.reason.lower()


@pytest.mark.parametrize(
    ("source_len", "metadata_len"),
    [(10_000, 5), (0, 10_000), (2**32 - 1, 5), (5, 2**32 - 1), (2**32 - 1, 2**32 - 1)],
    ids=["source", "metadata", "max-source", "max-metadata", "both-max"],
)
def test_regions_past_the_start_of_the_file_are_a_format_error(
    tmp_path, source_len: int, metadata_len: int
) -> None:
    data = raw_bundle_bytes(
        BINARY, b"src", b"a: 1\n", source_len=source_len, metadata_len=metadata_len
    )
    path = write_file(tmp_path / "b", data)
    with pytest.raises(afbundle.BundleFormatError) as info:
        afbundle.read_bundle(path, verify=False)
    assert type(info.value) is afbundle.BundleFormatError
    assert info.value.kind == "format"


def test_regions_reaching_exactly_the_start_leave_an_empty_binary_which_is_an_error(
    tmp_path,
) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(binary=b""))
    with pytest.raises(afbundle.BundleFormatError) as info:
        afbundle.read_bundle(path, verify=False)
    assert type(info.value) is afbundle.BundleFormatError


def test_a_bare_trailer_with_zero_lengths_is_an_empty_binary_error(tmp_path) -> None:
    path = write_file(tmp_path / "b", trailer(0, 0, hashlib.sha256(b"").digest()))
    with pytest.raises(afbundle.BundleFormatError):
        afbundle.read_bundle(path)


def test_a_one_byte_binary_region_is_enough(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(binary=b"\x7f"))
    bundle = afbundle.read_bundle(path)
    assert bundle.source_start == 1
    assert bundle.verified


# --- step 6: integrity -----------------------------------------------------------------------


def test_a_binary_sha256_mismatch_is_an_integrity_error(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(digest=b"\x00" * 32))
    with pytest.raises(afbundle.BundleIntegrityError) as info:
        afbundle.read_bundle(path)
    assert info.value.kind == "integrity"
    assert not isinstance(info.value, afbundle.BundleFormatError)


def test_without_verification_a_digest_mismatch_is_not_checked(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes(digest=b"\x00" * 32))
    bundle = afbundle.read_bundle(path, verify=False)
    assert bundle.verified is False
    assert bundle.binary_sha256 == b"\x00" * 32


def test_a_verified_read_reports_verified(tmp_path) -> None:
    path = write_file(tmp_path / "b", bundle_bytes())
    assert afbundle.read_bundle(path).verified is True
    assert afbundle.read_bundle(path, verify=True).verified is True
    assert afbundle.read_bundle(path, verify=False).verified is False


def test_the_digest_covers_the_binary_region_only(tmp_path) -> None:
    """Source and metadata bytes are outside the hash (spec: integrity of the binary only)."""
    a = afbundle.read_bundle(write_file(tmp_path / "a", bundle_bytes(source=b"one")))
    b = afbundle.read_bundle(write_file(tmp_path / "b", bundle_bytes(source=b"two")))
    assert a.binary_sha256 == b.binary_sha256 == DIGEST
    assert a.verified and b.verified
