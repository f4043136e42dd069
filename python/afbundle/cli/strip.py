"""``afbundle strip``: write a verified bundle's binary region back, byte for byte."""

from __future__ import annotations

import argparse

import afbundle
from afbundle.cli.exit import ExitCode, refuse_existing, reporting, require_file
from afbundle.cli.printer import human_size, shown


def run(args: argparse.Namespace) -> int:
    refuse_existing(args.output, args.force)
    require_file(args.bundle)
    with reporting(args.bundle):
        bundle = afbundle.read_bundle(args.bundle, verify=True)
        # strip verifies the bytes it copies; its digest is the one to show.
        digest = afbundle.strip(args.bundle, args.output)
    print(
        f"wrote {shown(args.output)}: the {human_size(bundle.source_start)} binary region of "
        f"{shown(args.bundle)} (sha256 {digest.hex()})"
    )
    return ExitCode.OK
