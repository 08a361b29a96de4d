"""What a front end holds: a :class:`Chat` (one conversation with one persona) and a turn's :class:`TurnResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from persona.context import ContextReport
from persona.conversation import Conversation, Message
from persona.packs import Persona
from persona.user_personas import UserPersona


@dataclass
class Chat:
    """One conversation with one persona; what a front end holds on to."""

    persona: Persona
    conversation: Conversation
    session_id: str
    stored: int = 0  # messages already in the store
    parent: str | None = None  # the session this one was forked from (a branch)
    head: int = 0  # the store's newest row id of this session when last read: shows other writers
    note: dict | None = None  # the author's note (persona/authors_note.py); read from the messages once
    note_read: bool = False
    user: UserPersona | None = None  # who the user is in this chat; None: as recorded, else the engine's

    @property
    def pending(self) -> list[Message]:
        return self.conversation.messages[self.stored:]


@dataclass
class TurnResult:
    reply: str
    messages: list[Message]  # this turn's new messages
    timings: dict[str, Any] = field(default_factory=dict)
    context: ContextReport | None = None
    stopped: str = ""
    concurrent: bool = False  # another process wrote to the session meanwhile; the chat was reloaded


