"""System calls per directory entry: on a network file system each one is a round trip.

The walk classifies an entry with one stat call (``statx``, as ``fstatat``) and opens
only executables large enough to hold a trailer, reading trailer and manifest in one
``pread``.
These tests count system calls with ``strace -c -f`` (Debian's ``strace``), as
the difference between two runs whose trees differ only in the number of
files of one kind, so interpreter start-up and imports cancel out. They keep
the counts from growing; they never look at time.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import afbundle

from _writer import manifest, write_bundle, write_executable, write_file

DIRS = 4
EXTRA = 100  # files of one kind added per directory

FIND = """
import sys, afbundle
try:
    afbundle.find([sys.argv[1]], "no_such_dag", persistent_cache=False)
except FileNotFoundError:
    pass
"""

#: The most system calls one file of each kind may cost find(missing).
BUDGET = {
    # fstatat, and the exec bit is known.
    "not_executable": 1,
    # fstatat: too short to hold a trailer, never opened.
    "tiny_executable": 1,
    # fstatat, openat, one pread of the tail, close.
    "executable": 4,
    # fstatat, openat, one pread (trailer and manifest), close.
    "bundle": 4,
}


def make(path: Path, kind: str, i: int) -> None:
    if kind == "not_executable":
        write_file(path, b"data " * 40, executable=False)
    elif kind == "tiny_executable":
        write_executable(path)
    elif kind == "executable":
        write_executable(path, b"#!/bin/sh\n" + b"echo not a bundle\n" * 20)
    else:
        write_bundle(path, metadata=manifest([f"dag_{i}"]))


def tree(root: Path, extra_kind: str | None) -> Path:
    for d in range(DIRS):
        for kind in BUDGET:
            count = 5 + (EXTRA if kind == extra_kind else 0)
            for i in range(count):
                make(root / f"dir{d}" / f"{kind}-{i:03d}", kind, i)
    return root


def syscalls(root: Path, out: Path) -> int:
    """File system calls of a fresh process running find(missing) over ``root``
    (threads waking each other, futex and friends, are no round trips)."""
    strace = ["strace", "-f", "-c", "-e", "trace=%file,%desc", "-o", str(out)]
    subprocess.run(
        [*strace, sys.executable, "-c", FIND, str(root)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    total = [line for line in out.read_text().splitlines() if line.rstrip().endswith("total")]
    # "100.00    0.012345     6     6042       114 total": calls is the 4th column.
    return int(re.split(r"\s+", total[-1].strip())[3])


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_system_calls_per_entry_stay_within_budget(tmp_path) -> None:
    probe = subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    base = syscalls(tree(tmp_path / "base", None), tmp_path / "base.txt")
    per_file = {}
    for kind in BUDGET:
        more = syscalls(tree(tmp_path / kind, kind), tmp_path / f"{kind}.txt")
        per_file[kind] = (more - base) / (DIRS * EXTRA)
    # Listing a bigger directory may take one more getdents64 now and then.
    slack = 0.1
    over = {k: v for k, v in per_file.items() if v > BUDGET[k] + slack}
    assert not over, f"system calls per file {per_file}, budget {BUDGET}"


def test_the_exec_bit_is_decided_as_faccessat_decides_it(shared_tmp, as_nobody) -> None:
    """Mode bits answer for root and for the owner; others ask faccessat."""
    root = shared_tmp / "root"
    nobody = None if os.geteuid() != 0 else __import__("pwd").getpwnam("nobody")
    modes = [0o755, 0o754, 0o751, 0o750, 0o745, 0o710, 0o700, 0o654, 0o644, 0o111, 0o010]
    paths = []
    for mode in modes:
        for owner in ("root", "nobody"):
            path = write_bundle(root / f"{owner}-{mode:o}", metadata=manifest([f"d{mode:o}"]))
            os.chmod(path, mode)
            if owner == "nobody" and nobody is not None:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
            paths.append(str(path))

    def expected_and_found() -> str:
        return f"""
        paths = {paths!r}
        report = afbundle.scan([{str(root)!r}], verify=False)
        # Executable but unreadable files are candidates that cannot be opened.
        candidates = sorted(p for p in paths if os.access(p, os.X_OK))
        found = sorted([str(b.path) for b in report.bundles]
                       + [str(s.path) for s in report.skipped])
        print(json.dumps([candidates, found]))
        """

    # The caller as root (CI runs as root): any x bit.
    found = sorted(str(b.path) for b in afbundle.scan([root], verify=False).bundles)
    assert found == sorted(p for p in paths if os.access(p, os.X_OK))
    # The caller as another user: owner bits for its own files, faccessat for the rest.
    proc = as_nobody(expected_and_found())
    assert proc.returncode == 0, proc.stderr
    expected, found = json.loads(proc.stdout)
    assert found == expected
    assert expected  # some are executable for nobody, some not
    assert len(expected) < len(paths)


def test_threads_default_to_cpus_on_a_local_disk_and_explicit_threads_win(tmp_path) -> None:
    from afbundle import _core

    assert _core.threads_for([tmp_path]) == (os.cpu_count() or 1)
    assert _core.threads_for([tmp_path], 7) == 7
    write_bundle(tmp_path / "b", metadata=manifest(["x"]))
    assert afbundle.find([tmp_path], "x", threads=3).path == tmp_path / "b"
