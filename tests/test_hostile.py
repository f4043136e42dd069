"""Hostile inputs with resource bounds: each is a clean error or a bounded result.

Peak memory is measured in a fresh child process (ru_maxrss), against the
same child's baseline after `import afbundle`, so the numbers do not depend on
what the test runner itself holds.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import afbundle

from _writer import MAGIC, bundle_bytes, manifest, trailer, write_bundle

MEASURE = """
import json, resource, sys
import afbundle
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
outcome = None
try:
    {call}
    outcome = "ok"
except afbundle.BundleError as exc:
    outcome = type(exc).__name__ + ": " + exc.reason
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"outcome": outcome, "extra_mib": (peak - base) / 1024}}))
"""


def measure(call: str, *args: str) -> dict:
    code = "import sys\n" + textwrap.dedent(MEASURE).format(call=call)
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def sparse_bundle(path: Path, metadata_len: int) -> Path:
    """A file whose trailer claims a huge manifest; sparse, so it costs no disk."""
    binary = b"\x7fELF" + bytes(60)
    with open(path, "wb") as f:
        f.write(binary)
        f.truncate(len(binary) + metadata_len)
        f.seek(0, os.SEEK_END)
        f.write(trailer(0, metadata_len, bytes(32)))
    path.chmod(0o755)
    return path


def test_a_4_gib_metadata_len_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = sparse_bundle(tmp_path / "b", 0xFFFF_FFF0)
    result = measure("afbundle.read_bundle(sys.argv[1], verify=False)", str(path))
    assert result["outcome"].startswith("ManifestError")
    assert "limit" in result["outcome"]
    assert result["extra_mib"] < 16


def test_a_100_mb_manifest_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    meta = b"pad: " + b"x" * (100 * 1024 * 1024) + b"\n"
    path = write_bundle(tmp_path / "b", metadata=meta)
    result = measure("afbundle.read_bundle(sys.argv[1], verify=False)", str(path))
    assert result["outcome"].startswith("ManifestError")
    assert result["extra_mib"] < 16


@pytest.mark.parametrize(
    "name, yaml",
    [
        ("deep-flow", "a: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        ("deep-block", "".join("  " * i + f"k{i}:\n" for i in range(2_000)) + "  " * 2_000 + "v\n"),
        (
            "billion-laughs",
            "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(
                f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n"
                for i in range(9)
            ),
        ),
    ],
)
def test_pathological_yaml_is_a_manifest_error_in_bounded_memory(
    tmp_path: Path, name: str, yaml: str
) -> None:
    path = write_bundle(tmp_path / name, metadata=yaml.encode())
    result = measure("afbundle.read_bundle(sys.argv[1], verify=False)", str(path))
    assert result["outcome"].startswith("ManifestError"), result
    assert result["extra_mib"] < 64


def test_a_million_dag_ids_is_refused_cleanly_in_bounded_memory(tmp_path: Path) -> None:
    dags = "".join(f"  d{i:07d}: {{}}\n" for i in range(1_000_000))
    meta = ("sdk: {supervisor_schema_version: '2026-06-16'}\ndags:\n" + dags).encode()
    assert len(meta) < 16 * 1024 * 1024
    path = write_bundle(tmp_path / "b", metadata=meta)
    result = measure("afbundle.read_bundle(sys.argv[1], verify=False)", str(path))
    assert result["outcome"].startswith("ManifestError"), result
    assert "budget" in result["outcome"] or "limit" in result["outcome"]
    assert result["extra_mib"] < 128


def test_three_hundred_thousand_dag_ids_within_the_budget_are_read_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """The YAML 1.1 routing pass keeps the dict's order with an index, not a scan per
    key (a scan per key is quadratic: 19 s for 150,000 keys); a third are duplicates, and
    every hundredth a key Airflow reads as a date (at most 1,000 of those are kept)."""
    dags = "".join(
        f"  {1000 + i // 100:04d}-01-01: {{}}\n"
        if i % 100 == 0
        else f"  d{i % 200_000:06d}: {{}}\n"
        for i in range(300_000)
    )
    meta = ("sdk: {supervisor_schema_version: '2026-06-16'}\ndags:\n" + dags).encode()
    path = write_bundle(tmp_path / "b", metadata=meta)
    code = (
        "b = afbundle.read_bundle(sys.argv[1], verify=False)\n"
        "    assert len(b.dag_ids) == 198_000 and len(b.retyped_keys) == 1000"
    )
    result = measure(code, str(path))
    assert result["outcome"] == "ok", result
    assert result["extra_mib"] < 256


def test_a_hundred_thousand_empty_executables_are_walked_in_bounded_memory(
    tmp_path: Path,
) -> None:
    root = tmp_path / "many"
    for d in range(100):
        sub = root / f"d{d:03d}"
        sub.mkdir(parents=True)
        for i in range(1000):
            fd = os.open(sub / f"e{i:04d}", os.O_CREAT | os.O_WRONLY, 0o755)
            os.close(fd)
    write_bundle(root / "zz" / "real", dag_ids=["needle"])
    code = (
        "r = afbundle.scan([sys.argv[1]], verify=True, persistent_cache=False)\n"
        "    assert r.stats.executables == 100_001 and len(r.bundles) == 1, r.stats"
    )
    result = measure(code, str(root))
    assert result["outcome"] == "ok"
    assert result["extra_mib"] < 64
    assert afbundle.find([root], "needle").path.name == "real"


def test_paths_longer_than_path_max_are_skipped_with_a_reason(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY)
    try:
        # Build ~5,000 bytes of nested directories relative to descriptors, so the
        # test itself never needs a path longer than PATH_MAX.
        for _ in range(25):
            name = "n" * 200
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = child
        with os.fdopen(os.open("x", os.O_CREAT | os.O_WRONLY, 0o755, dir_fd=fd), "wb") as f:
            f.write(bundle_bytes())
    finally:
        os.close(fd)
    write_bundle(root / "shallow", dag_ids=["tutorial_dag"])
    report = afbundle.scan([root])
    assert [b.path.name for b in report.bundles] == ["shallow"]
    assert any("too long" in s.reason for s in report.skipped), report.skipped


def test_a_trailer_claiming_regions_beyond_the_file_is_a_format_error(tmp_path: Path) -> None:
    raw = b"\x7fELF" + trailer(0xFFFF_FFFF, 0xFFFF_FFFF, bytes(32))
    path = tmp_path / "b"
    path.write_bytes(raw)
    with pytest.raises(afbundle.BundleFormatError, match="past the start"):
        afbundle.read_bundle(path)


def test_a_file_of_only_a_trailer_is_a_format_error(tmp_path: Path) -> None:
    path = tmp_path / "b"
    path.write_bytes(struct.pack("<III", 0, 0, 1) + bytes(44) + MAGIC)
    with pytest.raises(afbundle.BundleFormatError, match="binary region is empty"):
        afbundle.read_bundle(path)


def test_a_manifest_near_the_limit_still_reads(tmp_path: Path) -> None:
    meta = manifest(["d"])
    meta["pad"] = "x" * (15 * 1024 * 1024)
    path = write_bundle(tmp_path / "b", metadata=meta)
    assert afbundle.read_bundle(path).dag_ids == ("d",)
