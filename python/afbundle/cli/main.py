"""``afbundle`` entry point: parse, run one command, turn failures into exit statuses."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from afbundle.cli import printer
from afbundle.cli.args import build_parser
from afbundle.cli.exit import CliError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``afbundle`` command line and return its exit status.

    Expected failures print ``afbundle: error: <path>: <reason>`` and never a
    traceback (statuses in :mod:`afbundle.cli.exit`).

    Example:
        >>> main(["verify", "dist/hello"])
        OK dist/hello
        0
    """
    printer.make_streams_safe()
    printer.configure_logging()
    args = build_parser().parse_args(argv)
    command = importlib.import_module(f"afbundle.cli.{args.command}")
    try:
        return int(command.run(args))
    except CliError as exc:
        printer.error(str(exc))
        return int(exc.code)
    except BrokenPipeError:
        # The reader went away (`afbundle inspect b --source | head`): stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        return 130
