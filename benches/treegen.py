"""Generate spec-conformant bundle trees for benchmarks.

    python benches/treegen.py OUT --bundles 1000 --bundle-kib 200 --others 19000 --dirs 200

Bundles are written by this file's own tiny writer (hashlib + struct), not by
afbundle, so the benchmark trees do not depend on the code they measure. The
dag `target_dag` lives in the bundle whose path sorts last. Re-running with the
same flags on an existing tree is a no-op (a stamp file records the flags).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import struct
from dataclasses import asdict, dataclass
from pathlib import Path

MAGIC = b"AFBNDL01"
TARGET_DAG = "target_dag"
MANIFEST = """airflow_bundle_metadata_version: "1.0"
sdk:
  language: go
  supervisor_schema_version: "2026-06-16"
  version: "0.1.0"
source: main.go
dags:
  {dag}:
    tasks:
    - extract
    - load
"""


@dataclass(frozen=True)
class TreeSpec:
    """What to generate."""

    bundles: int
    bundle_kib: int
    others: int
    dirs: int
    seed: int = 20261125


MANY = TreeSpec(bundles=1000, bundle_kib=200, others=19_000, dirs=200)
BIG = TreeSpec(bundles=60, bundle_kib=30 * 1024, others=200, dirs=10)
#: The network file system tree (benches/test_nfs.py), behind latencyfs.
NFS = TreeSpec(bundles=200, bundle_kib=64, others=3800, dirs=40)


def bundle_bytes(binary: bytes, dag: str) -> bytes:
    source = b"package main\n\nfunc main() {}\n"
    meta = MANIFEST.format(dag=dag).encode()
    digest = hashlib.sha256(binary).digest()
    trailer = struct.pack("<III", len(source), len(meta), 1) + digest + bytes(12) + MAGIC
    return binary + source + meta + trailer


def generate(out: Path, spec: TreeSpec) -> Path:
    """Create (or reuse) the tree for ``spec`` under ``out``; return ``out``."""
    stamp = out / ".treegen.json"
    if stamp.exists() and json.loads(stamp.read_text()) == asdict(spec):
        return out
    shutil.rmtree(out, ignore_errors=True)
    rng = random.Random(spec.seed)
    dirs = [out / f"team-{i // 20:02d}" / f"dir-{i:03d}" for i in range(spec.dirs)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    # One random block reused with a per-bundle prefix: distinct digests, cheap to make.
    block = rng.randbytes(spec.bundle_kib * 1024)
    for i in range(spec.bundles):
        last = i == spec.bundles - 1
        d = dirs[-1] if last else dirs[i % len(dirs)]
        name = "zzzz-target" if last else f"bundle-{i:05d}"
        binary = f"bundle {i}\n".encode() + block
        path = d / name
        path.write_bytes(bundle_bytes(binary, TARGET_DAG if last else f"dag_{i:05d}"))
        os.chmod(path, 0o755)
    for i in range(spec.others):
        path = dirs[i % len(dirs)] / f"file-{i:05d}"
        executable = i % 2 == 0
        path.write_bytes(b"#!/bin/sh\nexit 0\n" if executable else b"data " * rng.randint(1, 64))
        os.chmod(path, 0o755 if executable else 0o644)
    stamp.write_text(json.dumps(asdict(spec)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--bundles", type=int, default=MANY.bundles)
    parser.add_argument("--bundle-kib", type=int, default=MANY.bundle_kib)
    parser.add_argument("--others", type=int, default=MANY.others)
    parser.add_argument("--dirs", type=int, default=MANY.dirs)
    args = parser.parse_args()
    spec = TreeSpec(args.bundles, args.bundle_kib, args.others, args.dirs)
    print(generate(args.out, spec))


if __name__ == "__main__":
    main()
