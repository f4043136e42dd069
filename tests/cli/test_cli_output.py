"""What every command shares: help, imports, colour, progress, escaping, encodings."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _cli import (
    afbundle,
    run_on_a_terminal,
)
from _writer import manifest, write_bundle, write_kind


def test_help_lists_every_subcommand_and_the_exit_statuses() -> None:
    from afbundle.cli.args import build_parser

    run = afbundle("--help")
    assert run.code == 0
    (subparsers,) = [a for a in build_parser()._actions if a.dest == "command"]
    commands = list(subparsers.choices)  # type: ignore[union-attr]
    assert {"pack", "inspect", "verify", "scan", "find", "strip", "sign", "check"} <= set(commands)
    description = run.out.split("\n\n")[1].replace("\n", " ")
    for command in commands:  # in the one-line description and the command summary
        assert re.search(rf"\b{command}\b", description, re.IGNORECASE), command
        assert re.search(rf"^  {command} +[A-Z\[]", run.out, re.MULTILINE), command
    assert "exit status:" in run.out
    assert "2  usage error or I/O error" in run.out
    assert afbundle("scan", "--help").out.count("exit status:") == 1
    assert afbundle("--version").out.startswith("afbundle ")


def test_every_positional_argument_has_help() -> None:
    for command, metavars in {
        "pack": ["BINARY"],
        "inspect": ["BUNDLE"],
        "verify": ["PATH"],
        "scan": ["ROOT"],
        "find": ["DAG_ID", "ROOT"],
        "strip": ["BUNDLE"],
    }.items():
        out = afbundle(command, "--help").out
        positional = out.split("positional arguments:")[1].split("options:")[0]
        for metavar in metavars:
            assert re.search(rf"^  {metavar} +\S", positional, re.MULTILINE), (command, metavar)


def test_no_subcommand_is_a_usage_error() -> None:
    run = afbundle()
    assert run.code == 2
    assert "usage: afbundle" in run.stderr


def test_importing_afbundle_and_the_cli_loads_neither_jsonschema_nor_yaml() -> None:
    code = "import sys, afbundle.cli; print(sorted({'jsonschema', 'yaml'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_colour_only_on_a_terminal_and_never_with_no_color(tmp_path: Path) -> None:
    good = write_bundle(tmp_path / "good")
    env = {"NO_COLOR": "", "TERM": "xterm"}
    assert b"\x1b[32mOK\x1b[0m" in run_on_a_terminal(["verify", good], env)
    assert b"\x1b[" not in run_on_a_terminal(["verify", good], {"NO_COLOR": "1", "TERM": "xterm"})
    assert b"\x1b[" not in afbundle("verify", good, env={"TERM": "xterm"}).stdout


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_spinner_turns_only_while_slow_work_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from afbundle.cli import progress as cli

    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.with_progress("scanning /opt", lambda: time.sleep(0.35) or 42, show=True) == 42
    drawn = terminal.getvalue()
    assert re.search(r"\r[|/\-\\] scanning /opt \(\d+\.\d s\)", drawn), drawn
    assert drawn.endswith("\r\x1b[K")

    terminal.seek(0), terminal.truncate()
    assert cli.with_progress("scanning /opt", lambda: 7, show=True) == 7
    assert cli.with_progress("scanning /opt", lambda: time.sleep(0.2) or 8, show=False) == 8
    assert terminal.getvalue() == ""
    with pytest.raises(ZeroDivisionError):
        cli.with_progress("scanning /opt", lambda: 1 // 0, show=True)


# --------------------------------------------------------------------------- hostile names

TITLE = "title\x1b]0;owned\x07"  # OSC: retitles the terminal window
CLEAR = "clear\x1b[2J\x1b[H"  # erases the screen
HIDDEN = "hidden\x1b[8msecret\x1b[0m"  # concealed text


def _hostile_bundle(path: Path) -> Path:
    meta = manifest([TITLE, CLEAR, HIDDEN], language="go\x1b[31m", source="main\n.go")
    return write_bundle(path, metadata=meta)


def test_control_characters_from_a_bundle_never_reach_the_terminal(tmp_path: Path) -> None:
    root = tmp_path / "root"
    bundle = _hostile_bundle(root / "evil\x1b]0;path\x07")
    runs = {
        "scan": afbundle("scan", root),
        "inspect": afbundle("inspect", bundle),
        "verify": afbundle("verify", "--strict", bundle),
        "strip": afbundle("strip", bundle, "-o", tmp_path / "out\x1b[2J"),
        "find-missing": afbundle("find", "absent\x1b[2J", root),
    }
    for name, run in runs.items():
        assert b"\x1b" not in run.stdout, name
        assert "\x1b" not in run.stderr and "\x07" not in run.stderr, name
    scanned = runs["scan"].out
    assert '"title\\e]0;owned\\a"' in scanned
    assert '"clear\\e[2J\\e[H"' in scanned
    assert '"hidden\\e[8msecret\\e[0m"' in scanned
    assert '"go\\e[31m"' in scanned
    assert '"' + str(root) + '/evil\\e]0;path\\a"' in scanned
    assert 'source                           "main\\n.go"' in runs["inspect"].out
    assert runs["find-missing"].stderr.count("\n") == 1
    assert "dag_id='absent\\x1b[2J'" in runs["find-missing"].stderr
    # --json keeps the exact values.
    document = afbundle("scan", root, "--json").json()
    assert sorted(document["bundles"][0]["dag_ids"]) == sorted([TITLE, CLEAR, HIDDEN])
    assert document["bundles"][0]["language"] == "go\x1b[31m"
    assert document["bundles"][0]["path"] == str(bundle)


def test_a_newline_in_a_file_name_cannot_forge_an_ok_line(tmp_path: Path) -> None:
    forged = write_kind(tmp_path / "bad\nOK good", "corrupt_binary")
    run = afbundle("verify", forged)
    assert run.code == 1
    assert run.out.splitlines() == [
        f'FAIL "{tmp_path}/bad\\nOK good": ' + run.out.split(": ", 1)[1].rstrip("\n")
    ]
    assert not any(line.startswith("OK") for line in run.out.splitlines())
    scanned = afbundle("scan", tmp_path).out
    assert f'"{tmp_path}/bad\\nOK good"  integrity' in scanned


def test_a_name_that_looks_quoted_is_quoted_so_it_stays_unambiguous() -> None:
    from afbundle.cli.printer import plain, shown

    assert shown("plain/name") == "plain/name"
    assert shown('"a\\nb"') == '"\\"a\\\\nb\\""'
    assert shown("a\nb") == '"a\\nb"'
    assert shown("bidi\u202etxt.exe") == '"bidi\\u{202e}txt.exe"'
    assert shown(b"caf\xe9") == '"caf\\xe9"'
    assert plain("two\nlines\x9b") == "two\\nlines\\u{9b}"


def test_find_prints_the_exact_path_to_a_pipe_and_an_escaped_one_on_a_terminal(
    tmp_path: Path,
) -> None:
    bundle = write_bundle(tmp_path / "root" / "odd\tname", dag_ids=["d"])
    piped = afbundle("find", "d", tmp_path / "root")
    assert piped.stdout == os.fsencode(bundle) + b"\n"
    on_terminal = run_on_a_terminal(["find", "d", tmp_path / "root"], {"NO_COLOR": "1"})
    assert on_terminal.replace(b"\r\n", b"\n") == f'"{tmp_path}/root/odd\\tname"\n'.encode()


# --------------------------------------------------------------------------- encodings


def _non_utf8_tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "root"
    name = os.fsdecode(b"caf\xe9-bundle")  # Latin-1, not UTF-8
    return root, write_bundle(root / name, dag_ids=["latin1_dag"])


# Python's stdio under LC_ALL=en_US.UTF-8 is UTF-8 with errors=strict; this
# reproduces it whether or not that locale is installed.
STRICT_UTF8 = {"PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}


def test_non_utf8_file_names_never_crash_human_output(tmp_path: Path) -> None:
    root, bundle = _non_utf8_tree(tmp_path)
    scanned = afbundle("scan", root, env=STRICT_UTF8)
    assert scanned.code == 0, scanned.stderr
    assert f'"{root}/caf\\xe9-bundle"' in scanned.out
    verified = afbundle("verify", bundle, env=STRICT_UTF8)
    assert (verified.code, verified.out) == (0, f'OK "{root}/caf\\xe9-bundle"\n')
    found = afbundle("find", "latin1_dag", root, env=STRICT_UTF8)
    assert found.code == 0
    assert found.stdout == os.fsencode(bundle) + b"\n"
    missing = afbundle("verify", tmp_path / os.fsdecode(b"gone\xff"), env=STRICT_UTF8)
    assert missing.code == 2
    assert f'FAIL "{tmp_path}/gone\\xff": cannot open' in missing.out


def test_non_utf8_file_names_stay_exact_in_valid_json(tmp_path: Path) -> None:
    root, bundle = _non_utf8_tree(tmp_path)
    for args in (["scan", root], ["find", "latin1_dag", root], ["verify", bundle]):
        run = afbundle(*args, "--json", env=STRICT_UTF8)
        assert run.code == 0, run.stderr
        run.stdout.decode("utf-8")  # strict: valid UTF-8 throughout
        assert b"caf\\udce9-bundle" in run.stdout
        document = run.json()
        paths = {
            "scan": lambda d: d["bundles"][0]["path"],
            "find": lambda d: d["bundle"]["path"],
            "verify": lambda d: d["results"][0]["path"],
        }[document["command"]](document)
        assert os.fsencode(paths) == os.fsencode(bundle)


# --------------------------------------------------------------------------- logging


def test_library_warnings_are_printed_like_the_commands_own(tmp_path: Path) -> None:
    write_bundle(tmp_path / "a", dag_ids=["d"])
    write_bundle(tmp_path / "b", dag_ids=["d"])
    code = (
        "import sys, afbundle\n"
        "if sys.argv[2] == 'cli':\n"
        "    from afbundle.cli import printer; printer.configure_logging()\n"
        "afbundle.find([sys.argv[1]], 'd')\n"
    )
    configured = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), "cli"], capture_output=True, text=True
    )
    assert configured.returncode == 0, configured.stderr
    assert configured.stderr.startswith(
        "afbundle: warning: dag_id is declared by several bundles; using the first"
    )
    # Plain API use without logging configured: Python's last-resort handler.
    bare = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), "api"], capture_output=True, text=True
    )
    assert bare.stderr.startswith("dag_id is declared by several bundles")
