"""A Rust panic reaches Python as an exception and never aborts the worker process."""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = """
import afbundle
from afbundle import _core
caught = []
for in_worker in (False, True, False):
    try:
        _core._panic_for_tests(in_worker_thread=in_worker)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        caught.append(type(exc).__name__)
# The process is still usable afterwards, thread pool included.
report = afbundle.scan([sys.argv[1]], threads=2)
print(",".join(caught), report.stats.dirs_visited)
"""


def test_a_panic_becomes_an_exception_and_the_process_goes_on(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import sys\n" + textwrap.dedent(CHILD), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["PanicException,PanicException,PanicException", "1"]
