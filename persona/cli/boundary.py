"""The CLI's one exception boundary: every exception becomes ``error:`` + ``hint:`` and an exit code.

Exit 2 is bad input or a bad environment, which the user can fix: every
:class:`PersonaError`, argparse's usage errors, and the standard library's
exceptions that only input or the machine can cause (too deep nesting, bytes
that are not UTF-8, a path the OS refuses, a damaged SQLite file, a number out
of range). Exit 1 is a bug in persona: one ``internal error:`` line, the
traceback only with ``--debug``. The mapping is a table, so the next class of
bad input is one row here, not one ``try`` in every command.
"""

from __future__ import annotations

import argparse
import errno
import sqlite3
import sys
from typing import NoReturn

from persona.cli.common import print_error
from persona.errors import PersonaError

_OS_HINTS = {
    errno.ENOENT: "check the path: it does not exist",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "that is a folder; name a file",
    errno.EACCES: "check the file's permissions",
    errno.EPERM: "check the file's permissions",
    errno.EROFS: "that file system is read-only; choose another place",
    errno.ENOSPC: "the disk is full; free some space",
    errno.EDQUOT: "the disk quota is used up; free some space",
    errno.ENAMETOOLONG: "use a shorter file name (most file systems allow 255 bytes)",
    errno.ELOOP: "the path has a symlink loop",
}


def describe(exc: BaseException) -> tuple[str, str] | None:
    """(message, hint) when ``exc`` is the user's to fix (exit 2); None for a bug."""
    if isinstance(exc, PersonaError):
        return exc.message, exc.hint
    if isinstance(exc, RecursionError):
        return ("the input nests too deeply to read",
                "flatten the nested lists and tables (a few levels are plenty)")
    if isinstance(exc, UnicodeError):
        return f"text that is not valid UTF-8 ({exc})", "save the file or message as UTF-8"
    if isinstance(exc, ValueError) and "null byte" in str(exc):
        return "a path or name contains a NUL byte", "remove the NUL (\\0) character from it"
    if isinstance(exc, OverflowError):
        return f"a number is out of range ({exc})", "use a smaller value"
    if isinstance(exc, MemoryError):
        return "the input is too large to process in memory", "use a smaller file"
    if isinstance(exc, sqlite3.DatabaseError):
        return (f"the session store cannot be used ({exc})",
                "check PERSONA_HOME; move a damaged sessions.db aside to start a new one")
    if isinstance(exc, OSError) and exc.errno in _OS_HINTS:
        where = f" {exc.filename}" if exc.filename else ""
        return f"cannot use{where}: {exc.strerror}", _OS_HINTS[exc.errno]
    return None


def report(exc: BaseException, debug: bool) -> int:
    """Print ``exc`` under the contract and return the exit code; re-raise it under --debug."""
    described = describe(exc)
    if debug:
        raise exc
    if described is not None:
        print_error(*described)
        return 2
    print_error(f"internal error: {type(exc).__name__}: {exc}",
                "run again with --debug for the traceback, and report it")
    return 1


class Parser(argparse.ArgumentParser):
    """argparse with the contract's usage errors: ``error:``, a ``hint:`` naming --help, exit 2."""

    def error(self, message: str) -> NoReturn:
        print_error(message, f"`{self.prog} --help` lists the arguments")
        sys.exit(2)


def check_argv(argv: list[str]) -> None:
    """Arguments must be UTF-8: Python hands undecodable bytes over as lone surrogates."""
    for i, arg in enumerate(argv, 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            raise PersonaError(f"argument {i} ({shown}) is not valid UTF-8",
                               "pass text and paths as UTF-8") from None
