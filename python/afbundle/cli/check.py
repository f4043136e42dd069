"""``afbundle check``: every ``@task.stub`` task has a bundle that will run it.

The work is :func:`afbundle.check_dags`; this module words and prints its
report. DAG files and coordinator modules run in a child process whose output
goes to stderr; Airflow may log to stdout in this process too, so stdout is
pointed at stderr for the whole check and ``--json`` stays one clean document.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from afbundle.cli.exit import CliError, ExitCode, reporting, signers_option
from afbundle.cli.printer import (
    Palette,
    Styled,
    plain,
    print_json,
    render_table,
    shown,
    stdout_palette,
)

if TYPE_CHECKING:
    from afbundle import CheckReport, Finding


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 1 (Airflow's log lines, a DAG file's
    prints) to stderr until the block ends."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        try:
            yield
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
    finally:
        os.close(saved)


def run(args: argparse.Namespace) -> int:
    from afbundle import CheckConfigError, CheckLoadError, check_dags

    signers = signers_option(args.signers)
    with stdout_to_stderr(), reporting(args.dags):
        try:
            report = check_dags(
                args.dags,
                queues=args.queues,
                roots=args.roots,
                threads=args.threads,
                cache_dir=args.cache_dir,
                persistent_cache=not args.no_persistent_cache,
                trusted_signers=signers,
                timeout=args.timeout,
            )
        except CheckConfigError as exc:
            raise CliError(None, f"invalid Airflow configuration: {exc}", ExitCode.ERROR) from exc
        except (CheckLoadError, ImportError) as exc:
            raise CliError(None, str(exc), ExitCode.ERROR) from exc
    if not report.dag_files:  # an empty dags folder may be legitimate, but say so
        where = args.dags if args.dags is not None else "the configured dags folder"
        print(f"afbundle: warning: no Python DAG files found in {plain(where)}", file=sys.stderr)
    if args.json:
        print_json(check_json(report, args.strict))
    else:
        print_check(report, args.strict, stdout_palette())
    return ExitCode.INVALID if report.failed(args.strict) else ExitCode.OK


def _stub_counts(report: CheckReport) -> dict[str, int]:
    """dag_id -> number of its stub tasks."""
    counts: dict[str, int] = {}
    for task in report.stub_tasks:
        counts[task.dag_id] = counts.get(task.dag_id, 0) + 1
    return counts


def check_json(report: CheckReport, strict: bool) -> dict[str, Any]:
    """The ``--json`` document (schema: ``schema/check-output.schema.json``)."""
    statuses = report.dag_statuses()
    unchecked = report.unchecked()
    stubs = _stub_counts(report)
    return {
        "command": "check",
        "strict": strict,
        "ok": not report.failed(strict),
        "errors": len(report.errors),
        "warnings": len(report.warnings),
        "findings": [f.as_dict() for f in report.findings],
        "checked": {
            "dag_files": list(report.dag_files),
            "dags": [
                {
                    "dag_id": dag_id,
                    "file": file,
                    "status": statuses[dag_id],
                    "stub_tasks": stubs.get(dag_id, 0),
                    "not_checked": unchecked.get(dag_id, []),
                }
                for dag_id, file in report.dags.items()
            ],
            "stub_tasks": [t.as_dict() for t in report.stub_tasks],
            "coordinators": [c.as_dict() for c in report.coordinators],
            "roots": [os.fsdecode(r) for r in report.roots],
            "bundles": [os.fsdecode(b) for b in report.bundles],
        },
        "timings": dict(report.timings),
    }


def _group(finding: Finding) -> tuple[int, str]:
    """Findings are shown under their DAG; import errors under their file; the rest first."""
    if finding.dag_id is not None:
        return (2, finding.dag_id)
    if finding.code == "import-error":
        return (1, finding.file or "")
    return (0, "")


def _title(key: tuple[int, str], report: CheckReport, palette: Palette) -> str:
    kind, name = key
    if kind == 0:
        return palette.strong("configuration")
    if kind == 1:
        return f"{palette.strong('DAG file')} {shown(name)}"
    file = report.dags.get(name)
    where = f" ({shown(file)})" if file else palette.faint(" (no loaded DAG)")
    return f"{palette.strong('DAG')} {shown(name)}{where}"


def _cell(value: str | None) -> str:
    return "-" if value is None else shown(value)


def print_check(report: CheckReport, strict: bool, palette: Palette) -> None:
    groups: dict[tuple[int, str], list[Finding]] = {}
    for finding in report.findings:
        groups.setdefault(_group(finding), []).append(finding)
    for key in sorted(groups):
        print(_title(key, report, palette))
        rows: list[list[str | Styled]] = []
        for f in groups[key]:
            paint = palette.bad if f.severity == "error" else palette.warn
            rows.append(
                [
                    Styled(f.severity, paint),
                    f.code,
                    _cell(f.task_id),
                    _cell(f.queue),
                    _cell(f.coordinator),
                    plain(f.message),
                ]
            )
        headers = ["SEVERITY", "CODE", "TASK", "QUEUE", "COORDINATOR", "MESSAGE"]
        for line in render_table(headers, rows, palette):
            print(line)
        print()
    stubs = _stub_counts(report)
    unchecked = report.unchecked()
    statuses = report.dag_statuses()
    clean = [d for d, status in statuses.items() if status in ("ok", "not-checked")]
    for dag_id in clean:
        count = f"{stubs[dag_id]} stub task{'' if stubs[dag_id] == 1 else 's'}"
        if statuses[dag_id] == "not-checked":  # never compared with a bundle
            why = plain("; ".join(unchecked[dag_id]))
            print(f"{palette.warn('not checked')}  {shown(dag_id)} ({count}: {why})")
        else:
            print(f"{palette.good('ok')}  {shown(dag_id)} ({count})")
    if clean:
        print()

    verdict = report.failed(strict)
    line = report.summary()
    print(palette.bad(line) if verdict else palette.good(line) if not report.findings else line)
