"""`import afbundle` is cheap: no Airflow, no heavy dependencies, well under 50 ms."""

from __future__ import annotations

import json

import afbundle

#: The one timing assertion in the suite. The target is < 50 ms; the bound is generous
#: so a loaded CI machine does not flake. The measured number is printed (pytest -s / -rP).
IMPORT_BUDGET_SECONDS = 0.200


def test_import_afbundle_imports_no_airflow(python_child) -> None:
    proc = python_child(
        """
        import json, sys
        import afbundle
        loaded = sorted(m for m in sys.modules if m == "airflow" or m.startswith("airflow."))
        print(json.dumps(loaded))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_the_public_api_is_usable_without_touching_the_coordinator(python_child) -> None:
    proc = python_child(
        """
        import sys
        import afbundle
        for name in afbundle.__all__:
            if name != "ExecutableCoordinator":
                getattr(afbundle, name)
        print("afbundle.coordinator" in sys.modules)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


def test_import_afbundle_takes_well_under_50_ms(python_child) -> None:
    proc = python_child(
        """
        import json, subprocess, sys
        code = (
            "import time; t = time.perf_counter(); import afbundle; "
            "print(time.perf_counter() - t)"
        )
        runs = [
            float(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                 text=True, check=True).stdout)
            for _ in range(5)
        ]
        print(json.dumps(runs))
        """
    )
    assert proc.returncode == 0, proc.stderr
    runs = json.loads(proc.stdout)
    best = min(runs)
    print(f"import afbundle: best {best * 1000:.1f} ms, runs {[round(r * 1000, 1) for r in runs]}")
    assert best < IMPORT_BUDGET_SECONDS


def test_the_import_time_profile_names_no_airflow_module(python_child) -> None:
    proc = python_child(
        """
        import subprocess, sys
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import afbundle"],
                             capture_output=True, text=True, check=True).stderr
        print(out)
        """
    )
    assert proc.returncode == 0, proc.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in proc.stdout.splitlines() if "|" in line]
    assert "afbundle" in imported
    assert not [m for m in imported if m.split(".")[0] == "airflow"]


def test_public_names_are_exported() -> None:
    expected = {
        "FOOTER_VERSION",
        "MAGIC",
        "TRAILER_SIZE",
        "Bundle",
        "BundleError",
        "BundleFormatError",
        "BundleIntegrityError",
        "BundleNotFoundError",
        "ManifestError",
        "NotABundleError",
        "UnsupportedFooterVersionError",
        "dump_manifest",
        "find",
        "pack",
        "read_bundle",
        "scan",
        "ScanReport",
        "ScanStats",
        "Rejection",
        "Skip",
    }
    assert expected <= set(afbundle.__all__)


def test_the_error_hierarchy_is_rooted_at_bundle_error() -> None:
    assert issubclass(afbundle.BundleError, ValueError)
    for cls in [
        afbundle.NotABundleError,
        afbundle.BundleFormatError,
        afbundle.UnsupportedFooterVersionError,
        afbundle.BundleIntegrityError,
        afbundle.ManifestError,
        afbundle.BundleNotFoundError,
    ]:
        assert issubclass(cls, afbundle.BundleError)
    assert issubclass(afbundle.UnsupportedFooterVersionError, afbundle.BundleFormatError)
    assert issubclass(afbundle.BundleNotFoundError, FileNotFoundError)


def test_the_core_raises_the_same_exception_classes(tmp_path) -> None:
    path = tmp_path / "sh"
    path.write_bytes(b"#!/bin/sh\n")
    try:
        afbundle._core.read_bundle(path)
    except afbundle.NotABundleError as exc:
        assert type(exc) is afbundle.errors.NotABundleError
    else:
        raise AssertionError("read_bundle accepted a shell script")


def test_the_version_is_a_string() -> None:
    assert isinstance(afbundle.__version__, str)
    assert afbundle.__version__


def test_every_name_the_api_raises_or_returns_is_exported() -> None:
    """What the check raises, the signature constants and the signer loader are public."""
    for name in (
        "CheckConfigError",
        "CheckLoadError",
        "CoordinatorEntry",
        "StubTask",
        "SIGNATURE_NAMESPACE",
        "SIDECAR_SUFFIX",
        "load_signers",
    ):
        assert name in afbundle.__all__, name
        assert getattr(afbundle, name) is not None
    assert issubclass(afbundle.CheckConfigError, ValueError)
    assert afbundle.SIGNATURE_NAMESPACE == afbundle._core.SIGNATURE_NAMESPACE == "afbundle"
    # One suffix, the core's: the one it reads signatures from.
    assert afbundle.SIDECAR_SUFFIX == afbundle._core.SIDECAR_SUFFIX == ".sig"
    assert str(afbundle.sidecar_path("/b/etl")) == "/b/etl" + afbundle._core.SIDECAR_SUFFIX


def test_the_old_check_module_is_an_alias_of_the_check_package() -> None:
    import afbundle._check as old
    import afbundle.check as new

    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name), name
    assert afbundle.check_dags is new.check_dags and afbundle.CheckLoadError is new.CheckLoadError


def test_the_command_line_uses_only_the_public_api() -> None:
    """ARCHITECTURE.md's boundary: the CLI imports ``afbundle``'s public names and
    public modules, never a private module or name (``_core``, ``_scan``, ...)."""
    import ast
    from pathlib import Path

    import afbundle.check
    import afbundle.errors
    import afbundle.inspection

    public_modules = {"afbundle", "afbundle.errors", "afbundle.inspection", "afbundle.check"}
    exported = {
        "afbundle": set(afbundle.__all__),
        "afbundle.check": set(afbundle.check.__all__),
        "afbundle.errors": set(afbundle.errors.__all__),
        "afbundle.inspection": set(afbundle.inspection.__all__),
    }
    cli = Path(afbundle.__file__).parent / "cli"
    used = []
    for path in sorted(cli.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [(alias.name, None) for alias in node.names]
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                names = [(node.value.id, node.attr)] if node.value.id == "afbundle" else []
            else:
                continue
            for module, name in names:
                if not module.startswith("afbundle") or module.startswith("afbundle.cli"):
                    continue
                used.append((path.name, module, name))
                where = f"{path.name}: {module} {name}"
                assert module in public_modules, where
                if name is not None:  # an exported name, or a public module
                    assert name in exported[module] or f"{module}.{name}" in public_modules, where
    assert ("exit.py", "afbundle", "load_signers") in used  # the scan saw the attribute uses
