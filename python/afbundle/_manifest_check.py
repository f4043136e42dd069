"""Manifest checks: the spec's JSON Schema and the YAML 1.1/1.2 portability lint.

:func:`check_manifest` is what ``afbundle pack`` and ``afbundle verify --strict``
run, and what any pipeline producing bundles can call before :func:`afbundle.pack`.
It returns :class:`ManifestFinding` records; nothing is printed or raised for a
manifest that merely breaks a rule.

This module is imported on first use (``afbundle.check_manifest``), and
imports ``jsonschema`` and ``yaml`` (PyYAML) only while checking, so
``import afbundle`` stays cheap.

Example:
    >>> raw = b"sdk: {supervisor_schema_version: 2026-06-16}"
    >>> [str(f) for f in afbundle.check_manifest(raw)][:1]
    ["error: $: 'airflow_bundle_metadata_version' is a required property"]
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

from afbundle import _core

if TYPE_CHECKING:
    from yaml.nodes import Node  # type: ignore[import-untyped]

__all__ = ["ManifestFinding", "check_manifest", "json_path", "parse_manifest", "retyped_keys"]

#: How findings name the reader upstream Airflow uses for manifests.
YAML_11 = "YAML 1.1 (PyYAML, Airflow's reader)"

Severity = Literal["error", "warning", "note"]


@dataclasses.dataclass(frozen=True)
class ManifestFinding:
    """One thing :func:`check_manifest` found.

    Attributes:
        code: what kind of finding: ``"schema"`` (a JSON Schema violation,
            an error), ``"retyped-key"`` (a ``dags`` key or ``tasks`` item
            that is no string to Airflow's YAML 1.1 reader, or that YAML 1.2
            reads as something else: an error, decided by the core),
            ``"yaml-1.1"`` (YAML 1.1 and 1.2 read another scalar
            differently, or YAML 1.1 cannot read the file: a warning),
            ``"no-tasks"`` (a DAG declares no tasks: allowed, discouraged;
            a warning), ``"yaml-1.1-skipped"`` (PyYAML is not installed, the
            portability lint did not run: a note).
        severity: ``"error"`` (the bundle spec forbids it), ``"warning"`` or ``"note"``.
        path: where in the manifest, as a JSONPath (``$.sdk.version``).
        line: the 1-based line in the YAML text, when known.
        message: what is wrong, without the path.
    """

    code: str
    severity: Severity
    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


def parse_manifest(data: bytes | str, *, label: str = "<manifest>") -> dict[Any, Any]:
    """Read manifest text the way afbundle reads a bundle's: UTF-8, YAML 1.2, a mapping.

    Uses the compiled core's reader, with its size, depth and alias limits.

    Raises:
        ManifestError: not a UTF-8 YAML mapping; ``label`` names it.

    Example:
        >>> afbundle.parse_manifest(b"sdk: {supervisor_schema_version: 2026-06-16}")
        {'sdk': {'supervisor_schema_version': '2026-06-16'}}
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return _core.parse_manifest(raw, label)


def check_manifest(
    manifest: bytes | str | Mapping[Any, Any],
    *,
    schema: bool = True,
    portability: bool = True,
    label: str = "<manifest>",
) -> list[ManifestFinding]:
    """Every way ``manifest`` breaks the bundle spec or reads differently in Airflow.

    ``manifest`` is YAML text (bytes or str) or an already loaded mapping.
    With ``schema``, it is validated against the spec's JSON Schema (Draft
    2020-12, shipped as ``afbundle/schema/airflow-metadata.schema.json``):
    every violation is an ``error``. For YAML text, every ``dags`` key and
    ``tasks`` item that Airflow's YAML 1.1 reader does not read as the string
    YAML 1.2 reads (``on``, ``1_000``, ``2024-01-01``, ``0o17``, ``1e3``) is
    an ``error`` (``retyped-key``), whatever ``schema`` and ``portability``
    say: ``pack`` refuses such a manifest. With ``portability`` and YAML text, it is
    also read with PyYAML (YAML 1.1, Airflow's reader) and every scalar the
    two readings disagree on is a ``warning`` with its line. A DAG with no
    tasks is a ``warning``. Findings come sorted: schema errors by path, then
    the rest in document order.

    Raises:
        ManifestError: YAML text that is not a UTF-8 YAML mapping at all.

    Example:
        >>> findings = afbundle.check_manifest(Path("airflow-metadata.yaml").read_bytes())
        >>> [f for f in findings if f.severity == "error"]
        []
    """
    raw: bytes | None = None
    if isinstance(manifest, Mapping):
        loaded: Any = dict(manifest)
    else:
        raw = manifest.encode("utf-8") if isinstance(manifest, str) else bytes(manifest)
        loaded = parse_manifest(raw, label=label)
    findings: list[ManifestFinding] = []
    if schema:
        findings += _schema_violations(loaded)
    if raw is not None:
        # A task item of another type is a schema violation already; say it once.
        violated = {f.path for f in findings}
        findings += [f for f in retyped_keys(raw, label=label) if f.path not in violated]
    if portability and raw is not None:
        findings += _portability(raw, loaded)
    findings += _empty_task_lists(loaded)
    return findings


def retyped_keys(data: bytes | str, *, label: str = "<manifest>") -> list[ManifestFinding]:
    """The ``retyped-key`` errors of manifest text, as the core decides them.

    Each names a ``dags`` key or ``tasks`` item that Airflow's YAML 1.1 reader
    does not read as a string, or reads as a string that YAML 1.2 does not.

    Example:
        >>> [f.message for f in retyped_keys(b"dags: {on: {tasks: [t]}}")][0][:44]
        "dag key 'on' reads as the boolean true under"
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    return [retyped_finding(key) for key in _core.retyped_keys(raw, label)]


def retyped_finding(key: Mapping[str, Any]) -> ManifestFinding:
    """One of the core's retyped keys (``Bundle.retyped_keys``) as a finding."""
    where: list[Any] = ["dags", key["dag"]]
    if key["task_index"] is not None:
        where += ["tasks", key["task_index"]]
    return ManifestFinding("retyped-key", "error", json_path(where), key["line"], key["message"])


def json_path(segments: Iterable[Any]) -> str:
    """A JSONPath for a location in a manifest: ``$.sdk.version``, ``$.dags['my.dag']``.

    Example:
        >>> json_path(["dags", "my.dag", "tasks", 0])
        "$.dags['my.dag'].tasks[0]"
    """
    out = "$"
    for segment in segments:
        if isinstance(segment, str):
            if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", segment):
                out += f".{segment}"
            else:
                escaped = segment.replace("\\", "\\\\").replace("'", "\\'")
                out += f"['{escaped}']"
        else:
            out += f"[{json.dumps(segment, default=str)}]"
    return out


# --------------------------------------------------------------------------- schema


@functools.lru_cache(maxsize=1)
def _manifest_schema() -> dict[str, Any]:
    text = resources.files("afbundle").joinpath("schema/airflow-metadata.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def _schema_violations(manifest: Any) -> list[ManifestFinding]:
    # Imported here, not at the top: only checking a manifest needs jsonschema.
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    validator = Draft202012Validator(_manifest_schema())
    errors = sorted(
        validator.iter_errors(manifest),
        key=lambda e: ([_sort_key(p) for p in e.absolute_path], e.message),
    )
    return [
        ManifestFinding("schema", "error", json_path(e.absolute_path), None, e.message)
        for e in errors
    ]


def _sort_key(segment: Any) -> tuple[int, str]:
    if isinstance(segment, int) and not isinstance(segment, bool):
        return (0, f"{segment:020d}")
    return (1, str(segment))


def _empty_task_lists(manifest: Any) -> list[ManifestFinding]:
    dags = manifest.get("dags") if isinstance(manifest, dict) else None
    if not isinstance(dags, dict):
        return []
    return [
        ManifestFinding(
            "no-tasks",
            "warning",
            json_path(["dags", dag_id, "tasks"]),
            None,
            f"dag {dag_id!r} declares no tasks (allowed, but discouraged)",
        )
        for dag_id, entry in dags.items()
        if isinstance(dag_id, str) and isinstance(entry, dict) and entry.get("tasks") == []
    ]


# --------------------------------------------------------------------------- YAML 1.1 vs 1.2


def _finding(path: str, line: int | None, message: str) -> ManifestFinding:
    return ManifestFinding("yaml-1.1", "warning", path, line, message)


def _portability(raw: bytes, manifest: Any) -> list[ManifestFinding]:
    """Where PyYAML (YAML 1.1) reads ``raw`` differently from afbundle (YAML 1.2).

    Both readings are walked side by side and every differing leaf is reported
    with its JSON path and line: unquoted dates, ``yes``/``no``/``on``/``off``,
    octal-looking ``0755``, sexagesimal ``1:30``.
    """
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return [
            ManifestFinding(
                "yaml-1.1-skipped",
                "note",
                "$",
                None,
                "PyYAML is not installed: skipped the YAML 1.1/1.2 portability check",
            )
        ]
    text = raw.decode("utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        yaml11 = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return [_finding("$", line, f"{YAML_11} cannot read it: {problem}")]
    except (ValueError, TypeError) as exc:  # e.g. the impossible date 2026-13-45
        line = _line(_first_unconstructible(root, yaml))
        return [_finding("$", line, f"{YAML_11} cannot read it: {exc}")]
    return list(_differences(root, yaml11, manifest, ()))


def _first_unconstructible(node: Node | None, yaml: Any) -> Node | None:
    """The first scalar PyYAML fails to construct (plain values only its constructor checks)."""
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except (ValueError, TypeError, yaml.YAMLError):
            return node
        return None
    for child in getattr(node, "value", None) or []:
        for part in child if isinstance(child, tuple) else (child,):
            found = _first_unconstructible(part, yaml)
            if found is not None:
                return found
    return None


def _differences(
    node: Node | None, yaml11: Any, yaml12: Any, path: tuple[Any, ...]
) -> Iterator[ManifestFinding]:
    if isinstance(yaml11, dict) and isinstance(yaml12, dict):
        yield from _mapping_differences(node, yaml11, yaml12, path)
    elif isinstance(yaml11, list) and isinstance(yaml12, list) and len(yaml11) == len(yaml12):
        if len(path) == 3 and path[0] == "dags" and path[2] == "tasks":
            return  # task items: the core's retyped-key errors
        items = _child_nodes(node, len(yaml12))
        for i, (a, b) in enumerate(zip(yaml11, yaml12, strict=True)):
            yield from _differences(items[i], a, b, (*path, i))
    elif not (type(yaml11) is type(yaml12) and yaml11 == yaml12):
        yield _issue(path, node, yaml11, yaml12)


def _mapping_differences(
    node: Node | None, yaml11: dict[Any, Any], yaml12: dict[Any, Any], path: tuple[Any, ...]
) -> Iterator[ManifestFinding]:
    if len(yaml11) != len(yaml12):
        # Keys that collide in one reading only (`yes:` and `true:` are one key in YAML 1.1).
        yield _finding(
            json_path(path),
            _line(node),
            f"a mapping of {len(yaml11)} keys under {YAML_11} "
            f"but {len(yaml12)} under YAML 1.2 (afbundle)",
        )
        return
    pairs: list[Any] = _child_nodes(node, len(yaml12))
    for (key11, value11), (key12, value12), pair in zip(
        yaml11.items(), yaml12.items(), pairs, strict=True
    ):
        key_node, value_node = pair if pair is not None else (None, None)
        here = (*path, key12)
        # Keys of `dags` are the core's retyped-key errors.
        if path != ("dags",) and not (type(key11) is type(key12) and key11 == key12):
            yield _issue(here, key_node, key11, key12, what="key")
        yield from _differences(value_node, value11, value12, here)


def _child_nodes(node: Node | None, count: int) -> list[Any]:
    """The children of a mapping or sequence node, if they line up with the loaded values."""
    children = getattr(node, "value", None)
    if isinstance(children, list) and len(children) == count:
        return children
    return [None] * count


def _line(node: Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None else None


def _issue(
    path: tuple[Any, ...], node: Node | None, yaml11: Any, yaml12: Any, *, what: str = "value"
) -> ManifestFinding:
    return _finding(
        json_path(path),
        _line(node),
        f"the {what} reads as {_describe(yaml11)} under {YAML_11} "
        f"but as {_describe(yaml12)} under YAML 1.2 (afbundle)",
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, datetime.datetime):
        return f"the timestamp {value.isoformat()}"
    if isinstance(value, datetime.date):
        return f"the date {value.isoformat()}"
    if isinstance(value, (int, float)):
        return f"the {type(value).__name__.replace('int', 'integer')} {value!r}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if value is None:
        return "null"
    if isinstance(value, bytes):
        return f"{len(value)} bytes of binary data"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a sequence"
    return f"a {type(value).__name__}"
