"""``afbundle pack``: validate the manifest, then append source, manifest and trailer."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import afbundle
from afbundle.cli.bundles import dag_summaries
from afbundle.cli.exit import CliError, ExitCode, refuse_existing, reporting, require_file
from afbundle.cli.printer import error, human_size, note, plain, plural, shown, shown_list, warn
from afbundle.errors import BundleError, ManifestError, NotABundleError
from afbundle.inspection import regions

if TYPE_CHECKING:
    from afbundle import ManifestFinding

#: The ``airflow_bundle_metadata_version`` written when pack builds the manifest.
METADATA_VERSION = "1.0"
#: Manifest fields pack builds from flags, so violations can name the flag.
FLAG_OF_FIELD = {
    "$.sdk.language": "--language",
    "$.sdk.version": "--sdk-version",
    "$.sdk.supervisor_schema_version": "--schema-version",
    "$.source": "--source",
}


def run(args: argparse.Namespace) -> int:
    """Check inputs (an I/O problem is exit status 2), then the manifest, then write.

    The core writes atomically: nothing appears at OUT when pack fails.
    """
    _check_flags(args)
    refuse_existing(args.output, args.force)
    _refuse_bundle_input(args.binary, args.replace_footer)
    source = _read_source(args.source)
    manifest, label, raw = _manifest(args)
    if "source" not in manifest and args.source is not None:
        manifest["source"] = os.path.basename(args.source)
    # The YAML lint reads the text as written; the schema sees what will be packed.
    findings = [] if raw is None else afbundle.check_manifest(raw, schema=False, label=label)
    schema = afbundle.check_manifest(manifest, label=label)
    # A task item of another type is a schema violation already; say it once.
    violated = {f.path for f in schema if f.code == "schema"}
    findings = [f for f in findings if f.code != "no-tasks" and f.path not in violated] + schema
    _report(findings, label, from_flags=args.manifest is None)
    _warn_source_name_mismatch(manifest, args.source, label)
    with reporting(args.binary):
        bundle = afbundle.pack(
            args.binary,
            args.output,
            manifest=manifest,
            source=source,
            replace_footer=args.replace_footer,
        )
    _print_packed(args.output, bundle)
    return ExitCode.OK


def _check_flags(args: argparse.Namespace) -> None:
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


def manifest_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The manifest pack builds from ``--dag/--tasks/--language/--sdk-version/--schema-version``.

    Example:
        >>> from afbundle.cli.args import DagSpec
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


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-``: stdin); a missing file or a directory is exit status 2."""
    if path == "-":
        return sys.stdin.buffer.read()
    require_file(path)
    with reporting(path):
        return Path(path).read_bytes()


def _manifest(args: argparse.Namespace) -> tuple[dict[Any, Any], str, bytes | None]:
    """The manifest to pack, the label its findings are reported under, and its raw text."""
    if args.manifest is None:
        return manifest_from_flags(args), "manifest built from flags", None
    label = "<stdin>" if args.manifest == "-" else args.manifest
    raw = read_input(args.manifest)
    try:
        manifest = afbundle.parse_manifest(raw, label=label)
    except ManifestError as exc:
        raise CliError(label, exc.reason, ExitCode.INVALID) from exc
    return manifest, label, raw


def _report(findings: list[ManifestFinding], label: str, *, from_flags: bool) -> None:
    """Print warnings and notes; print every error, then stop (exit status 1) if there was one."""
    errors = [f for f in findings if f.severity == "error"]
    for finding in findings:
        where = f"{shown(label)}:{finding.line}" if finding.line else shown(label)
        message = f"{plain(finding.path)}: {plain(finding.message)}"
        if finding.severity == "error":
            flag = FLAG_OF_FIELD.get(finding.path) if from_flags else None
            error(f"{where}: {message}{f' (from {flag})' if flag else ''}")
        elif finding.code == "yaml-1.1-skipped":
            note(plain(finding.message))
        elif finding.code == "no-tasks":
            warn(f"{shown(label)}: {plain(finding.message)}")
        else:
            warn(f"{where}: {message}")
    retyped = [f for f in errors if f.code == "retyped-key"]
    if retyped and len(retyped) == len(errors):
        count = plural(len(retyped), "dag or task key")
        raise CliError(
            label,
            f"manifest has {count} that Airflow's YAML 1.1 reader does not read as the string "
            "YAML 1.2 reads; quote them (nothing was rewritten or written)",
            ExitCode.INVALID,
        )
    if errors:
        count = plural(len(errors), "violation")
        raise CliError(
            label, f"manifest does not match the bundle spec's schema ({count})", ExitCode.INVALID
        )
    if any(f.code == "yaml-1.1" for f in findings):
        note(
            "the bundle gets the YAML 1.2 reading, written canonically with such strings "
            "quoted, so it reads the same under YAML 1.1 and 1.2; quote these scalars in "
            f"{shown(label)} to make the file itself unambiguous"
        )


def _warn_source_name_mismatch(manifest: dict[Any, Any], source: str | None, label: str) -> None:
    """The manifest's ``source`` names the embedded file: say so when it names another."""
    declared = manifest.get("source")
    if source is None or not isinstance(declared, str):
        return
    if os.path.basename(declared) != os.path.basename(source):
        warn(
            f"{shown(label)}: source is {shown(declared)} but --source embeds "
            f"{shown(os.path.basename(source))}; the Airflow UI shows it under the manifest's name"
        )


def _refuse_bundle_input(binary: str, replace_footer: bool) -> None:
    """A binary that already ends with a trailer is packed only with --replace-footer."""
    require_file(binary)
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


def _read_source(path: str | None) -> bytes:
    if path is None:
        return b""
    source = read_input(path)
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        warn(f"{shown(path)}: not UTF-8; the Airflow UI may not display the source")
    return source


def _print_packed(output: str, bundle: afbundle.Bundle) -> None:
    parts = " + ".join(f"{name} {human_size(length)}" for name, _, length in regions(bundle))
    dags = ", ".join(
        f"{shown(d.dag_id)} ({plural(len(d.tasks or []), 'task')})" for d in dag_summaries(bundle)
    )
    print(f"packed {shown(output)}: {human_size(bundle.size)} = {parts}")
    print(f"  dags: {dags or shown_list(bundle.dag_ids)}")
    print(f"  binary_sha256: {bundle.binary_sha256.hex()}")
