"""Shared fixtures for the afbundle core tests.

Bundles are built with the independent writer in ``_writer.py`` (and, in
``test_pack.py``, with afbundle's own packer), never from checked-in blobs.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

# Property tests stay modest: the whole core suite must run in well under 90 s on 2 cores.
settings.register_profile(
    "afbundle",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "afbundle"))

PYTHON = sys.executable


@pytest.fixture(autouse=True)
def _cold_digest_cache(tmp_path_factory, monkeypatch) -> Iterator[None]:
    """Every test starts with empty digest caches, in process and on disk.

    The persistent cache defaults to ``$XDG_CACHE_HOME/afbundle``; pointing that at
    a fresh private directory keeps tests independent and out of the real home.
    """
    cache_home = tmp_path_factory.mktemp("xdg-cache")
    os.chmod(cache_home, 0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    try:
        from afbundle import _core
    except ImportError:  # the compiled core is not built: tests fail on their own import
        yield
        return
    _core.clear_digest_cache()
    yield
    _core.clear_digest_cache()


class RecordingLog:
    """A structlog-style logger that remembers every call as (level, event, kw)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def debug(self, event: str, **kw: Any) -> None:
        self.calls.append(("debug", event, kw))

    def warning(self, event: str, **kw: Any) -> None:
        self.calls.append(("warning", event, kw))

    def at(self, level: str) -> list[tuple[str, dict[str, Any]]]:
        return [(event, kw) for lvl, event, kw in self.calls if lvl == level]


@pytest.fixture
def log() -> RecordingLog:
    return RecordingLog()


def run_with_hang_guard(fn: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Run ``fn`` in a daemon thread; fail the test (instead of hanging) if it does not return."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = fn()
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        pytest.fail(f"call did not return within {timeout} s (it hung)")
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def hang_guard() -> Callable[..., Any]:
    return run_with_hang_guard


def run_python(code: str, *, timeout: float = 60.0, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter of this venv."""
    return subprocess.run(
        [PYTHON, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kwargs,
    )


@pytest.fixture
def python_child() -> Callable[..., subprocess.CompletedProcess]:
    return run_python


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory that other users (``nobody``) can traverse.

    pytest's ``tmp_path`` lives under a 0700 directory owned by the test user,
    so a process that dropped privileges could not even reach it.
    """
    path = Path(tempfile.mkdtemp(prefix="afbundle-shared-")).resolve()
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        for dirpath, dirnames, _ in os.walk(path):
            for name in dirnames:  # restore permissions so rmtree can descend
                os.chmod(os.path.join(dirpath, name), 0o755)
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def as_nobody() -> Callable[[str], subprocess.CompletedProcess]:
    """Run a Python snippet as user ``nobody`` (when root) or as the current non-root user.

    Permission tests are meaningless as root, which bypasses permission checks;
    instead of skipping them in CI (which runs as root) they drop privileges in a
    child process. The child starts as root and imports everything first, then
    calls setuid: the interpreter may live where ``nobody`` cannot read (pyenv
    under /root), so exec'ing it as ``nobody`` would fail.
    """
    # afbundle imports its report records and logging lazily: load them here too.
    prelude = (
        "import ctypes, json, os, subprocess, sys, logging\nimport afbundle, afbundle._report\n"
    )
    if os.geteuid() == 0:
        try:
            nobody = pwd.getpwnam("nobody")
        except KeyError:
            pytest.skip("running as root and there is no 'nobody' user to drop privileges to")
        prelude += (
            f"os.setgroups([])\nos.setgid({nobody.pw_gid})\nos.setuid({nobody.pw_uid})\n"
            "assert os.geteuid() != 0\n"
        )

    def run(code: str) -> subprocess.CompletedProcess:
        return run_python(prelude + textwrap.dedent(code), cwd="/")

    return run
