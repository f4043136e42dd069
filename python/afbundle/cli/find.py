"""``afbundle find``: the path of the bundle Airflow would run for a dag_id (or run it)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import afbundle
from afbundle.cli.bundles import bundle_json, metadata_of, rejection_json
from afbundle.cli.exit import CliError, ExitCode, reporting, signers_option
from afbundle.cli.printer import ConsoleLog, hint, print_json, shown, warn
from afbundle.cli.progress import stderr_is_tty, with_progress
from afbundle.errors import BundleNotFoundError


def run(args: argparse.Namespace) -> int:
    missing = [root for root in args.roots if not os.path.lexists(root)]
    for root in missing:
        warn(f"{shown(root)}: no such file or directory (root skipped)")
    signers = signers_option(args.signers)
    try:
        with reporting(None):
            bundle = with_progress(
                f"looking for {shown(args.dag_id)}",
                lambda: afbundle.find(
                    args.roots,
                    args.dag_id,
                    threads=args.threads,
                    log=ConsoleLog(),
                    cache_dir=args.cache_dir,
                    persistent_cache=not args.no_persistent_cache,
                    trusted_signers=signers,
                ),
                show=stderr_is_tty() and not args.json,
            )
    except CliError as exc:
        not_found = exc.__cause__
        if args.json and isinstance(not_found, BundleNotFoundError):
            print_json(_json(args.dag_id, None, not_found))
        _hint_if_swapped(args.dag_id, args.roots, missing)
        raise
    if args.exec_args is not None:
        return _exec_sealed(bundle, args.dag_id, args.exec_args, signers)
    if args.json:
        print_json(_json(args.dag_id, bundle, None))
    else:
        print_path(bundle.path)
    return ExitCode.OK


def print_path(path: os.PathLike[str]) -> None:
    """The found path: escaped on a terminal; exact bytes to a pipe, so that
    ``$(afbundle find DAG_ID ROOT)`` is the real path (as ``ls`` does)."""
    if sys.stdout.isatty():
        print(shown(path))
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(os.fsencode(path) + b"\n")
        sys.stdout.buffer.flush()


def _hint_if_swapped(dag_id: str, roots: list[str], missing: list[str]) -> None:
    """``find DAG_ID ROOT...`` is the reverse of the API's ``find(roots, dag_id)``: say so."""
    if os.path.isdir(dag_id) and missing:
        swapped = " ".join(shown(a) for a in [*missing, dag_id])
        hint(
            f"the dag_id comes first: afbundle find DAG_ID ROOT... "
            f"(did you mean `afbundle find {swapped}`?)"
        )


def _exec_sealed(
    bundle: afbundle.Bundle,
    dag_id: str,
    argv: list[str],
    signers: afbundle.TrustedSigners | None,
) -> int:
    """Replace this process with a sealed, verified copy of ``bundle`` (``find --exec``).

    :func:`afbundle.seal` checks the sealed bytes against the bundle ``find``
    verified (digest and dag_id), so a file swapped on disk in the meantime
    cannot run; with ``signers`` it also checks ``BUNDLE.sig`` over those
    sealed bytes, so what runs is exactly what was signed (a sidecar or
    bundle replaced after ``find`` is refused). Only returns (with an error)
    when that fails.
    """
    with reporting(bundle.path):
        sealed = afbundle.seal(
            bundle.path,
            expect_sha256=bundle.binary_sha256,
            dag_id=dag_id,
            trusted_signers=signers,
        )
    sys.stdout.flush()
    sys.stderr.flush()
    with reporting(bundle.path):
        sealed.exec(argv)
    return ExitCode.ERROR  # not reached: exec either replaces the process or raises


def _json(
    dag_id: str, bundle: afbundle.Bundle | None, error: BundleNotFoundError | None
) -> dict[str, Any]:
    rejected = error.rejected if error is not None else ()
    return {
        "command": "find",
        "dag_id": dag_id,
        "found": bundle is not None,
        "bundle": bundle_json(bundle, metadata_of(bundle)[0], True) if bundle is not None else None,
        "error": str(error) if error is not None else None,
        "rejected": [rejection_json(r) for r in rejected],
    }
