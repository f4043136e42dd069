"""The persistent digest cache, across real processes.

Each check runs scans in fresh interpreters (as Airflow workers do), so the
in-process cache is always empty there and any hit comes from the disk cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import afbundle

from _writer import BINARY, settle, tamper_keeping_mtime, write_bundle

SCAN_IN_CHILD = """
import json, sys, afbundle
report = afbundle.scan([sys.argv[1]], cache_dir=sys.argv[2], threads=1)
print(json.dumps({
    "bundles": [str(b.path) for b in report.bundles],
    "rejected": [[str(r.path), r.kind] for r in report.rejected],
    "hashed": report.stats.bytes_hashed,
    "hits": report.stats.cache_hits,
}))
"""


def scan_in_child(root: Path, cache: Path) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCAN_IN_CHILD, str(root), str(cache)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return json.loads(out.stdout.splitlines()[-1])


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "bundles"
    bundle = write_bundle(root / "pipeline", dag_ids=["d"])
    settle(bundle)
    return root, bundle, tmp_path / "cache"


def test_a_second_process_hits_the_cache_and_hashes_nothing(tree):
    root, _bundle, cache = tree
    first = scan_in_child(root, cache)
    assert first["hashed"] > 0 and first["hits"] == 0
    second = scan_in_child(root, cache)
    assert second == {**first, "hashed": 0, "hits": 1}


def test_the_cache_directory_and_entries_are_private(tree):
    root, _bundle, cache = tree
    scan_in_child(root, cache)
    assert cache.stat().st_mode & 0o777 == 0o700
    entries = [p for p in cache.rglob("*") if p.is_file()]
    assert entries
    assert all(p.stat().st_mode & 0o077 == 0 for p in entries)


def test_rewriting_in_place_is_a_miss(tree):
    root, bundle, cache = tree
    scan_in_child(root, cache)
    bundle.write_bytes(bundle.read_bytes())  # same bytes, new ctime/mtime
    again = scan_in_child(root, cache)
    assert again["hashed"] > 0 and again["hits"] == 0
    assert again["rejected"] == []


def test_restoring_the_mtime_after_tampering_does_not_fool_it(tree):
    root, bundle, cache = tree
    scan_in_child(root, cache)
    before = bundle.stat()
    data = bytearray(bundle.read_bytes())
    data[0] ^= 0xFF
    with open(bundle, "r+b") as f:  # in place: same inode, same size
        f.write(bytes(data))
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))  # what `touch -d` does
    assert bundle.stat().st_mtime_ns == before.st_mtime_ns
    assert bundle.stat().st_ino == before.st_ino
    again = scan_in_child(root, cache)
    assert again["bundles"] == []
    assert [kind for _, kind in again["rejected"]] == ["integrity"]


def test_replacing_by_rename_is_a_miss(tree):
    root, bundle, cache = tree
    scan_in_child(root, cache)
    replacement = write_bundle(root.parent / "staging", dag_ids=["d"], binary=b"\x7fELF other")
    os.replace(replacement, bundle)
    again = scan_in_child(root, cache)
    assert again["hashed"] > 0 and again["hits"] == 0 and again["rejected"] == []


def test_a_corrupt_or_truncated_entry_is_a_miss_and_is_repaired(tree):
    root, _bundle, cache = tree
    scan_in_child(root, cache)
    entries = [p for p in cache.rglob("*") if p.is_file()]
    for i, entry in enumerate(entries):
        raw = entry.read_bytes()
        entry.write_bytes(raw[: len(raw) // 2] if i % 2 else raw[:-1] + bytes([raw[-1] ^ 1]))
    repaired = scan_in_child(root, cache)
    assert repaired["hashed"] > 0 and repaired["hits"] == 0 and repaired["rejected"] == []
    assert scan_in_child(root, cache)["hits"] == 1


def test_a_false_entry_never_verifies_a_tampered_binary(tree):
    """An entry recorded for other bytes must not vouch for these."""
    root, bundle, cache = tree
    scan_in_child(root, cache)
    data = bytearray(bundle.read_bytes())
    data[1] ^= 0xFF
    bundle.write_bytes(bytes(data))
    assert scan_in_child(root, cache)["rejected"][0][1] == "integrity"


def test_concurrent_writers_agree(tmp_path: Path):
    root = tmp_path / "bundles"
    for i in range(12):
        write_bundle(root / f"b{i:02d}", dag_ids=[f"d{i}"], binary=f"\x7fELF {i}".encode())
    cache = tmp_path / "cache"
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: scan_in_child(root, cache), range(4)))
    assert all(r["bundles"] == results[0]["bundles"] for r in results)
    assert all(r["rejected"] == [] for r in results)
    assert len(results[0]["bundles"]) == 12
    assert scan_in_child(root, cache)["hits"] == 12


def test_an_insecure_cache_directory_is_refused_with_a_warning(tree):
    root, _bundle, cache = tree
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    warnings: list[tuple[str, dict]] = []

    class Recorder:
        def debug(self, event: str, **kw: object) -> None:
            pass

        def warning(self, event: str, **kw: object) -> None:
            warnings.append((event, kw))

    report = afbundle.scan([root], cache_dir=cache, log=Recorder())
    assert [b.path.name for b in report.bundles] == ["pipeline"]
    assert warnings and "refused" in warnings[0][0]
    assert "writable by group or others" in str(warnings[0][1]["reason"])
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_the_persistent_cache_can_be_turned_off(tree):
    root, _bundle, cache = tree
    report = afbundle.scan([root], cache_dir=cache, persistent_cache=False)
    assert len(report.bundles) == 1
    assert not cache.exists()


def test_find_uses_the_persistent_cache_for_its_candidate(tree):
    root, bundle, cache = tree
    afbundle.find([root], "d", cache_dir=cache)
    assert any(p.is_file() for p in cache.rglob("*"))
    child = scan_in_child(root, cache)
    assert child["hits"] == 1 and child["hashed"] == 0
    assert child["bundles"] == [str(bundle.resolve())]


def test_the_default_cache_directory_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert afbundle.default_cache_dir() == tmp_path / "xdg" / "afbundle"


def test_a_fresh_process_reuses_the_persistent_digest_cache(tmp_path: Path) -> None:
    settle(write_bundle(tmp_path / "root" / "b"))
    cache = tmp_path / "cache"
    first = scan_in_child(tmp_path / "root", cache)
    assert (first["hashed"], first["hits"], first["rejected"]) == (len(BINARY), 0, [])
    again = scan_in_child(tmp_path / "root", cache)
    assert (again["hashed"], again["hits"], again["rejected"]) == (0, 1, [])


def test_a_tampered_bundle_is_rejected_by_a_fresh_process_despite_the_persistent_cache(
    tmp_path: Path,
) -> None:
    path = write_bundle(tmp_path / "root" / "b")
    settle(path)
    cache = tmp_path / "cache"
    scan_in_child(tmp_path / "root", cache)  # warms the on-disk cache
    tamper_keeping_mtime(path, offset=2)
    assert [kind for _, kind in scan_in_child(tmp_path / "root", cache)["rejected"]] == [
        "integrity"
    ]


# --- One vocabulary: cache_dir says where (None: the default), persistent_cache whether ---


def _filled(cache: Path) -> bool:
    return cache.exists() and any(p.is_file() for p in cache.rglob("*"))


def test_read_bundle_uses_the_default_cache_directory_when_asked_as_find_does(tree):
    root, bundle, _ = tree
    default = afbundle.default_cache_dir()
    afbundle.read_bundle(bundle)  # one file named explicitly: hashed, no cache
    assert not _filled(default)
    afbundle._core.clear_digest_cache()  # a hit in memory would not reach the disk
    afbundle.read_bundle(bundle, persistent_cache=True)  # cache_dir=None: the default
    assert _filled(default)
    child = scan_in_child(root, default)
    assert (child["hits"], child["hashed"]) == (1, 0)


def test_read_bundle_given_a_cache_dir_still_uses_it(tree):
    """The older way to ask for the cache (``cache_dir=`` alone) keeps working."""
    _root, bundle, cache = tree
    afbundle.read_bundle(bundle, cache_dir=cache)
    assert _filled(cache)
    off = cache.parent / "off"
    afbundle.read_bundle(bundle, cache_dir=off, persistent_cache=False)
    assert not off.exists()


def test_read_bundle_warns_about_a_refused_cache_directory_as_scan_does(tree):
    _root, bundle, cache = tree
    cache.mkdir(mode=0o700)
    os.chmod(cache, 0o777)
    warnings: list[tuple[str, dict]] = []

    class Recorder:
        def debug(self, event: str, **kw: object) -> None:
            pass

        def warning(self, event: str, **kw: object) -> None:
            warnings.append((event, kw))

    assert afbundle.read_bundle(bundle, cache_dir=cache, log=Recorder()).verified
    assert warnings and "refused" in warnings[0][0]
    assert not _filled(cache)
    with pytest.raises(ValueError, match="cache_dir"):
        afbundle.read_bundle(bundle, cache_dir="", persistent_cache=True)
