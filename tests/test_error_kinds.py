"""Failure kinds are defined once, in the core, and Python reads them from there."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import afbundle
from afbundle import _core, errors

STUB = Path(afbundle.__file__).with_name("_core.pyi")


def _stub_literal(name: str) -> tuple[str, ...]:
    """The strings of the ``Literal[...]`` alias ``name`` in ``_core.pyi``."""
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == name:
            assert isinstance(node.value, ast.Subscript)
            elements = node.value.slice
            items = elements.elts if isinstance(elements, ast.Tuple) else [elements]
            return tuple(ast.literal_eval(item) for item in items)
    raise AssertionError(f"no {name} in {STUB}")


def test_the_kind_table_is_the_cores_failure_kinds_then_its_decision_kinds() -> None:
    assert (*_core.ERROR_KINDS, *_core.DECISION_KINDS) == errors.KINDS
    assert _core.DECISION_KINDS == ("schema", "shadowed")
    assert len(set(errors.KINDS)) == len(errors.KINDS)


def test_the_stubs_type_kind_as_exactly_the_cores_names() -> None:
    assert _stub_literal("ErrorKindName") == _core.ERROR_KINDS
    assert _stub_literal("DecisionKindName") == _core.DECISION_KINDS


def test_every_exception_class_names_a_core_kind_and_every_bundle_kind_has_one() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    classes = {cls.kind: cls for cls in subclasses(errors.BundleError)}
    # Not failure kinds of one file: the base class and "no bundle declares the dag_id".
    assert set(classes) - set(_core.ERROR_KINDS) == {"bundle", "not_found"}
    # The core raises MemoryError and OSError for these two (python/errors.rs).
    assert set(_core.ERROR_KINDS) - set(classes) == {"too_large", "io"}


def test_a_rejection_refuses_a_kind_the_core_does_not_know() -> None:
    assert _core.Rejection("/b", "shadowed", "why").kind == "shadowed"
    with pytest.raises(ValueError, match='unknown rejection kind "Format"'):
        _core.Rejection("/b", "Format", "why")  # type: ignore[arg-type]


def test_every_bundle_error_carries_its_stage_as_data(tmp_path: Path) -> None:
    from _writer import write_kind

    expected = {
        "bad_yaml": (errors.ManifestError, "manifest"),
        "nonzero_reserved": (errors.BundleFormatError, "trailer"),
        "bad_footer_ver": (errors.UnsupportedFooterVersionError, "trailer"),
        "corrupt_binary": (errors.BundleIntegrityError, "hash"),
        "short_file": (errors.NotABundleError, "trailer"),
    }
    for kind, (cls, stage) in expected.items():
        with pytest.raises(cls) as raised:
            afbundle.read_bundle(write_kind(tmp_path / kind, kind))
        assert raised.value.context["stage"] == stage, kind
