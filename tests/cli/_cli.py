"""Helpers for the command-line tests: run ``python -m afbundle`` for real and check its output.

Every ``--json`` document is validated against the shipped output schema; no
failure may show a traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

HELLO_C = b"""#include <stdio.h>
int main(void) { puts("hello from a bundled DAG program"); return 0; }
"""
SOURCE = b"package main\n\nfunc main() {}\n"
FLAGS = ["--language", "c", "--sdk-version", "0.1.0", "--schema-version", "2026-06-16"]


@dataclasses.dataclass
class Run:
    """One finished ``afbundle`` process."""

    code: int
    stdout: bytes
    stderr: str

    @property
    def out(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")

    def json(self) -> Any:
        document = json.loads(self.stdout)
        output_schema().validate(document)
        return document


def afbundle(
    *args: Any,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], object] | None = None,
) -> Run:
    """Run ``python -m afbundle ARGS`` and check that no failure ever shows a traceback.

    ``preexec_fn`` runs in the child before the command (e.g. to lower a resource limit).
    """
    proc = subprocess.run(
        [sys.executable, "-m", "afbundle", *map(str, args)],
        capture_output=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=60,
        preexec_fn=preexec_fn,
    )
    run = Run(proc.returncode, proc.stdout, proc.stderr.decode("utf-8", errors="replace"))
    assert "Traceback" not in run.stderr, run.stderr
    return run


_OUTPUT_SCHEMA: list[Draft202012Validator] = []


def output_schema() -> Draft202012Validator:
    if not _OUTPUT_SCHEMA:
        text = resources.files("afbundle").joinpath("schema/scan-output.schema.json").read_text()
        schema = json.loads(text)
        Draft202012Validator.check_schema(schema)
        _OUTPUT_SCHEMA.append(Draft202012Validator(schema))
    return _OUTPUT_SCHEMA[0]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack_from_flags(binary: Path, out: Path, *extra: Any, source: Path | None = None) -> Run:
    if source is None:
        source = binary.parent / "main.go"
        source.write_bytes(SOURCE)
    return afbundle(
        "pack", binary, "-o", out, "--source", source,
        "--dag", "hello_dag", "--tasks", "extract,transform,load", *FLAGS, *extra,
    )  # fmt: skip


def write_manifest(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_on_a_terminal(args: list[Any], env: dict[str, str]) -> bytes:
    """Run the CLI with stdout on a pseudo-terminal and return what it printed."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "afbundle", *map(str, args)],
            stdout=follower,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        os.close(follower)
        chunks = list(_drain(leader))
        proc.wait(timeout=60)
    finally:
        os.close(leader)
    return b"".join(chunks)


def _drain(fd: int) -> Iterator[bytes]:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        yield chunk
