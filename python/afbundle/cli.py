"""The ``afbundle`` command: pack, inspect, verify, scan, find and strip executable bundles.

A thin presentation layer over the Python API (:func:`afbundle.pack`,
:func:`afbundle.read_bundle`, :func:`afbundle.scan`, :func:`afbundle.find`);
every byte is read, hashed and written by the compiled core. The binary inside a
bundle is never executed.

Exit status (the same for every subcommand):

* ``0`` -- success.
* ``1`` -- an invalid bundle or manifest, or nothing found.
* ``2`` -- a usage error or an I/O error (missing file, unwritable output,
  output exists without ``--force``, missing scan root).

Expected failures print one line, ``afbundle: error: <path>: <reason>``, on
stderr and never a traceback. ``--json`` output follows the JSON Schema shipped
as ``afbundle/schema/scan-output.schema.json``.

Example:
    >>> from afbundle.cli import main
    >>> main(["find", "example_dag", "/opt/airflow/executable-bundles"])
    /opt/airflow/executable-bundles/example
    0
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import enum
import functools
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import afbundle
from afbundle import _core
from afbundle.errors import (
    BundleError,
    BundleIntegrityError,
    BundleNotFoundError,
    ManifestError,
    NotABundleError,
)

if TYPE_CHECKING:
    from yaml.nodes import Node  # type: ignore[import-untyped]

    from afbundle._report import ScanReport

__all__ = [
    "ExitCode",
    "PortabilityIssue",
    "SchemaViolation",
    "build_parser",
    "human_size",
    "json_path",
    "load_manifest",
    "main",
    "schema_violations",
    "yaml_portability_issues",
]

PROG = "afbundle"
#: The file name the spec gives the manifest; ``inspect --extract`` writes it.
MANIFEST_FILE_NAME = "airflow-metadata.yaml"
#: The ``airflow_bundle_metadata_version`` written when pack builds the manifest.
METADATA_VERSION = "1.0"
#: Trailer fields, spec "Trailer Layout": lengths, footer_ver, digest, reserved, magic.
#: Manifest fields pack builds from flags, so violations can name the flag.
FLAG_OF_FIELD = {
    "$.sdk.language": "--language",
    "$.sdk.version": "--sdk-version",
    "$.sdk.supervisor_schema_version": "--schema-version",
    "$.source": "--source",
}

#: How warnings name the reader upstream Airflow uses for manifests.
YAML_11 = "YAML 1.1 (PyYAML, Airflow's reader)"

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """The process exit status."""

    OK = 0
    INVALID = 1
    ERROR = 2


EPILOG = """\
exit status:
  0  success
  1  an invalid bundle or manifest, or nothing found
  2  usage error or I/O error (missing file, output exists, missing scan root)

Colour is used only when stdout is a terminal and NO_COLOR is not set.
"""


class CliError(Exception):
    """An expected failure: reported as one ``afbundle: error:`` line, then exit."""

    def __init__(self, path: object, reason: str, code: ExitCode) -> None:
        super().__init__(reason)
        self.path = None if path is None else str(path)
        self.reason = reason
        self.code = code

    def __str__(self) -> str:
        return self.reason if self.path is None else f"{self.path}: {self.reason}"


@contextlib.contextmanager
def reporting(path: object) -> Iterator[None]:
    """Turn the API's expected exceptions into :class:`CliError` about ``path``."""
    try:
        yield
    except BundleError as exc:
        raise CliError(exc.path or path, exc.reason, ExitCode.INVALID) from exc
    except OSError as exc:
        if exc.filename is None:  # the core's message already names the path
            raise CliError(None, str(exc), ExitCode.ERROR) from exc
        raise CliError(exc.filename, exc.strerror or str(exc), ExitCode.ERROR) from exc


# --------------------------------------------------------------------------- output


@dataclasses.dataclass(frozen=True)
class Palette:
    """ANSI styling that is a no-op unless the stream is a terminal and NO_COLOR is unset."""

    enabled: bool

    @classmethod
    def for_stream(cls, stream: IO[str]) -> Palette:
        isatty = getattr(stream, "isatty", None)
        tty = bool(isatty and isatty())
        return cls(tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb")

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled and text else text

    def good(self, text: str) -> str:
        return self._paint("32", text)

    def bad(self, text: str) -> str:
        return self._paint("31", text)

    def warn(self, text: str) -> str:
        return self._paint("33", text)

    def strong(self, text: str) -> str:
        return self._paint("1", text)

    def faint(self, text: str) -> str:
        return self._paint("2", text)


@dataclasses.dataclass(frozen=True)
class Styled:
    """A table cell whose text is painted after the column is padded."""

    text: str
    paint: Callable[[str], str]


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str | Styled]],
    palette: Palette,
    *,
    right: Iterable[int] = (),
    indent: str = "  ",
) -> list[str]:
    """Align ``rows`` under ``headers``; columns in ``right`` are right-aligned.

    Example:
        >>> render_table(["DAG_ID", "TASKS"], [["a", "3"]], Palette(False), right=[1])
        ['  DAG_ID  TASKS', '  a           3']
    """
    table = [[c if isinstance(c, Styled) else Styled(c, str) for c in row] for row in rows]
    header_row = [Styled(h, palette.strong) for h in headers]
    widths = [max(len(r[i].text) for r in [header_row, *table]) for i in range(len(headers))]
    right_aligned = set(right)
    lines = []
    for row in [header_row, *table]:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - len(cell.text))
            last = i == len(row) - 1
            if i in right_aligned:
                cells.append(pad + cell.paint(cell.text))
            else:
                cells.append(cell.paint(cell.text) + ("" if last else pad))
        lines.append(indent + "  ".join(cells))
    return lines


def human_size(n: int) -> str:
    """A byte count in binary units.

    Example:
        >>> human_size(512), human_size(16831), human_size(3 << 30)
        ('512 B', '16.4 KiB', '3.0 GiB')
    """
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def print_json(document: Any) -> None:
    """Write one JSON document (the ``--json`` output) to stdout."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def warn(message: str) -> None:
    """Print ``afbundle: warning: <message>`` on stderr."""
    palette = Palette.for_stream(sys.stderr)
    print(f"{PROG}: {palette.warn('warning')}: {message}", file=sys.stderr)


def note(message: str) -> None:
    """Print ``afbundle: note: <message>`` on stderr."""
    print(f"{PROG}: note: {message}", file=sys.stderr)


def print_error(error: CliError) -> None:
    palette = Palette.for_stream(sys.stderr)
    print(f"{PROG}: {palette.bad('error')}: {error}", file=sys.stderr)


class ConsoleLog:
    """The keyword-style logger :func:`afbundle.find` takes: warnings go to stderr."""

    def debug(self, event: str, **kw: Any) -> None:
        pass

    def warning(self, event: str, **kw: Any) -> None:
        context = ", ".join(f"{k}: {_plain(v)}" for k, v in kw.items())
        warn(f"{event} ({context})" if context else event)


def _plain(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return " ".join(str(v) for v in value)
    return str(value)


def with_progress(label: str, work: Callable[[], T], *, show: bool) -> T:
    """Run ``work`` (one GIL-free core call) while a spinner turns on stderr.

    The spinner appears only when ``show`` is true (stderr is a terminal and
    the output is not JSON) and only if the work takes longer than 0.1 s.
    """
    if not show:
        return work()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="afbundle-progress", daemon=True)
    started = time.monotonic()
    worker.start()
    drawn = False
    frames = "|/-\\"
    try:
        worker.join(0.1)
        while worker.is_alive():
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r{frames[int(elapsed * 10) % 4]} {label} ({elapsed:.1f} s)")
            sys.stderr.flush()
            drawn = True
            worker.join(0.1)
    finally:
        if drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- manifests


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
            out += f"[{json.dumps(_jsonable(segment))}]"
    return out


def load_manifest(raw: bytes, *, label: str) -> dict[Any, Any]:
    """Read manifest bytes the way afbundle reads a bundle's: UTF-8, YAML 1.2, a mapping.

    Uses the compiled core's manifest reader, with its size, depth and alias limits.

    Raises:
        CliError: the bytes are not a UTF-8 YAML mapping (exit status 1).

    Example:
        >>> load_manifest(b"sdk: {supervisor_schema_version: 2026-06-16}", label="m.yaml")
        {'sdk': {'supervisor_schema_version': '2026-06-16'}}
    """
    try:
        return _core.parse_manifest(raw, label)
    except ManifestError as exc:
        raise CliError(label, exc.reason, ExitCode.INVALID) from exc


@dataclasses.dataclass(frozen=True)
class SchemaViolation:
    """One way a manifest breaks the spec's JSON Schema."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@functools.lru_cache(maxsize=1)
def _manifest_schema() -> dict[str, Any]:
    text = resources.files("afbundle").joinpath("schema/airflow-metadata.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_violations(manifest: Any) -> list[SchemaViolation]:
    """Every violation of the spec's manifest JSON Schema (Draft 2020-12), sorted by path.

    Example:
        >>> [str(v) for v in schema_violations({"airflow_bundle_metadata_version": 1.0})][:1]
        ["$: 'sdk' is a required property"]
    """
    # Imported here, not at the top: only pack and verify --strict need jsonschema.
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

    validator = Draft202012Validator(_manifest_schema())
    errors = sorted(
        validator.iter_errors(manifest),
        key=lambda e: ([_sort_key(p) for p in e.absolute_path], e.message),
    )
    return [SchemaViolation(json_path(e.absolute_path), e.message) for e in errors]


def _sort_key(segment: Any) -> tuple[int, str]:
    if isinstance(segment, int) and not isinstance(segment, bool):
        return (0, f"{segment:020d}")
    return (1, str(segment))


@dataclasses.dataclass(frozen=True)
class PortabilityIssue:
    """A manifest scalar that YAML 1.1 (PyYAML, Airflow's reader) and YAML 1.2 read differently."""

    path: str
    line: int | None
    message: str


def yaml_portability_issues(raw: bytes, manifest: Any) -> list[PortabilityIssue] | None:
    """Where PyYAML (YAML 1.1) reads ``raw`` differently from afbundle (YAML 1.2).

    ``manifest`` is afbundle's reading of ``raw`` (:func:`load_manifest`). Both
    readings are walked side by side and every differing leaf is reported with
    its JSON path and line: unquoted dates, ``yes``/``no``/``on``/``off``,
    octal-looking ``0755``, sexagesimal ``1:30``. Returns ``None`` when PyYAML
    is not installed.

    Example:
        >>> raw = b"sdk: {supervisor_schema_version: 2026-06-16}"
        >>> [i.path for i in yaml_portability_issues(raw, load_manifest(raw, label="m"))]
        ['$.sdk.supervisor_schema_version']
    """
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return None
    text = raw.decode("utf-8")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        yaml11 = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return [PortabilityIssue("$", line, f"{YAML_11} cannot read it: {problem}")]
    except (ValueError, TypeError) as exc:  # e.g. the impossible date 2026-13-45
        line = _line(_first_unconstructible(root, yaml))
        return [PortabilityIssue("$", line, f"{YAML_11} cannot read it: {exc}")]
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
) -> Iterator[PortabilityIssue]:
    if isinstance(yaml11, dict) and isinstance(yaml12, dict):
        yield from _mapping_differences(node, yaml11, yaml12, path)
    elif isinstance(yaml11, list) and isinstance(yaml12, list) and len(yaml11) == len(yaml12):
        items = _child_nodes(node, len(yaml12))
        for i, (a, b) in enumerate(zip(yaml11, yaml12, strict=True)):
            yield from _differences(items[i], a, b, (*path, i))
    elif not (type(yaml11) is type(yaml12) and yaml11 == yaml12):
        yield _issue(path, node, yaml11, yaml12)


def _mapping_differences(
    node: Node | None, yaml11: dict[Any, Any], yaml12: dict[Any, Any], path: tuple[Any, ...]
) -> Iterator[PortabilityIssue]:
    if len(yaml11) != len(yaml12):
        # Keys that collide in one reading only (`yes:` and `true:` are one key in YAML 1.1).
        yield PortabilityIssue(
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
        if not (type(key11) is type(key12) and key11 == key12):
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
) -> PortabilityIssue:
    return PortabilityIssue(
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


def _jsonable(value: Any) -> Any:
    """A manifest value as JSON: non-string keys become their YAML spelling, bytes hex."""
    if isinstance(value, dict):
        return {
            k if isinstance(k, str) else json.dumps(_jsonable(k)): _jsonable(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


# --------------------------------------------------------------------------- bundle views


def _text_at(mapping: Any, *keys: str) -> str | None:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping if isinstance(mapping, str) else None


@dataclasses.dataclass(frozen=True)
class DagSummary:
    """One entry of a manifest's ``dags``: its id and task_ids (``None`` if not a list)."""

    dag_id: str
    tasks: list[str] | None


def dag_summaries(metadata: Any) -> list[DagSummary]:
    """The string-keyed entries of a manifest's ``dags``, in document order.

    Example:
        >>> dag_summaries({"dags": {"d": {"tasks": ["a", "b"]}, 1: {}}})
        [DagSummary(dag_id='d', tasks=['a', 'b'])]
    """
    dags = metadata.get("dags") if isinstance(metadata, dict) else None
    if not isinstance(dags, dict):
        return []
    out = []
    for dag_id, entry in dags.items():
        if isinstance(dag_id, str):
            tasks = entry.get("tasks") if isinstance(entry, dict) else None
            out.append(
                DagSummary(dag_id, [str(t) for t in tasks] if isinstance(tasks, list) else None)
            )
    return out


@dataclasses.dataclass(frozen=True)
class BundleView:
    """What inspect, scan and find show about one bundle file.

    Built from a core :class:`afbundle.Bundle`, or -- when the manifest cannot be
    read -- from the trailer alone, so a damaged bundle can still be inspected.
    """

    path: Path
    size: int
    footer_version: int
    source_start: int
    source_len: int
    metadata_start: int
    metadata_len: int
    binary_sha256: bytes
    metadata: dict[Any, Any] | None
    manifest_error: str | None = None
    bundle: afbundle.Bundle | None = None

    @classmethod
    def of(cls, bundle: afbundle.Bundle) -> BundleView:
        """The view of a bundle the core read (its manifest may still not fit Python)."""
        try:
            metadata, problem = bundle.metadata, None
        except ManifestError as exc:  # e.g. a sequence used as a mapping key
            metadata, problem = None, exc.reason
        return cls(
            path=bundle.path,
            size=bundle.size,
            footer_version=bundle.footer_version,
            source_start=bundle.source_start,
            source_len=bundle.source_len,
            metadata_start=bundle.metadata_start,
            metadata_len=bundle.metadata_len,
            binary_sha256=bundle.binary_sha256,
            metadata=metadata,
            manifest_error=problem,
            bundle=bundle,
        )

    @classmethod
    def from_trailer(cls, path: Path, manifest_error: str) -> BundleView:
        """The regions of a bundle whose trailer the core accepted but whose manifest it did not."""
        trailer = _core.read_trailer(path)
        return cls(
            path=path.resolve(),
            size=trailer["size"],
            footer_version=trailer["footer_version"],
            source_start=trailer["source_start"],
            source_len=trailer["source_len"],
            metadata_start=trailer["metadata_start"],
            metadata_len=trailer["metadata_len"],
            binary_sha256=trailer["binary_sha256"],
            metadata=None,
            manifest_error=manifest_error,
        )

    def read_source(self) -> bytes:
        if self.bundle is not None:
            return self.bundle.read_source()
        return self._read(self.source_start, self.source_len)

    def read_manifest(self) -> bytes:
        if self.bundle is not None:
            return self.bundle.read_manifest()
        return self._read(self.metadata_start, self.metadata_len)

    def _read(self, offset: int, length: int) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    @property
    def dags(self) -> list[DagSummary]:
        return dag_summaries(self.metadata)

    @property
    def language(self) -> str | None:
        return _text_at(self.metadata, "sdk", "language")

    @property
    def sdk_version(self) -> str | None:
        return _text_at(self.metadata, "sdk", "version")

    @property
    def supervisor_schema_version(self) -> str | None:
        if self.bundle is not None:
            return self.bundle.supervisor_schema_version
        return _text_at(self.metadata, "sdk", "supervisor_schema_version")

    @property
    def metadata_version(self) -> str | None:
        return _text_at(self.metadata, "airflow_bundle_metadata_version")

    @property
    def source_name(self) -> str | None:
        return _text_at(self.metadata, "source")

    def regions(self) -> list[tuple[str, int, int]]:
        """(name, offset, length) of the binary, source, manifest and trailer regions."""
        return [
            ("binary", 0, self.source_start),
            ("source", self.source_start, self.source_len),
            ("manifest", self.metadata_start, self.metadata_len),
            ("trailer", self.size - afbundle.TRAILER_SIZE, afbundle.TRAILER_SIZE),
        ]

    def summary(self, verified: bool | None) -> dict[str, Any]:
        """The ``bundle`` object of the ``--json`` output (see scan-output.schema.json)."""
        return {
            "path": str(self.path),
            "size": self.size,
            "footer_version": self.footer_version,
            "regions": {
                name: {"offset": offset, "length": length}
                for name, offset, length in self.regions()
            },
            "binary_sha256": self.binary_sha256.hex(),
            "verified": verified,
            "dag_ids": list(self.bundle.dag_ids) if self.bundle else [d.dag_id for d in self.dags],
            "metadata_version": self.metadata_version,
            "language": self.language,
            "sdk_version": self.sdk_version,
            "supervisor_schema_version": self.supervisor_schema_version,
            "source_name": self.source_name,
        }


def read_view(path: str) -> BundleView:
    """The bundle at ``path``, unverified; a manifest error still yields its regions.

    Raises:
        CliError: not a bundle, a malformed trailer (1) or an I/O error (2).
    """
    with reporting(path):
        try:
            return BundleView.of(afbundle.read_bundle(path, verify=False))
        except ManifestError as exc:
            return BundleView.from_trailer(Path(path), exc.reason)


@dataclasses.dataclass(frozen=True)
class Verification:
    """The binary region's digest as recomputed, against the trailer's."""

    actual: bytes
    problem: str | None

    @property
    def verified(self) -> bool:
        return self.problem is None


def verify_view(view: BundleView) -> Verification:
    """Check the binary region; the digest is recomputed only when the core's check fails."""
    problem = None
    if view.manifest_error is None:
        with reporting(view.path):
            try:
                afbundle.read_bundle(view.path, verify=True)
                return Verification(view.binary_sha256, None)
            except BundleIntegrityError as exc:
                problem = exc.reason
    actual = _sha256_prefix(view.path, view.source_start)
    if problem is None and actual != view.binary_sha256:
        problem = (
            f"binary_sha256 mismatch: trailer has {view.binary_sha256.hex()}, "
            f"binary region hashes to {actual.hex()}"
        )
    return Verification(actual, problem)


def _sha256_prefix(path: Path, length: int) -> bytes:
    with reporting(path):
        return _core.sha256_prefix(path, length)


# --------------------------------------------------------------------------- pack


@dataclasses.dataclass
class DagSpec:
    """One ``--dag ID [--tasks a,b]`` pair from the command line."""

    dag_id: str
    tasks: list[str] | None = None


class DagAction(argparse.Action):
    """``--dag ID``: start a new DAG entry (its tasks come from the next ``--tasks``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        dags: list[DagSpec] = list(getattr(namespace, self.dest) or [])
        if any(d.dag_id == values for d in dags):
            raise argparse.ArgumentError(self, f"dag_id {values!r} given twice")
        dags.append(DagSpec(values))
        setattr(namespace, self.dest, dags)


class TasksAction(argparse.Action):
    """``--tasks a,b,c``: the task_ids of the DAG named by the preceding ``--dag``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        dags: list[DagSpec] = getattr(namespace, self.dest) or []
        if not dags:
            raise argparse.ArgumentError(self, "must follow the --dag it belongs to")
        if dags[-1].tasks is not None:
            raise argparse.ArgumentError(self, f"given twice for --dag {dags[-1].dag_id}")
        tasks = [t.strip() for t in values.split(",")] if values.strip() else []
        if "" in tasks:
            raise argparse.ArgumentError(self, f"empty task_id in {values!r}")
        dags[-1].tasks = tasks


def manifest_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest pack builds from ``--dag/--tasks/--language/--sdk-version/--schema-version``.

    Example:
        >>> ns = argparse.Namespace(dags=[DagSpec("d", ["t"])], language="c",
        ...     sdk_version="0.1.0", schema_version="2026-06-16", source="hello.c")
        >>> manifest_from_flags(ns)["dags"]
        {'d': {'tasks': ['t']}}
    """
    manifest: dict[str, Any] = {
        "airflow_bundle_metadata_version": METADATA_VERSION,
        "sdk": {
            "language": args.language,
            "version": args.sdk_version,
            "supervisor_schema_version": args.schema_version,
        },
        "dags": {d.dag_id: {"tasks": d.tasks or []} for d in args.dags},
    }
    if args.source is not None:
        manifest["source"] = os.path.basename(args.source)
    return manifest


def _check_pack_flags(args: argparse.Namespace) -> None:
    built_from = {
        "--dag": args.dags,
        "--language": args.language,
        "--sdk-version": args.sdk_version,
        "--schema-version": args.schema_version,
    }
    given = [flag for flag, value in built_from.items() if value is not None]
    if args.manifest is not None and given:
        args.subparser.error(f"--manifest cannot be combined with {', '.join(given)}")
    if args.manifest is None:
        missing = [flag for flag, value in built_from.items() if value is None]
        if missing:
            args.subparser.error(
                f"give --manifest FILE, or build the manifest with {', '.join(missing)}"
            )
        if args.source is None:
            args.subparser.error("--source FILE is required when the manifest is built from flags")


def _read_input(path: str) -> bytes:
    with reporting(path):
        if path == "-":
            return sys.stdin.buffer.read()
        return Path(path).read_bytes()


def _refuse_existing(output: Path, force: bool) -> None:
    """Stop before writing ``output`` if it exists (without ``force``) or cannot be created."""
    parent = output.parent
    if not parent.is_dir():
        raise CliError(parent, "no such directory", ExitCode.ERROR)
    if output.is_dir():
        raise CliError(output, "is a directory", ExitCode.ERROR)
    if os.path.lexists(output) and not force:
        raise CliError(output, "already exists (pass --force to replace it)", ExitCode.ERROR)


def _manifest_for_pack(args: argparse.Namespace) -> tuple[dict[Any, Any], str]:
    """The manifest to pack and the label its errors are reported under."""
    if args.manifest is None:
        return manifest_from_flags(args), "manifest built from flags"
    label = "<stdin>" if args.manifest == "-" else args.manifest
    raw = _read_input(args.manifest)
    manifest = load_manifest(raw, label=label)
    _report_portability(raw, manifest, label)
    if "source" not in manifest and args.source is not None:
        manifest["source"] = os.path.basename(args.source)
    return manifest, label


def _report_portability(raw: bytes, manifest: dict[Any, Any], label: str) -> None:
    issues = yaml_portability_issues(raw, manifest)
    if issues is None:
        note("PyYAML is not installed: skipped the YAML 1.1/1.2 portability check")
        return
    for issue in issues:
        where = f"{label}:{issue.line}" if issue.line else label
        warn(f"{where}: {issue.path}: {issue.message}")
    if issues:
        note(
            "the bundle gets the YAML 1.2 reading, written canonically with such strings "
            "quoted, so it reads the same under YAML 1.1 and 1.2; quote these scalars in "
            f"{label} to make the file itself unambiguous"
        )


def _reject_violations(manifest: dict[Any, Any], label: str, *, from_flags: bool) -> None:
    violations = schema_violations(manifest)
    for violation in violations:
        flag = FLAG_OF_FIELD.get(violation.path) if from_flags else None
        suffix = f" (from {flag})" if flag else ""
        print_error(CliError(label, f"{violation}{suffix}", ExitCode.INVALID))
    if violations:
        count = f"{len(violations)} violation{'s' if len(violations) > 1 else ''}"
        raise CliError(
            label, f"manifest does not match the bundle spec's schema ({count})", ExitCode.INVALID
        )


def _refuse_bundle_input(binary: str, replace_footer: bool) -> None:
    """A binary that already ends with a trailer is packed only with --replace-footer."""
    with reporting(binary):
        try:
            afbundle.read_bundle(binary, verify=False)
        except NotABundleError:
            return
        except BundleError:
            pass  # it has the magic: a bundle, if a damaged one
    if not replace_footer:
        raise CliError(
            binary,
            "already a bundle (it ends with an AFBNDL01 trailer); pass --replace-footer "
            "to replace its source and manifest",
            ExitCode.INVALID,
        )


def cmd_pack(args: argparse.Namespace) -> int:
    """``afbundle pack``: validate the manifest, then append source, manifest and trailer.

    Inputs are checked before the manifest (an I/O problem is exit status 2),
    the manifest before anything is written; the core writes atomically.
    """
    _check_pack_flags(args)
    output = Path(args.output)
    _refuse_existing(output, args.force)
    _refuse_bundle_input(args.binary, args.replace_footer)
    source = _read_source(args.source)
    manifest, label = _manifest_for_pack(args)
    _reject_violations(manifest, label, from_flags=args.manifest is None)
    for dag in dag_summaries(manifest):
        if dag.tasks == []:
            warn(f"{label}: dag {dag.dag_id!r} declares no tasks (allowed, but discouraged)")
    with reporting(args.binary):
        bundle = afbundle.pack(
            args.binary,
            output,
            manifest=manifest,
            source=source,
            replace_footer=args.replace_footer,
        )
    _print_packed(output, BundleView.of(bundle))
    return ExitCode.OK


def _read_source(path: str | None) -> bytes:
    if path is None:
        return b""
    source = _read_input(path)
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        warn(f"{path}: not UTF-8; the Airflow UI may not display the source")
    return source


def _print_packed(output: Path, view: BundleView) -> None:
    parts = " + ".join(f"{name} {human_size(length)}" for name, _, length in view.regions())
    dags = ", ".join(
        f"{d.dag_id} ({len(d.tasks or [])} task{'s' if len(d.tasks or []) != 1 else ''})"
        for d in view.dags
    )
    print(f"packed {output}: {human_size(view.size)} = {parts}")
    print(f"  dags: {dags}")
    print(f"  binary_sha256: {view.binary_sha256.hex()}")


# --------------------------------------------------------------------------- inspect


def cmd_inspect(args: argparse.Namespace) -> int:
    """``afbundle inspect``: trailer, regions, digest check and manifest summary."""
    view = read_view(args.bundle)
    if args.source or args.manifest:
        region = view.read_source() if args.source else view.read_manifest()
        sys.stdout.buffer.write(region)
        sys.stdout.buffer.flush()
        return ExitCode.OK
    check = verify_view(view)
    extracted = extract(view, Path(args.extract), force=args.force) if args.extract else None
    if args.json:
        print_json(_inspect_json(view, check, extracted))
    else:
        _print_inspect(view, check, extracted, Palette.for_stream(sys.stdout))
    valid = check.verified and view.manifest_error is None
    return ExitCode.OK if valid else ExitCode.INVALID


def _inspect_json(
    view: BundleView, check: Verification, extracted: dict[str, str | None] | None
) -> dict[str, Any]:
    detail = view.summary(check.verified)
    detail.update(
        binary_sha256_actual=check.actual.hex(),
        problem=check.problem,
        manifest_error=view.manifest_error,
        dags=[{"dag_id": d.dag_id, "tasks": d.tasks} for d in view.dags],
        manifest=_jsonable(view.metadata) if view.metadata is not None else None,
    )
    return {"command": "inspect", "bundle": detail, "extracted": extracted}


def _print_inspect(
    view: BundleView,
    check: Verification,
    extracted: dict[str, str | None] | None,
    palette: Palette,
) -> None:
    expected, actual = view.binary_sha256.hex(), check.actual.hex()
    if check.verified:
        verdict = palette.good("yes")
    elif check.actual != view.binary_sha256:
        verdict = palette.bad("no: the binary region does not hash to binary_sha256")
    else:
        verdict = palette.bad(f"no: {check.problem}")
    fields = [
        ("path", str(view.path)),
        ("size", f"{human_size(view.size)} ({view.size} bytes)"),
        ("footer_version", str(view.footer_version)),
        ("binary_sha256", f"expected {expected}"),
        ("", f"actual   {actual if check.verified else palette.bad(actual)}"),
        ("verified", verdict),
    ]
    for name, value in fields:
        print(f"{palette.strong(f'{name:<15}') if name else ' ' * 15} {value}")
    print()
    rows = [[n, str(o), str(ln), human_size(ln)] for n, o, ln in view.regions()]
    for line in render_table(["REGION", "OFFSET", "LENGTH", "SIZE"], rows, palette, right=[1, 2]):
        print(line)
    print()
    _print_manifest_summary(view, palette)
    if extracted:
        print()
        for what, path in extracted.items():
            print(f"extracted {what:<8} -> {path if path else '(no source embedded)'}")


def _print_manifest_summary(view: BundleView, palette: Palette) -> None:
    if view.manifest_error is not None:
        print(f"{palette.strong('manifest')}  {palette.bad(view.manifest_error)}")
        return
    print(palette.strong("manifest"))
    fields = [
        ("airflow_bundle_metadata_version", view.metadata_version),
        ("sdk.language", view.language),
        ("sdk.version", view.sdk_version),
        ("sdk.supervisor_schema_version", view.supervisor_schema_version),
        ("source", view.source_name),
    ]
    for name, value in fields:
        print(f"  {name:<32} {value if value is not None else palette.bad('(missing)')}")
    dags = view.dags
    print(f"{palette.strong('dags')} ({len(dags)})")
    rows = [[d.dag_id, str(len(d.tasks)) if d.tasks is not None else "?"] for d in dags]
    if rows:
        for line in render_table(["DAG_ID", "TASKS"], rows, palette, right=[1]):
            print(line)


def extract(view: BundleView, directory: Path, *, force: bool) -> dict[str, str | None]:
    """Write the binary, the source and ``airflow-metadata.yaml`` of ``view`` into ``directory``.

    The binary keeps the bundle's file name (``<name>.bin`` if that collides),
    the source takes the manifest's ``source`` name reduced to a base name.
    Nothing is overwritten without ``force``.

    Example:
        >>> extract(read_view("dist/hello"), Path("out"), force=False)
        {'binary': 'out/hello', 'source': 'out/hello.c', 'manifest': 'out/airflow-metadata.yaml'}
    """
    source_name = _safe_basename(view.source_name) or "source"
    if source_name == MANIFEST_FILE_NAME:
        source_name = f"source-{source_name}"
    binary_name = view.path.name
    if binary_name in (source_name, MANIFEST_FILE_NAME):
        binary_name += ".bin"
    binary = directory / binary_name
    source = directory / source_name if view.source_len else None
    manifest = directory / MANIFEST_FILE_NAME
    with reporting(directory):
        directory.mkdir(parents=True, exist_ok=True)
    for target in (binary, source, manifest):
        if target is not None:
            _refuse_existing(target, force)
    with reporting(directory):
        _core.strip(view.path, binary)
        if source is not None:
            _write_atomically(source, view.read_source())
        _write_atomically(manifest, view.read_manifest())
    return {
        "binary": str(binary),
        "source": str(source) if source is not None else None,
        "manifest": str(manifest),
    }


def _safe_basename(name: str | None) -> str | None:
    if not name:
        return None
    base = os.path.basename(name.replace("\\", "/"))
    if base in ("", ".", "..") or "\0" in base:
        return None
    return base


def _write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".afbundle-extract-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- verify


@dataclasses.dataclass
class VerifyResult:
    """The outcome for one ``afbundle verify`` argument."""

    path: str
    kind: str | None = None
    reason: str | None = None
    violations: list[SchemaViolation] = dataclasses.field(default_factory=list)
    warnings: list[str] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.kind is None

    def as_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "kind": self.kind,
            "reason": self.reason,
            "violations": [{"path": v.path, "message": v.message} for v in self.violations],
            "warnings": self.warnings,
        }


def verify_one(path: str, *, strict: bool) -> VerifyResult:
    """Read and SHA-256-verify one bundle; with ``strict``, also check its manifest's schema.

    Example:
        >>> verify_one("dist/hello", strict=True).ok
        True
    """
    try:
        bundle = afbundle.read_bundle(path, verify=True)
    except BundleError as exc:
        return VerifyResult(path, exc.kind, exc.reason)
    except OSError as exc:
        return VerifyResult(path, "io", exc.strerror or str(exc))
    if not strict:
        return VerifyResult(path)
    try:
        metadata = bundle.metadata
    except ManifestError as exc:
        return VerifyResult(path, exc.kind, exc.reason)
    result = VerifyResult(path)
    violations = schema_violations(metadata)
    if violations:
        count = f"{len(violations)} schema violation{'s' if len(violations) > 1 else ''}"
        details = "; ".join(str(v) for v in violations)
        result = VerifyResult(path, "schema", f"manifest has {count}: {details}", violations)
    issues = yaml_portability_issues(bundle.read_manifest(), metadata) or []
    result.warnings = [
        f"manifest line {i.line}: {i.path}: {i.message}" if i.line else f"{i.path}: {i.message}"
        for i in issues
    ]
    return result


def cmd_verify(args: argparse.Namespace) -> int:
    """``afbundle verify``: one ``OK``/``FAIL`` line per file."""
    results = [verify_one(path, strict=args.strict) for path in args.paths]
    if args.json:
        print_json(
            {
                "command": "verify",
                "strict": args.strict,
                "results": [r.as_json() for r in results],
                "ok": sum(r.ok for r in results),
                "failed": sum(not r.ok for r in results),
            }
        )
    else:
        palette = Palette.for_stream(sys.stdout)
        for r in results:
            for warning in r.warnings:
                warn(f"{r.path}: {warning}")
            line = f"{palette.good('OK')} {r.path}" if r.ok else f"{palette.bad('FAIL')} {r.path}"
            print(line if r.ok else f"{line}: {r.reason}")
    if any(r.kind == "io" for r in results):
        return ExitCode.ERROR
    return ExitCode.OK if all(r.ok for r in results) else ExitCode.INVALID


# --------------------------------------------------------------------------- scan and find


def _scan_json(report: ScanReport, verify: bool) -> dict[str, Any]:
    return {
        "command": "scan",
        "roots": [str(r) for r in report.roots],
        "verify": verify,
        "bundles": [
            BundleView.of(b).summary(b.verified if verify else None) for b in report.bundles
        ],
        "rejected": [
            {"path": str(r.path), "kind": r.kind, "reason": r.reason} for r in report.rejected
        ],
        "duplicates": [
            {
                "dag_id": dag_id,
                "winner": None if winner is None else str(winner),
                "shadowed": [
                    {"path": str(r.path), "kind": r.kind, "reason": r.reason} for r in losers
                ],
            }
            for dag_id, winner, losers in duplicate_decisions(report)
        ],
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in report.skipped],
        "missing_roots": [str(r) for r in report.missing_roots],
        "stats": report.stats.as_dict(),
    }


def duplicate_decisions(report: ScanReport) -> list[tuple[str, Path | None, tuple[Any, ...]]]:
    """For each dag_id declared by several bundles (sorted): the winner's path, as
    ``find`` decides it (None if none qualifies), and every other bundle with why it lost."""
    rows = []
    for dag_id in sorted(report.duplicates):
        winner = report.winner(dag_id)
        rows.append((dag_id, None if winner is None else winner.path, report.losers(dag_id)))
    return rows


def _verified_cell(bundle: afbundle.Bundle, verify: bool, palette: Palette) -> Styled:
    if not verify:
        return Styled("unchecked", palette.faint)
    return Styled("yes", palette.good) if bundle.verified else Styled("no", palette.bad)


def _print_scan(report: ScanReport, verify: bool, palette: Palette) -> None:
    print(palette.strong(f"bundles ({len(report.bundles)}, in precedence order)"))
    rows = []
    for bundle in report.bundles:
        view = BundleView.of(bundle)
        rows.append(
            [
                str(bundle.path),
                ", ".join(bundle.dag_ids) or "-",
                view.language or "-",
                view.supervisor_schema_version or Styled("(missing)", palette.bad),
                human_size(bundle.size),
                _verified_cell(bundle, verify, palette),
            ]
        )
    headers = ["PATH", "DAG_IDS", "LANGUAGE", "SCHEMA", "SIZE", "VERIFIED"]
    for line in render_table(headers, rows, palette, right=[4]) if rows else ["  (none)"]:
        print(line)
    _print_section(
        f"rejected ({len(report.rejected)})",
        [[str(r.path), r.kind, Styled(r.reason, palette.bad)] for r in report.rejected],
        ["PATH", "KIND", "REASON"],
        palette,
    )
    _print_section(
        f"duplicate dag_ids ({len(report.duplicates)})",
        [
            [
                dag_id,
                Styled("(none)", palette.bad) if winner is None else str(winner),
                "; ".join(f"{r.path} ({r.kind})" for r in losers),
            ]
            for dag_id, winner, losers in duplicate_decisions(report)
        ],
        ["DAG_ID", "WINNER", "OTHERS (WHY NOT)"],
        palette,
    )
    _print_section(
        f"skipped ({len(report.skipped)})",
        [[str(s.path), s.reason] for s in report.skipped],
        ["PATH", "REASON"],
        palette,
    )
    _print_section(
        f"missing roots ({len(report.missing_roots)})",
        [[Styled(str(r), palette.bad)] for r in report.missing_roots],
        ["ROOT"],
        palette,
    )
    s = report.stats
    print(
        f"\nscanned {s.dirs_visited} directories, {s.files_seen} files: "
        f"{s.executables} executable, {s.not_executable} not executable, {s.special} special; "
        f"{s.bundles_read} bundles read, {human_size(s.bytes_hashed)} hashed, "
        f"{s.cache_hits} digest cache hits"
    )


def _print_section(
    title: str, rows: list[list[str | Styled]], headers: list[str], palette: Palette
) -> None:
    if not rows:
        return
    print()
    print(palette.strong(title))
    for line in render_table(headers, rows, palette):
        print(line)


def cmd_scan(args: argparse.Namespace) -> int:
    """``afbundle scan``: every bundle under the roots, in precedence order, and every problem."""
    verify = args.verify == "all"
    with reporting(None):
        report = with_progress(
            f"scanning {', '.join(args.roots)}",
            lambda: afbundle.scan(
                args.roots,
                verify=verify,
                threads=args.threads,
                log=ConsoleLog(),
                cache_dir=args.cache_dir,
                persistent_cache=not args.no_cache,
            ),
            show=_stderr_is_tty() and not args.json,
        )
    if args.json:
        print_json(_scan_json(report, verify))
    else:
        _print_scan(report, verify, Palette.for_stream(sys.stdout))
    if report.missing_roots:
        return ExitCode.ERROR
    return ExitCode.INVALID if report.rejected else ExitCode.OK


def cmd_find(args: argparse.Namespace) -> int:
    """``afbundle find``: the path of the bundle Airflow would run for a dag_id."""
    try:
        with reporting(None):
            bundle = with_progress(
                f"looking for {args.dag_id}",
                lambda: afbundle.find(
                    args.roots,
                    args.dag_id,
                    threads=args.threads,
                    log=ConsoleLog(),
                    cache_dir=args.cache_dir,
                    persistent_cache=not args.no_cache,
                ),
                show=_stderr_is_tty() and not args.json,
            )
    except CliError as exc:
        not_found = exc.__cause__
        if args.json and isinstance(not_found, BundleNotFoundError):
            print_json(_find_json(args.dag_id, None, not_found))
        raise
    if args.exec_args is not None:
        return _exec_sealed(bundle, args.dag_id, args.exec_args)
    if args.json:
        print_json(_find_json(args.dag_id, bundle, None))
    else:
        print(bundle.path)
    return ExitCode.OK


def _exec_sealed(bundle: afbundle.Bundle, dag_id: str, argv: list[str]) -> int:
    """Replace this process with a sealed, verified copy of ``bundle`` (``find --exec``).

    The copy's bytes are checked after sealing, so a file swapped on disk in
    the meantime cannot run. Only returns (with an error) when that fails.
    """
    with reporting(bundle.path):
        sealed = afbundle.seal(bundle.path)
    if sealed.bundle.binary_sha256 != bundle.binary_sha256 or dag_id not in sealed.bundle.dag_ids:
        sealed.close()
        reason = "changed between its verification and sealing; not running it"
        raise CliError(bundle.path, reason, ExitCode.INVALID)
    assert sealed.fd is not None
    # A `#!` interpreter opens the program by its /proc path after the exec, so
    # the descriptor must survive it.
    os.set_inheritable(sealed.fd, True)
    sys.stdout.flush()
    sys.stderr.flush()
    with reporting(bundle.path):
        os.execv(f"/proc/self/fd/{sealed.fd}", [str(bundle.path), *argv])
    return ExitCode.ERROR  # not reached: execv either replaces the process or raises


def _find_json(
    dag_id: str, bundle: afbundle.Bundle | None, error: BundleNotFoundError | None
) -> dict[str, Any]:
    rejected = error.rejected if error is not None else ()
    return {
        "command": "find",
        "dag_id": dag_id,
        "found": bundle is not None,
        "bundle": BundleView.of(bundle).summary(True) if bundle is not None else None,
        "error": str(error) if error is not None else None,
        "rejected": [{"path": str(r.path), "kind": r.kind, "reason": r.reason} for r in rejected],
    }


def _stderr_is_tty() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


# --------------------------------------------------------------------------- strip


def cmd_strip(args: argparse.Namespace) -> int:
    """``afbundle strip``: write the verified binary region back, byte for byte."""
    output = Path(args.output)
    _refuse_existing(output, args.force)
    with reporting(args.bundle):
        bundle = afbundle.read_bundle(args.bundle, verify=True)
        _core.strip(args.bundle, output)
    print(
        f"wrote {output}: the {human_size(bundle.source_start)} binary region of {args.bundle} "
        f"(sha256 {bundle.binary_sha256.hex()})"
    )
    return ExitCode.OK


# --------------------------------------------------------------------------- parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _subcommand(
    subparsers: Any, name: str, handler: Callable[[argparse.Namespace], int], help: str
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=handler, subparser=parser)
    return parser


def _add_pack(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "pack",
        cmd_pack,
        "append a DAG source and a validated manifest to a compiled program",
    )
    p.add_argument("binary", metavar="BINARY", help="the compiled program (never executed)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the bundle to write")
    p.add_argument("--source", metavar="FILE", help="the DAG source file to embed")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="airflow-metadata.yaml to embed ('-' reads stdin); or build it with the flags below",
    )
    p.add_argument(
        "--dag", metavar="ID", dest="dags", action=DagAction, help="declare a dag_id (repeatable)"
    )
    p.add_argument(
        "--tasks",
        metavar="A,B,...",
        dest="dags",
        action=TasksAction,
        help="task_ids of the preceding --dag",
    )
    p.add_argument("--language", metavar="L", help="sdk.language, e.g. go, rust, cpp, c")
    p.add_argument("--sdk-version", metavar="V", help="sdk.version")
    p.add_argument("--schema-version", metavar="YYYY-MM-DD", help="sdk.supervisor_schema_version")
    p.add_argument(
        "--replace-footer",
        action="store_true",
        help="BINARY is already a bundle: replace its source and manifest",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def _add_inspect(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "inspect",
        cmd_inspect,
        "show a bundle's trailer, regions, digest check and manifest",
    )
    p.add_argument("bundle", metavar="BUNDLE")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--json", action="store_true", help="print a JSON document")
    only.add_argument("--source", action="store_true", help="write the raw source region to stdout")
    only.add_argument(
        "--manifest", action="store_true", help="write the raw manifest region to stdout"
    )
    p.add_argument(
        "--extract",
        metavar="DIR",
        help=f"write the binary, the source and {MANIFEST_FILE_NAME} into DIR",
    )
    p.add_argument("--force", action="store_true", help="let --extract overwrite files")


def _add_verify(subparsers: Any) -> None:
    p = _subcommand(subparsers, "verify", cmd_verify, "check bundles' trailers and binary_sha256")
    p.add_argument("paths", metavar="PATH", nargs="+")
    p.add_argument(
        "--strict",
        action="store_true",
        help="also validate each manifest against the bundle spec's JSON Schema",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document")


def _add_scan(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "scan",
        cmd_scan,
        "list every bundle under the roots in precedence order, and every problem",
    )
    p.add_argument("roots", metavar="ROOT", nargs="+")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument("--threads", metavar="N", type=_positive_int, help="walker threads")
    p.add_argument(
        "--verify",
        choices=("all", "none"),
        default="all",
        help="SHA-256-check every bundle (default) or none",
    )
    _add_cache_options(p)


def _add_cache_options(p: argparse.ArgumentParser) -> None:
    """--cache-dir / --no-cache: the persistent digest cache (scan and find)."""
    cache = p.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="persistent digest cache directory (default: $XDG_CACHE_HOME/afbundle, "
        "else ~/.cache/afbundle; must be private to you)",
    )
    cache.add_argument(
        "--no-cache",
        action="store_true",
        help="neither use nor fill the persistent digest cache: hash every bundle checked",
    )


def _add_find(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "find",
        cmd_find,
        "print the path of the bundle that serves DAG_ID (the first verified in precedence order)",
    )
    p.add_argument("dag_id", metavar="DAG_ID")
    p.add_argument("roots", metavar="ROOT", nargs="+")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument("--threads", metavar="N", type=_positive_int, help="walker threads")
    _add_cache_options(p)
    p.add_argument(
        "--exec",
        dest="exec_args",
        nargs=argparse.REMAINDER,
        metavar="ARG",
        help="run the bundle instead of printing its path: a sealed in-memory copy whose bytes "
        "were verified, with the remaining arguments (must come last)",
    )


def _add_strip(subparsers: Any) -> None:
    p = _subcommand(
        subparsers, "strip", cmd_strip, "write a bundle's original binary back, byte for byte"
    )
    p.add_argument("bundle", metavar="BUNDLE")
    p.add_argument("-o", "--output", metavar="OUT", required=True)
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def build_parser() -> argparse.ArgumentParser:
    """The ``afbundle`` argument parser.

    Example:
        >>> build_parser().parse_args(["verify", "dist/hello"]).paths
        ['dist/hello']
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Pack, inspect, verify, scan and find Apache Airflow executable bundles.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {afbundle.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_pack, _add_inspect, _add_verify, _add_scan, _add_find, _add_strip):
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``afbundle`` command line and return its exit status.

    Example:
        >>> main(["verify", "dist/hello"])
        OK dist/hello
        0
    """
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except CliError as exc:
        print_error(exc)
        return int(exc.code)
    except BrokenPipeError:
        # The reader went away (`afbundle inspect b --source | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
