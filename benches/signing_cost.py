"""What a signature check adds to verifying one 30 MiB bundle (issue 15).

Usage: .venv/bin/python benches/signing_cost.py [SIZE_MIB] [ROUNDS]

Signs a fresh bundle with the real ``ssh-keygen`` (Ed25519 and RSA-3072),
then times ``read_bundle(verify=True)`` with and without
``trusted_signers``: with cold digest caches (every byte hashed), and as the
next task's process finds them (in-process cache empty, persistent cache warm:
the binary SHA-256 and the whole-file digest remembered, the signature still
checked). Prints medians in milliseconds; not part of the test suite.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import afbundle
from afbundle import _core


def median_ms(fn, rounds: int, cold: Path | None = None) -> float:
    """Median time of ``fn``; ``cold``: a persistent cache directory to empty first."""
    times = []
    fn()  # warm-up: fills the persistent cache for the warm rounds
    for _ in range(rounds):
        _core.clear_digest_cache()
        if cold is not None:
            shutil.rmtree(cold, ignore_errors=True)
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    size_mib = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        binary = d / "bin"
        binary.write_bytes(b"\x7fELF" + os.urandom(size_mib << 20))
        binary.chmod(0o755)
        bundle = d / "bundle"
        manifest = {"sdk": {"supervisor_schema_version": "2026-06-16"}, "dags": {"d": {}}}
        afbundle.pack(binary, bundle, manifest=manifest, source=b"x" * 4096)
        print(f"bundle: {bundle.stat().st_size / 2**20:.1f} MiB, median of {rounds} runs")
        cache = d / "cache"
        plain = lambda: _core.read_bundle(bundle, cache_dir=cache)  # noqa: E731
        print(
            f"  digest only        cold {median_ms(plain, rounds, cache):7.1f} ms"
            f"   next process {median_ms(plain, rounds):7.1f} ms"
        )
        for kind, extra, hashalg in (
            ("ed25519", [], "sha512"),
            ("ed25519", [], "sha256"),
            ("rsa", ["-b", "3072"], "sha512"),
        ):
            key = d / kind
            if not key.exists():
                cmd = ["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-f", key]
                subprocess.run(cmd, check=True)
            with open(bundle, "rb") as stdin:
                sig = subprocess.run(
                    [
                        "ssh-keygen",
                        "-q",
                        "-Y",
                        "sign",
                        "-n",
                        "afbundle",
                        "-O",
                        f"hashalg={hashalg}",
                        "-f",
                        key,
                    ],
                    stdin=stdin,
                    capture_output=True,
                    check=True,
                ).stdout
            Path(f"{bundle}.sig").write_bytes(sig)
            signers = d / f"signers-{kind}"
            signers.write_text("ci " + Path(f"{key}.pub").read_text())
            loaded = afbundle.TrustedSigners(signers)

            def signed(loaded: _core.TrustedSigners = loaded) -> None:
                _core.read_bundle(bundle, cache_dir=cache, trusted_signers=loaded)

            print(
                f"  + {kind:7} {hashalg} sig  cold {median_ms(signed, rounds, cache):7.1f} ms"
                f"   next process {median_ms(signed, rounds):7.1f} ms"
            )
        load = lambda: afbundle.TrustedSigners(signers)  # noqa: E731
        print(f"  load allowed_signers     {median_ms(load, rounds):7.3f} ms")


if __name__ == "__main__":
    main()
