"""The one place the ``afbundle`` command writes for people (and its JSON).

Everything a bundle or a file system controls -- paths, dag_ids, language,
source names, reasons -- reaches the terminal only through :func:`shown`
(names) or :func:`plain` (messages), which render every control character
visibly, the way ``ls``, ``git`` and ``fd`` do: an escape sequence in a dag_id
cannot retitle the window, clear the screen or hide text, and a newline in a
file name cannot forge an ``OK`` line. ``--json`` keeps the exact values
(:func:`print_json`). Colour is used only on a terminal, and never when
``NO_COLOR`` is set to a non-empty value or ``TERM=dumb``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import IO, Any

PROG = "afbundle"

#: Control characters with a conventional one-letter C escape.
_C_ESCAPES = {"\a": "\\a", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\v": "\\v", "\f": "\\f",
              "\r": "\\r", "\x1b": "\\e"}  # fmt: skip
#: Unicode categories never printed as is: controls, format characters (bidi
#: overrides, zero-width), line/paragraph separators, and lone surrogates
#: (the undecodable bytes of a file name, PEP 383).
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def _escape(char: str) -> str | None:
    """The visible spelling of ``char``, or ``None`` when it prints as itself."""
    if char in _C_ESCAPES:
        return _C_ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if unicodedata.category(char) in _HIDDEN:
        return f"\\u{{{code:x}}}"
    return None


def _needs_escape(text: str) -> bool:
    return not text.isprintable() or any(0xDC80 <= ord(c) <= 0xDCFF for c in text)


def plain(value: object) -> str:
    """``value`` as text with every control character written as an escape.

    For messages and reasons: nothing is quoted, but nothing can move the
    cursor, change the terminal's state or start a new line.

    Example:
        >>> plain("bad\\x1b]0;owned\\x07 title")
        'bad\\\\e]0;owned\\\\a title'
    """
    text = str(value)
    if not _needs_escape(text):
        return text
    return "".join(_escape(c) or c for c in text)


def shown(value: object) -> str:
    """A name (path, dag_id, language, source name) as it is safe to print.

    A name that prints as itself is returned unchanged. Otherwise it is put in
    double quotes with ``\\`` and ``"`` escaped and every control character,
    format character and undecodable byte written as ``\\n``, ``\\e``,
    ``\\xNN`` (a byte or a C0 control) or ``\\u{NNNN}``, so the result is one
    unambiguous line.

    Example:
        >>> shown("dist/hello"), shown("evil\\nOK dist/good")
        ('dist/hello', '"evil\\\\nOK dist/good"')
    """
    text = os.fsdecode(value) if isinstance(value, bytes) else str(value)
    if not _needs_escape(text) and not text.startswith('"'):
        return text
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        else:
            out.append(_escape(char) or char)
    return '"' + "".join(out) + '"'


def shown_list(values: Iterable[object], sep: str = ", ") -> str:
    """Several names, each through :func:`shown`."""
    return sep.join(shown(v) for v in values)


# --------------------------------------------------------------------------- colour


@dataclasses.dataclass(frozen=True)
class Palette:
    """ANSI styling that is a no-op unless the stream is a terminal and NO_COLOR is unset."""

    enabled: bool

    @classmethod
    def for_stream(cls, stream: IO[str]) -> Palette:
        isatty = getattr(stream, "isatty", None)
        tty = bool(isatty and isatty())
        return cls(tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb")

    def _paint(self, code: str, text: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled and text else text

    def good(self, text: str) -> str:
        return self._paint("32", text)

    def bad(self, text: str) -> str:
        return self._paint("31", text)

    def warn(self, text: str) -> str:
        return self._paint("33", text)

    def strong(self, text: str) -> str:
        return self._paint("1", text)

    def faint(self, text: str) -> str:
        return self._paint("2", text)


def stdout_palette() -> Palette:
    return Palette.for_stream(sys.stdout)


# --------------------------------------------------------------------------- tables


@dataclasses.dataclass(frozen=True)
class Styled:
    """A table cell whose text is painted after the column is padded."""

    text: str
    paint: Callable[[str], str]


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str | Styled]],
    palette: Palette,
    *,
    right: Iterable[int] = (),
    indent: str = "  ",
) -> list[str]:
    """Align ``rows`` under ``headers``; columns in ``right`` are right-aligned.

    Cells must already be safe to print (:func:`shown`, :func:`plain`).

    Example:
        >>> render_table(["DAG_ID", "TASKS"], [["a", "3"]], Palette(False), right=[1])
        ['  DAG_ID  TASKS', '  a           3']
    """
    table = [[c if isinstance(c, Styled) else Styled(c, str) for c in row] for row in rows]
    header_row = [Styled(h, palette.strong) for h in headers]
    widths = [max(len(r[i].text) for r in [header_row, *table]) for i in range(len(headers))]
    right_aligned = set(right)
    lines = []
    for row in [header_row, *table]:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - len(cell.text))
            last = i == len(row) - 1
            if i in right_aligned:
                cells.append(pad + cell.paint(cell.text))
            else:
                cells.append(cell.paint(cell.text) + ("" if last else pad))
        lines.append(indent + "  ".join(cells))
    return lines


def print_section(
    title: str, rows: list[list[str | Styled]], headers: list[str], palette: Palette
) -> None:
    """A blank line, a bold title and a table; nothing at all when there are no rows."""
    if not rows:
        return
    print()
    print(palette.strong(title))
    for line in render_table(headers, rows, palette):
        print(line)


def human_size(n: int) -> str:
    """A byte count in binary units.

    Example:
        >>> human_size(512), human_size(16831), human_size(3 << 30)
        ('512 B', '16.4 KiB', '3.0 GiB')
    """
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def plural(count: int, noun: str) -> str:
    """``1 task``, ``3 tasks``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


# --------------------------------------------------------------------------- JSON


def json_text(document: Any) -> bytes:
    """One JSON document as UTF-8 bytes, exact for every string.

    A file name byte that is not UTF-8 reaches Python as a lone surrogate
    U+DC80..U+DCFF (PEP 383); it is written as the JSON escape ``\\udcNN``
    (NN = the byte), which ``json.loads`` reads back and ``os.fsencode``
    turns into the original bytes. Every other character is written as is.

    Example:
        >>> json_text({"path": "caf\\udce9"})
        b'{\\n  "path": "caf\\\\udce9"\\n}\\n'
    """
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    # Lone surrogates only occur inside JSON strings, where `\udcNN` is the
    # escape JSON itself defines for that code unit.
    return text.encode("utf-8", "backslashreplace")


def print_json(document: Any) -> None:
    """Write one JSON document (the ``--json`` output) to stdout."""
    sys.stdout.flush()
    sys.stdout.buffer.write(json_text(document))
    sys.stdout.buffer.flush()


# --------------------------------------------------------------------------- stderr


def _say(label: str, message: str) -> None:
    print(f"{PROG}: {label}: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Print ``afbundle: warning: <message>`` on stderr (``message`` must be safe to print)."""
    _say(Palette.for_stream(sys.stderr).warn("warning"), message)


def note(message: str) -> None:
    """Print ``afbundle: note: <message>`` on stderr."""
    _say("note", message)


def hint(message: str) -> None:
    """Print ``afbundle: hint: <message>`` on stderr."""
    _say("hint", message)


def error(message: str) -> None:
    """Print ``afbundle: error: <message>`` on stderr."""
    _say(Palette.for_stream(sys.stderr).bad("error"), message)


class ConsoleLog:
    """The keyword-style logger :func:`afbundle.find` and :func:`afbundle.scan` take.

    Warnings go to stderr as ``afbundle: warning:`` lines, every value escaped.
    """

    def debug(self, event: str, **kw: Any) -> None:
        pass

    def warning(self, event: str, **kw: Any) -> None:
        context = ", ".join(f"{k}: {_context_value(v)}" for k, v in kw.items())
        warn(f"{plain(event)} ({context})" if context else plain(event))


def _context_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return shown_list(value, " ")
    return shown(value)


def configure_logging() -> None:
    """Show the library's :mod:`logging` records (logger ``afbundle``) as warning lines.

    Without this, Python's last-resort handler prints a warning bare, with
    neither level nor source; the command prints it like its own warnings.
    """
    import logging

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                message = plain(record.getMessage())
                if record.levelno >= logging.ERROR:
                    error(message)
                else:
                    warn(message)
            except Exception:  # a logging handler must never raise
                self.handleError(record)

    logger = logging.getLogger("afbundle")
    if not any(isinstance(h, Handler) for h in logger.handlers):
        logger.addHandler(Handler(logging.WARNING))
    logger.propagate = False


def make_streams_safe() -> None:
    """Never die on an unencodable character (a strict UTF-8 locale, a non-UTF-8 file name).

    Human output is escaped before it is printed (:func:`shown`); this is the
    net under it: anything left is written as a backslash escape, not raised.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
