"""Fixtures of the command-line tests: a real compiled program, a stub, a bundle tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from _cli import HELLO_C
from _writer import BINARY, manifest, write_bundle, write_executable, write_file, write_kind


@pytest.fixture(scope="session")
def hello_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real ELF program, compiled once (skipped when gcc is missing)."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("gcc is not installed: no real binary to pack")
    work = tmp_path_factory.mktemp("hello")
    (work / "hello.c").write_bytes(HELLO_C)
    subprocess.run([gcc, "-O1", "-o", str(work / "hello"), str(work / "hello.c")], check=True)
    return work / "hello"


@pytest.fixture
def stub_binary(tmp_path: Path) -> Path:
    """A small executable stand-in for a compiled program."""
    return write_executable(tmp_path / "build" / "program", BINARY)


@pytest.fixture
def bundle_tree(tmp_path: Path) -> Path:
    """A root with bundles, a duplicate dag_id, a corrupted bundle and non-bundles."""
    root = tmp_path / "root"
    write_bundle(root / "example", dag_ids=["example_dag"])
    write_bundle(root / "team-a" / "pipeline", dag_ids=["pipeline_dag", "backfill"])
    write_bundle(root / "team-b" / "zz-old", metadata=manifest(["pipeline_dag"], language="zig"))
    write_kind(root / "team-b" / "broken", "corrupt_binary", dag_ids=["broken_dag"])
    write_executable(root / "tool.sh")
    write_file(root / "README.md", b"bundles live here\n", executable=False)
    return root
