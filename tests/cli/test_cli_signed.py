"""``--signers`` on verify, scan and find (and ``find --exec``), and ``afbundle sign``.

Real ``afbundle`` processes, real OpenSSH keys and signatures (``ssh-keygen``),
bundles packed by afbundle from a shell program that leaves a marker file if it
ever runs. Every ``--json`` document is validated against the shipped schema.
"""

from __future__ import annotations

import base64
import dataclasses
import subprocess
from pathlib import Path

import pytest
from _signing import allowed, keygen, line, needs_ssh_keygen, ssh_sign

import afbundle as api

from _cli import afbundle

pytestmark = needs_ssh_keygen

SCHEMA = "2026-06-16"
PRINCIPAL = "release@example.com"


@dataclasses.dataclass
class Site:
    """A private directory: a trusted key, an intruder's key, and a root holding one
    bundle per case (each declaring its own dag_id and writing its own marker if run)."""

    base: Path
    key: Path
    intruder: Path
    signers: Path
    root: Path

    def marker(self, name: str) -> Path:
        return self.base / f"ran-{name}"

    def bundle(self, name: str, dag_id: str | None = None, *, payload: str = "") -> Path:
        program = self.base / "build" / name
        program.parent.mkdir(exist_ok=True)
        program.write_text(f"#!/bin/sh\n# {payload}\ntouch {self.marker(name)}\nexit 0\n")
        program.chmod(0o755)
        path = self.root / name
        self.root.mkdir(exist_ok=True)
        manifest = {
            "airflow_bundle_metadata_version": "1.0",
            "sdk": {"language": "sh", "version": "0.1.0", "supervisor_schema_version": SCHEMA},
            "source": "main.sh",
            "dags": {dag_id or f"{name}_dag": {"tasks": ["t"]}},
        }
        api.pack(program, path, manifest=manifest, source=b"echo main\n")
        return path


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """signed (ok), unsigned, tampered (a source byte changed after signing: the
    trailer digest still matches), intruder (signed by a key not listed)."""
    tmp_path.chmod(0o700)
    key = keygen(tmp_path, "release")
    intruder = keygen(tmp_path, "intruder")
    s = Site(tmp_path, key, intruder, allowed(tmp_path, line(PRINCIPAL, key)), tmp_path / "root")
    ssh_sign(s.bundle("signed"), key)
    s.bundle("unsigned")
    tampered = s.bundle("tampered")
    ssh_sign(tampered, key)
    source_start = api.read_bundle(tampered).source_start
    with open(tampered, "r+b") as f:
        f.seek(source_start)
        f.write(b"#")
    ssh_sign(s.bundle("intruder"), intruder)
    return s


#: Each refused case: the problem reported and words its reason contains.
REFUSED = {
    "unsigned": ("no_sidecar", "not signed"),
    "tampered": ("bad_signature", "does not match"),
    "intruder": ("unknown_key", "SHA256:"),
}


# --------------------------------------------------------------------------- verify


def test_verify_accepts_a_signed_bundle_and_names_its_signer(site: Site) -> None:
    run = afbundle("verify", site.root / "signed", "--signers", site.signers)
    assert run.code == 0, run.stderr
    assert run.out == f"OK {site.root / 'signed'} (signed by {PRINCIPAL})\n"
    # .json() validates the document against the shipped schema.
    document = afbundle("verify", site.root / "signed", "--signers", site.signers, "--json").json()
    assert document["results"][0]["signed_by"] == PRINCIPAL and document["ok"] == 1


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_verify_refuses_a_bundle_without_a_valid_trusted_signature(site: Site, case: str) -> None:
    problem, words = REFUSED[case]
    path = site.root / case
    run = afbundle("verify", path, "--signers", site.signers)
    assert run.code == 1
    assert run.out.startswith(f"FAIL {path}: ") and words in run.out
    document = afbundle("verify", path, "--signers", site.signers, "--json").json()
    (result,) = document["results"]
    assert (result["ok"], result["kind"], result["problem"]) == (False, "signature", problem)
    assert "signed_by" not in result
    # Without --signers the same bundle is intact (the tampered one only changed its source).
    assert afbundle("verify", path).code == 0


# --------------------------------------------------------------------------- scan


def test_scan_rejects_each_unsigned_tampered_or_foreign_bundle_with_its_problem(
    site: Site,
) -> None:
    run = afbundle("scan", site.root, "--signers", site.signers, "--json")
    assert run.code == 1
    document = run.json()
    assert [Path(b["path"]).name for b in document["bundles"]] == ["signed"]
    assert document["bundles"][0]["signed_by"] == PRINCIPAL
    rejected = {Path(r["path"]).name: r for r in document["rejected"]}
    assert set(rejected) == set(REFUSED)
    for case, (problem, words) in REFUSED.items():
        assert (rejected[case]["kind"], rejected[case]["problem"]) == ("signature", problem)
        assert words in rejected[case]["reason"]
    # Without --signers nothing is rejected and no bundle claims a signer.
    plain = afbundle("scan", site.root, "--json").json()
    assert plain["rejected"] == [] and all("signed_by" not in b for b in plain["bundles"])


def test_the_scan_table_shows_the_signer_and_the_signature_rejections(site: Site) -> None:
    out = afbundle("scan", site.root, "--signers", site.signers).out
    header = next(row for row in out.splitlines() if "PATH" in row and "DAG_IDS" in row)
    assert header.split()[-2:] == ["SIGNED", "BY"]
    assert f"{site.root / 'signed'}" in out and PRINCIPAL in out
    assert "rejected (3)" in out
    for case in REFUSED:
        row = next(r for r in out.splitlines() if r.strip().startswith(str(site.root / case)))
        assert row.split()[1] == "signature"


def test_scan_with_signers_needs_verification(site: Site) -> None:
    run = afbundle("scan", site.root, "--signers", site.signers, "--verify", "none")
    assert run.code == 2 and "--signers needs --verify all" in run.stderr


# --------------------------------------------------------------------------- find


def test_find_returns_a_signed_bundle(site: Site) -> None:
    run = afbundle("find", "signed_dag", site.root, "--signers", site.signers)
    assert (run.code, run.out) == (0, f"{site.root / 'signed'}\n")
    document = afbundle("find", "signed_dag", site.root, "--signers", site.signers, "--json")
    assert document.json()["bundle"]["signed_by"] == PRINCIPAL


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_find_reports_a_refused_signature_as_not_found(site: Site, case: str) -> None:
    problem, words = REFUSED[case]
    run = afbundle("find", f"{case}_dag", site.root, "--signers", site.signers)
    assert run.code == 1 and run.out == ""
    assert f"cannot find executable bundle containing dag_id='{case}_dag'" in run.stderr
    assert str(site.root / case) in run.stderr and words in run.stderr
    document = afbundle("find", f"{case}_dag", site.root, "--signers", site.signers, "--json")
    assert document.code == 1
    found = document.json()
    assert found["found"] is False
    (rejection,) = found["rejected"]
    assert (rejection["kind"], rejection["problem"]) == ("signature", problem)


def test_an_unsigned_bundle_earlier_in_order_does_not_hide_a_signed_one(site: Site) -> None:
    first = site.bundle("a-first", "shared_dag")  # unsigned, and first in order
    ssh_sign(site.bundle("z-last", "shared_dag"), site.key)
    assert afbundle("find", "shared_dag", site.root).out == f"{first}\n"
    run = afbundle("find", "shared_dag", site.root, "--signers", site.signers)
    assert (run.code, run.out) == (0, f"{site.root / 'z-last'}\n")


def test_find_exec_runs_a_signed_bundle(site: Site) -> None:
    run = afbundle("find", "signed_dag", site.root, "--signers", site.signers, "--exec")
    assert run.code == 0, run.stderr
    assert site.marker("signed").exists()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_find_exec_runs_nothing_without_a_valid_trusted_signature(site: Site, case: str) -> None:
    run = afbundle("find", f"{case}_dag", site.root, "--signers", site.signers, "--exec")
    assert run.code == 1 and REFUSED[case][1] in run.stderr
    assert not site.marker(case).exists()
    # The same bundle does run without --signers: the marker proves the test can see a run.
    if case != "tampered":
        assert afbundle("find", f"{case}_dag", site.root, "--exec").code == 0
        assert site.marker(case).exists()


def test_find_exec_refuses_a_valid_signature_of_another_file(site: Site) -> None:
    """A trusted key's real signature, but of other bytes, as the sidecar: nothing runs."""
    other = site.bundle("other", payload="different bytes")
    ssh_sign(other, site.key)
    (site.root / "other.sig").rename(site.root / "signed.sig")
    run = afbundle("find", "signed_dag", site.root, "--signers", site.signers, "--exec")
    assert run.code == 1 and "does not match" in run.stderr
    assert not site.marker("signed").exists()


@pytest.mark.parametrize("swap", [False, True])
def test_find_exec_rechecks_the_signature_over_the_sealed_bytes(
    site: Site, swap: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The sidecar is replaced (by a valid signature of the same bytes, by an
    untrusted key) after ``find`` accepted the bundle and before ``--exec`` seals
    it: the seal's own signature check refuses it and nothing is executed.
    In-process, with ``exec`` recorded instead of replacing the test process."""
    from afbundle._sealed import SealedBundle
    from afbundle.cli.main import main

    real_find = api.find

    def find_then_swap(*args: object, **kwargs: object) -> api.Bundle:
        found = real_find(*args, **kwargs)  # type: ignore[arg-type]
        if swap:
            ssh_sign(found.path, site.intruder)
        return found

    executed: list[str | None] = []

    def record_exec(self: SealedBundle, args: object = ()) -> None:
        executed.append(self.bundle.signed_by)
        raise SystemExit(0)

    monkeypatch.setattr(api, "find", find_then_swap)
    monkeypatch.setattr(SealedBundle, "exec", record_exec)
    argv = ["find", "signed_dag", str(site.root), "--signers", str(site.signers), "--exec"]
    if swap:
        assert main(argv) == 1
        assert executed == []
        assert "SHA256:" in capsys.readouterr().err
    else:
        with pytest.raises(SystemExit):
            main(argv)
        assert executed == [PRINCIPAL]


# --------------------------------------------------------------------------- signers file


def _bad_signers(site: Site, how: str) -> Path:
    if how == "missing":
        return site.base / "no-such-file"
    if how == "directory":
        return site.base
    if how == "writable by others":
        path = allowed(site.base, line(PRINCIPAL, site.key), name="loose")
        path.chmod(0o666)
        return path
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["missing", "directory", "writable by others"])
@pytest.mark.parametrize("command", ["verify", "scan", "find", "find-exec"])
def test_an_unusable_signers_file_is_a_usage_error_naming_it(
    site: Site, how: str, command: str
) -> None:
    signers = _bad_signers(site, how)
    args = {
        "verify": ["verify", site.root / "signed"],
        "scan": ["scan", site.root],
        "find": ["find", "signed_dag", site.root],
        "find-exec": ["find", "signed_dag", site.root],
    }[command]
    tail = ["--exec"] if command == "find-exec" else []
    run = afbundle(*args, "--signers", signers, "--json", *tail)
    assert run.code == 2, run.stderr
    assert run.stderr.startswith(f"afbundle: error: {signers}: "), run.stderr
    assert run.out == ""
    assert not site.marker("signed").exists()


@pytest.mark.parametrize("command", ["verify", "find-exec"])
def test_a_line_ssh_keygen_skips_is_skipped_with_a_warning(site: Site, command: str) -> None:
    """A line OpenSSH cannot use trusts nothing, and the rest of the file still counts,
    as in ``ssh-keygen -Y verify``; a warning names it and the run goes on."""
    signers = allowed(
        site.base,
        line(PRINCIPAL, site.key, "valid-before=20200101Z"),  # unquoted: OpenSSH skips it
        line(PRINCIPAL, site.key),
        name="one_bad_line",
    )
    args = {
        "verify": ["verify", site.root / "signed"],
        "find-exec": ["find", "signed_dag", site.root, "--exec"],
    }[command]
    run = afbundle(*args[:3], "--signers", signers, *args[3:])
    assert run.code == 0, run.stderr
    assert (
        f"afbundle: warning: {signers}: line 1 skipped (ssh-keygen skips it too): "
        "bad options: missing start quote\n"
    ) in run.stderr
    assert _ssh_keygen_verifies(site.root / "signed", signers)
    if command == "find-exec":
        assert site.marker("signed").exists()


# --------------------------------------------------------------------------- sign


def _ssh_keygen_verifies(bundle: Path, signers: Path, principal: str = PRINCIPAL) -> bool:
    with open(bundle, "rb") as stdin:
        done = subprocess.run(
            ["ssh-keygen", "-Y", "verify", "-f", signers, "-I", principal, "-n", "afbundle",
             "-s", f"{bundle}.sig"],
            stdin=stdin, capture_output=True, check=False,
        )  # fmt: skip
    return done.returncode == 0


def test_sign_writes_a_sidecar_ssh_keygen_and_verify_accept(site: Site) -> None:
    bundle = site.root / "unsigned"
    run = afbundle("sign", bundle, "-k", site.key)
    assert run.code == 0, run.stderr
    assert run.out.startswith(f"wrote {bundle}.sig: signature of {bundle} by {site.key}")
    assert _ssh_keygen_verifies(bundle, site.signers)
    assert afbundle("verify", bundle, "--signers", site.signers).code == 0
    # Ed25519 signatures are deterministic: byte for byte what ssh-keygen writes.
    ours = Path(f"{bundle}.sig").read_bytes()
    assert ssh_sign(bundle, site.key).read_bytes() == ours


def _hash_of(sidecar: Path) -> bytes:
    armored = sidecar.read_text().splitlines()[1:-1]
    return base64.b64decode("".join(armored))


def test_sign_with_hashalg_sha256_makes_a_sha256_sshsig(site: Site) -> None:
    bundle = site.root / "unsigned"
    assert afbundle("sign", bundle, "-k", site.key, "--hashalg", "sha256").code == 0
    blob = _hash_of(Path(f"{bundle}.sig"))
    assert b"\x00\x00\x00\x06sha256" in blob and b"sha512" not in blob
    assert _ssh_keygen_verifies(bundle, site.signers)
    assert afbundle("find", "unsigned_dag", site.root, "--signers", site.signers).code == 0


def test_sign_refuses_to_replace_a_sidecar_without_force(site: Site) -> None:
    bundle = site.root / "intruder"
    before = Path(f"{bundle}.sig").read_bytes()
    run = afbundle("sign", bundle, "-k", site.key)
    assert run.code == 2 and f"{bundle}.sig: already exists (pass --force" in run.stderr
    assert Path(f"{bundle}.sig").read_bytes() == before
    assert afbundle("sign", bundle, "-k", site.key, "--force").code == 0
    assert afbundle("verify", bundle, "--signers", site.signers).code == 0


def test_sign_refuses_a_file_that_is_not_a_bundle(site: Site) -> None:
    script = site.base / "build" / "signed"  # the program, without a trailer
    run = afbundle("sign", script, "-k", site.key)
    assert run.code == 1 and str(script) in run.stderr
    assert not Path(f"{script}.sig").exists()


def test_sign_refuses_a_tampered_bundle(site: Site) -> None:
    bundle = site.root / "signed"
    with open(bundle, "r+b") as f:
        f.seek(3)
        f.write(b"X")  # inside the binary region: the trailer digest no longer matches
    Path(f"{bundle}.sig").unlink()
    run = afbundle("sign", bundle, "-k", site.key)
    assert run.code == 1 and "binary_sha256 mismatch" in run.stderr
    assert not Path(f"{bundle}.sig").exists()


@pytest.mark.parametrize("key", ["missing", "broken"])
def test_sign_with_an_unusable_key_exits_2(site: Site, key: str) -> None:
    path = site.base / key
    if key == "broken":
        path.write_text("not a key\n")
        path.chmod(0o600)
    bundle = site.root / "unsigned"
    run = afbundle("sign", bundle, "-k", path)
    assert run.code == 2 and run.stderr.startswith("afbundle: error: ")
    assert not Path(f"{bundle}.sig").exists()
