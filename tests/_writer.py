"""An independent, deliberately tiny bundle writer for tests.

It shares no code with afbundle, so the reader is never tested only against
its own packer. Every field can be set wrong on purpose.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

MAGIC = b"AFBNDL01"
BINARY = b"\x7fELF" + b"\x00binary-stub-payload" * 4

#: A spec-conformant manifest as YAML text, quoted where YAML 1.1 and 1.2 differ.
VALID_MANIFEST = """\
airflow_bundle_metadata_version: "1.0"
sdk:
  language: go
  version: "0.1.0"
  supervisor_schema_version: "2026-06-16"
source: main.go
dags:
  tutorial_dag:
    tasks: [extract, load]
"""


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
        "sdk": {
            "language": language,
            "version": "0.1.0",
            "supervisor_schema_version": schema_version,
        },
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
    meta = (
        metadata
        if isinstance(metadata, bytes)
        else yaml.safe_dump(metadata, sort_keys=True).encode()
    )
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


# --- Additions for the core test suite (existing signatures above are unchanged) ---


def raw_bundle_bytes(
    binary: bytes,
    source: bytes,
    metadata: bytes,
    *,
    source_len: int | None = None,
    metadata_len: int | None = None,
    digest: bytes | None = None,
    **trailer_fields: Any,
) -> bytes:
    """Like :func:`bundle_bytes` but with every length overridable and metadata as raw bytes."""
    digest = hashlib.sha256(binary).digest() if digest is None else digest
    return (
        binary
        + source
        + metadata
        + trailer(
            len(source) if source_len is None else source_len,
            len(metadata) if metadata_len is None else metadata_len,
            digest,
            **trailer_fields,
        )
    )


def write_file(path: Path, data: bytes, *, executable: bool = True) -> Path:
    """Write raw bytes to ``path`` (parents created) with mode 0755 or 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o755 if executable else 0o644)
    return path


def flip_byte_in_place(path: Path, offset: int) -> None:
    """XOR one byte with 0xFF without changing the file's size or inode."""
    with open(path, "r+b") as f:
        f.seek(offset)
        (byte,) = f.read(1)
        f.seek(offset)
        f.write(bytes([byte ^ 0xFF]))


def raw_yaml_manifest(
    dags_yaml: str = "  tutorial_dag:\n    tasks: [task1]\n",
    *,
    schema_version_yaml: str | None = '"2026-06-16"',
) -> bytes:
    """A manifest written as raw YAML text, so tests control exactly how scalars are spelled.

    ``dags_yaml`` is the indented body of the ``dags`` mapping; ``schema_version_yaml``
    is the literal text after ``supervisor_schema_version:`` (``None`` omits the key).
    """
    sdk = "sdk:\n  language: go\n  version: 0.1.0\n"
    if schema_version_yaml is not None:
        sdk += f"  supervisor_schema_version: {schema_version_yaml}\n"
    return (
        f'airflow_bundle_metadata_version: "1.0"\n{sdk}source: example.go\ndags:\n{dags_yaml}'
    ).encode()


#: Shapes of file :func:`write_kind` can produce. Each is a way a file in a bundle
#: directory can look; all of them except "valid" are unusable for every dag_id.
KINDS = (
    "valid",
    "corrupt_binary",
    "corrupt_and_unknown_schema",
    "not_bundle",
    "no_exec",
    "bad_yaml",
    "non_mapping_yaml",
    "scalar_yaml",
    "bad_utf8_metadata",
    "empty_metadata",
    "unknown_schema",
    "missing_schema",
    "empty_schema",
    "int_schema",
    "sdk_not_mapping",
    "nonstring_dag_keys",
    "dags_not_mapping",
    "bad_footer_ver",
    "nonzero_reserved",
    "regions_past_start",
    "empty_binary",
    "magic_only",
    "short_file",
)


def kind_bytes(kind: str, dag_ids: Any = ("tutorial_dag",)) -> bytes:
    """The bytes of a file of the given :data:`KINDS` shape declaring ``dag_ids``."""
    dag_ids = list(dag_ids)
    if kind in ("valid", "no_exec"):
        return bundle_bytes(dag_ids=dag_ids)
    if kind == "corrupt_binary":
        return bundle_bytes(dag_ids=dag_ids, digest=hashlib.sha256(b"other").digest())
    if kind == "corrupt_and_unknown_schema":
        return bundle_bytes(
            metadata=manifest(dag_ids, schema_version="1999-01-01"),
            digest=hashlib.sha256(b"other").digest(),
        )
    if kind == "not_bundle":
        return b"#!/bin/sh\nexit 0\n" + b"\x00" * 80
    if kind == "bad_yaml":
        return bundle_bytes(metadata=b"key: : not: valid: yaml: [")
    if kind == "non_mapping_yaml":
        return bundle_bytes(metadata=b"- " + "\n- ".join(dag_ids).encode() + b"\n")
    if kind == "scalar_yaml":
        return bundle_bytes(metadata=b"just-a-scalar\n")
    if kind == "bad_utf8_metadata":
        dags = "".join(f"  {d}:\n    tasks: [t]\n" for d in dag_ids)
        return bundle_bytes(metadata=raw_yaml_manifest(dags) + b"note: \xff\xfe\n")
    if kind == "empty_metadata":
        return bundle_bytes(metadata=b"")
    if kind == "unknown_schema":
        return bundle_bytes(metadata=manifest(dag_ids, schema_version="1999-01-01"))
    if kind == "missing_schema":
        meta = manifest(dag_ids)
        del meta["sdk"]["supervisor_schema_version"]
        return bundle_bytes(metadata=meta)
    if kind == "empty_schema":
        return bundle_bytes(metadata=manifest(dag_ids, schema_version=""))
    if kind == "int_schema":
        return bundle_bytes(metadata=manifest(dag_ids, schema_version=20260616))
    if kind == "sdk_not_mapping":
        meta = manifest(dag_ids)
        meta["sdk"] = ["go", "2026-06-16"]
        return bundle_bytes(metadata=meta)
    if kind == "nonstring_dag_keys":
        dags = "  1:\n    tasks: [t]\n  true:\n    tasks: [t]\n  null:\n    tasks: [t]\n"
        dags += "  2.5:\n    tasks: [t]\n"
        return bundle_bytes(metadata=raw_yaml_manifest(dags))
    if kind == "dags_not_mapping":
        meta = manifest(dag_ids)
        meta["dags"] = list(dag_ids)
        return bundle_bytes(metadata=meta)
    if kind == "bad_footer_ver":
        return bundle_bytes(dag_ids=dag_ids, footer_ver=2)
    if kind == "nonzero_reserved":
        return bundle_bytes(dag_ids=dag_ids, reserved=b"\x00" * 11 + b"\x01")
    if kind == "regions_past_start":
        good = bundle_bytes(dag_ids=dag_ids)
        meta_len = int.from_bytes(good[-60:-56], "little")
        return good[:-64] + trailer(len(good), meta_len, good[-52:-20])
    if kind == "empty_binary":
        return bundle_bytes(dag_ids=dag_ids, binary=b"")
    if kind == "magic_only":
        return MAGIC
    if kind == "short_file":
        return bundle_bytes(dag_ids=dag_ids)[-63:]
    raise ValueError(f"unknown kind {kind!r}")


def write_kind(path: Path, kind: str, dag_ids: Any = ("tutorial_dag",)) -> Path:
    """Write a file of shape ``kind`` (see :data:`KINDS`) at ``path``."""
    return write_file(path, kind_bytes(kind, dag_ids), executable=kind != "no_exec")


def tamper_keeping_mtime(path: Path, offset: int = 0) -> None:
    """Flip a byte in place, then put mtime back the way ``touch -d`` would.

    The inode, size and mtime are unchanged afterwards; only ctime moves. ctime
    has a kernel-tick granularity, so wait until it visibly differs.
    """
    before = path.stat()
    time.sleep(0.02)
    flip_byte_in_place(path, offset)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    for _ in range(100):
        after = path.stat()
        if after.st_ctime_ns != before.st_ctime_ns:
            break
        time.sleep(0.01)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (
        before.st_ino,
        before.st_size,
        before.st_mtime_ns,
    )
    assert after.st_ctime_ns != before.st_ctime_ns


def rewrite_unseen_by_stat(
    path: Path, offset: int, data: bytes, between: Callable[[], object], attempts: int = 5
) -> None:
    """Overwrite ``path`` at ``offset`` with ``data`` so that ``stat`` shows no change.

    A write through a shared mapping stamps mtime and ctime when it makes a
    clean page dirty, not when it writes into a page that is already dirty. So
    the page is dirtied first (its own bytes written back: timestamps move,
    content does not), left to age past the racy-timestamp tick (``settle``),
    ``between()`` runs (e.g. a check that remembers the digest under the file's
    state), and only then are the bytes changed: same device, inode, size,
    mtime and ctime, new content, for as long as the page stays in memory
    (writeback keeps it; ``sync`` does not stamp it). Writeback between the two
    writes would stamp the second one: then the bytes are put back and the
    whole sequence runs again (at most ``attempts`` times).
    """
    page = mmap.PAGESIZE
    assert offset // page == (offset + len(data) - 1) // page, "data must fit in one page"
    original = path.read_bytes()[offset : offset + len(data)]
    end = offset + len(data)

    def state() -> tuple[int, ...]:
        st = os.stat(path)
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)

    for _ in range(attempts):
        fd = os.open(path, os.O_RDWR)
        try:
            with mmap.mmap(fd, 0) as mapping:
                mapping[offset:end] = original
                settle(path)
                between()
                before = state()
                mapping[offset:end] = data
                if state() == before:
                    return
                mapping[offset:end] = original
        finally:
            os.close(fd)  # a file open for writing cannot be executed (ETXTBSY)
    raise AssertionError(f"{path}: could not change it without changing its stat")


def settle(*paths: Path, margin_ns: int = 100_000_000) -> None:
    """Wait until each file's last change is one timestamp tick in the past.

    The digest caches do not remember a file modified within its file
    system's timestamp granularity of now (the racy-timestamp rule), so a
    test that expects a cache entry for a bundle it just wrote waits here
    (2 s for whole-second timestamps, else ``margin_ns``). Bounded: the wait
    is at most that long per file.
    """
    for path in paths:
        st = os.stat(path)
        last = max(st.st_mtime_ns, st.st_ctime_ns)
        whole_seconds = st.st_mtime_ns % 10**9 == 0 and st.st_ctime_ns % 10**9 == 0
        wait = 2 * 10**9 + margin_ns if whole_seconds else margin_ns
        remaining = last + wait - time.time_ns()
        if remaining > 0:
            time.sleep(min(remaining, wait) / 1e9)
