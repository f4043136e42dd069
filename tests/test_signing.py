"""Signed bundles: sshsig sidecars from the real ``ssh-keygen``, verified natively.

Every signature here is made by OpenSSH's own ``ssh-keygen -Y sign`` (the
Makefile installs openssh-client); verification is afbundle's, in the core.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _signing import MANIFEST, allowed, keygen, line, make_bundle, needs_ssh_keygen, ssh_sign

import afbundle
from afbundle import _core
from afbundle.errors import BundleSignatureError

from _writer import rewrite_unseen_by_stat, settle

pytestmark = needs_ssh_keygen


def problem_of(call) -> BundleSignatureError:
    with pytest.raises(BundleSignatureError) as info:
        call()
    assert info.value.kind == "signature"
    return info.value


@pytest.fixture
def site(tmp_path: Path):
    """A private directory with one signed bundle and a signer file trusting its key."""
    tmp_path.chmod(0o700)
    key = keygen(tmp_path, "release")
    bundle = make_bundle(tmp_path / "bundles" / "etl")
    ssh_sign(bundle, key)
    signers = allowed(tmp_path, line("release@example.com", key))
    return tmp_path, key, bundle, signers


def test_a_bundle_signed_by_a_trusted_key_reads_and_names_its_signer(site) -> None:
    _, _, bundle, signers = site
    got = afbundle.read_bundle(bundle, trusted_signers=signers)
    assert got.verified and got.signed_by == "release@example.com"
    assert afbundle.read_bundle(bundle).signed_by is None


@pytest.mark.parametrize("kind", ["ecdsa", "ecdsa384", "rsa"])
def test_ecdsa_and_rsa_signatures_verify_too(tmp_path: Path, kind: str) -> None:
    key = keygen(tmp_path, kind, kind)
    bundle = make_bundle(tmp_path / "b")
    ssh_sign(bundle, key)
    signers = allowed(tmp_path, line("ci", key))
    assert afbundle.read_bundle(bundle, trusted_signers=signers).signed_by == "ci"
    make_bundle(bundle, b"two")  # new bytes, old signature
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        "bad_signature"
    )


def test_a_sha256_sshsig_verifies(site) -> None:
    _, key, bundle, signers = site
    with open(bundle, "rb") as stdin:
        sig = subprocess.run(
            ["ssh-keygen", "-q", "-Y", "sign", "-n", "afbundle", "-O", "hashalg=sha256", "-f", key],
            stdin=stdin,
            capture_output=True,
            check=True,
        ).stdout
    Path(f"{bundle}.sig").write_bytes(sig)
    assert afbundle.read_bundle(bundle, trusted_signers=signers).signed_by


def test_an_unsigned_bundle_is_refused_with_no_sidecar(site) -> None:
    _, _, bundle, signers = site
    Path(f"{bundle}.sig").unlink()
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    assert err.problem == "no_sidecar" and err.path == str(bundle)
    assert "not signed" in err.reason and f"{bundle}.sig" in err.reason


def test_a_signature_by_another_key_is_an_unknown_key(site) -> None:
    tmp, _, bundle, signers = site
    ssh_sign(bundle, keygen(tmp, "intruder"))
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    assert err.problem == "unknown_key" and "SHA256:" in err.reason


def test_a_valid_signature_of_another_file_does_not_verify(site) -> None:
    tmp, key, bundle, signers = site
    other = make_bundle(tmp / "bundles" / "other", b"two")
    shutil.copy(ssh_sign(other, key), f"{bundle}.sig")
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        "bad_signature"
    )


def test_a_bundle_swapped_after_signing_is_refused(site) -> None:
    _, _, bundle, signers = site
    # A new, internally consistent bundle (correct binary_sha256) under the old signature.
    make_bundle(bundle, b"evil")
    assert afbundle.read_bundle(bundle).verified
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        "bad_signature"
    )


def test_a_signature_in_another_namespace_is_refused(site) -> None:
    _, key, bundle, signers = site
    ssh_sign(bundle, key, namespace="file")
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    assert err.problem == "wrong_namespace" and '"file"' in err.reason


def test_a_key_allowed_only_for_other_namespaces_is_refused(site) -> None:
    tmp, key, bundle, _ = site
    git_only = allowed(tmp, line("dev", key, 'namespaces="git,file"'), name="git_only")
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=git_only))
    assert err.problem == "wrong_namespace"
    either = allowed(tmp, line("dev", key, 'namespaces="git,af*"'), name="either")
    assert afbundle.read_bundle(bundle, trusted_signers=either).signed_by == "dev"


def test_a_key_outside_its_validity_window_is_refused(site) -> None:
    tmp, key, bundle, _ = site
    expired = allowed(tmp, line("old", key, 'valid-before="20200101Z"'), name="expired")
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=expired)).problem == (
        "expired"
    )
    future = allowed(tmp, line("new", key, 'valid-after="29990101"'), name="future")
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=future)).problem == (
        "not_yet_valid"
    )
    # A key may be listed twice; a line that is valid now wins.
    both = allowed(
        tmp,
        line("old", key, 'valid-before="20200101Z"'),
        line("now", key, 'valid-after="20200101Z",valid-before="29990101Z"'),
        name="both",
    )
    assert afbundle.read_bundle(bundle, trusted_signers=both).signed_by == "now"


def test_a_signer_file_change_takes_effect_on_the_next_check(site) -> None:
    _, key, bundle, signers = site
    assert afbundle.read_bundle(bundle, trusted_signers=signers).signed_by  # caches the digest
    signers.write_text(line("revoked", key, 'valid-before="20200101Z"') + "\n")
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        "expired"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "malformed"),
        (b"garbage", "malformed"),
        (b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n", "malformed"),
        (b"\xff" * 1000, "malformed"),
        (b"A" * (65 << 10), "malformed"),
    ],
)
def test_a_malformed_sidecar_is_a_clean_error(site, content: bytes, problem: str) -> None:
    _, _, bundle, signers = site
    Path(f"{bundle}.sig").write_bytes(content)
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        problem
    )


def test_a_truncated_real_signature_is_malformed(site) -> None:
    _, _, bundle, signers = site
    sig = Path(f"{bundle}.sig")
    lines = sig.read_text().splitlines()
    sig.write_text("\n".join(lines[:2] + lines[-1:]) + "\n")
    assert problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers)).problem == (
        "malformed"
    )


def test_a_symlinked_or_fifo_sidecar_is_refused_without_hanging(site, hang_guard) -> None:
    tmp, _, bundle, signers = site
    sig = Path(f"{bundle}.sig")
    real = tmp / "elsewhere.sig"
    sig.rename(real)
    sig.symlink_to(real)
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    assert err.problem == "no_sidecar" and "symbolic link" in err.reason
    sig.unlink()
    os.mkfifo(sig)
    err = hang_guard(
        lambda: problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    )
    assert err.problem == "no_sidecar" and "not a regular file" in err.reason


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("ci ssh-ed25519 AAAA-not-base64", "invalid key"),
        ("ci", "invalid line"),
        ("ci bogus=1 {KEY}", "unknown key option"),
        ("*@example.com cert-authority {KEY}", "cert-authority (line 2)"),
        ('ci valid-before="yesterday" {KEY}', 'invalid "valid-before" time'),
        ("ci valid-before=20200101Z {KEY}", "missing start quote"),
        ('ci valid-before="20200101Z",valid-before="29990101Z" {KEY}', "multiple"),
    ],
)
def test_a_line_openssh_cannot_use_trusts_nothing_and_is_named(
    site, text: str, needle: str
) -> None:
    """As in ``ssh-keygen -Y verify``, such a line is skipped, not fatal: the file
    loads, the line is listed in ``skipped``, and a bundle signed by that key alone
    is refused as an unknown key, naming the skipped line."""
    tmp, key, bundle, _ = site
    public = " ".join(Path(f"{key}.pub").read_text().split()[:2])
    bad = allowed(tmp, "# header", text.replace("{KEY}", public), name="bad")
    loaded = _core.TrustedSigners(bad)
    if "cert-authority" in text:
        assert loaded.skipped == [] and len(loaded) == 1  # usable, only not for plain keys
    else:
        assert [n for n, _ in loaded.skipped] == [2] and len(loaded) == 0
        assert needle in loaded.skipped[0][1]
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=bad))
    assert err.problem == "unknown_key" and needle in err.reason, err.reason


def test_a_signer_file_others_could_change_is_refused(site) -> None:
    tmp, _, bundle, signers = site
    signers.chmod(0o666)
    err = problem_of(lambda: _core.TrustedSigners(signers))
    assert err.problem == "signers_file" and "writable by group or others" in err.reason
    signers.chmod(0o644)
    tmp.chmod(0o777)
    try:
        err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
        assert f"directory {tmp} is writable by group or others" in err.reason
    finally:
        tmp.chmod(0o700)
    assert len(_core.TrustedSigners(signers)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_a_signer_file_owned_by_another_user_is_refused(site) -> None:
    import pwd

    _, _, _, signers = site
    nobody = pwd.getpwnam("nobody")
    os.chown(signers, nobody.pw_uid, nobody.pw_gid)
    err = problem_of(lambda: _core.TrustedSigners(signers))
    assert f"owned by uid {nobody.pw_uid}" in err.reason


def test_a_root_owned_signer_file_in_a_sticky_directory_is_accepted(tmp_path: Path) -> None:
    # /tmp-like parents are fine: others cannot rename entries they do not own.
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    key = keygen(tmp_path, "k")
    signers = allowed(sticky, line("ci", key))
    assert _core.TrustedSigners(signers).principals == ["ci"]


def test_the_signer_file_is_loaded_once_and_pickles_as_its_path(site) -> None:
    _, _, bundle, signers = site
    loaded = afbundle.TrustedSigners(signers)
    assert loaded.path == signers and len(loaded.content_sha256) == 32
    signers.write_text("")  # the loaded object keeps what it read
    assert afbundle.read_bundle(bundle, trusted_signers=loaded).signed_by
    assert len(pickle.loads(pickle.dumps(loaded))) == 0  # unpickling reads the file again


def test_signature_errors_pickle_with_their_problem(site) -> None:
    _, _, bundle, signers = site
    Path(f"{bundle}.sig").unlink()
    err = problem_of(lambda: afbundle.read_bundle(bundle, trusted_signers=signers))
    again = pickle.loads(pickle.dumps(err))
    assert (type(again), again.problem, again.path, again.reason) == (
        BundleSignatureError,
        "no_sidecar",
        err.path,
        err.reason,
    )


def test_trusted_signers_needs_verification(site) -> None:
    _, _, bundle, signers = site
    with pytest.raises(ValueError, match="requires verify=True"):
        afbundle.read_bundle(bundle, verify=False, trusted_signers=signers)
    with pytest.raises(ValueError, match="requires verify=True"):
        afbundle.scan(bundle.parent, verify=False, trusted_signers=signers)


def test_scan_reports_unsigned_bundles_as_signature_rejections(site) -> None:
    tmp, _, bundle, signers = site
    unsigned = make_bundle(tmp / "bundles" / "unsigned", b"two")
    report = afbundle.scan(tmp / "bundles", trusted_signers=signers)
    assert [b.path for b in report.bundles] == [bundle]
    assert [(r.path, r.kind) for r in report.rejected] == [(unsigned, "signature")]


def test_an_unsigned_bundle_earlier_in_order_neither_runs_nor_hides_a_signed_one(site) -> None:
    tmp, _, _, signers = site
    first = make_bundle(tmp / "bundles" / "a_unsigned", b"two")
    found = afbundle.find(tmp / "bundles", "etl", trusted_signers=signers)
    assert found.path.name == "etl" and found.signed_by == "release@example.com"
    Path(tmp / "bundles" / "etl.sig").unlink()
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find(tmp / "bundles", "etl", trusted_signers=signers)
    assert {(r.path.name, r.kind) for r in info.value.rejected} == {
        (first.name, "signature"),
        ("etl", "signature"),
    }


def test_a_sidecar_replaced_after_the_check_is_seen_by_the_next_check(site) -> None:
    """The guarantee: a check verifies the bytes it read against the sidecar as
    it is at that moment. Replacing the sidecar afterwards cannot change those
    bytes; the next check (the next task, or verified exec's seal) reads the
    new sidecar."""
    tmp, _, bundle, signers = site
    found = afbundle.find(bundle.parent, "etl", trusted_signers=signers)
    ssh_sign(bundle, keygen(tmp, "intruder"))
    # The bytes found had a valid signature; they still do not change...
    assert found.read_source() == b"fn main() {}"
    # ...but checking again (what the next launch, or sealing, does) now refuses.
    with pytest.raises(afbundle.BundleNotFoundError) as not_found:
        afbundle.find(bundle.parent, "etl", trusted_signers=signers)
    [lost] = not_found.value.rejected
    assert (lost.kind, lost.context["problem"]) == ("signature", "unknown_key")
    err = problem_of(lambda: afbundle.seal(found.path, trusted_signers=signers))
    assert err.problem == "unknown_key"


def test_sign_writes_what_ssh_keygen_writes(site) -> None:
    _, key, bundle, signers = site
    Path(f"{bundle}.sig").unlink()
    assert afbundle.sign(bundle, key) == afbundle.sidecar_path(bundle)
    assert afbundle.read_bundle(bundle, trusted_signers=signers).signed_by
    mode = Path(f"{bundle}.sig").stat().st_mode & 0o777
    assert mode == 0o644
    # Ed25519 signatures are deterministic: the same bytes as ssh-keygen's own.
    ours = Path(f"{bundle}.sig").read_bytes()
    assert ssh_sign(bundle, key).read_bytes() == ours


def test_sign_refuses_a_file_that_is_not_an_intact_bundle(tmp_path: Path) -> None:
    key = keygen(tmp_path, "k")
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(afbundle.NotABundleError):
        afbundle.sign(script, key)
    assert not afbundle.sidecar_path(script).exists()


def test_sign_reports_a_missing_key_as_a_signing_error(site) -> None:
    tmp, _, bundle, _ = site
    err = problem_of(lambda: afbundle.sign(bundle, tmp / "no-such-key"))
    assert err.problem == "signing" and "ssh-keygen" in err.reason


def test_verification_reads_a_signed_file_once_even_with_a_cold_cache(site) -> None:
    """bytes_hashed counts every byte fed to a hash: one pass covers both digests."""
    _, _, bundle, signers = site
    size = bundle.stat().st_size
    report = afbundle.scan(bundle.parent, trusted_signers=signers, persistent_cache=False)
    assert report.stats.bytes_hashed == size


def _signed_scan(bundle: Path, signers: Path, cache: Path) -> afbundle.ScanReport:
    """A scan as a fresh worker process makes it: empty in-process cache, warm disk cache."""
    _core.clear_digest_cache()
    return afbundle.scan(bundle.parent, trusted_signers=signers, cache_dir=cache)


@pytest.mark.parametrize("hashalg", ["sha512", "sha256"])
def test_the_next_process_reuses_the_whole_file_digest(site, hashalg: str) -> None:
    tmp, key, bundle, signers = site
    if hashalg == "sha256":
        afbundle.sign(bundle, key, hashalg="sha256")
    settle(bundle)
    cache = tmp / "cache"
    first = _signed_scan(bundle, signers, cache)
    assert first.stats.bytes_hashed == bundle.stat().st_size
    second = _signed_scan(bundle, signers, cache)
    assert [b.signed_by for b in second.bundles] == ["release@example.com"]
    assert second.stats.bytes_hashed == 0


def test_a_remembered_digest_never_outlives_the_signer_file_or_the_sidecar(site) -> None:
    """Only the file's digest is remembered: the signature is checked on every call."""
    tmp, key, bundle, signers = site
    settle(bundle)
    cache = tmp / "cache"
    assert _signed_scan(bundle, signers, cache).bundles
    # The sidecar replaced by a valid signature of another file.
    other = make_bundle(tmp / "elsewhere" / "other", b"two")
    good_sig = Path(f"{bundle}.sig").read_bytes()
    shutil.copy(ssh_sign(other, key), f"{bundle}.sig")
    report = _signed_scan(bundle, signers, cache)
    assert [r.kind for r in report.rejected] == ["signature"]
    assert report.stats.bytes_hashed == 0  # the digest came from the cache; the check did not
    Path(f"{bundle}.sig").write_bytes(good_sig)
    assert _signed_scan(bundle, signers, cache).bundles
    # The key revoked in allowed_signers.
    intruder = keygen(tmp, "intruder")
    signers.write_text(line("release@example.com", intruder) + "\n")
    report = _signed_scan(bundle, signers, cache)
    assert not report.bundles and "which is not in" in report.rejected[0].reason


def test_a_rewritten_bundle_is_hashed_again_under_its_new_state(site) -> None:
    tmp, _, bundle, signers = site
    settle(bundle)
    cache = tmp / "cache"
    assert _signed_scan(bundle, signers, cache).bundles
    make_bundle(bundle, b"evil")  # consistent trailer, old signature
    report = _signed_scan(bundle, signers, cache)
    assert not report.bundles and report.stats.bytes_hashed == bundle.stat().st_size
    assert "signature" in [r.kind for r in report.rejected]


def test_verified_exec_checks_the_signature_on_the_sealed_bytes(site) -> None:
    tmp, _, bundle, signers = site
    with afbundle.seal(bundle, trusted_signers=signers) as sealed:
        assert sealed.bundle.signed_by == "release@example.com"
        assert os.pread(sealed.fd, 4, 0) == b"\x7fELF"
    ssh_sign(bundle, keygen(tmp, "intruder"))
    err = problem_of(lambda: afbundle.seal(bundle, trusted_signers=signers))
    assert err.problem == "unknown_key"
    make_bundle(bundle, b"evil")
    Path(f"{bundle}.sig").unlink()
    assert problem_of(lambda: afbundle.seal(bundle, trusted_signers=signers)).problem == (
        "no_sidecar"
    )


@pytest.mark.airflow
def test_the_coordinator_runs_only_signed_bundles_and_the_launcher_rechecks(site) -> None:
    """`trusted_signers` on the coordinator: the lookup refuses unsigned bundles, and
    with verified exec the launcher checks the signature over the sealed bytes it runs."""
    pytest.importorskip("airflow.sdk", reason="needs apache-airflow-task-sdk")
    from afbundle.coordinator import ExecutableCoordinator

    from _airflow import make_ti

    tmp, _, bundle, signers = site
    program = tmp / "program"
    program.write_bytes(b"#!/bin/sh\necho signed-and-sealed\nexit 0\n")
    program.chmod(0o755)
    afbundle.pack(program, bundle, manifest={**MANIFEST, "dags": {"etl": {}}})
    ssh_sign(bundle, keygen(tmp, "release2"))  # a key the signer file does not trust
    coordinator = ExecutableCoordinator(
        executables_root=bundle.parent, trusted_signers=signers, verified_exec=True
    )
    with pytest.raises(afbundle.BundleNotFoundError, match="signed by"):
        coordinator._build_execute_task_command(what=make_ti("etl"))

    ssh_sign(bundle, tmp / "release")
    command, _ = coordinator._build_execute_task_command(what=make_ti("etl"))
    assert command[4:6] == ["--signers", str(signers)]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "signed-and-sealed\n")
    # Re-signed by an untrusted key after the lookup: the launcher refuses it.
    ssh_sign(bundle, keygen(tmp, "intruder"))
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 126
    assert "signed-and-sealed" not in ran.stdout


#: A #! script bundle whose interpreter reads on past the binary region into
#: the source region: one 13-byte word in each, for the attacker to overwrite.
SCRIPT = b"#!/bin/sh\necho signed-binary\n"
SCRIPT_SOURCE = b"echo signed-source; exit 0\n"


@pytest.mark.airflow
@pytest.mark.parametrize("word", [b"signed-binary", b"signed-source"])
def test_a_signed_bundle_changed_where_stat_cannot_see_never_runs(site, word: bytes) -> None:
    """Someone who may write the bundle but holds no key changes it through an
    already dirty page of a shared mapping: size, mtime and ctime stay the same,
    so the persistent cache still vouches for the remembered whole-file digest.
    The lookup still says "signed" (a stat-keyed cache cannot see this write:
    documented), but the coordinator never launches it, whether the change is in
    the binary region or in the source region that a #! interpreter reads on
    into and that ``binary_sha256`` does not cover (issue #20, items 1 and 8)."""
    pytest.importorskip("airflow.sdk", reason="needs apache-airflow-task-sdk")
    from afbundle.coordinator import ExecutableCoordinator

    from _airflow import make_ti

    tmp, key, bundle, signers = site
    program = tmp / "program"
    program.write_bytes(SCRIPT)
    program.chmod(0o755)
    afbundle.pack(program, bundle, manifest=MANIFEST, source=SCRIPT_SOURCE)
    ssh_sign(bundle, key)
    coordinator = ExecutableCoordinator(executables_root=bundle.parent, trusted_signers=signers)
    ti = make_ti("etl")
    command, _ = coordinator._build_execute_task_command(what=ti)
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (ran.returncode, ran.stdout) == (0, "signed-binary\nsigned-source\n"), ran.stderr

    rewrite_unseen_by_stat(
        bundle,
        bundle.read_bytes().index(word),
        b"INJECTED-LINE",
        lambda: coordinator._build_execute_task_command(what=ti),  # remembers the digests
    )
    _core.clear_digest_cache()  # the next task's process: only the persistent cache remembers
    assert afbundle.find(bundle.parent, "etl", trusted_signers=signers).signed_by == (
        "release@example.com"
    )
    assert subprocess.run([bundle], capture_output=True, text=True).stdout.count("INJECTED") == 1

    command, _ = coordinator._build_execute_task_command(what=ti)
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "INJECTED" not in ran.stdout
    assert ran.returncode == 126
    assert "does not match the file's" in ran.stderr
    # `find --exec` seals and checks the signature over the sealed bytes too.
    cli = [sys.executable, "-m", "afbundle", "find", "etl", str(bundle.parent)]
    ran = subprocess.run(
        [*cli, "--signers", str(signers), "--exec"], capture_output=True, text=True, timeout=60
    )
    assert "INJECTED" not in ran.stdout
    assert ran.returncode == 1 and "does not match the file's" in ran.stderr


def test_every_trusted_signers_argument_is_loaded_the_same_way(site, monkeypatch) -> None:
    """One loader (afbundle.load_signers): a path with ``~`` means the same file for
    read_bundle, scan, find, seal and the coordinator, loaded once per call."""
    tmp, _, bundle, signers = site
    monkeypatch.setenv("HOME", str(tmp))
    home = f"~/{signers.name}"
    assert afbundle.read_bundle(bundle, trusted_signers=home).signed_by == "release@example.com"
    assert afbundle.scan(bundle.parent, trusted_signers=home).bundles[0].signed_by
    assert afbundle.find(bundle.parent, "etl", trusted_signers=home).signed_by
    with afbundle.seal(bundle, trusted_signers=home) as sealed:
        assert sealed.bundle.signed_by == "release@example.com"
    assert afbundle.load_signers(home).path == signers
    assert afbundle.load_signers(None) is None
    loaded = afbundle.load_signers(signers)
    assert afbundle.load_signers(loaded) is loaded


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace (apt-get install strace)")
def test_sign_makes_the_sidecar_durable_with_a_directory_fsync(site) -> None:
    """The core's atomic write: the rename into place is synced too (the directory)."""
    tmp, key, bundle, _ = site
    afbundle.sidecar_path(bundle).unlink()
    trace = tmp / "trace"
    probe = subprocess.run(["strace", "-o", "/dev/null", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    subprocess.run(
        ["strace", "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", str(trace),
         sys.executable, "-c", "import sys, afbundle; afbundle.sign(sys.argv[1], sys.argv[2])",
         str(bundle), str(key)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    synced = re.findall(r"f(?:data)?sync\(\d+<([^>]*)>\) += 0", trace.read_text())
    assert str(bundle.parent) in synced, synced
    assert afbundle.read_bundle(bundle, trusted_signers=site[3]).signed_by


def test_sign_creates_the_sidecar_as_ssh_keygen_does_with_the_umask(site) -> None:
    _, key, bundle, signers = site
    afbundle.sidecar_path(bundle).unlink()
    subprocess.run(
        ["sh", "-c", 'umask 077 && exec "$@"', "sh", sys.executable, "-c",
         "import sys, afbundle; afbundle.sign(sys.argv[1], sys.argv[2])", str(bundle), str(key)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    assert afbundle.sidecar_path(bundle).stat().st_mode & 0o777 == 0o600
    assert afbundle.read_bundle(bundle, trusted_signers=signers).signed_by
    assert not [p for p in bundle.parent.iterdir() if "tmp" in p.name]
