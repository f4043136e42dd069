"""An independent, deliberately tiny bundle writer for tests.

It shares no code with afbundle, so the reader is never tested only against
its own packer. Every field can be set wrong on purpose.
"""

from __future__ import annotations

import hashlib
import os
import stat
import struct
from pathlib import Path
from typing import Any

import yaml

MAGIC = b"AFBNDL01"
BINARY = b"\x7fELF" + b"\x00binary-stub-payload" * 4


def manifest(
    dag_ids: Any = ("tutorial_dag",),
    *,
    schema_version: Any = "2026-06-16",
    language: str = "go",
    source: str = "example.go",
) -> dict[str, Any]:
    """A spec-conformant manifest dict declaring ``dag_ids``."""
    return {
        "airflow_bundle_metadata_version": "1.0",
        "sdk": {"language": language, "version": "0.1.0", "supervisor_schema_version": schema_version},
        "source": source,
        "dags": {dag_id: {"tasks": ["task1"]} for dag_id in dag_ids},
    }


def trailer(
    source_len: int,
    metadata_len: int,
    digest: bytes,
    *,
    footer_ver: int = 1,
    reserved: bytes = bytes(12),
    magic: bytes = MAGIC,
) -> bytes:
    """The 64-byte trailer, little-endian, fields in spec order."""
    out = struct.pack("<III", source_len, metadata_len, footer_ver) + digest + reserved + magic
    assert len(out) == 64
    return out


def bundle_bytes(
    *,
    dag_ids: Any = ("tutorial_dag",),
    binary: bytes = BINARY,
    source: bytes = b"package main\n\nfunc main() {}\n",
    metadata: dict[str, Any] | bytes | None = None,
    digest: bytes | None = None,
    **trailer_fields: Any,
) -> bytes:
    """A whole bundle as bytes; ``metadata`` may be a dict (dumped by PyYAML) or raw bytes."""
    if metadata is None:
        metadata = manifest(dag_ids)
    meta = metadata if isinstance(metadata, bytes) else yaml.safe_dump(metadata, sort_keys=True).encode()
    digest = hashlib.sha256(binary).digest() if digest is None else digest
    return binary + source + meta + trailer(len(source), len(meta), digest, **trailer_fields)


def write_bundle(path: Path, *, executable: bool = True, **kwargs: Any) -> Path:
    """Write :func:`bundle_bytes` to ``path`` (parents created), executable by default."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bundle_bytes(**kwargs))
    mode = path.stat().st_mode
    exec_bits = stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH
    os.chmod(path, mode | exec_bits if executable else mode & ~exec_bits)
    return path


def write_executable(path: Path, data: bytes = b"#!/bin/sh\nexit 0\n") -> Path:
    """A plain executable that is not a bundle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o755)
    return path
