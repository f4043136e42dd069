"""afbundle.ExecutableCoordinator against the real Airflow Task SDK.

Ports the behaviours of Airflow's own ``ExecutableCoordinator`` tests
(upstream commit 0cb0cb98, apache/airflow#67161), written anew:
configuration, lookup success and failure, schema-version resolution, and the
file-tree cases. Then checks the coordinator is built by Airflow's own
``CoordinatorManager`` from ``[sdk]`` configuration, and compares every lookup
with Airflow's built-in coordinator on the same files (differential tests).

Bundles are written with the independent test writer in ``_writer.py``.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.airflow
pytest.importorskip(
    "airflow.sdk",
    reason="the coordinator tests need apache-airflow-task-sdk: pip install 'afbundle[airflow]'",
)

import structlog  # noqa: E402
from airflow.sdk.coordinators._subprocess import SubprocessCoordinator  # noqa: E402
from airflow.sdk.coordinators.executable import coordinator as upstream  # noqa: E402
from airflow.sdk.execution_time.coordinator import (  # noqa: E402
    BaseCoordinator,
    CoordinatorManager,
    InvalidCoordinatorError,
    get_coordinator_manager,
    reset_coordinator_manager,
)
from airflow.sdk.execution_time.schema import get_schema_version_migrator  # noqa: E402

import afbundle  # noqa: E402
import afbundle.coordinator  # noqa: E402
from afbundle.coordinator import ExecutableCoordinator  # noqa: E402

from _airflow import make_ti  # noqa: E402
from _writer import bundle_bytes, manifest, settle, write_bundle, write_executable  # noqa: E402

KNOWN_VERSION = "2026-06-16"
UNKNOWN_VERSION = "1999-01-01"
NOT_FOUND = "cannot find executable bundle containing dag_id="
REJECTED = "matching bundles were rejected"
DOCS = Path(__file__).resolve().parents[1] / "README.md"
DOCS_SECTION = "## Use it in Airflow"
#: The example root in the docs, replaced by a temporary directory when a snippet is run.
DOC_ROOT = "/opt/airflow/executable-bundles"


def command_for(roots: Any, dag_id: str = "tutorial_dag", **kwargs: Any) -> tuple[list[str], Any]:
    coordinator = ExecutableCoordinator(executables_root=roots, **kwargs)
    return coordinator._build_execute_task_command(what=make_ti(dag_id))


def expected(path: Path, version: str = KNOWN_VERSION) -> tuple[list[str], str]:
    return [str(path.resolve())], version


def documented(language: str) -> str:
    """The fenced ``language`` blocks of the README's Airflow section, joined (tested so the
    docs stay true)."""
    text = DOCS.read_text()
    section = text[text.index(DOCS_SECTION) :]
    end = section.find("\n## ", len(DOCS_SECTION))
    if end != -1:
        section = section[:end]
    blocks = re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, f"no ```{language} block in {DOCS}"
    return "\n".join(blocks)


@pytest.fixture
def debug_events(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """Every event the coordinator logs, debug included.

    Importing Airflow configures structlog to drop debug events below
    ``[logging] logging_level`` (INFO); the coordinator's logger is swapped for
    one with no level filter, then events are captured the structlog way.
    """
    unfiltered = structlog.wrap_logger(
        None,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        logger_name="afbundle.coordinator",
    )
    monkeypatch.setattr(afbundle.coordinator, "log", unfiltered)
    with structlog.testing.capture_logs() as events:
        yield events


# --- Configuration ------------------------------------------------------------------------------


class TestConfiguration:
    def test_a_single_string_root_becomes_a_one_element_list(self, tmp_path: Path) -> None:
        coordinator = ExecutableCoordinator(executables_root=str(tmp_path))
        assert coordinator.executables_root == [tmp_path]

    def test_a_single_path_root_becomes_a_one_element_list(self, tmp_path: Path) -> None:
        assert ExecutableCoordinator(executables_root=tmp_path).executables_root == [tmp_path]

    def test_a_list_of_strings_and_paths_keeps_its_order(self, tmp_path: Path) -> None:
        other = tmp_path / "other"
        coordinator = ExecutableCoordinator(executables_root=[other, str(tmp_path)])
        assert coordinator.executables_root == [other, tmp_path]

    def test_a_tuple_of_roots_is_accepted(self, tmp_path: Path) -> None:
        coordinator = ExecutableCoordinator(executables_root=(str(tmp_path),))
        assert coordinator.executables_root == [tmp_path]

    def test_a_leading_tilde_is_expanded(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("HOME", str(tmp_path))
        coordinator = ExecutableCoordinator(executables_root=["~/bundles", "~"])
        assert coordinator.executables_root == [tmp_path / "bundles", tmp_path]

    def test_a_missing_executables_root_is_a_type_error(self) -> None:
        with pytest.raises(TypeError, match="executables_root"):
            ExecutableCoordinator()  # type: ignore[call-arg]

    def test_a_none_executables_root_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="executables_root"):
            ExecutableCoordinator(executables_root=None)  # type: ignore[arg-type]

    def test_an_empty_list_of_roots_is_a_value_error(self) -> None:
        with pytest.raises(ValueError, match="executables_root"):
            ExecutableCoordinator(executables_root=[])

    @pytest.mark.parametrize("root", ["", "   ", ["/opt/bundles", ""]])
    def test_an_empty_string_root_is_a_value_error_not_the_current_directory(
        self, root: Any
    ) -> None:
        # Deliberately stricter than upstream, where Path("") silently means the cwd.
        with pytest.raises(ValueError, match="executables_root"):
            ExecutableCoordinator(executables_root=root)

    def test_optional_settings_default_to_automatic_threads_and_the_cache_on(
        self, tmp_path: Path
    ) -> None:
        coordinator = ExecutableCoordinator(executables_root=tmp_path)
        assert coordinator.threads is None
        assert coordinator.digest_cache is True
        assert coordinator.task_startup_timeout == 10.0

    def test_optional_settings_are_stored(self, tmp_path: Path) -> None:
        coordinator = ExecutableCoordinator(
            executables_root=tmp_path, threads=16, digest_cache=False, task_startup_timeout=2.5
        )
        assert (coordinator.threads, coordinator.digest_cache) == (16, False)
        assert coordinator.task_startup_timeout == 2.5

    @pytest.mark.parametrize("threads", [0, -1])
    def test_a_non_positive_thread_count_is_a_value_error(
        self, tmp_path: Path, threads: int
    ) -> None:
        with pytest.raises(ValueError, match="threads"):
            ExecutableCoordinator(executables_root=tmp_path, threads=threads)

    @pytest.mark.parametrize("threads", ["8", 2.0, True])
    def test_a_non_integer_thread_count_is_a_type_error(self, tmp_path: Path, threads: Any) -> None:
        with pytest.raises(TypeError, match="threads"):
            ExecutableCoordinator(executables_root=tmp_path, threads=threads)

    @pytest.mark.parametrize("digest_cache", ["false", 0, None])
    def test_digest_cache_must_be_a_boolean(self, tmp_path: Path, digest_cache: Any) -> None:
        # A JSON string "false" must not silently mean True.
        with pytest.raises(TypeError, match="digest_cache"):
            ExecutableCoordinator(executables_root=tmp_path, digest_cache=digest_cache)

    def test_persistent_cache_is_the_kwarg_and_digest_cache_its_old_name(
        self, tmp_path: Path
    ) -> None:
        new = ExecutableCoordinator(executables_root=tmp_path, persistent_cache=False)
        old = ExecutableCoordinator(executables_root=tmp_path, digest_cache=False)
        both = ExecutableCoordinator(
            executables_root=tmp_path, persistent_cache=False, digest_cache=False
        )
        for coordinator in (new, old, both):
            assert (coordinator.persistent_cache, coordinator.digest_cache) == (False, False)
        assert ExecutableCoordinator(executables_root=tmp_path).persistent_cache is True
        with pytest.raises(ValueError, match=r"digest_cache.*persistent_cache"):
            ExecutableCoordinator(
                executables_root=tmp_path, persistent_cache=True, digest_cache=False
            )
        with pytest.raises(TypeError, match="persistent_cache"):
            ExecutableCoordinator(executables_root=tmp_path, persistent_cache="false")

    def test_each_own_field_is_built_from_its_kwarg_rule(self) -> None:
        """One definition: the fields are the rules ``afbundle check`` judges kwargs by."""
        import attrs

        from afbundle._coordinator_kwargs import KWARGS

        own = {f.alias: f for f in attrs.fields(ExecutableCoordinator) if f.init}
        inherited = {f.alias for f in attrs.fields(SubprocessCoordinator) if f.init}
        assert set(own) - inherited == set(KWARGS)
        for name, kwarg in KWARGS.items():
            assert own[name].converter == kwarg.field_converter, name

    def test_a_copy_with_another_cache_setting_is_not_a_conflict(self, tmp_path: Path) -> None:
        import attrs

        for given in ({}, {"digest_cache": True}, {"persistent_cache": True}):
            coordinator = ExecutableCoordinator(executables_root=tmp_path, **given)
            copy = attrs.evolve(coordinator, persistent_cache=False)
            assert (copy.persistent_cache, copy.digest_cache) == (False, False)
            again = attrs.evolve(pickle.loads(pickle.dumps(coordinator)), threads=2)
            assert (again.persistent_cache, again.threads) == (True, 2)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"cache_dir": ""}, ValueError),
            ({"trusted_signers": "  "}, ValueError),
            ({"cache_dir": 3}, TypeError),
            ({"executables_root": [b"/opt/bundles", 3]}, TypeError),
        ],
    )
    def test_an_unusable_path_kwarg_is_refused_at_construction_not_at_the_first_task(
        self, tmp_path: Path, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error, match=next(iter(kwargs))):
            ExecutableCoordinator(**{"executables_root": tmp_path, **kwargs})

    def test_keyword_arguments_only(self, tmp_path: Path) -> None:
        with pytest.raises(TypeError):
            ExecutableCoordinator(tmp_path)  # type: ignore[call-arg, arg-type]

    def test_it_is_an_airflow_subprocess_coordinator(self) -> None:
        assert issubclass(ExecutableCoordinator, SubprocessCoordinator)
        assert issubclass(ExecutableCoordinator, BaseCoordinator)

    def test_afbundle_exposes_it_lazily(self) -> None:
        assert afbundle.ExecutableCoordinator is ExecutableCoordinator

    def test_importing_afbundle_imports_no_airflow(self) -> None:
        code = textwrap.dedent(
            """
            import sys
            import afbundle
            loaded = sorted(m for m in sys.modules if m.split(".")[0] == "airflow")
            assert not loaded, loaded
            afbundle.ExecutableCoordinator
            assert "airflow.sdk.coordinators._subprocess" in sys.modules
            """
        )
        completed = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert completed.returncode == 0, completed.stderr


# --- Finding the bundle -------------------------------------------------------------------------


class TestBuildExecuteTaskCommand:
    def test_the_command_is_the_resolved_bundle_path_and_its_schema_version(
        self, tmp_path: Path
    ) -> None:
        bundle = write_bundle(tmp_path / "my_bundle", dag_ids=["tutorial_dag", "other_dag"])
        assert command_for(tmp_path) == expected(bundle)

    def test_the_command_carries_no_comm_or_logs_arguments(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "my_bundle")
        command, _ = command_for(tmp_path)
        assert len(command) == 1

    def test_the_matching_bundle_is_picked_among_many(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "alpha", dag_ids=["alpha_dag"])
        beta = write_bundle(tmp_path / "beta", dag_ids=["beta_dag"])
        write_bundle(tmp_path / "gamma", dag_ids=["gamma_dag"])
        assert command_for(tmp_path, "beta_dag") == expected(beta)

    def test_nested_directories_are_searched(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "team-a" / "release-2026.05" / "pipeline")
        assert command_for(tmp_path) == expected(target)

    def test_every_root_is_searched(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "a" / "alpha", dag_ids=["alpha_dag"])
        beta = write_bundle(tmp_path / "b" / "beta", dag_ids=["beta_dag"])
        assert command_for([tmp_path / "a", tmp_path / "b"], "beta_dag") == expected(beta)

    def test_a_missing_root_does_not_hide_the_others(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "present" / "pipeline")
        roots = [tmp_path / "absent", tmp_path / "present"]
        assert command_for(roots) == expected(target)

    def test_a_root_may_name_a_bundle_file(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "pipeline")
        assert command_for(target) == expected(target)

    def test_an_unknown_dag_id_raises_file_not_found(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "my_bundle", dag_ids=["other_dag"])
        with pytest.raises(FileNotFoundError, match=f"{NOT_FOUND}'tutorial_dag'") as raised:
            command_for(tmp_path)
        assert isinstance(raised.value, afbundle.BundleNotFoundError)
        assert str(tmp_path.resolve()) in str(raised.value)

    def test_an_empty_root_raises_file_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path)

    def test_a_missing_root_raises_file_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path / "does_not_exist")

    def test_the_not_found_error_names_every_root_searched(self, tmp_path: Path) -> None:
        roots = [tmp_path / "one", tmp_path / "two"]
        with pytest.raises(FileNotFoundError) as raised:
            command_for(roots)
        assert os.pathsep.join(str(r.resolve()) for r in roots) in str(raised.value)

    def test_the_threads_setting_does_not_change_the_answer(self, tmp_path: Path) -> None:
        for i in range(20):
            write_bundle(tmp_path / f"d{i % 4}" / f"b{i}", dag_ids=[f"dag_{i}"])
        answers = {tuple(command_for(tmp_path, "dag_13", threads=n)[0]) for n in (1, 2, 8)}
        assert answers == {(str((tmp_path / "d1" / "b13").resolve()),)}


class TestSchemaVersion:
    def test_a_known_schema_version_resolves_through_airflows_migrator(
        self, tmp_path: Path
    ) -> None:
        write_bundle(tmp_path / "with_schema")
        _, version = command_for(tmp_path)
        assert version == get_schema_version_migrator().resolve_version(KNOWN_VERSION)

    def test_an_unknown_schema_version_rejects_the_bundle(self, tmp_path: Path) -> None:
        bundle = write_bundle(
            tmp_path / "bogus_schema", metadata=manifest(schema_version=UNKNOWN_VERSION)
        )
        with pytest.raises(FileNotFoundError, match=REJECTED) as raised:
            command_for(tmp_path)
        message = str(raised.value)
        assert str(bundle.resolve()) in message
        assert UNKNOWN_VERSION in message
        assert "with usable supervisor_schema_version for dag_id='tutorial_dag'" in message

    def test_a_missing_schema_version_rejects_the_bundle(self, tmp_path: Path) -> None:
        metadata = manifest()
        del metadata["sdk"]["supervisor_schema_version"]
        bundle = write_bundle(tmp_path / "no_schema", metadata=metadata)
        with pytest.raises(FileNotFoundError, match=REJECTED) as raised:
            command_for(tmp_path)
        assert str(bundle.resolve()) in str(raised.value)

    @pytest.mark.parametrize("version", [20260616, "", None, ["2026-06-16"]])
    def test_a_schema_version_that_is_not_a_non_empty_string_rejects_the_bundle(
        self, tmp_path: Path, version: Any
    ) -> None:
        write_bundle(tmp_path / "odd_schema", metadata=manifest(schema_version=version))
        with pytest.raises(FileNotFoundError, match=REJECTED):
            command_for(tmp_path)

    def test_a_rejected_bundle_is_logged_with_its_path(
        self, tmp_path: Path, debug_events: list[MutableMapping[str, Any]]
    ) -> None:
        bundle = write_bundle(tmp_path / "bogus", metadata=manifest(schema_version=UNKNOWN_VERSION))
        with pytest.raises(FileNotFoundError):
            command_for(tmp_path)
        rejected = [e for e in debug_events if e["event"] == "Bundle metadata rejected; skipping"]
        assert [e["path"] for e in rejected] == [str(bundle.resolve())]
        assert UNKNOWN_VERSION in rejected[0]["error"]

    def test_the_chosen_bundle_is_logged_at_debug(
        self, tmp_path: Path, debug_events: list[MutableMapping[str, Any]]
    ) -> None:
        bundle = write_bundle(tmp_path / "pipeline")
        command_for(tmp_path)
        [found] = [e for e in debug_events if e["event"] == "Executable bundle found"]
        assert found["path"] == str(bundle.resolve())
        assert found["schema_version"] == KNOWN_VERSION
        assert found["dag_id"] == "tutorial_dag"

    def test_a_usable_bundle_is_found_past_a_rejected_one(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "a_bogus", metadata=manifest(schema_version=UNKNOWN_VERSION))
        good = write_bundle(tmp_path / "b_good")
        assert command_for(tmp_path) == expected(good)


class TestFileTree:
    def test_non_bundle_files_and_plain_executables_are_ignored(self, tmp_path: Path) -> None:
        (tmp_path / "README.md").write_text("not a bundle")
        write_executable(tmp_path / "stray_executable")
        bundle = write_bundle(tmp_path / "real_bundle")
        assert command_for(tmp_path) == expected(bundle)

    def test_a_bundle_without_the_executable_bit_is_skipped(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "non_exec", executable=False)
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path)

    def test_a_symlink_to_a_bundle_resolves_to_the_target(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "store" / "pipeline-1.2.3")
        (tmp_path / "root").mkdir()
        (tmp_path / "root" / "pipeline").symlink_to(target)
        assert command_for(tmp_path / "root") == expected(target)

    def test_a_symlinked_directory_is_searched(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "elsewhere" / "pipeline")
        (tmp_path / "root").mkdir()
        (tmp_path / "root" / "linked").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
        assert command_for(tmp_path / "root") == expected(target)

    def test_a_symlink_cycle_does_not_recurse_forever(self, tmp_path: Path) -> None:
        target = write_bundle(tmp_path / "inner" / "pipeline", dag_ids=["loop_dag"])
        (tmp_path / "inner" / "loop").symlink_to(tmp_path, target_is_directory=True)
        assert command_for(tmp_path, "loop_dag") == expected(target)

    def test_a_dangling_symlink_is_ignored(self, tmp_path: Path) -> None:
        (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
        bundle = write_bundle(tmp_path / "pipeline")
        assert command_for(tmp_path) == expected(bundle)

    def test_a_fifo_is_skipped_without_blocking(self, tmp_path: Path) -> None:
        os.mkfifo(tmp_path / "a_fifo")
        os.chmod(tmp_path / "a_fifo", 0o777)
        bundle = write_bundle(tmp_path / "pipeline")
        assert command_for(tmp_path) == expected(bundle)

    def test_hidden_files_and_directories_are_searched(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / ".hidden" / ".pipeline")
        (tmp_path / ".gitignore").write_text("*\n")
        assert command_for(tmp_path) == expected(bundle)

    def test_a_bundle_with_a_corrupted_binary_region_is_skipped(self, tmp_path: Path) -> None:
        path = write_bundle(tmp_path / "tampered")
        data = bytearray(path.read_bytes())
        data[0] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(FileNotFoundError, match=NOT_FOUND) as raised:
            command_for(tmp_path)
        # Unlike upstream, the message says which bundle declared the dag_id and why it failed.
        assert str(path.resolve()) in str(raised.value)

    def test_a_corrupted_bundle_does_not_hide_a_good_one(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "a_tampered", digest=bytes(32))
        good = write_bundle(tmp_path / "b_good")
        assert command_for(tmp_path) == expected(good)

    def test_malformed_yaml_metadata_is_skipped(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "bad_yaml", metadata=b"key: : not: valid: yaml: [")
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path)

    @pytest.mark.parametrize("metadata", [b"just-a-scalar\n", b"- a\n- list\n", b"", b"null\n"])
    def test_metadata_that_is_not_a_mapping_is_skipped(
        self, tmp_path: Path, metadata: bytes
    ) -> None:
        write_bundle(tmp_path / "scalar_meta", metadata=metadata)
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path)

    def test_an_unsupported_footer_version_is_skipped(self, tmp_path: Path) -> None:
        write_bundle(tmp_path / "future", footer_ver=2)
        with pytest.raises(FileNotFoundError, match=NOT_FOUND):
            command_for(tmp_path)


class TestPrecedence:
    """Where afbundle deliberately defines what upstream leaves to the directory listing."""

    def test_the_first_root_wins(self, tmp_path: Path) -> None:
        second = write_bundle(tmp_path / "second" / "pipeline")
        first = write_bundle(tmp_path / "first" / "pipeline")
        roots = [tmp_path / "first", tmp_path / "second"]
        assert command_for(roots) == expected(first)
        assert command_for(list(reversed(roots))) == expected(second)

    def test_within_a_root_the_bytewise_smallest_path_wins(self, tmp_path: Path) -> None:
        for name in ("b", "a", "B", "c"):
            write_bundle(tmp_path / name)
        assert command_for(tmp_path) == expected(tmp_path / "B")

    def test_nested_paths_are_ordered_as_whole_relative_paths(self, tmp_path: Path) -> None:
        # "a-b" < "a/p" < "z" byte-wise ('-' is 0x2d, '/' is 0x2f), whatever the depth.
        for name in ("z", "a/p", "a-b"):
            write_bundle(tmp_path / name)
        assert command_for(tmp_path) == expected(tmp_path / "a-b")

    def test_a_duplicate_dag_id_is_logged_as_a_warning_naming_the_shadowed_bundles(
        self, tmp_path: Path, debug_events: list[MutableMapping[str, Any]]
    ) -> None:
        winner = write_bundle(tmp_path / "a")
        shadowed = write_bundle(tmp_path / "b")
        command_for(tmp_path)
        [warning] = [e for e in debug_events if e["log_level"] == "warning"]
        assert warning["dag_id"] == "tutorial_dag"
        assert warning["path"] == str(winner.resolve())
        assert warning["shadowed"] == [str(shadowed.resolve())]

    def test_the_answer_does_not_depend_on_creation_order(self, tmp_path: Path) -> None:
        names = ["m", "z", "a", "k"]
        for order, root in ((names, tmp_path / "one"), (sorted(names), tmp_path / "two")):
            for name in order:
                write_bundle(root / name)
        assert command_for(tmp_path / "one") == expected(tmp_path / "one" / "a")
        assert command_for(tmp_path / "two") == expected(tmp_path / "two" / "a")


# --- Built by Airflow from [sdk] configuration -------------------------------------------------


@pytest.fixture
def configure_airflow(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., CoordinatorManager]]:
    """Set ``[sdk] coordinators`` / ``queue_to_coordinator`` through the environment.

    Airflow reads ``AIRFLOW__SDK__*`` afresh on every ``conf`` lookup; the only
    cache is the process-wide ``CoordinatorManager``, reset around each use.
    """

    def configure(coordinators: Any, queues: Any) -> CoordinatorManager:
        monkeypatch.setenv("AIRFLOW__SDK__COORDINATORS", json.dumps(coordinators))
        monkeypatch.setenv("AIRFLOW__SDK__QUEUE_TO_COORDINATOR", json.dumps(queues))
        reset_coordinator_manager()
        return get_coordinator_manager()

    yield configure
    reset_coordinator_manager()


def native_entry(**kwargs: Any) -> dict[str, Any]:
    return {"classpath": "afbundle.ExecutableCoordinator", "kwargs": kwargs}


class TestAirflowConfiguration:
    def test_airflow_builds_the_coordinator_for_the_routed_queue(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        bundle = write_bundle(tmp_path / "pipeline")
        manager = configure_airflow(
            {"native": native_entry(executables_root=[str(tmp_path)])}, {"native-queue": "native"}
        )

        coordinator = manager.for_queue("native-queue")

        assert isinstance(coordinator, ExecutableCoordinator)
        assert coordinator.executables_root == [tmp_path]
        assert coordinator._build_execute_task_command(what=make_ti()) == expected(bundle)
        assert manager.for_queue("native-queue") is coordinator

    def test_every_kwarg_is_passed_through(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        entry = native_entry(
            executables_root="~/bundles", threads=4, digest_cache=False, task_startup_timeout=3
        )
        coordinator = configure_airflow({"native": entry}, {"native": "native"}).for_queue("native")
        assert isinstance(coordinator, ExecutableCoordinator)
        assert coordinator.executables_root == [Path("~/bundles").expanduser()]
        assert (coordinator.threads, coordinator.digest_cache) == (4, False)
        assert coordinator.task_startup_timeout == 3

    def test_the_full_module_path_works_as_classpath_too(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        entry = native_entry(executables_root=str(tmp_path))
        entry["classpath"] = "afbundle.coordinator.ExecutableCoordinator"
        manager = configure_airflow({"native": entry}, {"native": "native"})
        assert isinstance(manager.for_queue("native"), ExecutableCoordinator)

    def test_queues_not_routed_keep_running_python_tasks(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        manager = configure_airflow(
            {"native": native_entry(executables_root=str(tmp_path))}, {"native": "native"}
        )
        assert not isinstance(manager.for_queue("default"), ExecutableCoordinator)

    @pytest.mark.parametrize(
        "classpath", ["afbundle.NoSuchCoordinator", "afbundle_nonexistent.ExecutableCoordinator"]
    )
    def test_a_bad_classpath_is_an_invalid_coordinator_error(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager], classpath: str
    ) -> None:
        entry = {"classpath": classpath, "kwargs": {"executables_root": str(tmp_path)}}
        manager = configure_airflow({"native": entry}, {"native": "native"})
        with pytest.raises(InvalidCoordinatorError, match="Cannot import coordinator 'native'"):
            manager.for_queue("native")

    @pytest.mark.parametrize(
        "kwargs",
        [{}, {"executables_roots": ["/opt/bundles"]}, {"executables_root": "/b", "jars_root": []}],
        ids=["missing-root", "misspelt-root", "unknown-kwarg"],
    )
    def test_bad_kwargs_are_an_invalid_coordinator_error(
        self,
        configure_airflow: Callable[..., CoordinatorManager],
        kwargs: dict[str, Any],
    ) -> None:
        entry = {"classpath": "afbundle.ExecutableCoordinator", "kwargs": kwargs}
        manager = configure_airflow({"native": entry}, {"native": "native"})
        with pytest.raises(
            InvalidCoordinatorError, match="Cannot instantiate coordinator 'native'"
        ) as raised:
            manager.for_queue("native")
        assert isinstance(raised.value.__context__, TypeError)

    @pytest.mark.parametrize("root", [[], None, ""])
    def test_an_empty_root_escapes_airflow_as_a_plain_value_error(
        self, configure_airflow: Callable[..., CoordinatorManager], root: Any
    ) -> None:
        # Airflow wraps only ImportError and TypeError in InvalidCoordinatorError; the
        # ValueError of a failed validator reaches the worker as it is (same as upstream's).
        entry = native_entry(executables_root=root)
        manager = configure_airflow({"native": entry}, {"native": "native"})
        with pytest.raises(ValueError, match="executables_root") as raised:
            manager.for_queue("native")
        assert not isinstance(raised.value, InvalidCoordinatorError)

    def test_a_queue_routed_to_an_unknown_entry_fails_when_the_config_loads(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        with pytest.raises(ValueError, match="references invalid coordinator key: 'natvie'"):
            configure_airflow(
                {"native": native_entry(executables_root=str(tmp_path))}, {"native": "natvie"}
            )

    def test_the_documented_environment_variables_configure_the_coordinator(
        self, tmp_path: Path, configure_airflow: Callable[..., CoordinatorManager]
    ) -> None:
        bundle = write_bundle(tmp_path / "pipeline")
        exports = dict(re.findall(r"export (AIRFLOW__SDK__\w+)='(.+)'", documented("bash")))
        assert sorted(exports) == [
            "AIRFLOW__SDK__COORDINATORS",
            "AIRFLOW__SDK__QUEUE_TO_COORDINATOR",
        ]
        coordinators = json.loads(
            exports["AIRFLOW__SDK__COORDINATORS"].replace(DOC_ROOT, str(tmp_path))
        )

        manager = configure_airflow(
            coordinators, json.loads(exports["AIRFLOW__SDK__QUEUE_TO_COORDINATOR"])
        )

        coordinator = manager.for_queue("native")
        assert isinstance(coordinator, ExecutableCoordinator)
        assert coordinator._build_execute_task_command(what=make_ti()) == expected(bundle)

    def test_the_documented_airflow_cfg_configures_the_coordinator(self, tmp_path: Path) -> None:
        # The docs' [sdk] section, verbatim but for the root, read from airflow.cfg by a
        # fresh interpreter (Airflow reads AIRFLOW_CONFIG once, when conf is created).
        bundle = write_bundle(tmp_path / "bundles" / "pipeline")
        cfg = documented("ini").replace(DOC_ROOT, str(tmp_path / "bundles"))
        (tmp_path / "airflow.cfg").write_text(cfg)
        code = textwrap.dedent(
            """
            import json, uuid
            from airflow.sdk.api.datamodels._generated import TaskInstance
            from airflow.sdk.execution_time.coordinator import get_coordinator_manager
            coordinator = get_coordinator_manager().for_queue("native")
            ti = TaskInstance(id=uuid.uuid4(), task_id="t", dag_id="tutorial_dag", run_id="r",
                              try_number=1, dag_version_id=uuid.uuid4(), queue="native")
            command, version = coordinator._build_execute_task_command(what=ti)
            print(json.dumps([type(coordinator).__module__, command, version]))
            """
        )
        env = {
            key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW__SDK__")
        }
        env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW_CONFIG=str(tmp_path / "airflow.cfg"))
        completed = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        module, command, version = json.loads(completed.stdout.strip().splitlines()[-1])
        assert module == "afbundle.coordinator"
        assert (command, version) == expected(bundle)


# --- Differential: the same files through upstream's coordinator ------------------------------


Scenario = Callable[[Path], tuple[list[Path], str]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(fn: Scenario) -> Scenario:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def single_bundle(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", dag_ids=["d", "e"])
    return [root], "d"


@scenario
def one_of_many(root: Path) -> tuple[list[Path], str]:
    for i in range(12):
        write_bundle(root / f"team-{i % 3}" / f"b{i}", dag_ids=[f"dag_{i}"])
    return [root], "dag_7"


@scenario
def dag_in_the_second_root(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "a" / "x", dag_ids=["other"])
    write_bundle(root / "b" / "y", dag_ids=["d"])
    return [root / "a", root / "b"], "d"


@scenario
def same_dag_in_two_roots(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "a" / "x")
    write_bundle(root / "b" / "y")
    return [root / "b", root / "a"], "tutorial_dag"


@scenario
def unknown_dag(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline")
    return [root], "unknown"


@scenario
def missing_roots(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "present" / "pipeline")
    return [root / "absent", root / "present", root / "gone"], "tutorial_dag"


@scenario
def root_is_a_bundle_file(root: Path) -> tuple[list[Path], str]:
    return [write_bundle(root / "pipeline")], "tutorial_dag"


@scenario
def not_executable(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", executable=False)
    return [root], "tutorial_dag"


@scenario
def among_strays(root: Path) -> tuple[list[Path], str]:
    (root / "README").write_text("hello")
    write_executable(root / "tool")
    write_executable(root / "empty", b"")
    write_executable(root / "tiny", b"AFBNDL01")
    write_bundle(root / "zz")
    return [root], "tutorial_dag"


@scenario
def hidden_and_gitignored(root: Path) -> tuple[list[Path], str]:
    (root / ".gitignore").write_text("*\n")
    (root / ".ignore").write_text("*\n")
    write_bundle(root / ".cache" / ".pipeline")
    return [root], "tutorial_dag"


@scenario
def file_symlink(root: Path) -> tuple[list[Path], str]:
    target = write_bundle(root / "store" / "pipeline-1")
    (root / "r").mkdir()
    (root / "r" / "pipeline").symlink_to(target)
    return [root / "r"], "tutorial_dag"


@scenario
def symlinked_root(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "real" / "pipeline")
    (root / "link").symlink_to(root / "real", target_is_directory=True)
    return [root / "link"], "tutorial_dag"


@scenario
def nested_roots(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "inner" / "pipeline")
    return [root, root / "inner", root / "inner" / ".." / "inner"], "tutorial_dag"


@scenario
def undecodable_and_newline_file_names(root: Path) -> tuple[list[Path], str]:
    write_bundle(Path(os.fsdecode(os.fsencode(root) + b"/bundle-\xff\xfe")), dag_ids=["d"])
    write_bundle(root / "line\nbreak", dag_ids=["e"])
    return [root], "d"


@scenario
def directory_symlink(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "store" / "pipeline")
    (root / "r").mkdir()
    (root / "r" / "current").symlink_to(root / "store", target_is_directory=True)
    return [root / "r"], "tutorial_dag"


@scenario
def symlink_cycle(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "inner" / "pipeline")
    (root / "inner" / "loop").symlink_to(root, target_is_directory=True)
    (root / "self").symlink_to(root / "self")
    return [root], "tutorial_dag"


@scenario
def dangling_symlink(root: Path) -> tuple[list[Path], str]:
    (root / "dangling").symlink_to(root / "nowhere")
    return [root], "tutorial_dag"


@scenario
def fifo(root: Path) -> tuple[list[Path], str]:
    os.mkfifo(root / "pipe")
    os.chmod(root / "pipe", 0o777)
    write_bundle(root / "pipeline")
    return [root], "tutorial_dag"


@scenario
def corrupted_binary(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", digest=bytes(32))
    return [root], "tutorial_dag"


@scenario
def corrupted_and_good(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "a", digest=bytes(32))
    write_bundle(root / "b")
    return [root], "tutorial_dag"


@scenario
def truncated_at_the_front(root: Path) -> tuple[list[Path], str]:
    path = write_bundle(root / "pipeline")
    path.write_bytes(path.read_bytes()[10:])
    return [root], "tutorial_dag"


@scenario
def large_binary(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", binary=bytes(range(256)) * 12_000)
    return [root], "tutorial_dag"


@scenario
def empty_source(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", source=b"")
    return [root], "tutorial_dag"


@scenario
def footer_version_2(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", footer_ver=2)
    return [root], "tutorial_dag"


@scenario
def nonzero_reserved(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", reserved=b"\x01" + bytes(11))
    return [root], "tutorial_dag"


@scenario
def regions_past_start_of_file(root: Path) -> tuple[list[Path], str]:
    data = bundle_bytes(binary=b"\x7fELF")
    (root / "pipeline").write_bytes(data[4:])
    os.chmod(root / "pipeline", 0o755)
    return [root], "tutorial_dag"


@scenario
def empty_binary_region(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", binary=b"")
    return [root], "tutorial_dag"


@scenario
def unknown_schema_version(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=manifest(schema_version=UNKNOWN_VERSION))
    return [root], "tutorial_dag"


@scenario
def missing_schema_version(root: Path) -> tuple[list[Path], str]:
    metadata = manifest()
    del metadata["sdk"]["supervisor_schema_version"]
    write_bundle(root / "pipeline", metadata=metadata)
    return [root], "tutorial_dag"


@scenario
def integer_schema_version(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=manifest(schema_version=20260616))
    return [root], "tutorial_dag"


@scenario
def empty_schema_version(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=manifest(schema_version=""))
    return [root], "tutorial_dag"


@scenario
def padded_schema_version(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=manifest(schema_version=" 2026-06-16"))
    return [root], "tutorial_dag"


@scenario
def sdk_not_a_mapping(root: Path) -> tuple[list[Path], str]:
    metadata = manifest()
    metadata["sdk"] = "go"
    write_bundle(root / "pipeline", metadata=metadata)
    return [root], "tutorial_dag"


@scenario
def dags_is_a_list(root: Path) -> tuple[list[Path], str]:
    metadata = manifest()
    metadata["dags"] = ["tutorial_dag"]
    write_bundle(root / "pipeline", metadata=metadata)
    return [root], "tutorial_dag"


@scenario
def dag_entry_is_null(root: Path) -> tuple[list[Path], str]:
    metadata = manifest()
    metadata["dags"] = {"tutorial_dag": None}
    write_bundle(root / "pipeline", metadata=metadata)
    return [root], "tutorial_dag"


@scenario
def integer_dag_key(root: Path) -> tuple[list[Path], str]:
    write_bundle(
        root / "pipeline",
        metadata=b"sdk: {supervisor_schema_version: '2026-06-16'}\ndags: {123: {tasks: [t]}}\n",
    )
    return [root], "123"


@scenario
def unicode_dag_id(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", dag_ids=["données_δ_日本"])
    return [root], "données_δ_日本"


@scenario
def extra_keys_are_ignored(root: Path) -> tuple[list[Path], str]:
    metadata = manifest()
    metadata["future_field"] = {"x": [1, 2]}
    metadata["sdk"]["extra"] = True
    metadata["dags"]["tutorial_dag"]["schedule"] = "@daily"
    write_bundle(root / "pipeline", metadata=metadata)
    return [root], "tutorial_dag"


@scenario
def yaml_anchors(root: Path) -> tuple[list[Path], str]:
    write_bundle(
        root / "pipeline",
        metadata=b"sdk: &s {supervisor_schema_version: '2026-06-16'}\n"
        b"dags: {tutorial_dag: &t {tasks: [a]}, other: *t}\n"
        b"copy: *s\n",
    )
    return [root], "other"


@scenario
def flow_style_and_comments(root: Path) -> tuple[list[Path], str]:
    write_bundle(
        root / "pipeline",
        metadata=b'# built by hand\n{sdk: {supervisor_schema_version: "2026-06-16"},'
        b" dags: {tutorial_dag: {tasks: []}}}  # trailing\n",
    )
    return [root], "tutorial_dag"


@scenario
def malformed_yaml(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=b"key: : not: valid: yaml: [")
    return [root], "tutorial_dag"


@scenario
def scalar_metadata(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=b"just-a-scalar\n")
    return [root], "tutorial_dag"


@scenario
def list_metadata(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=b"- dags\n- tutorial_dag\n")
    return [root], "tutorial_dag"


@scenario
def empty_metadata(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=b"")
    return [root], "tutorial_dag"


@scenario
def non_utf8_metadata(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "pipeline", metadata=b"dags: {tutorial_dag: {tasks: [\xff\xfe]}}\n")
    return [root], "tutorial_dag"


@scenario
def two_yaml_documents(root: Path) -> tuple[list[Path], str]:
    document = "sdk: {supervisor_schema_version: '2026-06-16'}\ndags: {tutorial_dag: {}}\n"
    write_bundle(root / "pipeline", metadata=f"{document}---\n{document}".encode())
    return [root], "tutorial_dag"


@scenario
def bad_schema_then_good_elsewhere(root: Path) -> tuple[list[Path], str]:
    write_bundle(root / "a" / "bad", metadata=manifest(schema_version=UNKNOWN_VERSION))
    write_bundle(root / "b" / "good")
    return [root / "a", root / "b"], "tutorial_dag"


def upstream_command(roots: list[Any], dag_id: str) -> tuple[list[str], Any]:
    """Airflow's built-in coordinator on the same files, its digest cache cleared first."""
    upstream._digest_cache.clear()
    coordinator = upstream.ExecutableCoordinator(executables_root=roots)
    return coordinator._build_execute_task_command(what=make_ti(dag_id))


def outcome(build: Callable[[], tuple[list[str], Any]]) -> tuple[str, Any]:
    try:
        return "found", build()
    except FileNotFoundError as exc:
        form = "rejected" if REJECTED in str(exc) else "not-found"
        return form, None


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_the_same_files_give_the_same_answer_as_airflows_coordinator(
    tmp_path: Path, name: str
) -> None:
    roots, dag_id = SCENARIOS[name](tmp_path)

    theirs = outcome(lambda: upstream_command(roots, dag_id))
    ours = outcome(lambda: command_for(roots, dag_id))

    assert ours == theirs


def test_an_unquoted_date_schema_version_is_a_date_to_both(tmp_path: Path) -> None:
    # YAML 1.1 (Airflow's reader) reads `2026-06-16` as a datetime.date: no usable
    # schema version, so neither coordinator runs the bundle.
    metadata = b"sdk: {supervisor_schema_version: 2026-06-16}\ndags: {tutorial_dag: {tasks: []}}\n"
    write_bundle(tmp_path / "pipeline", metadata=metadata)

    assert outcome(lambda: command_for(tmp_path)) == outcome(
        lambda: upstream_command([tmp_path], "tutorial_dag")
    )
    with pytest.raises(FileNotFoundError, match=REJECTED):
        command_for(tmp_path)


def test_a_permission_bit_change_is_seen_by_both(tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / "pipeline")
    assert outcome(lambda: command_for(tmp_path)) == outcome(
        lambda: upstream_command([tmp_path], "tutorial_dag")
    )
    bundle.chmod(bundle.stat().st_mode & ~(stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))
    assert outcome(lambda: command_for(tmp_path)) == outcome(
        lambda: upstream_command([tmp_path], "tutorial_dag")
    )


class TestPersistentDigestCache:
    """The coordinator's ``digest_cache`` / ``cache_dir`` kwargs drive afbundle's disk cache."""

    def test_a_found_bundle_is_recorded_in_the_configured_cache(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / "root" / "my_bundle", dag_ids=["tutorial_dag"])
        settle(bundle)
        cache = tmp_path / "cache"
        assert command_for(tmp_path / "root", cache_dir=str(cache)) == expected(bundle)
        assert any(p.is_file() for p in cache.rglob("*"))

    def test_a_fresh_worker_process_reuses_the_recorded_digest(self, tmp_path: Path) -> None:
        settle(write_bundle(tmp_path / "root" / "my_bundle", dag_ids=["tutorial_dag"]))
        cache = tmp_path / "cache"
        command_for(tmp_path / "root", cache_dir=str(cache))
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, afbundle\n"
                "r = afbundle.scan([sys.argv[1]], cache_dir=sys.argv[2])\n"
                "print(r.stats.cache_hits, r.stats.bytes_hashed)\n",
                str(tmp_path / "root"),
                str(cache),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        assert child.stdout.split() == ["1", "0"]

    def test_digest_cache_false_writes_nothing(self, tmp_path: Path) -> None:
        bundle = write_bundle(tmp_path / "root" / "my_bundle", dag_ids=["tutorial_dag"])
        cache = tmp_path / "cache"
        found = command_for(tmp_path / "root", cache_dir=str(cache), digest_cache=False)
        assert found == expected(bundle)
        assert not cache.exists()

    def test_cache_dir_expands_the_home_directory(self, tmp_path: Path) -> None:
        coordinator = ExecutableCoordinator(executables_root=tmp_path, cache_dir="~/afb-cache")
        assert coordinator.cache_dir == Path.home() / "afb-cache"
