"""Helpers every command shares: the log handler, progress lines, JSON and table output, error lines."""

from __future__ import annotations

import logging
import sys
from typing import Any

from persona.textsafe import dumps_json, sanitize

log = logging.getLogger("persona")


class StderrHandler(logging.Handler):
    """``warning: …`` lines on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        echo(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def setup_logging(debug: bool) -> None:
    log.handlers[:] = [StderrHandler()]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)


def group(add, name: str, help: str):
    """A command with sub-commands (``persona data …``, ``persona me …``); returns ``add_sub(name, func, help)``."""
    import argparse

    parent = add(name, None, help)
    sub = parent.add_subparsers(dest=f"{name}_command", metavar="COMMAND", required=True)

    def add_sub(sub_name: str, func, sub_help: str) -> argparse.ArgumentParser:
        q = sub.add_parser(sub_name, help=sub_help, description=sub_help)
        q.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
        q.set_defaults(func=func)
        return q

    return add_sub


def progress(msg: str) -> None:
    """Progress on stderr (stdout stays pure data): a live line is rewritten in place on a terminal."""
    from persona.progress import Live

    err = sys.stderr
    if isinstance(msg, Live) and err.isatty():
        err.write("\r\x1b[2K" + sanitize(msg, one_line=True) + ("\n" if msg.final else ""))
        err.flush()
    elif not isinstance(msg, Live) or msg.first or msg.final:
        echo(msg, file=err, flush=True)


def echo(text: Any = "", file=None, end: str = "\n", flush: bool = False) -> None:
    """``print`` for human-readable output: control characters in ``text`` are shown, not sent."""
    print(sanitize(text), file=file or sys.stdout, end=end, flush=flush)


def print_json(data: Any) -> None:
    """``--json`` output: valid JSON, every control character (C1 included) as a \\u escape."""
    print(dumps_json(data, indent=2))


def print_error(message: str, hint: str | None = None) -> None:
    """``error: …`` and, when there is one, ``hint: …`` on stderr."""
    echo(f"error: {message}", file=sys.stderr)
    if hint:
        echo(f"hint: {hint}", file=sys.stderr)


def table(rows: list[list[str]], header: list[str]) -> None:
    """Columns of single-line cells: a newline or control character in a cell is shown, not sent."""
    cells = [[sanitize(c, one_line=True) for c in row] for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
