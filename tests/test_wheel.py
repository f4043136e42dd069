"""The built wheel works on its own: fresh venv, no source tree, no Rust toolchain.

Runs when a wheel is in ``dist/`` (``make wheel``) or ``AFBUNDLE_TEST_WHEEL=1``
is set; in the latter case, with no wheel in ``dist/``, it builds one into a
temporary directory with maturin. The newest ``dist/afbundle-*.whl`` is tested
as it is: nothing is rebuilt.

The wheel is installed with ``--no-index --no-deps`` (the core needs no
dependencies) into a venv created without pip, and exercised by an isolated
interpreter (``-I``) whose working directory and ``PATH`` contain neither this
checkout nor ``~/.cargo/bin``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
DIST = REPO / "dist"
WANTED = os.environ.get("AFBUNDLE_TEST_WHEEL") == "1"
BUILD_TIMEOUT = 1800
STEP_TIMEOUT = 300


def dist_wheels() -> list[Path]:
    return sorted(DIST.glob("afbundle-*.whl"), key=lambda p: p.stat().st_mtime)


pytestmark = pytest.mark.skipif(
    not (WANTED or dist_wheels()),
    reason="no wheel in dist/ (run `make wheel`) and AFBUNDLE_TEST_WHEEL=1 not set",
)


def run(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("timeout", STEP_TIMEOUT)
    completed = subprocess.run(args, capture_output=True, text=True, check=False, **kwargs)
    assert completed.returncode == 0, f"{args}\n{completed.stdout}\n{completed.stderr}"
    return completed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if wheels := dist_wheels():
        return wheels[-1]
    out = tmp_path_factory.mktemp("wheelhouse")
    maturin = Path(sys.executable).with_name("maturin")
    run([str(maturin), "build", "--release", "--out", str(out)], cwd=REPO, timeout=BUILD_TIMEOUT)
    [built] = out.glob("afbundle-*.whl")
    return built


@pytest.fixture(scope="module")
def clean_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An environment with no trace of the checkout, its venv or a Rust toolchain."""
    home = tmp_path_factory.mktemp("home")
    excluded = (str(REPO), str(Path.home() / ".cargo"), "/.cargo/")
    path = [
        entry
        for entry in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
        if entry and not any(marker in entry for marker in excluded)
    ]
    return {"PATH": os.pathsep.join(path), "HOME": str(home), "LC_ALL": "C.UTF-8"}


@pytest.fixture(scope="module")
def venv_python(
    wheel: Path, clean_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", "--clear", "--without-pip", str(venv)], env=clean_env)
    python = venv / "bin" / "python"
    # This checkout's pip installs into the new venv (--python); nothing is downloaded.
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    run([*pip, "install", "--no-index", "--no-deps", str(wheel)], env={**os.environ, **clean_env})
    return python


def run_in_venv(
    python: Path, code: str, clean_env: dict[str, str], cwd: Path, *args: str
) -> dict[str, Any]:
    completed = run([str(python), "-I", "-c", textwrap.dedent(code), *args], env=clean_env, cwd=cwd)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_wheel_imports_from_the_venv_and_not_from_the_checkout(
    venv_python: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    found = run_in_venv(
        venv_python,
        """
        import json, sys, sysconfig
        import afbundle
        from afbundle import _core
        print(json.dumps({
            "site": [sysconfig.get_paths()[k] for k in ("purelib", "platlib")],
            "package": afbundle.__file__,
            "core": _core.__file__,
            "version": afbundle.__version__,
            "airflow": sorted(m for m in sys.modules if m.split(".")[0] == "airflow"),
        }))
        """,
        clean_env,
        tmp_path,
    )
    package, core = Path(found["package"]), Path(found["core"])
    assert any(package.is_relative_to(site) for site in found["site"])
    assert any(core.is_relative_to(site) for site in found["site"])
    assert not package.is_relative_to(REPO)
    assert ".abi3." in core.name
    assert found["airflow"] == []


def test_find_works_on_a_generated_tree_from_the_installed_wheel(
    venv_python: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    found = run_in_venv(
        venv_python,
        """
        import json, sys
        from pathlib import Path
        import afbundle

        root = Path(sys.argv[1])
        program = root / "program"
        program.write_bytes(b"#!/bin/sh\\nexit 0\\n")
        program.chmod(0o755)
        for i in range(6):
            manifest = {
                "airflow_bundle_metadata_version": "1.0",
                "sdk": {"language": "go", "version": "0.1.0",
                        "supervisor_schema_version": "2026-06-16"},
                "source": "main.go",
                "dags": {f"dag_{i}": {"tasks": ["t"]}},
            }
            out = root / "tree" / f"team-{i % 2}" / f"bundle-{i}"
            out.parent.mkdir(parents=True, exist_ok=True)
            afbundle.pack(program, out, manifest=manifest, source=b"package main\\n")
        (root / "tree" / "README").write_text("not a bundle")
        bundle = afbundle.find([root / "missing", root / "tree"], "dag_3")
        try:
            afbundle.find(root / "tree", "no_such_dag")
        except FileNotFoundError as exc:
            not_found = str(exc)
        print(json.dumps({
            "path": str(bundle.path),
            "verified": bundle.verified,
            "schema": bundle.supervisor_schema_version,
            "source": bundle.read_source().decode(),
            "not_found": not_found,
        }))
        """,
        clean_env,
        tmp_path,
        str(tmp_path),
    )
    assert found["path"] == str((tmp_path / "tree" / "team-1" / "bundle-3").resolve())
    assert found["verified"] is True
    assert found["schema"] == "2026-06-16"
    assert found["source"] == "package main\n"
    assert found["not_found"].startswith(
        "cannot find executable bundle containing dag_id='no_such_dag'"
    )


def test_the_coordinator_needs_the_airflow_extra(
    venv_python: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    found = run_in_venv(
        venv_python,
        """
        import json
        from importlib.metadata import requires
        import afbundle
        try:
            afbundle.ExecutableCoordinator
        except ImportError as exc:
            error = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"error": error, "requires": requires("afbundle")}))
        """,
        clean_env,
        tmp_path,
    )
    assert "pip install 'afbundle[airflow]'" in found["error"]
    extra_airflow = re.compile(r"""extra\s*==\s*["']airflow["']""")
    airflow_requirements = [r for r in found["requires"] if extra_airflow.search(r)]
    assert any(r.startswith("apache-airflow-task-sdk") for r in airflow_requirements)


def test_the_command_line_runs_from_the_installed_wheel(
    venv_python: Path, clean_env: dict[str, str], tmp_path: Path
) -> None:
    script = venv_python.with_name("afbundle")
    assert script.exists(), "the wheel did not install the `afbundle` console script"
    helped = run([str(script), "--help"], env=clean_env, cwd=tmp_path)
    assert "pack" in helped.stdout and "exit status" in helped.stdout
    binary = tmp_path / "prog"
    binary.write_bytes(b"\x7fELF" + bytes(100))
    binary.chmod(0o755)
    packed = tmp_path / "bundle"
    run(
        [
            str(venv_python),
            "-I",
            "-c",
            "import sys, afbundle; afbundle.pack(sys.argv[1], sys.argv[2], manifest={"
            "'airflow_bundle_metadata_version': '1.0', 'source': 'p.c', "
            "'dags': {'d': {'tasks': []}},"
            "'sdk': {'language': 'c', 'version': '1', 'supervisor_schema_version': '2026-06-16'}})",
            str(binary),
            str(packed),
        ],
        env=clean_env,
        cwd=tmp_path,
    )
    found = run([str(script), "find", "d", str(tmp_path)], env=clean_env, cwd=tmp_path)
    assert found.stdout.strip() == str(packed.resolve())
