"""A spinner on stderr while one long GIL-free core call runs (scan, find)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def stderr_is_tty() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def with_progress(label: str, work: Callable[[], T], *, show: bool) -> T:
    """Run ``work`` while a spinner turns on stderr.

    The spinner appears only when ``show`` is true (stderr is a terminal and
    the output is not JSON) and only if the work takes longer than 0.1 s.
    ``label`` must already be safe to print.
    """
    if not show:
        return work()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, name="afbundle-progress", daemon=True)
    started = time.monotonic()
    worker.start()
    drawn = False
    frames = "|/-\\"
    try:
        worker.join(0.1)
        while worker.is_alive():
            elapsed = time.monotonic() - started
            sys.stderr.write(f"\r{frames[int(elapsed * 10) % 4]} {label} ({elapsed:.1f} s)")
            sys.stderr.flush()
            drawn = True
            worker.join(0.1)
    finally:
        if drawn:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
