"""Signing helpers shared by the signature tests: real OpenSSH keys and signatures.

Every key and signature is made by OpenSSH's own ``ssh-keygen`` (the Makefile
installs openssh-client); a module using them marks itself with
``pytestmark = needs_ssh_keygen``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

import afbundle

needs_ssh_keygen = pytest.mark.skipif(
    shutil.which("ssh-keygen") is None,
    reason="ssh-keygen (openssh-client) is not installed; `make test` installs it",
)

MANIFEST = {"sdk": {"supervisor_schema_version": "2026-06-16"}, "dags": {"etl": {}}}


def keygen(directory: Path, name: str, kind: str = "ed25519") -> Path:
    key = directory / name
    args = {"ed25519": [], "ecdsa": ["-b", "256"], "ecdsa384": ["-b", "384"], "rsa": ["-b", "3072"]}
    key_type = "ecdsa" if kind.startswith("ecdsa") else kind
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, *args[kind], "-N", "", "-C", name, "-f", key],
        check=True,
    )
    return key


def ssh_sign(bundle: Path, key: Path, namespace: str = "afbundle") -> Path:
    sig = Path(f"{bundle}.sig")
    sig.unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-Y", "sign", "-n", namespace, "-f", key, bundle],
        check=True,
        capture_output=True,
    )
    return sig


def make_bundle(path: Path, payload: bytes = b"one", dags: tuple[str, ...] = ("etl",)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = path.parent / f".{path.name}.bin"
    binary.write_bytes(b"\x7fELF" + payload * 64)
    binary.chmod(0o755)
    manifest = {**MANIFEST, "dags": {d: {} for d in dags}}
    afbundle.pack(binary, path, manifest=manifest, source=b"fn main() {}")
    binary.unlink()
    return path


def allowed(directory: Path, *lines: str, name: str = "allowed_signers") -> Path:
    path = directory / name
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(0o644)
    return path


def line(principals: str, key: Path, options: str = "") -> str:
    public = Path(f"{key}.pub").read_text().split()
    return " ".join(filter(None, [principals, options, public[0], public[1]]))
