"""Helpers every command shares: the log handler, progress lines, JSON and table output, error lines."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

log = logging.getLogger("persona")


class StderrHandler(logging.Handler):
    """``warning: …`` lines on whatever sys.stderr is at the time."""

    def emit(self, record: logging.LogRecord) -> None:
        print(f"{record.levelname.lower()}: {record.getMessage()}", file=sys.stderr)


def setup_logging(debug: bool) -> None:
    log.handlers[:] = [StderrHandler()]
    log.setLevel(logging.DEBUG if debug else logging.WARNING)


def progress(msg: str) -> None:
    """Progress on stderr (stdout stays pure data): a live line is rewritten in place on a terminal."""
    from persona.progress import Live

    err = sys.stderr
    if isinstance(msg, Live) and err.isatty():
        err.write("\r\x1b[2K" + msg + ("\n" if msg.final else ""))
        err.flush()
    elif not isinstance(msg, Live) or msg.first or msg.final:
        print(msg, file=err, flush=True)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2))


def print_error(message: str, hint: str | None = None) -> None:
    """``error: …`` and, when there is one, ``hint: …`` on stderr."""
    print(f"error: {message}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)


def table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
