"""``afbundle sign``: write ``BUNDLE.sig``, the sidecar ``ssh-keygen -Y sign -n afbundle`` writes.

The work is :func:`afbundle.sign` (it runs ``ssh-keygen``; verification never
does). This module refuses what it must not overwrite and reports where it wrote.
"""

from __future__ import annotations

import argparse
import os

import afbundle
from afbundle.cli.exit import CliError, ExitCode, refuse_existing, reporting, require_file
from afbundle.cli.printer import shown
from afbundle.errors import BundleSignatureError


def run(args: argparse.Namespace) -> int:
    if not os.path.lexists(args.bundle):
        raise CliError(args.bundle, "no such file or directory", ExitCode.ERROR)
    require_file(args.bundle)
    if not os.path.lexists(args.key):
        raise CliError(args.key, "no such key file", ExitCode.ERROR)
    sidecar = afbundle.sidecar_path(args.bundle)
    refuse_existing(sidecar, args.force)
    try:
        with reporting(args.bundle):
            written = afbundle.sign(args.bundle, args.key, hashalg=args.hashalg)
    except CliError as exc:
        # ssh-keygen missing or failing (a wrong key, a refused passphrase) is not
        # an invalid bundle: report it as the I/O-class failure it is.
        cause = exc.__cause__
        if isinstance(cause, BundleSignatureError) and cause.problem == "signing":
            exc.code = ExitCode.ERROR
        raise
    how = "" if args.hashalg is None else f" -O hashalg={args.hashalg}"
    print(
        f"wrote {shown(written)}: signature of {shown(args.bundle)} by {shown(args.key)} "
        f"(ssh-keygen -Y sign -n {afbundle.SIGNATURE_NAMESPACE}{how})"
    )
    return ExitCode.OK
