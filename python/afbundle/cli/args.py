"""The ``afbundle`` argument parser: every subcommand, option and help text.

Parsing only: each subcommand's ``command`` default names the module in
:mod:`afbundle.cli` that runs it (imported only when that command runs).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import afbundle
from afbundle.check import DEFAULT_TIMEOUT
from afbundle.cli.printer import PROG

#: The file name the spec gives the manifest; ``inspect --extract`` writes it.
MANIFEST_FILE_NAME = "airflow-metadata.yaml"

EPILOG = """\
exit status:
  0  success
  1  an invalid bundle or manifest, or nothing found
  2  usage error or I/O error (missing file, a directory given as a file,
     output exists, missing output directory, missing scan root,
     unusable --signers file)

Colour is used only when stdout is a terminal and NO_COLOR is not set.
"""

#: Shown under `afbundle --help`: every subcommand, what it needs, in one screen.
COMMANDS = """\
commands:
  pack     BINARY -o OUT ...   append source and a validated manifest to a program
  inspect  BUNDLE              show trailer, regions, digest check and manifest
  verify   PATH...             check trailers and binary_sha256: one OK/FAIL line each
  scan     ROOT...             every bundle under the roots, in precedence order
  find     DAG_ID ROOT...      the path of the bundle that serves DAG_ID
  strip    BUNDLE -o OUT       write the original binary back, byte for byte
  sign     BUNDLE -k KEY       write BUNDLE.sig with ssh-keygen (namespace afbundle)
  check    [--dags PATH]       every @task.stub task has a bundle that runs it

A bundle is a compiled program with its source, a YAML manifest and a 64-byte
trailer appended (Airflow's Executable Bundle Spec 1.0). `afbundle COMMAND --help`
tells more; no command ever runs the program inside a bundle.
"""


@dataclasses.dataclass
class DagSpec:
    """One ``--dag ID [--tasks a,b]`` pair from the command line."""

    dag_id: str
    tasks: list[str] | None = None


class DagAction(argparse.Action):
    """``--dag ID``: start a new DAG entry (its tasks come from the next ``--tasks``)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        dags: list[DagSpec] = list(getattr(namespace, self.dest) or [])
        if any(d.dag_id == values for d in dags):
            raise argparse.ArgumentError(self, f"dag_id {values!r} given twice")
        dags.append(DagSpec(values))
        setattr(namespace, self.dest, dags)


class TasksAction(argparse.Action):
    """``--tasks a,b,c``: the task_ids of the DAG named by the preceding ``--dag``."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        dags: list[DagSpec] = getattr(namespace, self.dest) or []
        if not dags:
            raise argparse.ArgumentError(self, "must follow the --dag it belongs to")
        if dags[-1].tasks is not None:
            raise argparse.ArgumentError(self, f"given twice for --dag {dags[-1].dag_id}")
        tasks = [t.strip() for t in values.split(",")] if values.strip() else []
        if "" in tasks:
            raise argparse.ArgumentError(self, f"empty task_id in {values!r}")
        dags[-1].tasks = tasks


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _subcommand(subparsers: Any, name: str, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=help,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(command=name, subparser=parser)
    return parser


def _add_pack(subparsers: Any) -> None:
    p = _subcommand(
        subparsers, "pack", "append a DAG source and a validated manifest to a compiled program"
    )
    p.add_argument("binary", metavar="BINARY", help="the compiled program (never executed)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the bundle to write")
    p.add_argument("--source", metavar="FILE", help="the DAG source file to embed")
    p.add_argument(
        "--manifest",
        metavar="FILE",
        help="airflow-metadata.yaml to embed ('-' reads stdin); or build it with the flags below",
    )
    p.add_argument(
        "--dag", metavar="ID", dest="dags", action=DagAction, help="declare a dag_id (repeatable)"
    )
    p.add_argument(
        "--tasks",
        metavar="A,B,...",
        dest="dags",
        action=TasksAction,
        help="task_ids of the preceding --dag",
    )
    p.add_argument("--language", metavar="L", help="sdk.language, e.g. go, rust, cpp, c")
    p.add_argument("--sdk-version", metavar="V", help="sdk.version")
    p.add_argument("--schema-version", metavar="YYYY-MM-DD", help="sdk.supervisor_schema_version")
    p.add_argument(
        "--replace-footer",
        action="store_true",
        help="BINARY is already a bundle: replace its source and manifest",
    )
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def _add_inspect(subparsers: Any) -> None:
    p = _subcommand(
        subparsers, "inspect", "show a bundle's trailer, regions, digest check and manifest"
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle file to examine")
    only = p.add_mutually_exclusive_group()
    only.add_argument("--json", action="store_true", help="print a JSON document")
    only.add_argument("--source", action="store_true", help="write the raw source region to stdout")
    only.add_argument(
        "--manifest", action="store_true", help="write the raw manifest region to stdout"
    )
    p.add_argument(
        "--extract",
        metavar="DIR",
        help=f"write the binary, the source and {MANIFEST_FILE_NAME} into DIR "
        "(created if its parent exists)",
    )
    p.add_argument("--force", action="store_true", help="let --extract overwrite files")


def _add_verify(subparsers: Any) -> None:
    p = _subcommand(subparsers, "verify", "check bundles' trailers and binary_sha256")
    p.add_argument("paths", metavar="PATH", nargs="+", help="bundle files to check")
    p.add_argument(
        "--check-manifest",
        "--strict",
        dest="check_manifest",
        action="store_true",
        help="also check each manifest: the bundle spec's JSON Schema, and dag or task keys "
        "Airflow's YAML 1.1 reader types differently (--strict is its older name)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document")
    _add_signers_option(p)


def _add_search_options(p: argparse.ArgumentParser) -> None:
    """--threads, --cache-dir / --no-persistent-cache and --signers: how bundles are
    searched and trusted (scan, find and check)."""
    p.add_argument(
        "--threads",
        metavar="N",
        type=_positive_int,
        help="walker threads (default: one per CPU; 16 per CPU, 32 to 64, on network file systems)",
    )
    cache = p.add_mutually_exclusive_group()
    cache.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="persistent digest cache directory (default: $XDG_CACHE_HOME/afbundle, "
        "else ~/.cache/afbundle; must be private to you)",
    )
    cache.add_argument(
        "--no-persistent-cache",
        "--no-cache",
        dest="no_persistent_cache",
        action="store_true",
        help="neither use nor fill the persistent digest cache: hash every bundle checked "
        "(--no-cache is its older name)",
    )
    _add_signers_option(p)


def _add_signers_option(p: argparse.ArgumentParser) -> None:
    """--signers FILE: accept only bundles signed by a key in an allowed_signers file."""
    p.add_argument(
        "--signers",
        metavar="FILE",
        help="an OpenSSH allowed_signers file: accept only bundles whose BUNDLE.sig is a "
        "valid signature (namespace afbundle) by a key it lists; others are rejected "
        "with kind 'signature'",
    )


def _add_scan(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "scan",
        "list every bundle under the roots in precedence order, and every problem",
    )
    p.add_argument(
        "roots",
        metavar="ROOT",
        nargs="+",
        help="directories searched recursively (or bundle files); earlier roots take precedence",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument(
        "--verify",
        choices=("all", "none"),
        default="all",
        help="SHA-256-check every bundle (default) or none (not with --signers)",
    )
    _add_search_options(p)


def _add_find(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "find",
        "print the path of the bundle that serves DAG_ID (the first verified in precedence order)",
    )
    p.add_argument("dag_id", metavar="DAG_ID", help="the dag_id to look for (comes first)")
    p.add_argument(
        "roots",
        metavar="ROOT",
        nargs="+",
        help="directories searched recursively (or bundle files); earlier roots take precedence",
    )
    p.add_argument("--json", action="store_true", help="print a JSON document")
    _add_search_options(p)
    p.add_argument(
        "--exec",
        dest="exec_args",
        nargs=argparse.REMAINDER,
        metavar="ARG",
        help="run the bundle instead of printing its path: a sealed in-memory copy whose bytes "
        "were verified (and, with --signers, whose signature was checked), with the remaining "
        "arguments (must come last)",
    )


def _add_strip(subparsers: Any) -> None:
    p = _subcommand(subparsers, "strip", "write a bundle's original binary back, byte for byte")
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle to take the binary from")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="the file to write")
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def _add_sign(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "sign",
        "write BUNDLE.sig, the SSH signature `ssh-keygen -Y sign -n afbundle -f KEY BUNDLE` writes",
    )
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle to sign (verified first)")
    p.add_argument(
        "-k",
        "--key",
        metavar="KEY",
        required=True,
        help="the private key file, or a public key whose private half is in ssh-agent",
    )
    p.add_argument(
        "--hashalg",
        choices=("sha256", "sha512"),
        help="ssh-keygen -O hashalg=... (default: ssh-keygen's, sha512); sha256 makes every "
        "later verification much cheaper",
    )
    p.add_argument("--force", action="store_true", help="replace an existing BUNDLE.sig")


def _add_check(subparsers: Any) -> None:
    p = _subcommand(
        subparsers,
        "check",
        "prove before deploy that every @task.stub task has a bundle that will run it",
    )
    p.epilog = (
        "Routing is Airflow's own [sdk] coordinators and [sdk] queue_to_coordinator\n"
        "(airflow.cfg or AIRFLOW__SDK__*); DAG files are parsed by Airflow's DagBag.\n"
        "DAG files and coordinator modules are executed, with your privileges, in a\n"
        "child process; its output goes to stderr.\n\n"
        "exit status:\n"
        "  0  no errors (warnings allowed unless --strict)\n"
        "  1  at least one error (with --strict: at least one finding)\n"
        "  2  usage or I/O error (unreadable DAG folder, invalid Airflow config,\n"
        "     Airflow not installed, unusable --signers file), or loading DAG files\n"
        "     and coordinator classes ended the child process or timed out\n"
    )
    p.add_argument(
        "--dags",
        metavar="PATH",
        help="a DAG folder or file (default: Airflow's [core] dags_folder)",
    )
    p.add_argument(
        "--queue",
        metavar="Q",
        dest="queues",
        action="append",
        default=[],
        help="tasks on queue Q are native, searched in the --root directories (repeatable)",
    )
    p.add_argument(
        "--root",
        metavar="R",
        dest="roots",
        action="append",
        default=None,
        help="bundle root, replacing every coordinator's executables_root (repeatable; "
        "earlier roots take precedence)",
    )
    p.add_argument("--strict", action="store_true", help="warnings fail the check too")
    p.add_argument("--json", action="store_true", help="print a JSON document")
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_positive_seconds,
        default=DEFAULT_TIMEOUT,
        help="give up (exit status 2) when parsing DAG files and importing coordinator "
        f"classes takes longer, all together (default: {DEFAULT_TIMEOUT:g})",
    )
    _add_search_options(p)


def build_parser() -> argparse.ArgumentParser:
    """The ``afbundle`` argument parser.

    Example:
        >>> build_parser().parse_args(["verify", "dist/hello"]).paths
        ['dist/hello']
    """
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Pack, inspect, verify, scan, find, strip and sign Apache Airflow "
        "executable bundles, and check DAGs against them.\n\n" + COMMANDS,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {afbundle.__version__}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, help="one of the commands above"
    )
    for add in (
        _add_pack,
        _add_inspect,
        _add_verify,
        _add_scan,
        _add_find,
        _add_strip,
        _add_sign,
        _add_check,
    ):
        add(subparsers)
    return parser
