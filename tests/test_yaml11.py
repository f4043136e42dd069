"""dag_ids and task_ids are what Airflow's YAML 1.1 reader makes of them (issue #19, item 4).

Airflow 3.3.2 reads a manifest with PyYAML's ``safe_load`` and routes a dag_id
to a bundle when that ``str`` is a key of ``dags``. For every generated manifest
-- plain keys from the families YAML 1.1 and 1.2 type differently, and random
ones -- the dag_ids afbundle routes (``read_bundle().dag_ids``, ``scan``,
``find``) must be exactly those, and a manifest PyYAML cannot construct must be
refused. The oracle is PyYAML itself and upstream's own ``_Bundle.find``.
"""

from __future__ import annotations

import logging
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import afbundle
from afbundle import _core

from _writer import bundle_bytes, write_file

pytestmark = pytest.mark.airflow

upstream = pytest.importorskip(
    "airflow.sdk.coordinators.executable.coordinator",
    reason="the YAML 1.1 oracle is upstream's reader (apache-airflow-task-sdk)",
)
schema = pytest.importorskip("airflow.sdk.execution_time.schema")
RESOLVE = schema.get_schema_version_migrator().resolve_version


@pytest.fixture(autouse=True, scope="module")
def _quiet_upstream_logs() -> Iterator[None]:
    previous = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    yield
    structlog.configure(**previous)


# --- plain scalars from every family YAML 1.1 and 1.2 type differently -----------------------

BOOLS = [w for b in ("yes", "no", "true", "false", "on", "off") for w in (b, b.title(), b.upper())]
NULLS = ["~", "null", "Null", "NULL"]
ODD = ["y", "n", "Y", "N", "=", "<<", "._", ".", "+.nan", "-.nan", "0o17", "0O17", "1E3", "08"]


def _underscored(digits: str, data: st.DataObject) -> str:
    """Sprinkle underscores into ``digits`` after its first character."""
    head, tail = digits[:1], digits[1:]
    out = [head] + [c + ("_" if data.draw(st.booleans()) else "") for c in tail]
    return "".join(out) + ("_" if data.draw(st.booleans()) else "")


@st.composite
def numbers(draw: st.DrawFn) -> str:
    n = draw(st.integers(min_value=0, max_value=10**12))
    sign = draw(st.sampled_from(["", "-", "+"]))
    form = draw(st.sampled_from(["dec", "oct", "0o", "hex", "bin", "sexa", "under", "float"]))
    if form == "dec":
        body = str(n)
    elif form == "oct":
        body = "0" + format(n, "o")
    elif form == "0o":
        body = "0o" + format(n, "o")
    elif form == "hex":
        body = "0x" + format(n, draw(st.sampled_from(["x", "X"])))
    elif form == "bin":
        body = "0b" + format(n, "b")
    elif form == "sexa":
        parts = draw(st.lists(st.integers(0, 99), min_size=1, max_size=3))
        body = str(n % 500 or 1) + "".join(f":{p:0{draw(st.sampled_from([1, 2]))}d}" for p in parts)
        if draw(st.booleans()):
            body += "." + str(draw(st.integers(0, 99)))
    elif form == "under":
        body = _underscored(str(n), draw(st.data()))
    else:
        mantissa = draw(st.sampled_from([f"{n}.", f"{n}.5", f".{n}", f"{n}", f"{n}.0"]))
        exponent = draw(st.sampled_from(["", "e3", "e+3", "E-2", "e03"]))
        body = mantissa + exponent
    return sign + body


@st.composite
def dates(draw: st.DrawFn) -> str:
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    width = draw(st.sampled_from([2, 1]))
    date = f"{year:04d}-{month:0{width}d}-{day:0{width}d}"
    if draw(st.booleans()):
        sep = draw(st.sampled_from(["T", "t", " ", "  "]))
        hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 61)), 59
        date += f"{sep}{hour}:{minute:02d}:{second:02d}"
        date += draw(st.sampled_from(["", ".5", "Z", " +01:00", "-5", "+24:00", ".123456789"]))
    return date


PLAIN_TEXT = st.text(string.ascii_letters + string.digits + "_-.:+~=<", min_size=1, max_size=10)
KEYS = st.one_of(
    st.sampled_from(BOOLS + NULLS + ODD),
    numbers(),
    dates(),
    PLAIN_TEXT,
    st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
)


def is_plain_key(key: str) -> bool:
    """Whether ``key`` stands as a plain scalar key, spelled as is, in a block mapping."""
    try:
        node = yaml.compose(f"{key}: x\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    (key_node, _), *_ = node.value
    return key_node.style is None and key_node.value == key and len(node.value) == 1


def is_plain_item(item: str) -> bool:
    """Whether ``item`` stands as a plain scalar, spelled as is, in a block sequence."""
    try:
        node = yaml.compose(f"- {item}\n", Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    (item_node,) = node.value
    return (
        isinstance(item_node, yaml.ScalarNode)
        and item_node.style is None
        and item_node.value == item
    )


def packer_style(keys: list[str], tasks: list[str] | None = None) -> bytes:
    """A manifest as the Go packer writes it: two-space indent, values double-quoted, keys plain."""
    lines = [
        'airflow_bundle_metadata_version: "1.0"',
        "sdk:",
        '  language: "go"',
        '  version: "1.0.0"',
        '  supervisor_schema_version: "2026-06-16"',
        'source: "main.go"',
        "dags:",
    ]
    for key in keys:
        lines += [f"  {key}:", "    tasks:"]
        lines += [f"      - {t}" for t in tasks or ['"run"']]
    return ("\n".join(lines) + "\n").encode()


def airflow_routes(meta: bytes) -> set[str] | None:
    """The dag_ids Airflow's reader routes for ``meta`` (``None``: it cannot read it)."""
    try:
        loaded = yaml.safe_load(meta.decode())
    except Exception:  # YAMLError: skipped; ValueError & co: upstream's find crashes
        return None
    return {k for k in upstream._dag_ids(loaded) if isinstance(k, str)}


def scratch() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="afbundle-yaml11-")


def routed_by_afbundle(path: Path) -> set[str] | None:
    """What afbundle routes to the bundle at ``path`` (``None``: it refuses the manifest)."""
    try:
        return set(afbundle.read_bundle(path).dag_ids)
    except afbundle.ManifestError:
        return None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(KEYS, min_size=1, max_size=6, unique=True))
def test_the_dag_ids_afbundle_routes_are_those_airflow_routes(keys: list[str]) -> None:
    assume(all(is_plain_key(k) for k in keys))
    meta = packer_style(keys)
    with scratch() as d:
        path = write_file(Path(d) / "b", bundle_bytes(metadata=meta))
        assert routed_by_afbundle(path) == airflow_routes(meta), meta.decode()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(KEYS, min_size=1, max_size=4, unique=True))
def test_find_and_scan_agree_with_upstreams_find_key_by_key(keys: list[str]) -> None:
    assume(all(is_plain_key(k) for k in keys))
    meta = packer_style(keys)
    routes = airflow_routes(meta)
    assume(routes is not None)  # upstream's find raises a ValueError on those: no oracle
    with scratch() as d:
        root = Path(d).resolve()
        path = write_file(root / "b", bundle_bytes(metadata=meta))
        report = afbundle.scan([root], resolve_schema_version=RESOLVE)
        for key in keys:
            upstream._digest_cache.clear()
            try:
                theirs = upstream._Bundle.find([root], key).path
            except FileNotFoundError:
                theirs = None
            _core.clear_digest_cache()
            try:
                ours = afbundle.find([root], key, resolve_schema_version=RESOLVE).path
            except afbundle.BundleNotFoundError:
                ours = None
            assert ours == theirs, (key, meta.decode())
            assert (report.winner(key) is not None) == (theirs is not None), key
            assert (theirs == path) == (key in routes), key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(KEYS, min_size=1, max_size=5))
def test_task_ids_are_the_items_airflow_reads_as_strings(items: list[str]) -> None:
    assume(all(is_plain_item(k) for k in items))
    meta = packer_style(["d"], tasks=items)
    try:
        loaded = yaml.safe_load(meta.decode())
    except Exception:
        loaded = None
    with scratch() as d:
        path = write_file(Path(d) / "b", bundle_bytes(metadata=meta))
        if loaded is None:
            with pytest.raises(afbundle.ManifestError):
                afbundle.read_bundle(path)
            return
        bundle = afbundle.read_bundle(path)
    tasks = loaded["dags"]["d"]["tasks"]
    assert bundle.tasks == {"d": tuple(t for t in tasks if isinstance(t, str))}
    retyped = {r["task_index"] for r in bundle.retyped_keys}
    yaml12 = afbundle.parse_manifest(meta)["dags"]["d"]["tasks"]
    differ = {
        i
        for i, (a, b) in enumerate(zip(tasks, yaml12, strict=True))
        if not (isinstance(a, str) and isinstance(b, str))
    }
    assert retyped == differ


# --- the families one by one, named --------------------------------------------------------------

ROUTED_BY_AIRFLOW_ONLY_UNDER_YAML_12 = ["0o17", "1e3", "1.0e3", "0E0", "-1E+3"]
NOT_STRINGS_TO_AIRFLOW = ["on", "yes", "No", "1_000", "2024-01-01", "0755", "1:30", "~", "1."]


@pytest.mark.parametrize("key", ROUTED_BY_AIRFLOW_ONLY_UNDER_YAML_12 + NOT_STRINGS_TO_AIRFLOW)
def test_a_packer_style_manifest_routes_what_airflow_routes(tmp_path: Path, key: str) -> None:
    meta = packer_style([key, "plain_dag"])
    path = write_file(tmp_path / "b", bundle_bytes(metadata=meta))
    routed = routed_by_afbundle(path)
    assert routed == airflow_routes(meta)
    assert (key in routed) == (key in ROUTED_BY_AIRFLOW_ONLY_UNDER_YAML_12)
    (retyped,) = afbundle.read_bundle(path).retyped_keys
    assert (retyped["text"], retyped["line"], retyped["routed"]) == (key, 8, key in routed)


@pytest.mark.parametrize("key", ["2024-13-01", "0b_", "0x_", "2024-02-30 10:00:00"])
def test_a_key_pyyaml_cannot_construct_refuses_the_whole_bundle(tmp_path: Path, key: str) -> None:
    meta = packer_style([key, "plain_dag"])
    assert airflow_routes(meta) is None
    path = write_file(tmp_path / "b", bundle_bytes(metadata=meta))
    with pytest.raises(afbundle.ManifestError, match=r"YAML 1\.1 reader"):
        afbundle.read_bundle(path)
    report = afbundle.scan([tmp_path], resolve_schema_version=RESOLVE)
    assert [r.kind for r in report.rejected] == ["manifest"]


# --- what afbundle writes reads the same under both ----------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(st.lists(st.one_of(KEYS, st.text(min_size=1, max_size=8)), min_size=1, max_size=6))
def test_pack_quotes_every_key_and_item_yaml_1_1_would_retype(keys: list[str]) -> None:
    manifest = {
        "airflow_bundle_metadata_version": "1.0",
        "sdk": {"language": "go", "version": "1.0.0", "supervisor_schema_version": "2026-06-16"},
        "source": "main.go",
        "dags": {k: {"tasks": keys} for k in keys},
    }
    meta = afbundle.dump_manifest(manifest)
    assert yaml.safe_load(meta.decode()) == afbundle.parse_manifest(meta) == manifest
    with scratch() as d:
        out = Path(d) / "out"
        binary = write_file(Path(d) / "program", b"\x7fELF program")
        bundle = afbundle.pack(binary, out, manifest=manifest)
        assert set(bundle.dag_ids) == set(keys) == airflow_routes(bundle.read_manifest())
        assert bundle.retyped_keys == ()
