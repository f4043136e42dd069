"""A pytest plugin that runs Airflow's own coordinator tests against afbundle.

``tests/test_upstream_coordinator.py`` runs upstream's test file (from the
apache-airflow-task-sdk 1.3.2 sdist, unmodified) with ``-p _upstream_shim``.
The file imports ``airflow.sdk.coordinators.executable.coordinator`` and
patches its ``log``; this module takes that module's place, so each name the
file uses is afbundle's:

* ``ExecutableCoordinator`` is afbundle's class;
* ``_Bundle.find(roots, dag_id)`` is :func:`afbundle.find` with Airflow's
  schema-version resolver, logging to this module's ``log`` as it is when
  called (what the tests' ``patch(...coordinator.log)`` replaces); the result
  has upstream's ``path`` and ``schema_version``;
* ``FOOTER_MAGIC`` and ``FOOTER_SIZE`` are the spec's, from the independent
  test writer (not from afbundle);
* ``_digest_cache.clear()`` empties afbundle's in-process digest cache.
  Upstream's private LRU class ``_BinaryDigestCache`` has no afbundle
  counterpart: its tests are deselected, and the name refuses construction.

Airflow's shared test helpers (``tests_common``) are not published; the one
constant the file reads, and the ``make_ti_context`` fixture it uses, are
provided here.
"""

from __future__ import annotations

import importlib.metadata
import sys
import types
from typing import Any

import pytest
import structlog
from _execution_api_stub import ExecutionAPIStub
from packaging.version import Version

import afbundle
from afbundle import _core

from _writer import MAGIC

#: The module upstream's tests import and patch.
UPSTREAM = "airflow.sdk.coordinators.executable.coordinator"

FOOTER_MAGIC = MAGIC
FOOTER_SIZE = 64

ExecutableCoordinator = afbundle.ExecutableCoordinator

log: Any = structlog.get_logger(logger_name=UPSTREAM)


class _Bundle:
    """A found bundle as upstream's tests read it."""

    def __init__(self, bundle: afbundle.Bundle) -> None:
        self.path = bundle.path
        self.schema_version = bundle.resolved_schema_version

    @classmethod
    def find(cls, roots: Any, dag_id: str) -> _Bundle:
        from airflow.sdk.execution_time.schema import get_schema_version_migrator

        resolve = get_schema_version_migrator().resolve_version
        return cls(afbundle.find(roots, dag_id, resolve_schema_version=resolve, log=log))


class _DigestCache:
    def clear(self) -> None:
        _core.clear_digest_cache()


_digest_cache = _DigestCache()


class _BinaryDigestCache:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("upstream's private in-process LRU has no afbundle counterpart")


def _install() -> None:
    import airflow.sdk.coordinators.executable as package

    sys.modules[UPSTREAM] = sys.modules[__name__]
    package.coordinator = sys.modules[__name__]  # type: ignore[attr-defined]
    version_compat = types.ModuleType("tests_common.test_utils.version_compat")
    airflow_version = Version(importlib.metadata.version("apache-airflow-core"))
    version_compat.AIRFLOW_V_3_3_PLUS = airflow_version >= Version("3.3.0")  # type: ignore[attr-defined]
    for name in ("tests_common", "tests_common.test_utils"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules[version_compat.__name__] = version_compat


_install()


@pytest.fixture
def make_ti_context() -> Any:
    """A factory of the run context the Execution API answers a task's start with."""
    return lambda **_: ExecutionAPIStub()._run_context()


@pytest.fixture(autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: Any) -> None:
    """afbundle's persistent digest cache goes to a fresh private directory per test."""
    home = tmp_path_factory.mktemp("xdg-cache")
    home.chmod(0o700)
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    _core.clear_digest_cache()
