"""Launcher for verified exec: seal, check and run a bundle in this very process.

The coordinator (``verified_exec=True``, or ``trusted_signers`` set) starts::

    python -I -m afbundle._launch [--signers ALLOWED_SIGNERS] PATH BINARY_SHA256 DAG_ID [ARGS...]

and Airflow appends ``--comm=... --logs=...`` to the arguments. This process
copies ``PATH`` into a sealed memfd, verifies the sealed bytes (hashed as they
are copied, no digest cache), checks that they are the bundle the supervisor
verified (same ``binary_sha256``, still declaring ``DAG_ID``; with
``--signers``, validly signed over the sealed bytes), and replaces
itself with that copy (:meth:`afbundle.SealedBundle.exec`) -- its own
descriptor, so it works under a non-dumpable supervisor and without
``CAP_SYS_PTRACE``. The pid stays the same, so Airflow's check that the task's
connections come from the process it started still holds.

On any failure it prints one line, ``afbundle: ...``, on stderr (Airflow
forwards it to the task log) and exits with status 126, as a shell does for a
command it cannot execute.
"""

from __future__ import annotations

import sys

#: Exit status when the bundle cannot be run (as sh(1) uses for "cannot execute").
CANNOT_EXECUTE = 126

USAGE = (
    "usage: python -m afbundle._launch [--signers ALLOWED_SIGNERS] PATH BINARY_SHA256 DAG_ID "
    "[ARGS...]"
)


def main(argv: list[str]) -> int:
    """Seal, check and exec; returns only on failure (the exit status)."""
    signers = None
    if argv[:1] == ["--signers"] and len(argv) >= 2:
        signers, argv = argv[1], argv[2:]
    if len(argv) < 3:
        print(f"afbundle: {USAGE}", file=sys.stderr)
        return 2
    path, digest, dag_id, *args = argv
    try:
        expected = bytes.fromhex(digest)
    except ValueError:
        print(f"afbundle: {USAGE}: BINARY_SHA256 must be hex", file=sys.stderr)
        return 2
    from afbundle._sealed import seal
    from afbundle.errors import BundleError

    try:
        sealed = seal(path, expect_sha256=expected, dag_id=dag_id, trusted_signers=signers)
        sealed.exec(args)
    except BundleError as exc:
        print(f"afbundle: refusing to run {exc}", file=sys.stderr)
    except OSError as exc:
        where = path if exc.filename is None else exc.filename
        print(f"afbundle: cannot run {where}: {exc.strerror or exc}", file=sys.stderr)
    return CANNOT_EXECUTE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
