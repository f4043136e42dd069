"""``afbundle scan``: every bundle under the roots in precedence order, and every problem."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import afbundle
from afbundle.cli.bundles import bundle_json, metadata_of, rejection_json, text_at
from afbundle.cli.exit import CliError, ExitCode, reporting, signers_option
from afbundle.cli.printer import (
    ConsoleLog,
    Palette,
    Styled,
    human_size,
    plain,
    print_json,
    print_section,
    render_table,
    shown,
    shown_list,
    stdout_palette,
)
from afbundle.cli.progress import stderr_is_tty, with_progress

if TYPE_CHECKING:
    from afbundle import Rejection, ScanReport


@dataclasses.dataclass(frozen=True)
class Duplicate:
    """A dag_id declared by several bundles: the one that serves it, and the others."""

    dag_id: str
    winner: Path | None
    #: Every other bundle declaring the dag_id, in precedence order, with why it
    #: lost (kind "shadowed" when the winner came first).
    others: tuple[Rejection, ...]


def duplicates(report: ScanReport) -> list[Duplicate]:
    """The duplicate dag_ids, sorted, each with its winner and the bundles it shadows.

    THE one place the command reads the report's precedence decision (the
    report's ``duplicates`` and ``winner()``); the table and the JSON both
    come from here. ``winner`` is ``None`` when no declaring bundle is usable.
    """
    out = []
    for dag_id in sorted(report.duplicates):
        winner = report.winner(dag_id)
        win = winner.path if winner is not None else None
        out.append(Duplicate(dag_id, win, report.losers(dag_id)))
    return out


def run(args: argparse.Namespace) -> int:
    verify = args.verify == "all"
    if args.signers is not None and not verify:
        reason = "--signers needs --verify all: a signature is checked with the digest"
        raise CliError(None, reason, ExitCode.ERROR)
    signers = signers_option(args.signers)
    with reporting(None):
        report = with_progress(
            f"scanning {shown_list(args.roots)}",
            lambda: afbundle.scan(
                args.roots,
                verify=verify,
                threads=args.threads,
                log=ConsoleLog(),
                cache_dir=args.cache_dir,
                persistent_cache=not args.no_persistent_cache,
                trusted_signers=signers,
            ),
            show=stderr_is_tty() and not args.json,
        )
    if args.json:
        print_json(scan_json(report, verify))
    else:
        print_scan(report, verify, stdout_palette(), signed=signers is not None)
    if report.missing_roots:
        return ExitCode.ERROR
    return ExitCode.INVALID if report.rejected else ExitCode.OK


def scan_json(report: ScanReport, verify: bool) -> dict[str, Any]:
    return {
        "command": "scan",
        "roots": [os.fsdecode(r) for r in report.roots],
        "verify": verify,
        "bundles": [
            bundle_json(b, metadata_of(b)[0], b.verified if verify else None)
            for b in report.bundles
        ],
        "rejected": [rejection_json(r) for r in report.rejected],
        "duplicates": [
            {
                "dag_id": d.dag_id,
                "winner": os.fsdecode(d.winner) if d.winner is not None else None,
                "shadowed": [rejection_json(r) for r in d.others],
            }
            for d in duplicates(report)
        ],
        "skipped": [{"path": os.fsdecode(s.path), "reason": s.reason} for s in report.skipped],
        "missing_roots": [os.fsdecode(r) for r in report.missing_roots],
        "stats": report.stats.as_dict(),
    }


def _verified_cell(bundle: afbundle.Bundle, verify: bool, palette: Palette) -> Styled:
    if not verify:
        return Styled("unchecked", palette.faint)
    return Styled("yes", palette.good) if bundle.verified else Styled("no", palette.bad)


def print_scan(report: ScanReport, verify: bool, palette: Palette, *, signed: bool = False) -> None:
    print(palette.strong(f"bundles ({len(report.bundles)}, in precedence order)"))
    rows = []
    for bundle in report.bundles:
        language = text_at(metadata_of(bundle)[0], "sdk", "language")
        schema = bundle.supervisor_schema_version
        rows.append(
            [
                shown(bundle.path),
                shown_list(bundle.dag_ids) or "-",
                shown(language) if language else "-",
                shown(schema) if schema else Styled("(missing)", palette.bad),
                human_size(bundle.size),
                _verified_cell(bundle, verify, palette),
                *([shown(bundle.signed_by or "-")] if signed else []),
            ]
        )
    headers = ["PATH", "DAG_IDS", "LANGUAGE", "SCHEMA", "SIZE", "VERIFIED"]
    if signed:
        headers.append("SIGNED BY")
    for line in render_table(headers, rows, palette, right=[4]) if rows else ["  (none)"]:
        print(line)
    print_section(
        f"rejected ({len(report.rejected)})",
        [[shown(r.path), r.kind, Styled(plain(r.reason), palette.bad)] for r in report.rejected],
        ["PATH", "KIND", "REASON"],
        palette,
    )
    dups = duplicates(report)
    print_section(
        f"duplicate dag_ids ({len(dups)})",
        [
            [
                shown(d.dag_id),
                shown(d.winner) if d.winner is not None else Styled("(none usable)", palette.bad),
                "; ".join(f"{shown(r.path)} ({r.kind})" for r in d.others),
            ]
            for d in dups
        ],
        ["DAG_ID", "WINNER", "OTHERS (WHY NOT)"],
        palette,
    )
    print_section(
        f"skipped ({len(report.skipped)})",
        [[shown(s.path), plain(s.reason)] for s in report.skipped],
        ["PATH", "REASON"],
        palette,
    )
    print_section(
        f"missing roots ({len(report.missing_roots)})",
        [[Styled(shown(r), palette.bad)] for r in report.missing_roots],
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
