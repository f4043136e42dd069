"""scripts/readme_example.py, which `make test` runs to check README.md's sessions."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def test_two_runs_take_turns_on_the_fixed_work_directory() -> None:
    """The sessions run in one fixed directory; a second run (another clone's `make test`)
    waits instead of deleting the first one's files under it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); import readme_example as r\n"
            "with r.taking_turns():\n    print('held', flush=True); sys.stdin.read()",
            str(SCRIPTS),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        sys.path.insert(0, str(SCRIPTS))
        import readme_example

        fd = os.open(f"{readme_example.WORK}.lock", os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                taken = True
            except BlockingIOError:
                taken = False
            assert not taken, "a second run could enter while the first one holds WORK"
        finally:
            os.close(fd)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
        sys.path.remove(str(SCRIPTS))
