"""Trust under attack and accident (issue 11): each test replays one attack or accident.

A second, unprivileged user is created with ``useradd`` where ownership
matters (the tests run as root, as CI does). Races are driven
deterministically where the code offers a seam, else by bounded loops.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _signing import allowed, keygen, line, make_bundle, needs_ssh_keygen, ssh_sign

import afbundle
from afbundle import _core, cli
from afbundle.errors import BundleSignatureError

from _writer import BINARY, manifest, settle, trailer, write_bundle

ATTACKER = "afbundle-attacker"
META = manifest(["d"])


def attacker() -> str:
    """A second local user (created once), for ownership attacks."""
    if os.geteuid() != 0:
        pytest.skip("creating a second user needs root (CI runs as root)")
    try:
        pwd.getpwnam(ATTACKER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", ATTACKER],
            check=True,
            capture_output=True,
        )
    return ATTACKER


def as_attacker(*argv: str | os.PathLike[str]) -> None:
    subprocess.run(["runuser", "-u", attacker(), "--", *map(str, argv)], check=True)


@pytest.fixture
def world_dir(shared_tmp: Path) -> Path:
    """A directory every user can write (not sticky), as a careless operator makes one."""
    path = shared_tmp / "world"
    path.mkdir()
    os.chmod(path, 0o777)
    return path


# --- 1. pack's temporary file is never a candidate ---------------------------------------------


PACK_FOREVER = """
import sys, afbundle
binary, out = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while True:
    afbundle.pack(binary, out, manifest={manifest!r}, replace_footer=False)
"""


def test_a_pack_killed_at_any_moment_leaves_no_candidate_but_the_output(tmp_path) -> None:
    """kill -9 lands mid-pack (bounded loop): afterwards the output directory holds
    nothing but the complete output, and every find during the packs returned it."""
    binary = tmp_path / "bin" / "pipeline"
    binary.parent.mkdir()
    binary.write_bytes(b"\x7fELF" + os.urandom(1 << 20) * 24)  # 24 MiB: a pack takes a while
    os.chmod(binary, 0o755)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code = PACK_FOREVER.format(manifest=META)
    for attempt in range(8):
        for leftover in out_dir.iterdir():
            leftover.unlink()
        child = subprocess.Popen(
            [sys.executable, "-c", code, str(binary), str(out_dir / "pipeline")],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        # Look while packs run: no temporary name is ever a bundle.
        for _ in range(3 + attempt):
            report = afbundle.scan([out_dir], verify=False)
            assert {b.path.name for b in report.bundles} <= {"pipeline"}
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        assert {p.name for p in out_dir.iterdir()} <= {"pipeline"}, attempt
        for path in out_dir.iterdir():
            assert afbundle.read_bundle(path).verified


def test_repacking_over_an_existing_output_leaves_only_the_output(tmp_path) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(BINARY)
    out = tmp_path / "out"
    for source in (b"one", b"two", b"three"):
        afbundle.pack(binary, out, manifest=META, source=source)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "out"]
    assert afbundle.read_bundle(out).read_source() == b"three"


# --- 2. the persistent cache cannot be redirected by another user ------------------------------


def test_a_cache_dir_reached_through_another_users_link_is_refused(world_dir, tmp_path) -> None:
    """The attack: cache_dir under a directory another user can write, as a symlink
    they own pointing at the worker's own private directory (which passes an
    owner check made through the link). Refused, and nothing is written there."""
    victim = tmp_path / "home"
    victim.mkdir(mode=0o700)
    (victim / "precious").write_bytes(b"keep me")
    as_attacker("ln", "-s", victim, world_dir / "cache")
    reason = _core.check_cache_dir(world_dir / "cache")
    assert reason is not None and "redirect" in reason, reason
    root = tmp_path / "bundles"
    settle(write_bundle(root / "b", dag_ids=["d"]))
    afbundle.scan([root], cache_dir=world_dir / "cache")
    assert sorted(p.name for p in victim.iterdir()) == ["precious"]


def test_in_a_sticky_shared_directory_only_our_own_entries_are_followed(shared_tmp, tmp_path):
    sticky = shared_tmp / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    victim = tmp_path / "home"
    victim.mkdir(mode=0o700)
    as_attacker("ln", "-s", victim, sticky / "theirs")
    assert "could lead anywhere" in (_core.check_cache_dir(sticky / "theirs") or "")
    os.symlink(victim, sticky / "mine")
    assert _core.check_cache_dir(sticky / "mine") is None


# --- 2b. the signer file is reached only as the cache directory is (issue 20, item 3) ----------


@pytest.fixture
def foreign_signers(tmp_path: Path) -> tuple[Path, Path]:
    """A bundle signed by the attacker's key, and a root-owned file that lists that key
    in allowed_signers form (a known_hosts line is one): harmless where it is, and
    the target the attacker points their link at."""
    key = keygen(tmp_path, "attacker")
    bundle = make_bundle(tmp_path / "bundles" / "etl")
    ssh_sign(bundle, key)
    return bundle, allowed(tmp_path, line("host.example.com", key), name="known_hosts")


def signers_refusal(bundle: Path, signers: Path) -> str:
    with pytest.raises(BundleSignatureError) as info:
        afbundle.read_bundle(bundle, trusted_signers=signers)
    assert info.value.problem == "signers_file", info.value
    return info.value.reason


@needs_ssh_keygen
def test_a_signer_file_reached_through_another_users_link_is_refused(
    shared_tmp, foreign_signers
) -> None:
    """The attack: the configured signer path runs through a directory another user
    owns; they point a link there at a root-owned file listing their key. The link's
    target passes every check made on the target alone; the walk refuses the
    directory the link is in."""
    bundle, known_hosts = foreign_signers
    theirs = shared_tmp / "theirs"
    theirs.mkdir()
    os.chown(theirs, pwd.getpwnam(attacker()).pw_uid, -1)
    as_attacker("ln", "-s", known_hosts, theirs / "allowed_signers")
    uid = pwd.getpwnam(ATTACKER).pw_uid
    reason = signers_refusal(bundle, theirs / "allowed_signers")
    assert f"directory {theirs} is owned by uid {uid}" in reason and "redirect" in reason, reason


@needs_ssh_keygen
def test_a_signer_link_another_user_planted_in_a_sticky_directory_is_refused(
    shared_tmp, foreign_signers
) -> None:
    bundle, known_hosts = foreign_signers
    sticky = shared_tmp / "sticky"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    as_attacker("ln", "-s", known_hosts, sticky / "allowed_signers")
    reason = signers_refusal(bundle, sticky / "allowed_signers")
    assert "symbolic link owned by uid" in reason and "lead anywhere" in reason, reason
    # The same link made by us is our choice, and is followed.
    os.symlink(known_hosts, sticky / "ours")
    assert afbundle.read_bundle(bundle, trusted_signers=sticky / "ours").signed_by


# --- 3. strip writes only what it verified ------------------------------------------------------


def test_strip_verifies_the_bytes_it_copies_even_if_the_path_is_repointed(
    tmp_path, monkeypatch, capsys
) -> None:
    """Deterministic: the path is re-pointed right after the CLI's own check."""
    good = write_bundle(tmp_path / "good", dag_ids=["d"])
    evil_bytes = bytearray(good.read_bytes())
    evil_bytes[2] ^= 0xFF  # same trailer, different binary
    evil = tmp_path / "evil"
    evil.write_bytes(evil_bytes)
    link = tmp_path / "link"
    link.symlink_to(good)
    real_read = afbundle.read_bundle

    def read_then_repoint(*args, **kwargs):
        bundle = real_read(*args, **kwargs)
        link.unlink()
        link.symlink_to(evil)
        return bundle

    monkeypatch.setattr(afbundle, "read_bundle", read_then_repoint)
    out = tmp_path / "out"
    code = cli.main(["strip", str(link), "-o", str(out)])
    assert code != 0
    assert not out.exists()
    assert "mismatch" in capsys.readouterr().err


def test_strip_prints_the_digest_of_what_it_wrote(tmp_path, capsys) -> None:
    bundle = write_bundle(tmp_path / "b", dag_ids=["d"])
    assert cli.main(["strip", str(bundle), "-o", str(tmp_path / "out")]) == 0
    import hashlib

    assert hashlib.sha256((tmp_path / "out").read_bytes()).hexdigest() in capsys.readouterr().out


# --- the racy-timestamp rule --------------------------------------------------------------------


def test_a_file_changed_in_the_current_tick_is_not_remembered(tmp_path) -> None:
    """The write of the entry and the file's modification land in one tick (the
    file's timestamps are set to now just before): nothing is stored, in memory
    or on disk. Once the tick has passed, it is."""
    bundle = write_bundle(tmp_path / "b", dag_ids=["d"])
    cache = tmp_path / "cache"
    os.utime(bundle)  # mtime and ctime: now
    assert afbundle.read_bundle(bundle, cache_dir=cache).verified
    assert _core.digest_cache_len() == 0
    assert not any(p.is_file() for p in cache.rglob("*"))
    settle(bundle)
    afbundle.read_bundle(bundle, cache_dir=cache)
    assert _core.digest_cache_len() == 1
    assert any(p.is_file() for p in cache.rglob("*"))


# --- 7. huge claimed regions never abort --------------------------------------------------------


def sparse_bundle(path: Path, source_len: int) -> Path:
    import hashlib

    import yaml

    meta = yaml.safe_dump(manifest(["d"], source="huge.txt")).encode()
    with open(path, "wb") as f:
        f.write(BINARY)
        f.seek(len(BINARY) + source_len)
        f.write(meta + trailer(source_len, len(meta), hashlib.sha256(BINARY).digest()))
    os.chmod(path, 0o755)
    return path


def limited(code: str, *args: str | os.PathLike[str]) -> subprocess.CompletedProcess:
    """Run ``code`` under ``ulimit -v`` 1.5 GiB (address space)."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))\n"
    return subprocess.run(
        [sys.executable, "-c", limit + code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_reading_a_3_gib_source_into_memory_is_a_memory_error_not_an_abort(tmp_path) -> None:
    bundle = sparse_bundle(tmp_path / "huge", 3 << 30)
    out = limited(
        "import sys, afbundle\n"
        "b = afbundle.read_bundle(sys.argv[1])\n"
        "try:\n    b.read_source()\nexcept MemoryError as e:\n    print('MemoryError', e)\n",
        bundle,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("MemoryError") and "huge" in out.stdout


def test_inspect_source_streams_a_3_gib_source(tmp_path) -> None:
    bundle = sparse_bundle(tmp_path / "huge", 3 << 30)
    with open(os.devnull, "wb") as sink:
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                "import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 29, 3 << 29))\n"
                "from afbundle import cli; sys.exit(cli.main(sys.argv[1:]))",
                "inspect",
                "--source",
                str(bundle),
            ],
            stdout=sink,
            stderr=subprocess.PIPE,
            timeout=300,
        )
    assert out.returncode == 0, out.stderr


def test_inspect_extract_streams_a_source_larger_than_memory_allows(tmp_path) -> None:
    bundle = sparse_bundle(tmp_path / "huge", 5 << 28)  # 1.25 GiB
    out = limited(
        "import sys\nfrom afbundle import cli\nsys.exit(cli.main(sys.argv[1:]))",
        "inspect",
        "--extract",
        tmp_path / "x",
        bundle,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "x" / "huge.txt").stat().st_size == 5 << 28


# --- 8. a FIFO swapped in is never opened --------------------------------------------------------


@contextlib.contextmanager
def blocked_writer(fifo: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process blocked in open(fifo, O_WRONLY): it returns only if someone opens
    the FIFO for reading."""
    os.mkfifo(fifo, 0o755)
    child = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'wb')"])
    try:
        wait_until_blocked_in_open(child)
        yield child
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        child.kill()
        child.wait()


def wait_until_blocked_in_open(child: subprocess.Popen[bytes]) -> None:
    """Wait (bounded) until ``child`` sleeps in the FIFO's open, waiting for a reader."""
    for _ in range(2000):
        try:
            wchan = Path(f"/proc/{child.pid}/wchan").read_text()
        except OSError:
            wchan = ""
        if wchan in ("wait_for_partner", "fifo_open"):
            return
        if child.poll() is not None:
            break
        time.sleep(0.005)
    pytest.skip("cannot tell that the writer is blocked in open (no /proc/PID/wchan)")


def still_blocked(child: subprocess.Popen[bytes]) -> bool:
    try:
        child.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        return True
    return False


def test_opening_a_fifo_by_name_never_opens_it(tmp_path) -> None:
    with blocked_writer(tmp_path / "fifo") as writer:
        with pytest.raises(afbundle.NotABundleError):
            afbundle.read_bundle(tmp_path / "fifo")
        link = tmp_path / "link"
        link.symlink_to(tmp_path / "fifo")
        with pytest.raises(afbundle.NotABundleError):
            afbundle.read_bundle(link)
        assert still_blocked(writer)


@needs_ssh_keygen
def test_a_fifo_sidecar_or_signer_file_is_never_opened(tmp_path) -> None:
    """Issue 20, item 9: both are located O_PATH and re-opened only as regular files,
    so a writer blocked in open(fifo, O_WRONLY) is never woken."""
    key = keygen(tmp_path, "release")
    bundle = make_bundle(tmp_path / "b")
    signers = allowed(tmp_path, line("ci", key))
    with blocked_writer(Path(f"{bundle}.sig")) as writer:
        for check in (
            lambda: afbundle.read_bundle(bundle, trusted_signers=signers),
            lambda: afbundle.seal(bundle, trusted_signers=signers),
        ):
            with pytest.raises(BundleSignatureError) as info:
                check()
            assert info.value.problem == "no_sidecar", info.value
            assert "not a regular file" in info.value.reason
        assert still_blocked(writer)
    with blocked_writer(tmp_path / "fifo") as writer:
        with pytest.raises(BundleSignatureError) as info:
            _core.TrustedSigners(tmp_path / "fifo")
        assert info.value.problem == "signers_file" and "not a regular file" in info.value.reason
        assert still_blocked(writer)


FLIP = """
import os, sys
tmp, root = sys.argv[1], sys.argv[2]
while True:
    for target in ("good", "fifo"):
        os.symlink(f"{tmp}/{target}", f"{tmp}/flip")
        os.replace(f"{tmp}/flip", f"{root}/candidate")
"""


def test_a_fifo_swapped_in_under_a_walk_is_never_opened(tmp_path) -> None:
    """Bounded loop: a symlink flips between a bundle and a FIFO while scans run."""
    root = tmp_path / "root"
    root.mkdir()
    good = write_bundle(tmp_path / "good", dag_ids=["d"])
    with blocked_writer(tmp_path / "fifo") as writer:
        flipper = subprocess.Popen([sys.executable, "-c", FLIP, str(tmp_path), str(root)])
        try:
            for _ in range(2000):
                afbundle.scan([root], verify=False)
                if writer.poll() is not None:
                    break
        finally:
            flipper.kill()
            flipper.wait()
        assert still_blocked(writer)
    assert good.exists()


# --- 10. modes and argument checks ----------------------------------------------------------------


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def test_output_modes_respect_the_umask_and_never_keep_setuid(tmp_path, umask_077) -> None:
    binary = tmp_path / "bin"
    binary.write_bytes(BINARY)
    os.chmod(binary, 0o6666)
    afbundle.pack(binary, tmp_path / "out", manifest=META)
    assert (tmp_path / "out").stat().st_mode & 0o7777 == 0o700
    os.chmod(tmp_path / "out", 0o6777)
    _core.strip(tmp_path / "out", tmp_path / "back")
    assert (tmp_path / "back").stat().st_mode & 0o7777 == 0o700


def test_extract_honours_the_umask(tmp_path, umask_077) -> None:
    (tmp_path / "bin").write_bytes(BINARY)
    bundle = afbundle.pack(
        tmp_path / "bin",
        tmp_path / "b",
        manifest=manifest(["d"], source="main.go"),
        source=b"package main\n",
    )
    assert cli.main(["inspect", "--extract", str(tmp_path / "x"), str(bundle.path)]) == 0
    for path in (tmp_path / "x").iterdir():
        assert path.stat().st_mode & 0o077 == 0, path


def test_an_empty_cache_dir_is_a_value_error(tmp_path) -> None:
    with pytest.raises(ValueError, match="cache_dir"):
        afbundle.scan([tmp_path], cache_dir="")
    with pytest.raises(ValueError, match="cache_dir"):
        afbundle.find([tmp_path], "d", cache_dir="")


@pytest.mark.parametrize(
    ("kwargs", "name"), [({"source": 1000}, "source"), ({"manifest": 5}, "manifest")]
)
def test_wrong_pack_argument_types_are_type_errors_naming_the_argument(tmp_path, kwargs, name):
    binary = tmp_path / "bin"
    binary.write_bytes(BINARY)
    with pytest.raises(TypeError, match=name):
        afbundle.pack(binary, tmp_path / "out", **{"manifest": META, **kwargs})
    assert not (tmp_path / "out").exists()


def test_bytes_roots_are_accepted_and_other_types_are_type_errors(tmp_path) -> None:
    bundle = write_bundle(tmp_path / "b", dag_ids=["d"])
    assert afbundle.find(os.fsencode(tmp_path), "d").path == bundle
    assert afbundle.find([os.fsencode(tmp_path)], "d").path == bundle
    with pytest.raises(TypeError, match="roots"):
        afbundle.find(5, "d")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="roots"):
        afbundle.scan([tmp_path, 5])  # type: ignore[list-item]


@pytest.mark.parametrize("root", ["", "  ", b"", ["/opt/bundles", ""]])
def test_an_empty_root_is_refused_never_read_as_the_current_directory(
    tmp_path, monkeypatch, root
) -> None:
    """One root rule for the API, the coordinator and the check: ``Path("")`` would be
    the working directory, where a bundle nobody configured could be found and run."""
    write_bundle(tmp_path / "planted", dag_ids=["d"])
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="current directory"):
        afbundle.find(root, "d")
    with pytest.raises(ValueError, match="current directory"):
        afbundle.scan(root)


def test_the_command_line_refuses_an_empty_root(tmp_path, monkeypatch, capsys) -> None:
    write_bundle(tmp_path / "planted", dag_ids=["d"])
    monkeypatch.chdir(tmp_path)
    assert cli.main(["find", "d", ""]) == 2
    assert cli.main(["scan", "", "--json"]) == 2
    out, err = capsys.readouterr()
    assert "planted" not in out
    assert err.count("afbundle: error: roots: '' is not a path") == 2, err
