"""Opening ``sessions.db`` without harming it.

A store is read before anything is written to it: the file must start with the
SQLite header and hold our tables, and an existing file that needs any write at
open (the switch to WAL, new tables or columns, the schema version) must pass
``PRAGMA quick_check`` first. A sound, current store is opened with no write at
all, so a damaged file is never "repaired" into a worse one. Read-only commands
open the file with ``mode=ro``; a missing store reads as an empty one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from persona.errors import StoreError

SCHEMA_VERSION = 3  # 2: notes, 3: branches (sessions.parent, sessions.root)
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    persona TEXT NOT NULL,
    base TEXT NOT NULL DEFAULT '',
    title TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    name TEXT,
    tool_call TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    UNIQUE (session_id, seq)
);
CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated);
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    persona TEXT NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS notes_persona ON notes(persona);
"""
UNTOUCHED = "persona has not changed the file"


def connect(path: Path, readonly: bool = False) -> sqlite3.Connection:
    """A connection to the store at ``path``; StoreError (file left as it was) if it is not a sound store."""
    exists = path.is_file() and path.stat().st_size > 0
    # The header is checked by SQLite, not by reading the file here: closing any descriptor of
    # the file drops every POSIX lock this process holds on it, so another connection's
    # locks would vanish and another process could checkpoint and delete the WAL under it.
    if readonly:
        return _readonly(path) if exists else _empty()
    db = _connect(str(path))
    try:
        if exists:
            _check_header(db, path)
        _prepare(db, path, fresh=not exists)
    except BaseException:
        db.close()
        raise
    return db


def _check_header(db: sqlite3.Connection, path: Path) -> None:
    """A StoreError when ``path`` is not a SQLite database; reading its schema writes nothing."""
    try:
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" not in str(exc):
            raise
        raise StoreError(f"{path} is not a SQLite database (damaged, or not persona's)",
                         f"{UNTOUCHED}; restore it from a backup, or move it aside to start a new store") from None


def _connect(target: str, uri: bool = False) -> sqlite3.Connection:
    # Tools and front-end workers use the store from other threads; every use goes
    # through Store.lock, so one connection can be shared.
    db = sqlite3.connect(target, timeout=10, isolation_level=None, check_same_thread=False, uri=uri)
    db.execute("PRAGMA foreign_keys=ON")
    return db


def _tables(db: sqlite3.Connection, path: Path) -> tuple[int, set[str]]:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer persona (schema {version})",
                         "upgrade persona, or point PERSONA_HOME elsewhere")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not {"sessions", "messages"} <= tables:
        raise StoreError(f"{path} is a SQLite database but not a persona session store",
                         f"{UNTOUCHED}; point PERSONA_HOME elsewhere, or move the file aside")
    return version, tables


def _prepare(db: sqlite3.Connection, path: Path, fresh: bool) -> None:
    version, tables = _tables(db, path)
    columns = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
    wal = db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    missing = not {"sessions", "messages", "notes"} <= tables or not {"parent", "root"} <= columns
    if wal and not missing and version == SCHEMA_VERSION:
        return  # a current store: opening it writes nothing
    if not fresh:
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        if problems != ["ok"]:
            raise damaged(path, problems[0])
    if not wal:
        db.execute("PRAGMA journal_mode=WAL")
    if missing:
        db.executescript(SCHEMA)
        columns = {row[1] for row in db.execute("PRAGMA table_info(sessions)")}
        for column in ("parent", "root"):  # schema 3; older stores gain the columns
            if column not in columns:
                db.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
    if version != SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


def _readonly(path: Path) -> sqlite3.Connection:
    uri = path.resolve().as_uri() + "?mode=ro"
    db = _connect(uri, uri=True)
    try:
        _check_header(db, path)
        _, tables = _tables(db, path)
    except sqlite3.OperationalError as exc:
        db.close()
        # A WAL store in a folder we cannot write: SQLite cannot make its -shm file.
        # Nobody can be writing to it then, so it is read as an immutable file.
        if not getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
            raise
        db = _connect(uri + "&immutable=1", uri=True)
        _, tables = _tables(db, path)
    if not tables:  # an empty SQLite file: no sessions yet
        db.close()
        return _empty()
    return db


def _empty() -> sqlite3.Connection:
    """A missing store, for read-only use: empty, and nothing is created on disk."""
    db = _connect(":memory:")
    db.executescript(SCHEMA)
    db.execute("ALTER TABLE sessions ADD COLUMN parent TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN root TEXT")
    return db


def damaged(path: Path, detail: str) -> StoreError:
    return StoreError(f"the session store {path} is damaged ({detail})",
                      f"{UNTOUCHED}; restore it from a backup, try `sqlite3 {path.name} .recover`, "
                      "or move it aside to start a new store")


def explain(path: Path, exc: sqlite3.DatabaseError, doing: str) -> StoreError:
    """A StoreError for a failed SQLite call, with the hint that fits the cause."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return damaged(path, text)
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return StoreError(f"could not {doing}: the session store {path} is read-only",
                          "make PERSONA_HOME writable, or point it at a folder you can write")
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return StoreError(f"could not {doing}: another process kept the session store {path} locked",
                          "wait for the other persona command to finish, then try again")
    if code.startswith("SQLITE_FULL") or "disk is full" in text:
        return StoreError(f"could not {doing}: the disk is full", "free some disk space, then try again")
    return StoreError(f"could not {doing}: {text}", "check that PERSONA_HOME is writable and on a working disk")
