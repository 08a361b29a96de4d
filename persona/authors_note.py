"""The author's note and the card's post-history instructions: text the engine places at a depth in the chat.

The author's note is per chat: ``/note TEXT`` sets it, ``/note depth N`` moves
it, ``/note off`` clears it (SillyTavern's default: depth 4, as a system
message; depth 0 is after the newest message). It is kept in message metadata
(``authors_note``): on each turn's user message, as the note that turn used,
and, when it changes between turns of a stored chat, on the newest stored
message at once. The newest message that has the key holds the chat's note,
so a resumed session keeps it and an undone turn takes its change with it.

World-info entries at the author's note's top and bottom slots are placed with
it; they use its depth and role (the default ones when no note is set).
Post-history instructions (a card's ``post_history_instructions``; the pack's
``post_history``) go after the history, just before the reply, at depth 0.
"""

from __future__ import annotations

from typing import Any

from persona.errors import InputError

KEY = "authors_note"
DEFAULT_DEPTH = 4
DEFAULT_ROLE = "system"
ROLES = ("system", "user", "assistant")
MAX_CHARS = 4000
MAX_DEPTH = 1000


def _valid(value: Any) -> dict | None:
    if not isinstance(value, dict) or not isinstance(value.get("text"), str):
        return None
    depth = value.get("depth", DEFAULT_DEPTH)
    role = value.get("role", DEFAULT_ROLE)
    if type(depth) is not int or not 0 <= depth <= MAX_DEPTH or role not in ROLES:
        return None
    return {"text": value["text"][:MAX_CHARS], "depth": depth, "role": role}


def current(chat) -> dict | None:
    """The chat's note (``{"text", "depth", "role"}``), or None; read from its messages once."""
    if not chat.note_read:
        for m in reversed(chat.conversation.messages):
            if KEY in m.metadata:
                chat.note = _valid(m.metadata[KEY])
                break
        chat.note_read = True
    return chat.note


def update(chat, text: str | None = None, depth: int | None = None, off: bool = False) -> dict | None:
    """The chat's note after ``/note TEXT``, ``/note depth N`` or ``/note off``; InputError if out of range."""
    note = current(chat)
    if off:
        chat.note = None
        return None
    if text is not None:
        if not text.strip():
            raise InputError("the author's note is empty", "give its text: /note TEXT (or /note off to clear it)")
        if len(text) > MAX_CHARS:
            raise InputError(f"the author's note is {len(text)} characters, over the {MAX_CHARS} limit",
                             "shorten it")
    if depth is not None and not 0 <= depth <= MAX_DEPTH:
        raise InputError(f"the note's depth must be 0-{MAX_DEPTH}, not {depth}",
                         "depth counts messages from the end: 0 is after the newest, 4 the default")
    base = note or {"text": "", "depth": DEFAULT_DEPTH, "role": DEFAULT_ROLE}
    chat.note = {**base, **({"text": text} if text is not None else {}),
                 **({"depth": depth} if depth is not None else {})}
    return chat.note


def record(chat, message) -> None:
    """Write the chat's note into ``message`` (a turn's user message), once the chat has had one."""
    note = current(chat)
    if note is not None or any(KEY in m.metadata for m in chat.conversation.messages):
        message.metadata[KEY] = dict(note) if note is not None else None


def describe(note: dict | None) -> str:
    """One line for ``/note`` alone."""
    if note is None or not note["text"]:
        return f"author's note: none (depth {note['depth'] if note else DEFAULT_DEPTH})"
    return f"author's note (depth {note['depth']}, {note['role']}): {note['text']}"


def inserts(chat, persona, slots: dict[str, list[str]], render) -> list[dict]:
    """The author's note (with world info at its slots) and the post-history instructions, as inserts."""
    note = current(chat)
    out = []
    parts = slots.get("top", []) + ([render(note["text"])] if note and note["text"] else []) \
        + slots.get("bottom", [])
    if parts:
        out.append({"role": note["role"] if note else DEFAULT_ROLE, "content": "\n".join(parts),
                    "depth": note["depth"] if note else DEFAULT_DEPTH})
    post = getattr(persona, "post_history", None) or persona.manifest.get("post_history")
    if isinstance(post, str) and post.strip():
        out.append({"role": "system", "content": render(post.strip()), "depth": 0})
    return out


def parse_command(rest: str) -> tuple[str, Any]:
    """``/note`` arguments: ("show", None), ("off", None), ("depth", N) or ("text", TEXT); InputError if bad."""
    rest = rest.strip()
    word, _, arg = rest.partition(" ")
    if not rest:
        return "show", None
    if rest.lower() in ("off", "clear"):
        return "off", None
    if word.lower() == "depth":
        try:
            return "depth", int(arg.strip())
        except ValueError:
            raise InputError(f"/note depth needs a number, not {arg.strip()!r:.40}",
                             "e.g. /note depth 2 (0 is after the newest message)") from None
    return "text", rest
