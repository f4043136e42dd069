"""Concurrent rewrite torture: bundles rewritten in place, truncated, shrunk and
swapped while other processes scan and find them in a loop.

Bounded in time (TORTURE_SECONDS, default 4 s of rewriting) and iterations. What
must hold: no crash and no SIGBUS in the readers (they run as separate processes,
so a signal shows as a negative return code), no exception outside the documented
ones, and every bundle a reader accepts is verified, carries a digest the writer
actually wrote into a trailer, and has the size of a complete version.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from _writer import bundle_bytes

SECONDS = float(os.environ.get("TORTURE_SECONDS", "4"))
BUNDLES = 6

WRITER = """
import hashlib, json, os, random, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from _writer import bundle_bytes

root, seconds = Path(sys.argv[1]), float(sys.argv[2])
rng = random.Random(7)
versions = [
    bundle_bytes(dag_ids=[f"dag_{i % 3}"], binary=b"\\x7fELF" + bytes([i]) * (4096 + 512 * i))
    for i in range(8)
]
digests = sorted({v[-52:-20].hex() for v in versions})
sizes = sorted({len(v) for v in versions})
print(json.dumps({"digests": digests, "sizes": sizes}), flush=True)
names = sorted(p.name for p in root.iterdir())
deadline, rounds = time.monotonic() + seconds, 0
while time.monotonic() < deadline:
    rounds += 1
    path = root / rng.choice(names)
    good = rng.choice(versions)
    action = rng.randrange(5)
    if action == 0:  # truncate and rewrite in place, in pieces
        with open(path, "r+b") as f:
            f.truncate(rng.randrange(len(good)))
            for start in range(0, len(good), 1500):
                f.seek(start); f.write(good[start:start + 1500])
            f.truncate(len(good))
    elif action == 1:  # swap by rename
        tmp = path.with_name(f".tmp-{rounds}")
        tmp.write_bytes(good); os.chmod(tmp, 0o755); os.replace(tmp, path)
    elif action == 2:  # shrink below the trailer size, then restore
        with open(path, "r+b") as f:
            f.truncate(rng.randrange(64))
        path.write_bytes(good)
    elif action == 3:  # corrupt the binary region in place, then restore
        bad = bytearray(good); bad[rng.randrange(64, 4096)] ^= 0xFF
        path.write_bytes(bytes(bad)); path.write_bytes(good)
    else:  # a partial write: half a bundle, then the rest
        with open(path, "wb") as f:
            f.write(good[: len(good) // 2]); f.flush(); f.write(good[len(good) // 2 :])
print(json.dumps({"rounds": rounds}), flush=True)
"""

READER = """
import json, os, sys, time
import afbundle
root, seconds = sys.argv[1], float(sys.argv[2])
documented = (afbundle.BundleNotFoundError,)
accepted, scans, finds, not_found = [], 0, 0, 0
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    report = afbundle.scan([root], persistent_cache=False, threads=2)
    scans += 1
    for b in report.bundles:
        accepted.append([b.verified, b.binary_sha256.hex(), b.size])
    for r in report.rejected:
        assert r.kind in {"format", "integrity", "manifest", "io", "footer_version"}, r
    try:
        b = afbundle.find([root], f"dag_{finds % 3}", persistent_cache=False)
        accepted.append([b.verified, b.binary_sha256.hex(), b.size])
    except documented:
        not_found += 1
    finds += 1
print(json.dumps({"accepted": accepted, "scans": scans, "finds": finds, "not_found": not_found}))
"""


def test_readers_survive_concurrent_rewrites_and_never_accept_a_torn_bundle(
    tmp_path: Path,
) -> None:
    root = tmp_path / "bundles"
    root.mkdir()
    for i in range(BUNDLES):
        path = root / f"b{i}"
        path.write_bytes(bundle_bytes(dag_ids=[f"dag_{i % 3}"]))
        path.chmod(0o755)
    tests_dir = str(Path(__file__).parent)
    writer = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER), str(root), str(SECONDS), tests_dir],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None
    written = json.loads(writer.stdout.readline())
    readers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(READER), str(root), str(SECONDS)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for reader in readers:
        out, err = reader.communicate(timeout=SECONDS + 120)
        # A negative return code is a signal (SIGBUS, SIGSEGV): never acceptable.
        assert reader.returncode == 0, f"reader died with {reader.returncode}: {err[-2000:]}"
        results.append(json.loads(out))
    rounds = json.loads(writer.communicate(timeout=SECONDS + 60)[0].strip().splitlines()[-1])
    assert writer.returncode == 0
    assert rounds["rounds"] > 10, "the writer barely ran: the test proves nothing"
    # The initial bundles are valid too.
    initial = bundle_bytes(dag_ids=["dag_0"])
    digests = set(written["digests"]) | {initial[-52:-20].hex()}
    sizes = set(written["sizes"]) | {len(bundle_bytes(dag_ids=[f"dag_{i}"])) for i in range(3)}
    print(
        f"torture: {rounds['rounds']} rewrites; readers ran "
        f"{sum(r['scans'] for r in results)} scans and {sum(r['finds'] for r in results)} finds, "
        f"accepted {sum(len(r['accepted']) for r in results)} bundles"
    )
    for result in results:
        assert result["scans"] >= 3 and result["finds"] >= 3
        for verified, digest, size in result["accepted"]:
            assert verified
            assert digest in digests
            assert size in sizes
