"""Property tests: the trailer round trip, and the reader never crashing or accepting damage."""

from __future__ import annotations

import hashlib
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import afbundle
from afbundle import _core

from _writer import KINDS, MAGIC, manifest, trailer, write_file, write_kind

U32 = st.integers(min_value=0, max_value=2**32 - 1)
DIGESTS = st.binary(min_size=32, max_size=32)
# Any text: PyYAML (as upstream's tests and other packers write manifests) leaves
# some of them plain ("1e3", "0o17"), and afbundle reads them as Airflow does.
DAG_IDS = st.lists(
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF), min_size=1, max_size=12),
    min_size=1,
    max_size=3,
    unique=True,
)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis reruns the test body many times)."""
    with tempfile.TemporaryDirectory(prefix="afbundle-prop-") as d:
        yield Path(d).resolve()


def read_or_error(path: Path, *, verify: bool) -> afbundle.Bundle | afbundle.BundleError:
    try:
        return afbundle.read_bundle(path, verify=verify)
    except afbundle.BundleError as exc:
        return exc


@st.composite
def valid_bundles(draw) -> tuple[bytes, bytes, bytes, bytes]:
    """(binary, source, metadata, whole file) of a spec-conformant bundle."""
    binary = draw(st.binary(min_size=1, max_size=300))
    source = draw(st.binary(max_size=100))
    dag_ids = draw(DAG_IDS)
    metadata = yaml.safe_dump(manifest(dag_ids), sort_keys=True).encode()
    whole = (
        binary
        + source
        + metadata
        + trailer(len(source), len(metadata), hashlib.sha256(binary).digest())
    )
    return binary, source, metadata, whole


# --- the trailer round trip ------------------------------------------------------------------


@given(U32, U32, DIGESTS)
def test_build_trailer_agrees_with_the_independent_writer(source_len, metadata_len, digest):
    built = _core.build_trailer(source_len, metadata_len, digest)
    assert built == trailer(source_len, metadata_len, digest)
    assert struct.unpack_from("<III", built) == (source_len, metadata_len, 1)


@given(valid_bundles())
def test_a_written_trailer_reads_back_field_for_field(case) -> None:
    binary, source, metadata, whole = case
    with scratch() as d:
        path = write_file(d / "b", whole)
        bundle = afbundle.read_bundle(path)
        assert bundle.read_source() == source  # re-read from the file: keep it alive
        assert bundle.read_manifest() == metadata
    assert bundle.verified
    assert bundle.footer_version == 1
    assert bundle.size == len(whole)
    assert bundle.source_start == len(binary)
    assert bundle.source_len == len(source)
    assert bundle.metadata_start == len(binary) + len(source)
    assert bundle.metadata_len == len(metadata)
    assert bundle.binary_sha256 == hashlib.sha256(binary).digest()
    assert bundle.metadata == yaml.safe_load(metadata)


# --- no input crashes the reader -------------------------------------------------------------


@st.composite
def trailer_shaped_bytes(draw) -> bytes:
    """Random bodies under trailers with the magic and random, often nearly valid, fields."""
    body = draw(st.binary(max_size=200))
    source_len = draw(st.integers(0, len(body) + 2) | U32)
    metadata_len = draw(st.integers(0, len(body) + 2) | U32)
    footer_ver = draw(st.sampled_from([1, 1, 1, 0, 2]) | U32)
    reserved = draw(st.sampled_from([bytes(12)]) | st.binary(min_size=12, max_size=12))
    digest = draw(st.sampled_from([None]) | DIGESTS)
    if digest is None:
        cut = max(0, len(body) - source_len - metadata_len)
        digest = hashlib.sha256(body[:cut]).digest()
    return body + trailer(
        source_len, metadata_len, digest, footer_ver=footer_ver, reserved=reserved
    )


@settings(max_examples=150)
@given(st.binary(max_size=200) | trailer_shaped_bytes() | valid_bundles().map(lambda c: c[3]))
def test_every_byte_string_is_a_bundle_a_non_bundle_or_a_clean_error(data: bytes) -> None:
    with scratch() as d:
        path = write_file(d / "f", data)
        for verify in (True, False):
            outcome = read_or_error(path, verify=verify)
            assert isinstance(outcome, (afbundle.Bundle, afbundle.BundleError))
            if isinstance(outcome, afbundle.BundleError):
                assert outcome.path == str(path)
                assert outcome.reason
            if len(data) < 64 or data[-8:] != MAGIC:
                assert isinstance(outcome, afbundle.NotABundleError)


@given(st.binary(min_size=64, max_size=200).map(lambda b: b[:-8] + MAGIC))
def test_random_bytes_ending_in_the_magic_are_never_a_non_bundle(data: bytes) -> None:
    with scratch() as d:
        outcome = read_or_error(write_file(d / "f", data), verify=True)
    assert not isinstance(outcome, afbundle.NotABundleError)


# --- damage is never accepted ----------------------------------------------------------------


@given(valid_bundles(), st.data())
def test_flipping_any_byte_of_the_binary_region_is_never_accepted(case, data) -> None:
    binary, _, _, whole = case
    offset = data.draw(st.integers(0, len(binary) - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(whole)
    damaged[offset] ^= mask
    with scratch() as d:
        outcome = read_or_error(write_file(d / "b", bytes(damaged)), verify=True)
    assert isinstance(outcome, afbundle.BundleIntegrityError)


@given(valid_bundles(), st.data())
def test_flipping_any_byte_of_the_trailer_is_never_accepted(case, data) -> None:
    _, _, _, whole = case
    offset = data.draw(st.integers(len(whole) - 64, len(whole) - 1), label="offset")
    mask = data.draw(st.integers(1, 255), label="mask")
    damaged = bytearray(whole)
    damaged[offset] ^= mask
    with scratch() as d:
        outcome = read_or_error(write_file(d / "b", bytes(damaged)), verify=True)
    assert isinstance(outcome, afbundle.BundleError)
    field = offset - (len(whole) - 64)
    if field >= 56:
        assert isinstance(outcome, afbundle.NotABundleError)
    elif 8 <= field < 12:
        assert isinstance(outcome, afbundle.UnsupportedFooterVersionError)
    elif 12 <= field < 44:
        assert isinstance(outcome, afbundle.BundleIntegrityError)
    elif 44 <= field < 56:
        assert type(outcome) is afbundle.BundleFormatError


@given(valid_bundles(), st.data())
def test_flipping_a_source_byte_is_accepted_by_spec(case, data) -> None:
    binary, source, _, whole = case
    if not source:
        return
    offset = data.draw(st.integers(len(binary), len(binary) + len(source) - 1), label="offset")
    damaged = bytearray(whole)
    damaged[offset] ^= 0xFF
    with scratch() as d:
        bundle = afbundle.read_bundle(write_file(d / "b", bytes(damaged)))
        assert bundle.verified
        assert bundle.read_source() != source


@given(valid_bundles(), st.data())
def test_truncating_a_valid_bundle_never_yields_a_bundle(case, data) -> None:
    _, _, _, whole = case
    length = data.draw(st.integers(0, len(whole) - 1), label="length")
    with scratch() as d:
        path = write_file(d / "b", whole[:length])
        for verify in (True, False):
            outcome = read_or_error(path, verify=verify)
            assert isinstance(outcome, afbundle.BundleError)


# --- trees -----------------------------------------------------------------------------------

DIRS = ["", "a", "a/b", "c", "c/d/e", "A"]
ENTRY = st.tuples(
    st.sampled_from(DIRS),
    st.sampled_from(KINDS),
    st.lists(st.sampled_from(["d0", "d1", "d2"]), min_size=1, max_size=2, unique=True),
)
LINKS = st.lists(
    st.tuples(st.sampled_from(DIRS), st.sampled_from(["loop", "dir", "file", "dangling"])),
    max_size=3,
)


def build_tree(root: Path, entries, links) -> None:
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for i, (directory, kind, dag_ids) in enumerate(entries):
        files.append(write_kind(root / directory / f"{kind}-{i}", kind, dag_ids))
    for j, (directory, link) in enumerate(links):
        where = root / directory / f"link-{j}"
        where.parent.mkdir(parents=True, exist_ok=True)
        if link == "loop":
            where.symlink_to(root)
        elif link == "dir":
            where.symlink_to(root / DIRS[(j + 1) % len(DIRS)])
        elif link == "file" and files:
            where.symlink_to(files[j % len(files)])
        else:
            where.symlink_to(root / "nowhere")


def report_summary(report: afbundle.ScanReport) -> tuple:
    return (
        [(b.path, b.dag_ids, b.verified) for b in report.bundles],
        [(r.path, r.kind, r.reason) for r in report.rejected],
        [(s.path, s.reason) for s in report.skipped],
        report.duplicates,
        report.missing_roots,
        # cache_hits and bytes_hashed depend on what an earlier scan already hashed
        {
            k: v
            for k, v in report.stats.as_dict().items()
            if k not in ("cache_hits", "bytes_hashed")
        },
    )


@settings(max_examples=40)
@given(st.lists(ENTRY, max_size=10), LINKS, st.booleans())
def test_a_random_tree_scans_the_same_with_one_thread_or_four(entries, links, verify) -> None:
    with scratch() as d:
        build_tree(d / "root", entries, links)
        roots = [d / "root", d / "missing", d / "root" / "a"]
        one = afbundle.scan(roots, verify=verify, threads=1)
        four = afbundle.scan(roots, verify=verify, threads=4)
    assert report_summary(one) == report_summary(four)
    # The first scan warmed the digest cache: the second never hashes more.
    assert four.stats.bytes_hashed <= one.stats.bytes_hashed


def _refuse_odd_days(version: str) -> str:
    """A resolver that refuses some versions, as Airflow's migrator refuses unknown ones."""
    if version[-1:].isdigit() and int(version[-1]) % 2:
        raise ValueError(f"unsupported supervisor_schema_version {version!r}")
    return version


@settings(max_examples=30)
@given(
    st.lists(ENTRY, max_size=10),
    LINKS,
    st.sampled_from([None, _refuse_odd_days, lambda v: v + "-resolved"]),
)
def test_scan_and_find_never_disagree_on_the_winner(entries, links, resolver) -> None:
    """One rule, one place: for every dag_id, scan's winner is what find returns,
    and find raises exactly when scan names no winner (several roots, tampered
    bundles, missing schema versions, resolver rejections)."""
    with scratch() as d:
        build_tree(d / "root", entries, links)
        roots = [d / "root" / "a", d / "root", d / "missing"]
        report = afbundle.scan(roots, resolve_schema_version=resolver)
        for dag_id in ["d0", "d1", "d2"]:
            winner = report.winner(dag_id)
            try:
                found = afbundle.find(roots, dag_id, resolve_schema_version=resolver)
            except afbundle.BundleNotFoundError:
                assert winner is None, dag_id
                continue
            assert winner is not None, dag_id
            assert found.path == winner.path
            assert found.resolved_schema_version == report.decisions[dag_id][1]
            # Everything else that declares the dag lost for a stated reason.
            declaring = {b.path for b in report.bundles if dag_id in b.dag_ids}
            assert {r.path for r in report.losers(dag_id)} == declaring - {winner.path}
