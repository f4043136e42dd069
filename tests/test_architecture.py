"""The Rust core's layers, as ARCHITECTURE.md draws them, checked on the source.

``rust/`` has one folder per layer; a layer may name (``crate::<layer>``) only
the layers below it, ``error.rs`` names no other module, and no two modules
depend on each other in a circle. Comments and the ``#[cfg(test)]`` module at
the end of a file do not count: a doc link or a unit test is no dependency of
the shipped code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

RUST = Path(__file__).resolve().parent.parent / "rust"

#: Each layer and the layers it may use. ``walk`` and ``verify`` are siblings:
#: neither needs the other; ``bundle`` (scan, find) uses both.
ALLOWED: dict[str, set[str]] = {
    "error": set(),
    "format": {"error"},
    "fs": {"error"},
    "cache": {"error", "format", "fs"},
    "verify": {"error", "format", "fs", "cache"},
    "walk": {"error", "format", "fs", "cache"},
    "bundle": {"error", "format", "fs", "cache", "verify", "walk"},
    "write": {"error", "format", "fs", "cache", "verify", "walk", "bundle"},
    "python": {"error", "format", "fs", "cache", "verify", "walk", "bundle", "write"},
}

_COMMENT = re.compile(r"//[^\n]*")
_TESTS = re.compile(r"\n#\[cfg\(test\)\]\s*\nmod tests\b.*", re.S)
_CRATE_PATH = re.compile(r"\bcrate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)")
_CRATE_GROUP = re.compile(r"\bcrate::\{([^}]*)\}")
_SUPER_PATH = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")


def shipped_code(text: str) -> str:
    """``text`` without comments and without its trailing unit-test module."""
    return _COMMENT.sub("", _TESTS.sub("\n", text))


def module_of(rel: Path) -> str:
    """``bundle/scan.rs`` -> ``bundle::scan``; ``bundle/mod.rs`` -> ``bundle``."""
    parts = list(rel.with_suffix("").parts)
    if parts[-1] == "mod":
        parts.pop()
    return "::".join(parts)


def references(module: str, text: str, modules: set[str]) -> set[str]:
    """The modules of the crate that ``text`` (the code of ``module``) names."""
    code = shipped_code(text)
    paths = set(_CRATE_PATH.findall(code))
    for group in _CRATE_GROUP.findall(code):
        paths.update(p.strip().split(" ")[0] for p in group.split(",") if p.strip())
    parent = module.rsplit("::", 1)[0] if "::" in module else ""
    for name in _SUPER_PATH.findall(code):
        paths.add(f"{parent}::{name}" if parent else name)
    out = set()
    for path in paths:
        parts = path.split("::")
        # The longest prefix that is a module: `crate::bundle::read::tail` -> bundle::read.
        for n in range(len(parts), 0, -1):
            candidate = "::".join(parts[:n])
            if candidate in modules:
                if candidate != module:
                    out.add(candidate)
                break
    return out


def violations(sources: dict[Path, str]) -> list[str]:
    """Every reference that breaks the layer rule, and every module cycle."""
    modules = {module_of(rel) for rel in sources}
    problems: list[str] = []
    graph: dict[str, set[str]] = {}
    for rel, text in sorted(sources.items()):
        module = module_of(rel)
        layer = module.split("::")[0]
        refs = references(module, text, modules)
        graph[module] = refs
        if module == "lib":
            continue
        if layer not in ALLOWED:
            problems.append(f"{rel}: not in a layer folder ({', '.join(ALLOWED)})")
            continue
        if layer == "error" and refs:
            problems.append(f"{rel}: error.rs is a leaf, but names {sorted(refs)}")
        for ref in sorted(refs):
            target = ref.split("::")[0]
            if target != layer and target not in ALLOWED[layer]:
                problems.append(f"{rel}: layer {layer} may not use {ref} (layer {target})")
    problems.extend(f"module cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected part of ``graph`` that has one."""
    found, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def crate_sources() -> dict[Path, str]:
    return {p.relative_to(RUST): p.read_text() for p in RUST.rglob("*.rs")}


def test_every_module_uses_only_the_layers_below_it_and_no_module_cycle_exists() -> None:
    assert violations(crate_sources()) == []


def test_the_folder_tree_is_the_layer_list() -> None:
    top = {p.name for p in RUST.iterdir()}
    assert top == {"lib.rs", "error.rs", *(layer for layer in ALLOWED if layer != "error")}


def test_error_rs_names_no_module_of_the_crate() -> None:
    code = shipped_code((RUST / "error.rs").read_text())
    assert "crate::" not in code and "super::" not in code


@pytest.mark.parametrize(
    ("path", "code", "expected"),
    [
        ("fs/file.rs", "use crate::bundle::Bundle;", "layer fs may not use bundle"),
        ("error.rs", "use crate::{verify::signature::Problem, fs};", "error.rs is a leaf"),
        ("verify/mod.rs", "fn f() { crate::walk::pool::pool(None); }", "may not use walk::pool"),
        ("signature.rs", "use crate::error::Error;", "not in a layer folder"),
    ],
)
def test_a_broken_layering_is_reported(path: str, code: str, expected: str) -> None:
    sources = crate_sources()
    sources[Path(path)] = code + "\n" + sources.get(Path(path), "")
    assert any(expected in problem for problem in violations(sources)), violations(sources)


def test_a_module_cycle_is_reported_and_tests_or_comments_do_not_count() -> None:
    sources = {
        Path("format/a.rs"): "use crate::format::b::X;\n",
        Path(
            "format/b.rs"
        ): "// crate::format::a\n#[cfg(test)]\nmod tests { use crate::format::a; }\n",
    }
    assert violations(sources) == []
    sources[Path("format/b.rs")] = "fn f() { super::a::g(); }\n"
    assert violations(sources) == ["module cycle: format::a -> format::b -> format::a"]
