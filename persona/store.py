"""Sessions in SQLite (stdlib sqlite3, WAL) under PERSONA_HOME.

A turn, and the session row of a new conversation, are committed in one
transaction: a crash mid-turn leaves the store as it was before the turn.

Several processes may write one session (two terminals, a REPL and a
``persona ask``). A turn is appended at the position the store finds inside its
own write transaction, so no writer's turn is ever lost; the caller learns that
the session moved on (``Saved.moved``) and reloads. Rewrites of a tail (undo,
regenerate, swipe) name the session's ``head`` (its newest row id) as the
caller last saw it, and are refused with :class:`SessionMoved` if it changed.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from persona import paths
from persona.conversation import Conversation, Message
from persona.errors import StoreError
from persona.store_open import SCHEMA, SCHEMA_VERSION, connect, explain

__all__ = ["SCHEMA", "SCHEMA_VERSION", "Saved", "SessionInfo", "SessionMoved", "Store", "new_session_id"]


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


@dataclass
class Saved:
    """Where a committed turn went."""

    start: int  # seq of the turn's first message
    head: int  # the session's newest row id, after the commit
    moved: bool  # another writer had changed the session since the caller's head


class SessionMoved(StoreError):
    """Another process changed the session after this one read it; nothing was written."""

    def __init__(self, session_id: str) -> None:
        super().__init__(f"session {session_id} was changed by another persona process since it was loaded",
                         "the conversation has been reloaded from the store; look at it again, then retry")


def new_session_id() -> str:
    return uuid.uuid4().hex[:12]


class Store:
    def __init__(self, path: str | Path | None = None, readonly: bool = False) -> None:
        """Open the session store. ``readonly``: for commands that only read (``sessions``,
        ``export``): nothing is created or written, and a missing store is an empty one."""
        if path is None:
            path = (paths.home() if readonly else paths.writable_home()) / "sessions.db"
        self.path = Path(path)
        self.readonly = readonly
        self.lock = threading.RLock()
        try:
            self.db = connect(self.path, readonly)
        except sqlite3.DatabaseError as exc:
            raise explain(self.path, exc, "open the session store") from None

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def _reading(self, doing: str) -> Iterator[None]:
        with self.lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise explain(self.path, exc, doing) from None

    @contextmanager
    def _writing(self, doing: str) -> Iterator[None]:
        """One write transaction. IMMEDIATE takes the write lock first, so what it reads
        (the session's end) cannot change before it writes."""
        with self._reading(doing), self.db:  # isolation_level=None: BEGIN explicitly
            self.db.execute("BEGIN IMMEDIATE")
            yield

    def _tail(self, session_id: str) -> tuple[int, int]:
        """The session's head (newest row id, 0 if none) and the next free seq."""
        return self.db.execute("SELECT COALESCE(MAX(id), 0), COALESCE(MAX(seq) + 1, 0) FROM messages "
                               "WHERE session_id = ?", (session_id,)).fetchone()

    def _expect(self, session_id: str, head: int | None) -> None:
        if head is not None and self._tail(session_id)[0] != head:
            raise SessionMoved(session_id)

    def head(self, session_id: str) -> int:
        """The session's newest row id: it changes with every append, undo and regenerate."""
        with self._reading("read the session"):
            return self._tail(session_id)[0]

    def expect(self, session_id: str, head: int) -> None:
        """Raise SessionMoved if the session's head is no longer ``head``."""
        with self._reading("read the session"):
            self._expect(session_id, head)

    def commit_turn(self, session_id: str, persona: str, base: str, messages: list[Message],
                    start_seq: int | None = None, title: str = "", parent: str | None = None,
                    head: int | None = None, moved_notice: str = "") -> Saved:
        """Append a turn's new messages (and the session row, if new) atomically, at the session's end.

        Args:
            start_seq, head: where the caller believes the session ends; if another writer
                changed it since, the turn still goes at the real end and ``Saved.moved`` is set.
            moved_notice: then added to the last message's ``notices`` (and stored with it).
        """
        now = time.time()
        with self._writing("save the turn"):
            current, start = self._tail(session_id)
            moved = (head is not None and current != head) or (start_seq is not None and start != start_seq)
            if moved and moved_notice and messages:
                messages[-1].metadata.setdefault("notices", []).append(moved_notice)
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
            self._insert(session_id, start, messages, now)
            return Saved(start, self._tail(session_id)[0], moved)

    def info(self, session_id: str) -> SessionInfo:
        with self._reading("read the session"):
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
        info, conv, _ = self.snapshot(session_id)
        return info, conv

    def snapshot(self, session_id: str) -> tuple[SessionInfo, Conversation, int]:
        """The session, its messages and its head (for :meth:`commit_turn` and the rewrites)."""
        with self._reading("load the session"):
            info = self._info(session_id)
            rows = self.db.execute("SELECT id, seq, role, content, name, tool_call, metadata FROM messages "
                                   "WHERE session_id = ? ORDER BY seq", (session_id,)).fetchall()
        conv = Conversation([self._message(session_id, *row[1:]) for row in rows])
        return info, conv, max((row[0] for row in rows), default=0)

    def _message(self, session_id: str, seq: int, role, content, name, tool_call, metadata) -> Message:
        # A row damaged outside persona is refused, not guessed at: its metadata holds the
        # safety record (a blocked message's "context": false) and the kept swipes.
        def parsed(column: str, text: str) -> dict:
            try:
                value = json.loads(text)
            except ValueError as exc:
                raise self._bad_row(session_id, seq, column, exc) from None
            if not isinstance(value, dict):
                raise self._bad_row(session_id, seq, column, f"{type(value).__name__}, not a JSON object")
            return value

        meta, call = parsed("metadata", metadata), parsed("tool_call", tool_call) if tool_call else None
        try:
            return Message(role, content, name=name, tool_call=call, metadata=meta)
        except ValueError as exc:
            raise self._bad_row(session_id, seq, "role", exc) from None

    def _bad_row(self, session_id: str, seq: int, column: str, why) -> StoreError:
        return StoreError(f"session {session_id}: message {seq} has a damaged {column} ({why})",
                          f"the row was changed outside persona; repair it with sqlite3, e.g. `UPDATE messages SET "
                          f"{column} = ... WHERE session_id = '{session_id}' AND seq = {seq}`, in {self.path}")

    def _insert(self, session_id: str, start_seq: int, messages: list[Message], now: float) -> None:
        self.db.executemany(
            "INSERT INTO messages (session_id, seq, role, content, name, tool_call, metadata, created) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(session_id, start_seq + i, m.role, m.content, m.name,
              json.dumps(m.tool_call, ensure_ascii=False) if m.tool_call is not None else None,
              json.dumps(m.metadata, ensure_ascii=False, default=str), now)
             for i, m in enumerate(messages)],
        )

    def replace_from(self, session_id: str, seq: int, messages: list[Message], head: int | None = None) -> int:
        """Replace a session's messages from ``seq`` on (a regenerated reply), atomically; returns the new head.

        Raises SessionMoved, writing nothing, if ``head`` is given and the session moved on.
        """
        now = time.time()
        with self._writing("save the reply"):
            self._expect(session_id, head)
            self.db.execute("DELETE FROM messages WHERE session_id = ? AND seq >= ?", (session_id, seq))
            self._insert(session_id, seq, messages, now)
            self.db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (now, session_id))
            return self._tail(session_id)[0]

    def update_message(self, session_id: str, seq: int, message: Message, head: int | None = None) -> None:
        """Rewrite one message's content and metadata (a swipe); SessionMoved as for replace_from."""
        with self._writing("save the message"):
            self._expect(session_id, head)
            self.db.execute("UPDATE messages SET content = ?, metadata = ? WHERE session_id = ? AND seq = ?",
                            (message.content, json.dumps(message.metadata, ensure_ascii=False, default=str),
                             session_id, seq))

    def branches(self, session_id: str) -> list[SessionInfo]:
        """Every session in this one's branch family (the original and its forks)."""
        with self._reading("list the branches"):
            row = self.db.execute("SELECT COALESCE(root, id) FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                return []
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM sessions WHERE id = ? OR root = ? ORDER BY created", (row[0], row[0]))]
            return [self._info(i) for i in ids]

    def truncate(self, session_id: str, keep: int, head: int | None = None) -> int:
        """Delete a session's messages from position ``keep`` on (``/undo``), atomically; returns the new head.

        Raises SessionMoved, writing nothing, if ``head`` is given and the session moved on.
        """
        with self._writing("undo the turn"):
            self._expect(session_id, head)
            self.db.execute("DELETE FROM messages WHERE session_id = ? AND seq >= ?", (session_id, keep))
            self.db.execute("UPDATE sessions SET updated = ? WHERE id = ?", (time.time(), session_id))
            return self._tail(session_id)[0]

    def add_note(self, persona: str, text: str) -> None:
        """A per-persona note (the remember tool); kept across sessions."""
        with self._writing("save the note"):
            self.db.execute("INSERT INTO notes (persona, text, created) VALUES (?,?,?)", (persona, text, time.time()))

    def notes(self, persona: str, query: str | None = None, limit: int = 20) -> list[str]:
        sql = "SELECT text FROM notes WHERE persona = ?"
        params: list = [persona]
        if query:
            sql += " AND text LIKE ? ESCAPE '\\'"
            params.append("%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        with self._reading("read the notes"):
            rows = self.db.execute(sql + " ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
        return [r[0] for r in reversed(rows)]

    def sessions(self, limit: int = 50) -> list[SessionInfo]:
        with self._reading("list the sessions"):
            return self._sessions(limit)

    def _sessions(self, limit: int) -> list[SessionInfo]:
        rows = self.db.execute(
            "SELECT s.id, s.persona, s.base, s.title, s.created, s.updated, "
            "(SELECT COUNT(*) FROM messages m WHERE m.session_id = s.id) "
            "FROM sessions s ORDER BY s.updated DESC LIMIT ?", (limit,),
        ).fetchall()
        return [SessionInfo(*r) for r in rows]
