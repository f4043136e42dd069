"""scan(): the walk rules, precedence order, rejections, skips, duplicates and counters.

Spec, "Deployment Layout": recursive walk, executable regular files only,
trailer magic identifies bundles. Precedence is afbundle's own, deterministic rule.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import afbundle
from afbundle import ScanReport, ScanStats

from _writer import (
    BINARY,
    KINDS,
    bundle_bytes,
    flip_byte_in_place,
    settle,
    tamper_keeping_mtime,
    write_bundle,
    write_executable,
    write_file,
    write_kind,
)
from _writer import manifest as _manifest


def paths(report: ScanReport) -> list[Path]:
    return [b.path for b in report.bundles]


def summary(report: ScanReport) -> dict:
    """Everything observable about a report, in comparable form."""
    return {
        "bundles": [(b.path, b.dag_ids, b.verified, b.binary_sha256) for b in report.bundles],
        "rejected": [(r.path, r.kind, r.reason) for r in report.rejected],
        "skipped": [(s.path, s.reason) for s in report.skipped],
        "duplicates": report.duplicates,
        "missing_roots": report.missing_roots,
        "roots": report.roots,
        "stats": report.stats,
    }


# --- precedence ------------------------------------------------------------------------------


def test_bundles_come_in_byte_wise_order_of_their_path_within_a_root(tmp_path) -> None:
    names = ["b", "a/z", "a/b/c", "B", "aa", "a0", "Z/y", "_x", "a/B"]
    for i, name in enumerate(names):
        write_bundle(tmp_path / name, dag_ids=[f"d{i}"])
    expected = sorted(names, key=lambda n: n.encode())
    assert paths(afbundle.scan([tmp_path])) == [tmp_path / n for n in expected]


def test_precedence_compares_raw_bytes_not_code_points(tmp_path) -> None:
    root = os.fsencode(tmp_path)
    raw_names = [b"\xff-not-utf8", "\ue000-private-use".encode(), b"z", "é".encode()]
    for name in raw_names:
        with open(root + b"/" + name, "wb") as f:
            f.write(bundle_bytes())
        os.chmod(root + b"/" + name, 0o755)
    report = afbundle.scan([tmp_path])
    assert [os.fsencode(p) for p in paths(report)] == [root + b"/" + n for n in sorted(raw_names)]


def test_roots_come_in_the_order_given(tmp_path) -> None:
    first, second = tmp_path / "zzz", tmp_path / "aaa"
    write_bundle(first / "z", dag_ids=["x"])
    write_bundle(second / "a", dag_ids=["x"])
    report = afbundle.scan([first, second])
    assert paths(report) == [first / "z", second / "a"]
    assert report.roots == (first, second)
    assert afbundle.scan([second, first]).duplicates["x"] == (second / "a", first / "z")


def test_a_single_root_may_be_passed_without_a_list(tmp_path) -> None:
    write_bundle(tmp_path / "b")
    assert paths(afbundle.scan(tmp_path)) == [tmp_path / "b"]
    assert paths(afbundle.scan(str(tmp_path))) == [tmp_path / "b"]


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_the_answer_does_not_depend_on_the_thread_count(tmp_path, threads: int) -> None:
    for i, kind in enumerate(KINDS):
        write_kind(tmp_path / f"d{i % 4}" / f"sub{i % 3}" / f"{kind}", kind, [f"dag{i % 5}"])
    (tmp_path / "d1" / "loop").symlink_to(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "alias").symlink_to(tmp_path / "d0" / "sub0")
    reference = summary(afbundle.scan([tmp_path, tmp_path / "missing"], threads=1))
    again = summary(afbundle.scan([tmp_path, tmp_path / "missing"], threads=threads))
    # The first scan warmed the digest caches; every other counter must match.
    for report in (reference, again):
        report["stats"] = {**report["stats"].as_dict(), "bytes_hashed": 0, "cache_hits": 0}
    assert again == reference
    assert reference["bundles"]


def test_the_same_tree_gives_the_same_report_every_run(tmp_path) -> None:
    for i in range(40):
        write_bundle(tmp_path / f"g{i % 7}" / f"bundle{i}", dag_ids=["shared", f"own{i}"])
    runs = [summary(afbundle.scan([tmp_path])) for _ in range(3)]
    for run in runs:  # the digest cache changes counters, nothing else
        run["stats"] = None
    assert runs[0] == runs[1] == runs[2]


# --- walk rules ------------------------------------------------------------------------------


def test_the_walk_is_recursive(tmp_path) -> None:
    deep = write_bundle(tmp_path / "a" / "b" / "c" / "d" / "e" / "bundle")
    assert paths(afbundle.scan([tmp_path])) == [deep]


def test_a_root_may_be_a_file(tmp_path) -> None:
    bundle = write_bundle(tmp_path / "b")
    write_bundle(tmp_path / "other")
    report = afbundle.scan([bundle])
    assert paths(report) == [bundle]
    assert report.stats.dirs_visited == 0


def test_a_root_may_be_a_symlink_to_a_directory(tmp_path) -> None:
    bundle = write_bundle(tmp_path / "real" / "b")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert paths(afbundle.scan([tmp_path / "link"])) == [bundle]


def test_a_missing_root_is_reported_and_the_others_are_still_walked(tmp_path) -> None:
    bundle = write_bundle(tmp_path / "present" / "b")
    missing = tmp_path / "absent"
    report = afbundle.scan([missing, tmp_path / "present"])
    assert report.missing_roots == (missing,)
    assert paths(report) == [bundle]


def test_symlinks_to_files_are_followed(tmp_path) -> None:
    target = write_bundle(tmp_path / "store" / "real")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(target)
    report = afbundle.scan([root])
    assert paths(report) == [target]


def test_symlinks_to_directories_are_followed(tmp_path) -> None:
    target = write_bundle(tmp_path / "store" / "real")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked-dir").symlink_to(tmp_path / "store")
    assert paths(afbundle.scan([root])) == [target]


def test_a_symlink_cycle_does_not_loop(tmp_path, hang_guard) -> None:
    bundle = write_bundle(tmp_path / "inner" / "pipeline")
    (tmp_path / "inner" / "loop").symlink_to(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "to_b").symlink_to(tmp_path / "b")
    (tmp_path / "b" / "to_a").symlink_to(tmp_path / "a")
    report = hang_guard(lambda: afbundle.scan([tmp_path]))
    assert paths(report) == [bundle]


def test_a_self_referencing_symlink_is_skipped_with_a_reason(tmp_path, hang_guard) -> None:
    write_bundle(tmp_path / "good")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    report = hang_guard(lambda: afbundle.scan([tmp_path]))
    assert paths(report) == [tmp_path / "good"]
    assert [s.path for s in report.skipped] == [tmp_path / "self"]
    assert report.skipped[0].reason


def test_a_directory_reached_twice_is_walked_once_under_its_shortest_path(tmp_path) -> None:
    real = write_bundle(tmp_path / "zz_real" / "bundle", dag_ids=["x"])
    (tmp_path / "a").symlink_to(tmp_path / "zz_real")
    other = write_bundle(tmp_path / "m_bundle", dag_ids=["x"])
    report = afbundle.scan([tmp_path])
    # Walked as "a/bundle", which sorts before "m_bundle"; "zz_real/bundle" is not walked again.
    assert paths(report) == [real, other]
    assert report.duplicates == {"x": (real, other)}


def test_a_directory_reached_by_equally_short_paths_is_walked_under_the_byte_wise_first(
    tmp_path,
) -> None:
    real = write_bundle(tmp_path / "zz_real" / "bundle", dag_ids=["x"])
    (tmp_path / "c").symlink_to(tmp_path / "zz_real")
    (tmp_path / "b").symlink_to(tmp_path / "zz_real")
    other = write_bundle(tmp_path / "ba_bundle", dag_ids=["x"])
    # Walked as "b/bundle" (before "ba_bundle"), not as "c/bundle" (after it).
    for threads in (1, 4):
        assert paths(afbundle.scan([tmp_path], threads=threads)) == [real, other]


def test_a_dangling_symlink_is_skipped_with_a_reason(tmp_path) -> None:
    bundle = write_bundle(tmp_path / "b")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    report = afbundle.scan([tmp_path])
    assert paths(report) == [bundle]
    assert [s.path for s in report.skipped] == [tmp_path / "dangling"]
    assert report.skipped[0].reason
    assert str(tmp_path / "dangling") in str(report.skipped[0])


def test_files_without_an_exec_bit_are_never_read(tmp_path) -> None:
    write_file(
        tmp_path / "corrupt-but-not-executable", bundle_bytes(digest=b"\x00" * 32), executable=False
    )
    write_bundle(tmp_path / "valid-but-not-executable", executable=False)
    report = afbundle.scan([tmp_path])
    assert report.bundles == ()
    assert report.rejected == ()
    assert report.stats.not_executable == 2
    assert report.stats.executables == 0
    assert report.stats.bundles_read == 0


@pytest.mark.parametrize("bit", [stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH], ids=["u", "g", "o"])
def test_a_single_exec_bit_usable_by_the_caller_makes_a_candidate(tmp_path, bit: int) -> None:
    path = write_bundle(tmp_path / "b")
    os.chmod(path, 0o644 | bit)
    usable = os.access(path, os.X_OK)
    report = afbundle.scan([tmp_path])
    assert paths(report) == ([path] if usable else [])


def test_non_bundle_executables_are_ignored_silently(tmp_path) -> None:
    write_executable(tmp_path / "script")
    write_file(tmp_path / "empty", b"")
    write_file(tmp_path / "magic-only", b"AFBNDL01")
    bundle = write_bundle(tmp_path / "bundle")
    report = afbundle.scan([tmp_path])
    assert paths(report) == [bundle]
    assert report.rejected == ()
    assert report.skipped == ()
    assert report.stats.executables == 4
    assert report.stats.bundles_read == 1


def unblock_fifo(path: Path) -> None:
    """If a reader is stuck opening ``path``, give it a writer so it can return."""
    with contextlib.suppress(OSError):
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_with_an_exec_bit_is_never_opened(tmp_path, hang_guard) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.chmod(fifo, 0o755)
    bundle = write_bundle(tmp_path / "b")
    try:
        report = hang_guard(lambda: afbundle.scan([tmp_path]), 10)
    finally:
        unblock_fifo(fifo)
    assert paths(report) == [bundle]
    assert report.stats.special == 1
    assert report.rejected == ()


def test_a_fifo_given_as_a_root_is_never_opened(tmp_path, hang_guard) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    os.chmod(fifo, 0o755)
    try:
        report = hang_guard(lambda: afbundle.scan([fifo]), 10)
    finally:
        unblock_fifo(fifo)
    assert report.bundles == ()
    assert report.stats.special == 1


def test_a_fifo_reached_through_a_symlink_is_never_opened(tmp_path, hang_guard) -> None:
    fifo = tmp_path / "elsewhere" / "fifo"
    fifo.parent.mkdir()
    os.mkfifo(fifo)
    os.chmod(fifo, 0o755)
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(fifo)
    try:
        report = hang_guard(lambda: afbundle.scan([root]), 10)
    finally:
        unblock_fifo(fifo)
    assert report.stats.special == 1


def test_a_unix_socket_with_an_exec_bit_is_never_opened(tmp_path, hang_guard) -> None:
    sock_path = tmp_path / "s"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        os.chmod(sock_path, 0o755)
        report = hang_guard(lambda: afbundle.scan([tmp_path]), 10)
    assert report.bundles == ()
    assert report.stats.special == 1


def test_a_device_node_with_an_exec_bit_is_never_opened(tmp_path, hang_guard) -> None:
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o755, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("creating device nodes needs CAP_MKNOD")
    report = hang_guard(lambda: afbundle.scan([tmp_path]), 10)
    assert report.bundles == ()
    assert report.stats.special == 1


def test_non_utf8_file_and_directory_names_work(tmp_path) -> None:
    root = os.fsencode(tmp_path)
    os.mkdir(root + b"/dir-\xff\xfe")
    names = [root + b"/dir-\xff\xfe/bundle-\xe9", root + b"/plain-\x80"]
    for name in names:
        with open(name, "wb") as f:
            f.write(bundle_bytes())
        os.chmod(name, 0o755)
    report = afbundle.scan([tmp_path])
    assert [os.fsencode(p) for p in paths(report)] == sorted(names)
    assert all(b.verified for b in report.bundles)


def test_a_non_utf8_root_works(tmp_path) -> None:
    root = os.fsencode(tmp_path) + b"/root-\xff"
    os.mkdir(root)
    with open(root + b"/b", "wb") as f:
        f.write(bundle_bytes())
    os.chmod(root + b"/b", 0o755)
    report = afbundle.scan([os.fsdecode(root)])
    assert [os.fsencode(p) for p in paths(report)] == [root + b"/b"]


UNREADABLE_CHILD = """
report = afbundle.scan([sys.argv[1]])
print(json.dumps({
    "bundles": [str(b.path) for b in report.bundles],
    "skipped": [[str(s.path), s.reason] for s in report.skipped],
    "rejected": [[str(r.path), r.kind] for r in report.rejected],
}))
"""


def test_unreadable_files_and_directories_are_skipped_with_a_reason(shared_tmp, as_nobody) -> None:
    root = shared_tmp / "root"
    good = write_bundle(root / "good")
    write_bundle(root / "locked" / "inside")
    os.chmod(root / "locked", 0o000)
    exec_only = write_bundle(root / "exec-only")
    os.chmod(exec_only, 0o111)
    proc = as_nobody(f"sys.argv[1:] = [{str(root)!r}]\n" + UNREADABLE_CHILD)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["bundles"] == [str(good)]
    assert result["rejected"] == []
    skipped = dict(result["skipped"])
    assert set(skipped) == {str(root / "locked"), str(exec_only)}
    assert all(skipped.values())


def test_an_unreadable_root_is_skipped_or_missing_never_an_exception(shared_tmp, as_nobody) -> None:
    root = shared_tmp / "root"
    write_bundle(root / "inside")
    os.chmod(root, 0o000)
    proc = as_nobody(
        f"""
        report = afbundle.scan([{str(root)!r}])
        print(len(report.bundles), len(report.skipped) + len(report.missing_roots))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "1"]


# --- noexec mounts --------------------------------------------------------------------------


def in_mount_namespace(mounts: str, code: str, *args: object) -> subprocess.CompletedProcess:
    """Run the shell commands ``mounts``, then the Python ``code`` (``sys.argv[1:]`` =
    ``args``), in a private mount namespace: the mounts exist only for that child.

    Skips (with the reason) where a mount namespace cannot be made: the tests
    run as root here and in CI, so there they run."""
    if os.geteuid() != 0:
        pytest.skip("mounting a noexec file system needs root (CI runs the tests as root)")
    if shutil.which("unshare") is None:
        pytest.skip("unshare(1) from util-linux is not installed")
    script = f"set -eu\n{mounts}\n" + 'exec "$0" -c "$@"'
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot make a private mount namespace: {probe.stderr.strip()}")
    unshare = ["unshare", "--mount", "--propagation", "private"]
    proc = subprocess.run(
        [*unshare, "sh", "-c", script, sys.executable, textwrap.dedent(code), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


NOEXEC_CHILD = """
import json, os, sys
import afbundle, afbundle._report
try:  # the differential oracle: Airflow's own coordinator (airflow extra)
    from airflow.sdk.coordinators.executable import coordinator as upstream
    from airflow.sdk.execution_time.schema import get_schema_version_migrator
    get_schema_version_migrator().resolve_version("2026-06-16")  # its imports, before setuid
except ImportError:
    upstream = None
roots, uid = sys.argv[1].split(os.pathsep), int(sys.argv[2])
if uid:  # as the bundles' owner, whose exec bit the walk reads from the mode
    import pwd
    os.setgroups([])
    os.setgid(pwd.getpwuid(uid).pw_gid)
    os.setuid(uid)
skips = []

class Log:
    def debug(self, event, **kw):
        if event == "Skipping path":
            skips.append([kw["path"], kw["reason"]])

    def warning(self, event, **kw):
        pass

found = afbundle.find(roots, "tutorial_dag", log=Log(), persistent_cache=False)
report = afbundle.scan(roots, persistent_cache=False)
theirs = None
if upstream is not None:
    from pathlib import Path
    theirs = str(upstream._Bundle.find([Path(r) for r in roots], "tutorial_dag").path)
print(json.dumps({
    "find": str(found.path),
    "find_skips": skips,
    "scan": str(report.winner("tutorial_dag").path),
    "scan_skips": [[str(s.path), s.reason] for s in report.skipped],
    "not_executable": report.stats.not_executable,
    "upstream": theirs,
}))
"""


@pytest.mark.parametrize("who", ["root", "owner"])
def test_a_bundle_on_a_noexec_mount_never_shadows_a_runnable_one(shared_tmp, who: str) -> None:
    """``a`` comes first but is mounted noexec (a bind mount: the same file system
    as ``b``, so only a per-mount answer is right for both): the runnable ``b`` wins,
    as with Airflow's own coordinator, and ``a`` is reported with the reason.

    Root and the file's owner are the callers whose exec permission the walk
    reads from the mode bits."""
    root = shared_tmp / "root"
    shadowing = write_bundle(root / "a" / "first")
    runnable = write_bundle(root / "b" / "second", binary=b"another build")
    uid = 0
    if who == "owner":
        uid = pwd.getpwnam("nobody").pw_uid
        for path in [root, root / "a", shadowing, root / "b", runnable]:
            os.chown(path, uid, uid)
    proc = in_mount_namespace(
        f"mount --bind {root / 'a'} {root / 'a'}\nmount -o remount,bind,noexec {root / 'a'}",
        NOEXEC_CHILD,
        root,
        uid,
    )
    result = json.loads(proc.stdout)
    reason = "not executable: on a file system mounted noexec"
    assert result == {
        "find": str(runnable),
        "find_skips": [[str(shadowing), reason]],
        "scan": str(runnable),
        "scan_skips": [[str(shadowing), reason]],
        "not_executable": 1,
        "upstream": result["upstream"] and str(runnable),
    }


def test_a_root_on_a_noexec_file_system_is_never_run(tmp_path) -> None:
    """A separate noexec file system (tmpfs), walked as a directory and named as a
    file root: neither shadows the runnable bundle in the last root."""
    nx = tmp_path / "nx"
    nx.mkdir()
    staged = write_bundle(tmp_path / "staged" / "first")
    runnable = write_bundle(tmp_path / "ok" / "second", binary=b"another build")
    proc = in_mount_namespace(
        f"mount -t tmpfs -o noexec tmpfs {nx}\ncp -p {staged} {nx / 'first'}",
        NOEXEC_CHILD,
        os.pathsep.join(map(str, [nx, nx / "first", tmp_path / "ok"])),
        0,
    )
    result = json.loads(proc.stdout)
    reason = "not executable: on a file system mounted noexec"
    assert result["find"] == result["scan"] == str(runnable)
    assert result["upstream"] in (None, str(runnable))
    assert result["scan_skips"] == [[str(nx / "first"), reason]] * 2
    assert result["not_executable"] == 2


# --- what gets rejected ----------------------------------------------------------------------

EXPECTED_REJECTION = {
    "corrupt_binary": "integrity",
    "corrupt_and_unknown_schema": "integrity",
    "bad_yaml": "manifest",
    "non_mapping_yaml": "manifest",
    "scalar_yaml": "manifest",
    "bad_utf8_metadata": "manifest",
    "empty_metadata": "manifest",
    "bad_footer_ver": "footer_version",
    "nonzero_reserved": "format",
    "regions_past_start": "format",
    "empty_binary": "format",
}
#: Readable bundles: scan applies no schema policy, that is find()'s job.
EXPECTED_BUNDLE = {
    "valid",
    "unknown_schema",
    "missing_schema",
    "empty_schema",
    "int_schema",
    "sdk_not_mapping",
    "nonstring_dag_keys",
    "dags_not_mapping",
}


def test_every_kind_of_file_lands_where_it_belongs(tmp_path) -> None:
    for kind in KINDS:
        write_kind(tmp_path / kind, kind, ["d"])
    report = afbundle.scan([tmp_path])
    assert {r.path.name: r.kind for r in report.rejected} == EXPECTED_REJECTION
    assert {p.name for p in paths(report)} == EXPECTED_BUNDLE
    assert report.skipped == ()
    for rejection in report.rejected:
        assert rejection.reason
        assert str(rejection) == f"{rejection.path}: {rejection.reason}"


def test_rejections_come_in_precedence_order(tmp_path) -> None:
    for name in ["c", "a", "b/z", "B"]:
        write_kind(tmp_path / name, "corrupt_binary")
    assert [r.path for r in afbundle.scan([tmp_path]).rejected] == [
        tmp_path / "B",
        tmp_path / "a",
        tmp_path / "b" / "z",
        tmp_path / "c",
    ]


def test_without_verification_a_corrupt_binary_is_an_unverified_bundle(tmp_path) -> None:
    path = write_kind(tmp_path / "b", "corrupt_binary")
    report = afbundle.scan([tmp_path], verify=False)
    assert paths(report) == [path]
    assert report.bundles[0].verified is False
    assert report.rejected == ()
    assert report.stats.bytes_hashed == 0


def test_with_verification_every_bundle_is_verified(tmp_path) -> None:
    for i in range(5):
        write_bundle(tmp_path / f"b{i}")
    bundles = afbundle.scan([tmp_path]).bundles
    assert [b.verified for b in bundles] == [True] * 5


def test_a_bundle_tampered_in_place_with_mtime_restored_is_rejected_by_the_next_scan(
    tmp_path,
) -> None:
    path = write_bundle(tmp_path / "b")
    assert paths(afbundle.scan([tmp_path])) == [path]
    tamper_keeping_mtime(path, offset=5)
    report = afbundle.scan([tmp_path])
    assert report.bundles == ()
    assert [(r.path, r.kind) for r in report.rejected] == [(path, "integrity")]


def test_a_bundle_rewritten_in_place_is_rejected_by_the_next_scan(tmp_path) -> None:
    path = write_bundle(tmp_path / "b")
    afbundle.scan([tmp_path])
    flip_byte_in_place(path, 0)
    assert [r.kind for r in afbundle.scan([tmp_path]).rejected] == ["integrity"]


# --- duplicates ------------------------------------------------------------------------------


def test_duplicates_list_every_path_declaring_a_dag_id_winner_first(tmp_path) -> None:
    r1, r2 = tmp_path / "r1", tmp_path / "r2"
    x = write_bundle(r1 / "x", dag_ids=["shared", "only_x"])
    a = write_bundle(r1 / "a", dag_ids=["shared"])
    y = write_bundle(r2 / "y", dag_ids=["shared", "pair"])
    z = write_bundle(r2 / "z", dag_ids=["pair"])
    write_kind(r1 / "0-corrupt", "corrupt_binary", ["shared"])
    report = afbundle.scan([r1, r2])
    assert report.duplicates == {"shared": (a, x, y), "pair": (y, z)}
    assert report.winner("shared").path == a
    assert report.winner("only_x").path == x
    assert report.winner("absent") is None


def test_no_duplicates_when_every_dag_id_is_declared_once(tmp_path) -> None:
    for i in range(4):
        write_bundle(tmp_path / f"b{i}", dag_ids=[f"dag{i}"])
    assert afbundle.scan([tmp_path]).duplicates == {}


# --- counters --------------------------------------------------------------------------------


def build_counted_tree(root: Path) -> None:
    write_bundle(root / "b1")
    write_executable(root / "plain")
    write_bundle(root / "noexec", executable=False)
    os.mkfifo(root / "fifo")
    os.chmod(root / "fifo", 0o755)
    write_bundle(root / "a" / "b2")
    (root / "a" / "b").mkdir()
    write_file(root / "a" / "README", b"hello\n", executable=False)


def test_stats_count_what_the_walk_saw(tmp_path) -> None:
    build_counted_tree(tmp_path)
    try:
        stats = afbundle.scan([tmp_path]).stats
    finally:
        unblock_fifo(tmp_path / "fifo")
    assert stats == ScanStats(
        dirs_visited=3,
        files_seen=6,
        executables=3,
        not_executable=2,
        special=1,
        bundles_read=2,
        bytes_hashed=2 * len(BINARY),
        cache_hits=0,
    )


def test_a_second_scan_is_answered_by_the_digest_cache(tmp_path) -> None:
    build_counted_tree(tmp_path)
    settle(*(p for p in tmp_path.rglob("*") if p.is_file() and not p.is_symlink()))
    try:
        afbundle.scan([tmp_path])
        stats = afbundle.scan([tmp_path]).stats
    finally:
        unblock_fifo(tmp_path / "fifo")
    assert stats.cache_hits == 2
    assert stats.bytes_hashed == 0
    assert stats.bundles_read == 2


def test_an_unverified_scan_hashes_nothing(tmp_path) -> None:
    for i in range(3):
        write_bundle(tmp_path / f"b{i}")
    stats = afbundle.scan([tmp_path], verify=False).stats
    assert stats.bytes_hashed == 0
    assert stats.bundles_read == 3


def test_bytes_hashed_is_the_sum_of_the_binary_regions(tmp_path) -> None:
    sizes = [1, 1000, 70_000]
    for size in sizes:
        write_bundle(tmp_path / f"b{size}", binary=b"\x7f" * size)
    assert afbundle.scan([tmp_path]).stats.bytes_hashed == sum(sizes)


# --- found by probing the contract's edges -------------------------------------------------


def test_precedence_sorts_whole_relative_paths_as_bytes(tmp_path) -> None:
    """Whole relative paths are compared as bytes, so "a-b" (0x2d) comes before "a/b" (0x2f)."""
    names = ["a0", "a/b", "a.b", "a-b", "a b"]
    for name in names:
        write_bundle(tmp_path / name)
    expected = sorted(names, key=lambda n: n.encode())
    assert expected == ["a b", "a-b", "a.b", "a/b", "a0"]
    assert paths(afbundle.scan([tmp_path])) == [tmp_path / n for n in expected]


def test_overlapping_roots_list_each_bundle_once_under_the_first_root(tmp_path) -> None:
    inner = write_bundle(tmp_path / "a" / "x", dag_ids=["s"])
    outer = write_bundle(tmp_path / "z", dag_ids=["s"])
    assert paths(afbundle.scan([tmp_path, tmp_path / "a"])) == [inner, outer]
    assert paths(afbundle.scan([tmp_path / "a", tmp_path])) == [inner, outer]
    assert afbundle.scan([tmp_path, tmp_path / "a"]).duplicates == {"s": (inner, outer)}


def test_hard_links_to_one_bundle_count_once_under_the_first_path(tmp_path) -> None:
    original = write_bundle(tmp_path / "m-original")
    os.link(original, tmp_path / "z-link")
    os.link(original, tmp_path / "b-link")
    report = afbundle.scan([tmp_path])
    assert paths(report) == [tmp_path / "b-link"]
    assert report.duplicates == {}


def test_a_dangling_symlink_with_a_non_utf8_name_is_skipped(tmp_path) -> None:
    name = os.fsencode(tmp_path) + b"/dangling-\xff"
    os.symlink(os.fsencode(tmp_path) + b"/gone-\xfe", name)
    report = afbundle.scan([tmp_path])
    assert [os.fsencode(s.path) for s in report.skipped] == [name]


def test_every_rejection_names_the_dag_ids_its_manifest_declares(tmp_path) -> None:
    """The core reads a manifest before it hashes: a bundle refused for its digest
    still says which dag_ids it would have served (what `check` reports as lost)."""
    write_kind(tmp_path / "a-corrupt", "corrupt_binary", ["d", "e"])
    write_kind(tmp_path / "b-bad-yaml", "bad_yaml", ["d"])
    good = write_bundle(tmp_path / "c-good", binary=b"good", dag_ids=["d"])
    late = write_bundle(tmp_path / "d-late", binary=b"late", dag_ids=["d", "z"])
    report = afbundle.scan([tmp_path], persistent_cache=False)
    by_name = {r.path.name: r for r in report.rejected}
    assert (by_name["a-corrupt"].kind, by_name["a-corrupt"].dag_ids) == ("integrity", ("d", "e"))
    assert (by_name["b-bad-yaml"].kind, by_name["b-bad-yaml"].dag_ids) == ("manifest", ())
    assert report.winner("d").path == good.resolve()
    [shadowed] = report.losers("d")
    assert (shadowed.path, shadowed.kind, shadowed.dag_ids) == (
        late.resolve(),
        "shadowed",
        ("d", "z"),
    )


def test_a_rejection_says_at_which_stage_it_failed(tmp_path) -> None:
    """The stage is typed data in the context (never inferred from an error's words)."""
    for kind in ("corrupt_binary", "bad_yaml", "nonzero_reserved", "bad_footer_ver"):
        write_kind(tmp_path / kind, kind, ["d"])
    report = afbundle.scan([tmp_path], persistent_cache=False)
    stages = {r.path.name: (r.kind, r.context["stage"]) for r in report.rejected}
    assert stages == {
        "corrupt_binary": ("integrity", "hash"),
        "bad_yaml": ("manifest", "manifest"),
        "nonzero_reserved": ("format", "trailer"),
        "bad_footer_ver": ("footer_version", "trailer"),
    }


def test_bytes_hashed_counts_bundles_that_fail_verification(tmp_path) -> None:
    write_kind(tmp_path / "corrupt", "corrupt_binary")
    first = afbundle.scan([tmp_path]).stats
    second = afbundle.scan([tmp_path]).stats
    assert first.bytes_hashed == len(BINARY)
    assert (second.bytes_hashed, second.cache_hits) in {(len(BINARY), 0), (0, 1)}


def test_decide_bundles_over_single_root_scans_matches_one_scan_of_the_roots(
    tmp_path: Path,
) -> None:
    """`afbundle check` walks each root once and decides each search path from those
    walks: the core's decide_bundles must name what one scan of the roots names."""
    from afbundle import _core

    outer, inner = tmp_path / "outer", tmp_path / "outer" / "inner"
    write_bundle(outer / "a", dag_ids=("shared", "outer_only"))
    write_bundle(inner / "b", dag_ids=("shared",))
    write_bundle(inner / "c", metadata=_manifest(("shared",), schema_version="1999-01-01"))
    os.link(inner / "b", tmp_path / "elsewhere")

    def resolve(version: str) -> str:
        if version == "1999-01-01":
            raise ValueError("too old")
        return version

    for order in ([inner, outer], [outer, inner]):
        one = afbundle.scan(order, resolve_schema_version=resolve)
        parts = [afbundle.scan([root], resolve_schema_version=resolve) for root in order]
        found = [b for part in parts for b in part.bundles]
        kept, decided = _core.decide_bundles(found, resolve=resolve)
        # The nested root's files, met again under the outer one, count once.
        bundles = [found[i] for i in kept]
        assert [b.path for b in bundles] == paths(one)
        assert [d.dag_id for d in decided] == list(one.decisions)
        for decision in decided:
            one_winner, one_resolved, one_lost = one.decisions[decision.dag_id]
            winner = decision.winner
            assert (bundles[winner].path if winner is not None else None) == (
                one_winner.path if one_winner is not None else None
            )
            assert decision.resolved_schema_version == one_resolved
            assert [(bundles[i].path, r.kind) for i, r in decision.losers] == [
                (r.path, r.kind) for r in one_lost
            ]
