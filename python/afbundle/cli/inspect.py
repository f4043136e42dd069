"""``afbundle inspect``: trailer, regions, digest check and manifest of one bundle.

A bundle whose manifest cannot be read is still shown (its regions and digest
come from the trailer), so a damaged bundle can be examined.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import afbundle
from afbundle import inspection
from afbundle.cli.args import MANIFEST_FILE_NAME
from afbundle.cli.bundles import bundle_json, dag_summaries, jsonable, metadata_of, text_at
from afbundle.cli.exit import CliError, ExitCode, refuse_existing, reporting, require_file
from afbundle.cli.printer import (
    Palette,
    human_size,
    plain,
    print_json,
    render_table,
    shown,
    stdout_palette,
    warn,
)
from afbundle.errors import BundleIntegrityError, ManifestError


@dataclasses.dataclass(frozen=True)
class Inspected:
    """One bundle file as inspect sees it: the core's ``Bundle`` when its manifest
    reads, else its trailer and why the manifest does not."""

    path: str
    layout: afbundle.Bundle | inspection.Trailer
    metadata: dict[Any, Any] | None
    manifest_error: str | None

    @property
    def bundle(self) -> afbundle.Bundle | None:
        return self.layout if isinstance(self.layout, afbundle.Bundle) else None

    def read_region(self, region: str) -> bytes:
        """A raw region, through the core (the bundle's own state check when there is one)."""
        with reporting(self.path):
            if self.bundle is not None:
                return (
                    self.bundle.read_source() if region == "source" else self.bundle.read_manifest()
                )
            return inspection.read_region(self.path, "source" if region == "source" else "manifest")


@dataclasses.dataclass(frozen=True)
class Verification:
    """The binary region's digest as it is now, against the trailer's."""

    actual: bytes
    problem: str | None

    @property
    def verified(self) -> bool:
        return self.problem is None


def read(path: str) -> Inspected:
    """The bundle at ``path``, unverified; a manifest error still yields its regions.

    Raises:
        CliError: not a bundle, a malformed trailer (1), an I/O error or a directory (2).
    """
    require_file(path)
    with reporting(path):
        try:
            bundle = afbundle.read_bundle(path, verify=False)
        except ManifestError as exc:
            return Inspected(path, inspection.read_trailer(path), None, exc.reason)
    metadata, problem = metadata_of(bundle)
    return Inspected(path, bundle, metadata, problem)


def verify(item: Inspected) -> Verification:
    """Check the binary region through the core; the digests come with its error.

    The binary region is hashed before the manifest is parsed (spec order), so a
    ``ManifestError`` here means the digest matched.
    """
    expected = item.layout.binary_sha256
    with reporting(item.path):
        try:
            afbundle.read_bundle(item.path, verify=True)
        except ManifestError:
            pass
        except BundleIntegrityError as exc:
            if exc.actual is not None:
                return Verification(bytes.fromhex(exc.actual), exc.reason)
            # The file changed while it was read: say what it hashes to now.
            actual = inspection.binary_sha256_now(item.path, item.layout.source_start)
            return Verification(actual, exc.reason)
    return Verification(expected, None)


def run(args: argparse.Namespace) -> int:
    item = read(args.bundle)
    if args.source and item.bundle is not None:
        # Streamed: a source region may be larger than memory allows.
        sys.stdout.buffer.flush()
        with reporting(item.layout.path):
            item.bundle.write_source(sys.stdout.buffer.fileno())
        return ExitCode.OK
    if args.source or args.manifest:
        region = item.read_region("source" if args.source else "manifest")
        sys.stdout.buffer.write(region)
        sys.stdout.buffer.flush()
        return ExitCode.OK
    check = verify(item)
    extracted = extract(item, Path(args.extract), force=args.force) if args.extract else None
    if args.json:
        print_json(_json(item, check, extracted))
    else:
        _print(item, check, extracted, stdout_palette())
    valid = check.verified and item.manifest_error is None
    return ExitCode.OK if valid else ExitCode.INVALID


def _json(
    item: Inspected, check: Verification, extracted: dict[str, str | None] | None
) -> dict[str, Any]:
    detail = bundle_json(item.layout, item.metadata, check.verified)
    detail.update(
        binary_sha256_actual=check.actual.hex(),
        problem=check.problem,
        manifest_error=item.manifest_error,
        dags=[{"dag_id": d.dag_id, "tasks": d.tasks} for d in dag_summaries(item.bundle)],
        manifest=jsonable(item.metadata) if item.metadata is not None else None,
    )
    return {"command": "inspect", "bundle": detail, "extracted": extracted}


def _print(
    item: Inspected,
    check: Verification,
    extracted: dict[str, str | None] | None,
    palette: Palette,
) -> None:
    layout = item.layout
    expected, actual = layout.binary_sha256.hex(), check.actual.hex()
    if check.verified:
        verdict = palette.good("yes")
    elif check.actual != layout.binary_sha256:
        verdict = palette.bad("no: the binary region does not hash to binary_sha256")
    else:
        verdict = palette.bad(f"no: {plain(check.problem)}")
    fields = [
        ("path", shown(layout.path)),
        ("size", f"{human_size(layout.size)} ({layout.size} bytes)"),
        ("footer_version", str(layout.footer_version)),
        ("binary_sha256", f"expected {expected}"),
        ("", f"actual   {actual if check.verified else palette.bad(actual)}"),
        ("verified", verdict),
    ]
    for name, value in fields:
        print(f"{palette.strong(f'{name:<15}') if name else ' ' * 15} {value}")
    print()
    rows = [[n, str(o), str(ln), human_size(ln)] for n, o, ln in inspection.regions(layout)]
    for line in render_table(["REGION", "OFFSET", "LENGTH", "SIZE"], rows, palette, right=[1, 2]):
        print(line)
    print()
    _print_manifest_summary(item, palette)
    if extracted:
        print()
        for what, path in extracted.items():
            print(f"extracted {what:<8} -> {shown(path) if path else '(no source embedded)'}")


def _print_manifest_summary(item: Inspected, palette: Palette) -> None:
    if item.manifest_error is not None:
        print(f"{palette.strong('manifest')}  {palette.bad(plain(item.manifest_error))}")
        return
    print(palette.strong("manifest"))
    metadata = item.metadata
    fields = [
        ("airflow_bundle_metadata_version", text_at(metadata, "airflow_bundle_metadata_version")),
        ("sdk.language", text_at(metadata, "sdk", "language")),
        ("sdk.version", text_at(metadata, "sdk", "version")),
        ("sdk.supervisor_schema_version", text_at(metadata, "sdk", "supervisor_schema_version")),
        ("source", text_at(metadata, "source")),
    ]
    for name, value in fields:
        print(f"  {name:<32} {shown(value) if value is not None else palette.bad('(missing)')}")
    dags = dag_summaries(item.bundle)
    print(f"{palette.strong('dags')} ({len(dags)})")
    rows = [[shown(d.dag_id), str(len(d.tasks)) if d.tasks is not None else "?"] for d in dags]
    if rows:
        for line in render_table(["DAG_ID", "TASKS"], rows, palette, right=[1]):
            print(line)
    for key in item.bundle.retyped_keys if item.bundle is not None else ():
        warn(f"{shown(item.path)}: manifest line {key['line']}: {plain(key['message'])}")


def extract(item: Inspected, directory: Path, *, force: bool) -> dict[str, str | None]:
    """Write the binary, the source and ``airflow-metadata.yaml`` into ``directory``.

    The binary keeps the bundle's file name (``<name>.bin`` if that collides),
    the source takes the manifest's ``source`` name reduced to a base name.
    ``directory`` is created if missing, but not its parents (as pack and strip
    refuse a missing output directory). Nothing is overwritten without
    ``force``. Every file is written atomically by the core.
    """
    source_name = _safe_basename(text_at(item.metadata, "source")) or "source"
    if source_name == MANIFEST_FILE_NAME:
        source_name = f"source-{source_name}"
    binary_name = Path(item.layout.path).name
    if binary_name in (source_name, MANIFEST_FILE_NAME):
        binary_name += ".bin"
    binary = directory / binary_name
    source = directory / source_name if item.layout.source_len else None
    manifest = directory / MANIFEST_FILE_NAME
    parent = directory.parent
    if not parent.is_dir():
        raise CliError(parent, "no such directory", ExitCode.ERROR)
    with reporting(directory):
        directory.mkdir(exist_ok=True)
    for target in (binary, source, manifest):
        if target is not None:
            refuse_existing(target, force)
    with reporting(item.layout.path):
        afbundle.strip(item.layout.path, binary)
    if source is not None and item.bundle is not None:
        with reporting(source):
            item.bundle.write_source(source)  # streamed, atomic, umask honoured
    elif source is not None:
        data = item.read_region("source")
        with reporting(source):
            inspection.write_file(source, data)
    data = item.read_region("manifest")
    with reporting(manifest):
        inspection.write_file(manifest, data)
    return {
        "binary": os.fsdecode(binary),
        "source": os.fsdecode(source) if source is not None else None,
        "manifest": os.fsdecode(manifest),
    }


def _safe_basename(name: str | None) -> str | None:
    if not name:
        return None
    base = os.path.basename(name.replace("\\", "/"))
    if base in ("", ".", "..") or "\0" in base:
        return None
    return base
