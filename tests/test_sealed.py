"""Verified exec: what runs is byte for byte what was verified."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import afbundle

from _writer import bundle_bytes, write_bundle

F_GET_SEALS = getattr(fcntl, "F_GET_SEALS", 1034)
F_SEAL_WRITE, F_SEAL_SHRINK, F_SEAL_GROW = 0x0008, 0x0002, 0x0004


def script_bundle(path: Path, message: str, dag: str = "d") -> Path:
    """A bundle whose binary region is a shell script printing ``message``."""
    script = f"#!/bin/sh\necho {message}\nexit 0\n".encode()
    return write_bundle(path, binary=script, dag_ids=[dag])


def run_sealed(sealed: afbundle.SealedBundle) -> subprocess.CompletedProcess[str]:
    """Run the sealed copy in a child that inherits the memfd, as documented."""
    return subprocess.run(
        [sealed.exec_path], pass_fds=sealed.pass_fds, capture_output=True, text=True, check=True
    )


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_the_sealed_copy_runs_and_holds_the_verified_bytes(tmp_path: Path) -> None:
    path = script_bundle(tmp_path / "b", "original")
    with afbundle.seal(path) as sealed:
        assert sealed.bundle.verified and sealed.bundle.dag_ids == ("d",)
        assert sealed.bundle.path == path.resolve()
        with open(sealed.exec_path, "rb") as f:
            assert f.read() == path.read_bytes()
        run = run_sealed(sealed)
        assert run.stdout == "original\n"


def test_replacing_the_file_after_sealing_does_not_change_what_runs(tmp_path: Path) -> None:
    path = script_bundle(tmp_path / "b", "original")
    with afbundle.seal(path) as sealed:
        script_bundle(tmp_path / "swap", "replaced")
        os.replace(tmp_path / "swap", path)  # swap by rename
        first = run_sealed(sealed)
        path.write_bytes(bundle_bytes(binary=b"#!/bin/sh\necho rewritten\n"))  # in place
        second = run_sealed(sealed)
    assert first.stdout == second.stdout == "original\n"
    assert subprocess.run([path], capture_output=True, text=True).stdout == "rewritten\n"


def test_the_memfd_is_sealed_against_writes_and_resizing(tmp_path: Path) -> None:
    with afbundle.seal(script_bundle(tmp_path / "b", "x")) as sealed:
        assert sealed.fd is not None
        seals = fcntl.fcntl(sealed.fd, F_GET_SEALS)
        assert seals & F_SEAL_WRITE and seals & F_SEAL_SHRINK and seals & F_SEAL_GROW
        with pytest.raises(PermissionError):
            os.pwrite(sealed.fd, b"tamper", 0)
        with pytest.raises(PermissionError):
            os.ftruncate(sealed.fd, 1)
        assert not os.get_inheritable(sealed.fd)


def test_a_corrupt_bundle_is_never_sealed_and_leaks_nothing(tmp_path: Path) -> None:
    data = bytearray(bundle_bytes(binary=b"#!/bin/sh\necho bad\n"))
    data[3] ^= 0xFF
    path = tmp_path / "b"
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    before = open_fds()
    with pytest.raises(afbundle.BundleIntegrityError):
        afbundle.seal(path)
    assert open_fds() == before


def test_a_file_without_exec_permission_is_never_sealed(tmp_path: Path) -> None:
    path = script_bundle(tmp_path / "b", "x")
    path.chmod(0o644)
    with pytest.raises(PermissionError):
        afbundle.seal(path)


def test_a_sealed_bundle_still_reads_its_regions_from_the_unchanged_file(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "b", source=b"the source")
    with afbundle.seal(path) as sealed:
        assert sealed.bundle.read_source() == b"the source"


def test_a_long_file_name_seals(tmp_path: Path) -> None:
    with afbundle.seal(script_bundle(tmp_path / ("n" * 250), "long")) as sealed:
        run = run_sealed(sealed)
    assert run.stdout == "long\n"


def test_closing_is_idempotent_and_releases_the_fd(tmp_path: Path) -> None:
    before = open_fds()
    sealed = afbundle.seal(script_bundle(tmp_path / "b", "x"))
    assert open_fds() != before
    sealed.close()
    sealed.close()
    assert open_fds() == before
    assert "closed" in repr(sealed)


@pytest.mark.airflow
def test_the_coordinator_launches_through_the_sealing_launcher_when_asked(tmp_path: Path) -> None:
    pytest.importorskip("airflow.sdk", reason="needs apache-airflow-task-sdk")
    from afbundle.coordinator import ExecutableCoordinator

    from _airflow import make_ti

    path = script_bundle(tmp_path / "root" / "b", "original", dag="tutorial_dag")
    ti = make_ti("tutorial_dag")
    coordinator = ExecutableCoordinator(executables_root=tmp_path / "root", verified_exec=True)
    command, version = coordinator._build_execute_task_command(what=ti)
    assert command[:4] == [sys.executable, "-I", "-m", "afbundle._launch"]
    assert version == "2026-06-16"
    run = subprocess.run(command, capture_output=True, text=True, check=True)
    assert run.stdout == "original\n"
    # Replaced after the lookup: the launcher refuses it rather than run it.
    script_bundle(tmp_path / "swap", "replaced", dag="tutorial_dag")
    os.replace(tmp_path / "swap", path)
    run = subprocess.run(command, capture_output=True, text=True)
    assert run.returncode == 126
    assert "replaced" not in run.stdout
    assert "changed since it was verified" in run.stderr
    plain = ExecutableCoordinator(executables_root=tmp_path / "root")
    assert plain._build_execute_task_command(what=ti)[0] == [str(path.resolve())]


def test_seal_refuses_a_copy_that_is_not_the_expected_bundle(tmp_path: Path) -> None:
    path = script_bundle(tmp_path / "b", "x", dag="d")
    digest = afbundle.read_bundle(path).binary_sha256
    with afbundle.seal(path, expect_sha256=digest, dag_id="d") as sealed:
        assert sealed.bundle.binary_sha256 == digest
    with pytest.raises(afbundle.BundleIntegrityError, match="changed since it was verified"):
        afbundle.seal(path, expect_sha256=bytes(32), dag_id="d")
    with pytest.raises(afbundle.BundleIntegrityError, match="no longer declares"):
        afbundle.seal(path, expect_sha256=digest, dag_id="other")


UNPRIVILEGED_SEAL_AND_RUN = """
PR_SET_DUMPABLE = 4
assert ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
with afbundle.seal(sys.argv[1]) as sealed:
    run = subprocess.run([sealed.exec_path], pass_fds=sealed.pass_fds,
                         capture_output=True, text=True)
print(run.returncode, run.stdout.strip(), run.stderr.strip())
"""


def test_seal_works_in_a_non_dumpable_process_of_an_unprivileged_user(
    shared_tmp: Path, as_nobody: Callable[[str], subprocess.CompletedProcess[str]]
) -> None:
    """Airflow's supervisor is non-dumpable and workers run as a service user: the
    documented usage (exec_path with pass_fds) must work there, no CAP_SYS_PTRACE."""
    path = script_bundle(shared_tmp / "b", "sealed-ok")

    run = as_nobody(f"sys.argv[1:] = [{str(path)!r}]\n" + UNPRIVILEGED_SEAL_AND_RUN)

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0 sealed-ok", run.stdout


def test_find_exec_runs_the_sealed_copy_with_the_remaining_arguments(tmp_path: Path) -> None:
    script = b'#!/bin/sh\necho "sealed run:" "$@"\nexit 3\n'
    write_bundle(tmp_path / "root" / "b", binary=script, dag_ids=["d"])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "afbundle",
            "find",
            "d",
            str(tmp_path / "root"),
            "--exec",
            "a",
            "-b",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout == "sealed run: a -b\n"
    assert run.returncode == 3  # the bundle's own exit status: the CLI process became it


def test_find_exec_refuses_a_corrupt_bundle_without_running_anything(tmp_path: Path) -> None:
    data = bytearray(bundle_bytes(binary=b"#!/bin/sh\necho ran\n", dag_ids=["d"]))
    data[3] ^= 0xFF
    (tmp_path / "root").mkdir()
    path = tmp_path / "root" / "b"
    path.write_bytes(bytes(data))
    path.chmod(0o755)
    run = subprocess.run(
        [sys.executable, "-m", "afbundle", "find", "d", str(tmp_path / "root"), "--exec"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert "ran" not in run.stdout
    assert "binary_sha256 mismatch" in run.stderr


def in_new_namespaces(
    flags: list[str], setup: str, command: list[str], cwd: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in new namespaces (``unshare FLAGS``) after the shell ``setup``
    (as root: it mounts or sets a namespaced sysctl, never touching the host's)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to change /proc or a sysctl in a private namespace")
    probe = subprocess.run(["unshare", *flags, "sh", "-c", setup], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot run {setup!r} in new namespaces here: {probe.stderr.strip()}")
    return subprocess.run(
        ["unshare", *flags, "sh", "-c", f'{setup} && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


WITHOUT_PROC = (["-m"], "mount -t tmpfs none /proc")  # a private mount namespace


def find_exec(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "afbundle", "find", "d", str(root), "--exec", *args]


def launcher(path: Path, *args: str) -> list[str]:
    digest = afbundle.read_bundle(path).binary_sha256.hex()
    return [sys.executable, "-I", "-m", "afbundle._launch", str(path), digest, "d", *args]


def test_a_compiled_bundle_runs_sealed_without_proc(tmp_path: Path) -> None:
    """execveat(fd, "", AT_EMPTY_PATH) needs no /proc (issue #20 item 7)."""
    path = write_bundle(
        tmp_path / "root" / "echo", binary=Path("/bin/echo").read_bytes(), dag_ids=["d"]
    )
    for command in (find_exec(path.parent, "sealed", "echo"), launcher(path, "sealed", "echo")):
        run = in_new_namespaces(*WITHOUT_PROC, command, tmp_path)
        assert (run.returncode, run.stdout, run.stderr) == (0, "sealed echo\n", "")


def test_a_script_bundle_without_proc_is_refused_naming_the_cause_and_the_bundle(
    tmp_path: Path,
) -> None:
    path = script_bundle(tmp_path / "root" / "b", "ran")
    run = in_new_namespaces(*WITHOUT_PROC, find_exec(path.parent), tmp_path)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith(f"afbundle: error: {path}: cannot execute the sealed copy: ")
    assert "/proc is not mounted, and a #! script bundle needs it" in run.stderr
    run = in_new_namespaces(*WITHOUT_PROC, launcher(path), tmp_path)
    assert (run.returncode, run.stdout) == (126, "")
    assert run.stderr.startswith(f"afbundle: cannot run {path}: cannot execute the sealed copy: ")
    assert "/proc is not mounted" in run.stderr


def test_a_missing_interpreter_is_named_and_nothing_runs(tmp_path: Path) -> None:
    path = write_bundle(tmp_path / "root" / "b", binary=b"#!/no/such/shell\n", dag_ids=["d"])
    run = subprocess.run(find_exec(path.parent), capture_output=True, text=True, timeout=60)
    assert run.returncode == 2
    assert run.stderr == (
        f"afbundle: error: {path}: cannot execute the sealed copy: No such file or directory"
        " (the interpreter its #! line or ELF header names is missing)\n"
    )


def test_memfd_noexec_2_is_named_as_the_reason_verified_exec_cannot_run(tmp_path: Path) -> None:
    """vm.memfd_noexec is per pid namespace (Linux 6.3+): set to 2 in a new one only."""
    path = script_bundle(tmp_path / "root" / "b", "ran")
    noexec = (["-p", "-f", "--mount-proc"], "echo 2 > /proc/sys/vm/memfd_noexec")
    run = in_new_namespaces(*noexec, find_exec(path.parent), tmp_path)
    assert (run.returncode, run.stdout) == (2, "")
    assert run.stderr.startswith(f"afbundle: error: {path}: cannot create an executable memory")
    assert "forbidden while the vm.memfd_noexec sysctl is 2" in run.stderr
    run = in_new_namespaces(*noexec, launcher(path), tmp_path)
    assert (run.returncode, run.stdout) == (126, "")
    assert "vm.memfd_noexec sysctl is 2" in run.stderr


def test_without_signers_a_script_runs_source_bytes_no_digest_covers(tmp_path: Path) -> None:
    """The documented limit (RELIABILITY.md, threat model): ``binary_sha256`` covers
    the binary region only, and a #! interpreter reads on past it. Signing covers
    the rest (tests/test_signing.py)."""
    path = write_bundle(
        tmp_path / "root" / "b",
        binary=b"#!/bin/sh\n",
        source=b"echo source\nexit 0\n",
        dag_ids=["d"],
    )
    data = path.read_bytes()
    path.write_bytes(data.replace(b"echo source", b"echo INJECT"))
    assert afbundle.read_bundle(path).verified
    run = subprocess.run(find_exec(path.parent), capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (0, "INJECT\n")
