"""Sessions in SQLite (stdlib sqlite3, WAL) under PERSONA_HOME.

A turn, and the session row of a new conversation, are committed in one
transaction: a crash mid-turn leaves the store as it was before the turn.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from persona import paths
from persona.conversation import Conversation, Message
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


@dataclass
class SessionInfo:
    id: str
    persona: str
    base: str
    title: str
    created: float
    updated: float
    messages: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            path = paths.writable_home() / "sessions.db"
        self.path = Path(path)
        self.lock = threading.RLock()
        try:
            # Tools and front-end workers use the store from other threads; every
            # use goes through self.lock, so one connection can be shared.
            self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer persona (schema {version})",
                                 "upgrade persona, or point PERSONA_HOME elsewhere")
            self.db.executescript(SCHEMA)
            columns = {row[1] for row in self.db.execute("PRAGMA table_info(sessions)")}
            for column in ("parent", "root"):  # schema 3; older stores gain the columns
                if column not in columns:
                    self.db.execute(f"ALTER TABLE sessions ADD COLUMN {column} TEXT")
            self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open session store {self.path}: {exc}",
                             "check that PERSONA_HOME is writable and the file is a persona database") from None

    def close(self) -> None:
        self.db.close()

    def commit_turn(self, session_id: str, persona: str, base: str, messages: list[Message],
                    start_seq: int, title: str = "", parent: str | None = None) -> None:
        """Insert a turn's new messages (and the session row, if new) atomically."""
        now = time.time()
        try:
            with self.lock, self.db:  # isolation_level=None: BEGIN explicitly for one transaction
                self.db.execute("BEGIN IMMEDIATE")
                root = None
                if parent:
                    row = self.db.execute("SELECT COALESCE(root, id) FROM sessions WHERE id = ?", (parent,)).fetchone()
                    root = row[0] if row else parent
                self.db.execute(
                    "INSERT INTO sessions (id, persona, base, title, created, updated, parent, root) "
                    "VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, "
                    "title = CASE WHEN sessions.title = '' THEN excluded.title ELSE sessions.title END",
                    (session_id, persona, base, title, now, now, parent, root),
                )
                self._insert(session_id, start_seq, messages, now)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not save the turn: {exc}", "check disk space and PERSONA_HOME") from None

    def info(self, session_id: str) -> SessionInfo:
        with self.lock:
            return self._info(session_id)

    def _info(self, session_id: str) -> SessionInfo:
        row = self.db.execute(
            "SELECT s.id, s.persona, s.base, s.title, s.created, s.updated, "
            "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) FROM sessions s WHERE s.id = ?",
            (session_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"no session {session_id!r}", "`persona sessions` lists the stored sessions")
        return SessionInfo(*row)

    def load(self, session_id: str) -> tuple[SessionInfo, Conversation]:
        with self.lock:
            info = self._info(session_id)
            rows = self.db.execute(
                "SELECT role, content, name, tool_call, metadata FROM messages WHERE session_id = ? ORDER BY seq",
                (session_id,),
            ).fetchall()
        conv = Conversation()
        for role, content, name, tool_call, metadata in rows:
            conv.messages.append(Message(role, content, name=name,
                                         tool_call=json.loads(tool_call) if tool_call else None,
                                         metadata=json.loads(metadata)))
        return info, conv

    def _insert(self, session_id: str, start_seq: int, messages: list[Message], now: float) -> None:
        self.db.executemany(
            "INSERT INTO messages (session_id, seq, role, content, name, tool_call, metadata, created) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(session_id, start_seq + i, m.role, m.content, m.name,
              json.dumps(m.tool_call, ensure_ascii=False) if m.tool_call is not None else None,
              json.dumps(m.metadata, ensure_ascii=False, default=str), now)
             for i, m in enumerate(messages)],
        )

    def replace_from(self, session_id: str, seq: int, messages: list[Message]) -> None:
        """Replace a session's messages from ``seq`` on (a regenerated reply), atomically."""
        now = time.time()
        try:
            with self.lock, self.db:
                self.db.execute("BEGIN IMMEDIATE")
                self.db.execute("DELETE FROM messages WHERE session_id = ? AND seq >= ?", (session_id, seq))
                self._insert(session_id, seq, messages, now)
                self.db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"could not save the turn: {exc}", "check disk space and PERSONA_HOME") from None

    def update_message(self, session_id: str, seq: int, message: Message) -> None:
        with self.lock, self.db:
            self.db.execute("UPDATE messages SET content = ?, metadata = ? WHERE session_id = ? AND seq = ?",
                            (message.content, json.dumps(message.metadata, ensure_ascii=False, default=str),
                             session_id, seq))

    def branches(self, session_id: str) -> list[SessionInfo]:
        """Every session in this one's branch family (the original and its forks)."""
        with self.lock:
            row = self.db.execute("SELECT COALESCE(root, id) FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return []
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM sessions WHERE id = ? OR root = ? ORDER BY created", (row[0], row[0]))]
            return [self._info(i) for i in ids]

    def truncate(self, session_id: str, keep: int) -> None:
        """Delete a session's messages from position ``keep`` on (``/undo``), atomically."""
        with self.lock, self.db:
            self.db.execute("DELETE FROM messages WHERE session_id = ? AND seq >= ?", (session_id, keep))
            self.db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), session_id))

    def add_note(self, persona: str, text: str) -> None:
        """A per-persona note (the remember tool); kept across sessions."""
        with self.lock, self.db:
            self.db.execute("INSERT INTO notes (persona, text, created) VALUES (?,?,?)", (persona, text, time.time()))

    def notes(self, persona: str, query: str | None = None, limit: int = 20) -> list[str]:
        sql = "SELECT text FROM notes WHERE persona = ?"
        params: list = [persona]
        if query:
            sql += " AND text LIKE ? ESCAPE '\\'"
            params.append("%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        with self.lock:
            rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [r[0] for r in reversed(rows)]

    def sessions(self, limit: int = 50) -> list[SessionInfo]:
        with self.lock:
            return self._sessions(limit)

    def _sessions(self, limit: int) -> list[SessionInfo]:
        rows = self.db.execute(
            "SELECT s.id, s.persona, s.base, s.title, s.created, s.updated, "
            "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) "
            "FROM sessions s ORDER BY s.updated DESC LIMIT ?", (limit,),
        ).fetchall()
        return [SessionInfo(*r) for r in rows]
