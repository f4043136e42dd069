"""find(): the verified bundle declaring a dag_id, found lazily, with upstream's error wording."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from _signing import allowed, keygen, line, make_bundle, needs_ssh_keygen, ssh_sign

import afbundle
from afbundle import _core

from _writer import (
    bundle_bytes,
    manifest,
    raw_yaml_manifest,
    settle,
    tamper_keeping_mtime,
    write_bundle,
    write_executable,
    write_file,
    write_kind,
)

MISSING = "missing or invalid sdk.supervisor_schema_version"


def only(version: str):
    """A schema resolver that knows one version and canonicalises it to upper case."""

    def resolve(value: str) -> str:
        if value != version:
            raise ValueError(f"Version {value!r} not found in supervisor schema bundle")
        return value.upper() if value.isalpha() else value

    return resolve


# --- finding ---------------------------------------------------------------------------------


def test_find_returns_the_verified_bundle_declaring_the_dag_id(tmp_path) -> None:
    write_bundle(tmp_path / "alpha", dag_ids=["alpha_dag"])
    beta = write_bundle(tmp_path / "beta", dag_ids=["beta_dag", "other"])
    write_bundle(tmp_path / "gamma", dag_ids=["gamma_dag"])
    bundle = afbundle.find([tmp_path], "beta_dag")
    assert isinstance(bundle, afbundle.Bundle)
    assert bundle.path == beta.resolve()
    assert bundle.verified is True
    assert bundle.supervisor_schema_version == "2026-06-16"


def test_find_searches_nested_directories_and_several_roots(tmp_path) -> None:
    write_bundle(tmp_path / "a" / "alpha", dag_ids=["alpha_dag"])
    target = write_bundle(tmp_path / "b" / "team" / "2026.05" / "beta", dag_ids=["beta_dag"])
    assert afbundle.find([tmp_path / "a", tmp_path / "b"], "beta_dag").path == target


def test_find_accepts_a_single_root(tmp_path) -> None:
    target = write_bundle(tmp_path / "b")
    assert afbundle.find(tmp_path, "tutorial_dag").path == target
    assert afbundle.find(str(tmp_path), "tutorial_dag").path == target


def test_find_expands_a_tilde_in_roots(tmp_path, monkeypatch) -> None:
    target = write_bundle(tmp_path / "bundles" / "b")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert afbundle.find("~/bundles", "tutorial_dag").path == target


def test_the_first_root_wins(tmp_path) -> None:
    first = write_bundle(tmp_path / "r1" / "zzz")
    write_bundle(tmp_path / "r2" / "aaa")
    assert afbundle.find([tmp_path / "r1", tmp_path / "r2"], "tutorial_dag").path == first


def test_within_a_root_the_byte_wise_first_path_wins(tmp_path) -> None:
    names = ["m", "b/z", "ba", "c", "bz"]
    for name in names:
        write_bundle(tmp_path / name)
    expected = min(names, key=lambda n: n.encode())
    for threads in (1, 2, 8):
        found = afbundle.find([tmp_path], "tutorial_dag", threads=threads)
        assert found.path == tmp_path / expected


def test_a_symlinked_bundle_is_returned_by_its_resolved_path(tmp_path) -> None:
    target = write_bundle(tmp_path / "store" / "real")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(target)
    assert afbundle.find([root], "tutorial_dag").path == target.resolve()


def test_find_with_a_relative_root_returns_an_absolute_path(tmp_path, monkeypatch) -> None:
    target = write_bundle(tmp_path / "bundles" / "b")
    monkeypatch.chdir(tmp_path)
    assert afbundle.find(["bundles"], "tutorial_dag").path == target.resolve()


def test_non_string_dag_keys_match_nothing(tmp_path) -> None:
    dags = "  1:\n    tasks: [t]\n  true:\n    tasks: [t]\n  false:\n    tasks: [t]\n"
    dags += "  null:\n    tasks: [t]\n  1.5:\n    tasks: [t]\n"
    write_file(tmp_path / "b", bundle_bytes(metadata=raw_yaml_manifest(dags)))
    for dag_id in ["1", "true", "True", "false", "null", "None", "1.5"]:
        with pytest.raises(afbundle.BundleNotFoundError):
            afbundle.find([tmp_path], dag_id)


def test_a_quoted_numeric_dag_key_matches_its_string(tmp_path) -> None:
    dags = '  "1":\n    tasks: [t]\n'
    target = write_file(tmp_path / "b", bundle_bytes(metadata=raw_yaml_manifest(dags)))
    assert afbundle.find([tmp_path], "1").path == target


def test_dags_that_are_not_a_mapping_match_nothing(tmp_path) -> None:
    write_kind(tmp_path / "b", "dags_not_mapping", ["tutorial_dag"])
    with pytest.raises(afbundle.BundleNotFoundError):
        afbundle.find([tmp_path], "tutorial_dag")


def test_find_ignores_broken_neighbours(tmp_path) -> None:
    for kind in ["bad_yaml", "non_mapping_yaml", "bad_footer_ver", "nonzero_reserved"]:
        write_kind(tmp_path / f"0-{kind}", kind, ["other"])
    write_executable(tmp_path / "0-script")
    (tmp_path / "0-dangling").symlink_to(tmp_path / "gone")
    target = write_bundle(tmp_path / "z-good")
    assert afbundle.find([tmp_path], "tutorial_dag").path == target


def test_a_missing_root_beside_a_good_one_is_harmless(tmp_path) -> None:
    target = write_bundle(tmp_path / "good" / "b")
    assert afbundle.find([tmp_path / "absent", tmp_path / "good"], "tutorial_dag").path == target


def test_a_bundle_without_an_exec_bit_is_not_found(tmp_path) -> None:
    write_bundle(tmp_path / "b", executable=False)
    with pytest.raises(afbundle.BundleNotFoundError):
        afbundle.find([tmp_path], "tutorial_dag")


# --- laziness --------------------------------------------------------------------------------


def lazy_tree(root: Path) -> Path:
    """Many bundles that do not declare "wanted", a corrupt one, and the one that does."""
    for i in range(30):
        write_bundle(root / f"g{i % 3}" / f"bundle{i:02}", dag_ids=[f"dag{i}"])
    write_kind(root / "0-corrupt", "corrupt_binary", ["not_wanted"])
    return write_bundle(root / "m-target", dag_ids=["wanted"])


def test_find_works_around_a_corrupt_bundle_that_does_not_declare_the_dag(tmp_path) -> None:
    target = lazy_tree(tmp_path)
    assert afbundle.find([tmp_path], "wanted").path == target


def test_find_hashes_only_the_winner(tmp_path) -> None:
    target = lazy_tree(tmp_path)
    write_bundle(tmp_path / "z-shadowed", dag_ids=["wanted"])
    settle(target)
    _core.clear_digest_cache()
    assert afbundle.find([tmp_path], "wanted").path == target
    assert _core.digest_cache_len() == 1
    # The winner's digest is the one cached: reading it again hashes nothing new.
    afbundle.read_bundle(target)
    assert _core.digest_cache_len() == 1


def test_find_hashes_nothing_when_no_bundle_declares_the_dag(tmp_path) -> None:
    lazy_tree(tmp_path)
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "absent")
    assert info.value.stats.bytes_hashed == 0
    assert _core.digest_cache_len() == 0


def test_find_does_not_hash_a_candidate_whose_schema_version_is_rejected(tmp_path) -> None:
    write_bundle(
        tmp_path / "a-old",
        metadata=manifest(["wanted"], schema_version="1999-01-01"),
    )
    target = write_bundle(tmp_path / "b-new", dag_ids=["wanted"])
    settle(target)
    found = afbundle.find([tmp_path], "wanted", resolve_schema_version=only("2026-06-16"))
    assert found.path == target
    assert _core.digest_cache_len() == 1


def test_a_corrupt_candidate_earlier_in_precedence_is_skipped(tmp_path) -> None:
    write_kind(tmp_path / "a-corrupt", "corrupt_binary", ["wanted"])
    target = write_bundle(tmp_path / "b-good", dag_ids=["wanted"])
    assert afbundle.find([tmp_path], "wanted").path == target


def test_a_corrupt_candidate_in_an_earlier_root_is_skipped(tmp_path) -> None:
    write_kind(tmp_path / "r1" / "b", "corrupt_binary", ["wanted"])
    target = write_bundle(tmp_path / "r2" / "b", dag_ids=["wanted"])
    assert afbundle.find([tmp_path / "r1", tmp_path / "r2"], "wanted").path == target


def test_a_candidate_tampered_in_place_with_mtime_restored_is_skipped(tmp_path) -> None:
    first = write_bundle(tmp_path / "a", dag_ids=["wanted"])
    second = write_bundle(tmp_path / "b", dag_ids=["wanted"])
    assert afbundle.find([tmp_path], "wanted").path == first
    tamper_keeping_mtime(first, offset=1)
    assert afbundle.find([tmp_path], "wanted").path == second


# --- schema versions -------------------------------------------------------------------------


def test_without_a_resolver_the_declared_version_is_used(tmp_path) -> None:
    write_bundle(tmp_path / "b")
    bundle = afbundle.find([tmp_path], "tutorial_dag")
    assert bundle.resolved_schema_version == "2026-06-16"


def test_the_resolvers_answer_becomes_the_resolved_schema_version(tmp_path) -> None:
    write_bundle(tmp_path / "b", metadata=manifest(["d"], schema_version="head"))
    bundle = afbundle.find([tmp_path], "d", resolve_schema_version=only("head"))
    assert bundle.supervisor_schema_version == "head"
    assert bundle.resolved_schema_version == "HEAD"


@pytest.mark.parametrize("error", [ValueError, TypeError])
def test_a_resolver_error_rejects_that_bundle_and_the_next_one_wins(tmp_path, error) -> None:
    write_bundle(tmp_path / "a", metadata=manifest(["d"], schema_version="bad"))
    target = write_bundle(tmp_path / "b", metadata=manifest(["d"], schema_version="good"))

    def resolve(value: str) -> str:
        if value == "bad":
            raise error("nope")
        return value

    assert afbundle.find([tmp_path], "d", resolve_schema_version=resolve).path == target


def test_the_resolver_is_only_asked_about_bundles_declaring_the_dag(tmp_path) -> None:
    write_bundle(tmp_path / "a", metadata=manifest(["other"], schema_version="v-other"))
    write_bundle(tmp_path / "b", metadata=manifest(["d"], schema_version="v-d"))
    asked: list[str] = []

    def resolve(value: str) -> str:
        asked.append(value)
        return value

    afbundle.find([tmp_path], "d", resolve_schema_version=resolve)
    assert asked == ["v-d"]


@pytest.mark.parametrize(
    "kind", ["missing_schema", "empty_schema", "int_schema", "sdk_not_mapping"]
)
def test_a_missing_or_invalid_schema_version_rejects_the_bundle(tmp_path, kind: str) -> None:
    path = write_kind(tmp_path / "b", kind, ["d"])
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "d")
    assert [(r.path, r.kind, r.reason) for r in info.value.rejected] == [(path, "schema", MISSING)]
    assert "matching bundles were rejected" in str(info.value)


# --- the not-found error ---------------------------------------------------------------------


def test_not_found_is_a_file_not_found_error_and_a_bundle_error(tmp_path) -> None:
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "nothing")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, afbundle.BundleError)
    assert isinstance(info.value, ValueError)


def test_not_found_uses_upstreams_message_with_resolved_roots(tmp_path, monkeypatch) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find(["a", "./b/../b", "missing"], "x")
    roots = os.pathsep.join(str(tmp_path / n) for n in ["a", "b", "missing"])
    message = str(info.value)
    assert message.startswith(f"cannot find executable bundle containing dag_id='x' in {roots}")
    assert "matching bundles were rejected" not in message


def test_not_found_ends_with_what_was_searched(tmp_path) -> None:
    write_bundle(tmp_path / "sub" / "b", dag_ids=["other"])
    write_executable(tmp_path / "script")
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "x")
    message = str(info.value)
    assert "[searched 2 files in 2 directories" in message
    assert message.endswith("]")


def test_not_found_carries_dag_id_roots_rejected_and_stats(tmp_path) -> None:
    write_bundle(tmp_path / "b", dag_ids=["other"])
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path, tmp_path / "absent"], "x")
    exc = info.value
    assert exc.dag_id == "x"
    assert tuple(exc.roots) == (tmp_path, tmp_path / "absent")
    assert exc.rejected == ()
    assert isinstance(exc.stats, afbundle.ScanStats)
    assert exc.stats.files_seen == 1
    assert exc.stats.bundles_read == 1


def test_a_schema_rejection_uses_upstreams_second_message_form(tmp_path) -> None:
    path = write_bundle(tmp_path / "b", metadata=manifest(["d"], schema_version="1999-01-01"))
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "d", resolve_schema_version=only("2026-06-16"))
    message = str(info.value)
    assert message.startswith(
        "cannot find executable bundle with usable supervisor_schema_version "
        f"for dag_id='d' in {tmp_path}: matching bundles were rejected ("
        f"{path}: Version '1999-01-01' not found in supervisor schema bundle"
    )
    [rejection] = info.value.rejected
    assert isinstance(rejection, afbundle.Rejection)
    assert (rejection.path, rejection.kind) == (path, "schema")
    assert "1999-01-01" in rejection.reason


def test_every_rejected_match_is_listed_in_precedence_order(tmp_path) -> None:
    a = write_bundle(tmp_path / "a", metadata=manifest(["d"], schema_version="1999-01-01"))
    b = write_kind(tmp_path / "b", "missing_schema", ["d"])
    c = write_kind(tmp_path / "c", "corrupt_binary", ["d"])
    write_bundle(tmp_path / "e", dag_ids=["other"])
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "d", resolve_schema_version=only("2026-06-16"))
    exc = info.value
    assert [(r.path, r.kind) for r in exc.rejected] == [
        (a, "schema"),
        (b, "schema"),
        (c, "integrity"),
    ]
    message = str(exc)
    assert "matching bundles were rejected" in message
    for rejection in exc.rejected:
        assert f"{rejection.path}: {rejection.reason}" in message


def test_an_integrity_rejected_match_is_listed_in_the_first_message_form(tmp_path) -> None:
    path = write_kind(tmp_path / "b", "corrupt_binary", ["d"])
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "d")
    message = str(info.value)
    assert message.startswith(f"cannot find executable bundle containing dag_id='d' in {tmp_path}")
    assert "matching bundles were rejected" not in message
    assert str(path) in message
    assert [(r.path, r.kind) for r in info.value.rejected] == [(path, "integrity")]


def test_bundles_that_do_not_declare_the_dag_are_not_listed_as_rejected(tmp_path) -> None:
    write_kind(tmp_path / "a", "corrupt_binary", ["other"])
    write_kind(tmp_path / "b", "unknown_schema", ["other"])
    write_kind(tmp_path / "c", "bad_yaml", ["d"])
    with pytest.raises(afbundle.BundleNotFoundError) as info:
        afbundle.find([tmp_path], "d", resolve_schema_version=only("2026-06-16"))
    assert info.value.rejected == ()
    assert str(tmp_path / "a") not in str(info.value).split("[searched")[0]


# --- logging ---------------------------------------------------------------------------------


def test_a_shadowed_duplicate_is_reported_as_a_warning(tmp_path, log) -> None:
    winner = write_bundle(tmp_path / "a", dag_ids=["d"])
    shadowed = write_bundle(tmp_path / "b", dag_ids=["d", "e"])
    write_bundle(tmp_path / "c", dag_ids=["e"])
    assert afbundle.find([tmp_path], "d", log=log).path == winner
    [(_event, kw)] = log.at("warning")
    assert kw["dag_id"] == "d"
    assert kw["path"] == str(winner)
    assert str(shadowed) in repr(kw)
    assert str(tmp_path / "c") not in repr(kw)


def test_a_unique_dag_id_logs_no_warning(tmp_path, log) -> None:
    write_bundle(tmp_path / "a", dag_ids=["d"])
    write_bundle(tmp_path / "b", dag_ids=["e"])
    afbundle.find([tmp_path], "d", log=log)
    assert log.at("warning") == []


def test_rejected_candidates_are_logged_at_debug(tmp_path, log) -> None:
    path = write_kind(tmp_path / "a", "unknown_schema", ["d"])
    target = write_bundle(tmp_path / "b", dag_ids=["d"])
    found = afbundle.find([tmp_path], "d", resolve_schema_version=only("2026-06-16"), log=log)
    assert found.path == target
    assert any(str(path) in repr(kw) for _, kw in log.at("debug"))


def test_find_uses_the_stdlib_logger_by_default(tmp_path, caplog) -> None:
    write_bundle(tmp_path / "a", dag_ids=["d"])
    write_bundle(tmp_path / "b", dag_ids=["d"])
    with caplog.at_level("WARNING", logger="afbundle"):
        afbundle.find([tmp_path], "d")
    warnings = [r for r in caplog.records if r.name == "afbundle" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert str(tmp_path / "b") in warnings[0].getMessage()


def test_find_never_verifies_a_bundle_changed_after_the_walk(tmp_path) -> None:
    """Between the walk and the hash, the winner loses its exec bit: it must not be returned.

    The resolver runs after the walk read the candidate and before it is
    hashed, so it is the hook that lands the change exactly in that gap."""
    path = write_bundle(tmp_path / "b", dag_ids=["d"])

    def chmod_then_resolve(version: str) -> str:
        path.chmod(0o644)
        return version

    with pytest.raises(afbundle.BundleNotFoundError) as caught:
        afbundle.find(
            [tmp_path], "d", persistent_cache=False, resolve_schema_version=chmod_then_resolve
        )
    assert [r.kind for r in caught.value.rejected] == ["integrity"]
    assert "changed while it was being read" in caught.value.rejected[0].reason


def test_a_symlink_loop_root_is_not_found_not_a_traceback(tmp_path) -> None:
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(afbundle.BundleNotFoundError, match="cannot find executable bundle"):
        afbundle.find([loop], "d")


def test_scan_winner_skips_a_bundle_without_a_schema_version_as_find_does(tmp_path) -> None:
    no_schema = manifest(["d"])
    del no_schema["sdk"]["supervisor_schema_version"]
    write_bundle(tmp_path / "a", metadata=no_schema)
    good = write_bundle(tmp_path / "b", dag_ids=["d"])
    report = afbundle.scan([tmp_path])
    assert report.winner("d").path == good.resolve()
    assert afbundle.find([tmp_path], "d").path == good.resolve()


def test_rejections_are_logged_with_upstreams_events(tmp_path, log) -> None:
    """Operators grep for upstream's coordinator events, and upstream's own tests assert
    the exact call: the same condition logs the same event with exactly its keywords."""
    tampered = write_bundle(tmp_path / "a-tampered", binary=b"original", dag_ids=["d"])
    data = bytearray(tampered.read_bytes())
    data[0] ^= 0xFF
    tampered.write_bytes(bytes(data))
    write_bundle(tmp_path / "b-not-yaml", metadata=b"dags: [unclosed\n")
    write_bundle(tmp_path / "c-list", metadata=b"- a\n- b\n")
    no_schema = manifest(["d"])
    del no_schema["sdk"]["supervisor_schema_version"]
    write_bundle(tmp_path / "d-no-schema", metadata=no_schema)
    with pytest.raises(afbundle.BundleNotFoundError):
        afbundle.find([tmp_path], "d", log=log, persistent_cache=False)

    def named(event: str) -> list[dict[str, object]]:
        return [kw for e, kw in log.at("debug") if e == event]

    [mismatch] = named("Bundle binary_sha256 mismatch; skipping")
    assert set(mismatch) == {"path", "expected", "actual"}
    assert mismatch["path"] == str(tampered.resolve())
    assert mismatch["expected"] != mismatch["actual"]
    assert len(str(mismatch["actual"])) == 64
    [decode] = named("Cannot decode bundle metadata; skipping")
    assert set(decode) == {"path", "error"}
    assert str(decode["path"]).endswith("b-not-yaml")
    [not_mapping] = named("Bundle metadata is not a mapping; skipping")
    assert not_mapping == {"path": str((tmp_path / "c-list").resolve()), "type": "list"}
    [schema] = named("Bundle metadata rejected; skipping")
    assert schema == {
        "path": str((tmp_path / "d-no-schema").resolve()),
        "error": "missing or invalid sdk.supervisor_schema_version",
    }


@needs_ssh_keygen
def test_a_rejection_upstream_has_no_event_for_is_logged_with_its_kind(tmp_path, log) -> None:
    """A signature is afbundle's own condition: afbundle's own event, which names the kind."""
    from _signing import allowed, keygen, line, make_bundle

    tmp_path.chmod(0o700)  # a signer file is refused under a directory others can write
    bundle = make_bundle(tmp_path / "bundles" / "unsigned")
    signers = allowed(tmp_path, line("release@example.com", keygen(tmp_path, "release")))
    with pytest.raises(afbundle.BundleNotFoundError):
        afbundle.find(
            [tmp_path / "bundles"], "etl", log=log, trusted_signers=signers, persistent_cache=False
        )
    [(event, kw)] = [(e, kw) for e, kw in log.at("debug") if kw["path"] == str(bundle.resolve())]
    assert event == "Bundle rejected; skipping"
    assert set(kw) == {"path", "kind", "error"} and kw["kind"] == "signature"
    assert "not signed" in kw["error"]


def test_integrity_errors_carry_expected_and_actual(tmp_path) -> None:
    path = write_bundle(tmp_path / "b", binary=b"original")
    data = bytearray(path.read_bytes())
    data[0] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(afbundle.BundleIntegrityError) as caught:
        afbundle.read_bundle(path)
    assert caught.value.expected is not None and caught.value.actual is not None
    assert caught.value.expected != caught.value.actual
    assert caught.value.actual in str(caught.value)


# --- resource limits -------------------------------------------------------------------------


def limited_duplicates(root: Path, count: int = 80) -> Path:
    """A tree whose precedence winner is met last by a breadth-first walk.

    ``a/first`` comes first byte-wise but sits one level down; ``count``
    duplicates of the dag_id sit directly in the root, where the walk reads
    them (and a find used to keep each one's descriptor) before it lists ``a``.
    """
    first = write_bundle(root / "a" / "first")
    for i in range(count):
        write_bundle(root / f"b{i:03d}", binary=f"duplicate {i}".encode())
    return first


def test_the_open_file_limit_does_not_change_the_winner(tmp_path, python_child) -> None:
    """More duplicates than RLIMIT_NOFILE: find names scan's winner, and nothing is skipped."""
    first = limited_duplicates(tmp_path)
    proc = python_child(
        f"""
        import json, resource, afbundle, afbundle._report
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        skips = []

        class Log:
            def debug(self, event, **kw):
                if event == "Skipping path":
                    skips.append(kw)

            def warning(self, event, **kw):
                pass

        found = afbundle.find({str(tmp_path)!r}, "tutorial_dag", log=Log())
        report = afbundle.scan({str(tmp_path)!r})
        print(json.dumps({{
            "find": str(found.path),
            "scan": str(report.winner("tutorial_dag").path),
            "skips": skips + [str(s.path) for s in report.skipped],
            "bundles": len(report.bundles),
        }}))
        """
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result == {"find": str(first), "scan": str(first), "skips": [], "bundles": 81}


def test_running_out_of_descriptors_is_an_error_never_another_winner(
    tmp_path, python_child
) -> None:
    """With 0, 1, 2, ... descriptors left, find either returns the precedence winner
    or raises OSError(EMFILE) naming a path: a file it could not open never loses
    quietly to a later one."""
    first = limited_duplicates(tmp_path, count=20)
    proc = python_child(
        f"""
        import errno, json, os, resource, afbundle, afbundle._report
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        root = {str(tmp_path)!r}
        afbundle.find(root, "tutorial_dag", persistent_cache=False)  # imports settled
        outcomes = []
        for free in range(24):
            held = []
            try:
                while True:
                    held.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            for fd in held[:free]:
                os.close(fd)
            try:
                found = afbundle.find(root, "tutorial_dag", persistent_cache=False)
                outcome = ["found", str(found.path)]
            except OSError as exc:
                outcome = [type(exc).__name__, exc.errno, exc.filename, str(exc)]
            for fd in held[free:]:
                os.close(fd)
            outcomes.append(outcome)
        print(json.dumps(outcomes))
        """
    )
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(proc.stdout)
    for outcome in outcomes:
        if outcome[0] == "found":
            assert outcome[1] == str(first)
        else:
            kind, code, filename, message = outcome
            assert (kind, code) == ("OSError", errno.EMFILE), outcome
            assert filename and filename.startswith(str(tmp_path)), outcome
            assert "Too many open files" in message
    assert outcomes[0][0] == "OSError"  # not even the root could be listed
    assert outcomes[-1] == ["found", str(first)]


@needs_ssh_keygen
def test_running_out_of_descriptors_at_a_signature_is_an_error_not_a_rejection(
    tmp_path, python_child
) -> None:
    """With trusted signers, a scan opens each bundle and then its ``.sig``: when the
    second open finds no descriptor left, that is not an unsigned bundle."""
    key = keygen(tmp_path, "release")
    signers = allowed(tmp_path, line("release", key))
    root = tmp_path / "root"
    first = make_bundle(root / "a")
    ssh_sign(first, key)
    for name in ("b", "c"):
        ssh_sign(make_bundle(root / name, payload=name.encode()), key)
    proc = python_child(
        f"""
        import json, os, resource, afbundle, afbundle._report
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        signers = afbundle.TrustedSigners({str(signers)!r})
        def scan():
            report = afbundle.scan(
                {str(root)!r}, trusted_signers=signers, threads=1, persistent_cache=False
            )
            return ["report", str(report.winner("etl").path), [r.kind for r in report.rejected]]
        scan()  # imports settled
        outcomes = []
        for free in range(8):
            held = []
            try:
                while True:
                    held.append(os.open("/dev/null", os.O_RDONLY))
            except OSError:
                pass
            for fd in held[:free]:
                os.close(fd)
            try:
                outcome = scan()
            except OSError as exc:
                outcome = [type(exc).__name__, exc.errno, exc.filename, exc.strerror]
            for fd in held[free:]:
                os.close(fd)
            outcomes.append(outcome)
        print(json.dumps(outcomes))
        """
    )
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(proc.stdout)
    for outcome in outcomes:
        assert outcome[0] == "report" or outcome[:2] == ["OSError", errno.EMFILE], outcome
        assert outcome in (["report", str(first), []], ["OSError", errno.EMFILE, *outcome[2:]])
    # One descriptor short of the .sig (one thread: the directory, the bundle, its .sig).
    assert [str(first), "cannot open signature file: Too many open files"] in [
        o[2:] for o in outcomes
    ], outcomes
    assert outcomes[-1] == ["report", str(first), []]
