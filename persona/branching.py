"""Undo, swipes and branches: the engine methods that rewrite a conversation's tail.

Mixed into :class:`persona.engine.Engine`; every front end uses the same calls.

Another process may have written to the session since this chat read it. A
rewrite then changes nothing (the tail it would replace is no longer the tail,
and may be the other writer's turn): the chat is reloaded from the store and
:class:`~persona.store.SessionMoved` (a StoreError) tells the user to look again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from persona.chat import Chat, TurnResult
from persona.conversation import Conversation, Message
from persona.errors import InputError
from persona.store import SessionMoved, new_session_id


MOVED_NOTICE = ("another persona process added to this session meanwhile: your turn was saved after "
                "its messages, and the conversation was reloaded")


class BranchingMixin:
    def reload(self, chat: Chat) -> None:
        """Read the chat's session again from the store (another process changed it)."""
        _, conv, head = self.store.snapshot(chat.session_id)
        chat.conversation.messages[:] = conv.messages
        chat.stored, chat.head = len(conv.messages), head

    @contextmanager
    def _unmoved(self, chat: Chat) -> Iterator[None]:
        """A store rewrite of the chat's tail; if the session moved on, reload the chat and re-raise."""
        try:
            yield
        except SessionMoved:
            self.reload(chat)
            raise

    def undo(self, chat: Chat) -> bool:
        """Remove the last turn (the last user message and all after it). False if none."""
        msgs = chat.conversation.messages
        last_user = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].role == "user"), None)
        if last_user is None:
            return False
        if chat.stored > last_user:
            with self._unmoved(chat):
                chat.head = self.store.truncate(chat.session_id, last_user, head=chat.head)
            chat.stored = last_user
        del msgs[last_user:]
        return True

    # -- swipes and branches ----------------------------------------------------------

    def _last_turn(self, chat: Chat) -> tuple[int, int]:
        """Indexes of the last user message and of the reply that answers it."""
        msgs = chat.conversation.messages
        u = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].role == "user"), None)
        if u is None or msgs[-1].role != "assistant" or msgs[-1].metadata.get("generated") is False:
            raise InputError("there is no generated reply to replace", "send a message first")
        return u, len(msgs) - 1

    def regenerate(self, chat: Chat, on_token: Callable[[str], None] | None = None,
                   cancel: threading.Event | None = None, on_tool: Callable[[Message], None] | None = None,
                   **overrides: Any) -> TurnResult:
        """A new reply to the last user message; earlier replies stay as swipes."""
        u, r = self._last_turn(chat)
        if chat.stored:
            with self._unmoved(chat):  # before generating, so a stale chat costs no generation
                self.store.expect(chat.session_id, chat.head)
        msgs = chat.conversation.messages
        old = msgs[r]
        alternatives = list(old.metadata.get("alternatives") or [old.content])
        previous = msgs[u + 1:]
        del msgs[u + 1:]
        self._on_tool = on_tool
        try:
            reply, timings, report, stopped = self._respond(chat, on_token, cancel or threading.Event(),
                                                            overrides, [], time.perf_counter())
            reply.metadata["alternatives"] = alternatives + [reply.content]
            reply.metadata["swipe"] = len(alternatives)
            self._call("response_complete", message=reply, persona=chat.persona, conversation=chat.conversation)
            with self._unmoved(chat):
                head = self.store.replace_from(chat.session_id, u + 1, msgs[u + 1:], head=chat.head)
        except SessionMoved:
            raise  # the chat holds the store's messages now
        except BaseException:
            msgs[u + 1:] = previous
            raise
        chat.stored, chat.head = len(msgs), head
        return TurnResult(reply.content, msgs[u + 1:], timings, report, stopped)

    def swipe(self, chat: Chat, step: int) -> tuple[int, int] | None:
        """Show another kept reply for the last turn; returns (position, count), 1-based."""
        reply = chat.conversation.messages[-1] if chat.conversation.messages else None
        alternatives = reply.metadata.get("alternatives") if reply and reply.role == "assistant" else None
        if not alternatives:
            return None
        index = max(0, min(len(alternatives) - 1, reply.metadata.get("swipe", 0) + step))
        reply.metadata["swipe"] = index
        reply.content = alternatives[index]
        if chat.stored == len(chat.conversation.messages):
            with self._unmoved(chat):  # a reload also undoes the change above
                self.store.update_message(chat.session_id, chat.stored - 1, reply, head=chat.head)
        return index + 1, len(alternatives)

    def fork(self, chat: Chat, index: int, text: str, **kwargs: Any) -> tuple[Chat, TurnResult]:
        """Edit the user message at ``index`` and resend it, in a new branch session.

        The original session is left as it was and stays reachable (``branches``).
        """
        msgs = chat.conversation.messages
        if not (0 <= index < len(msgs)) or msgs[index].role != "user":
            raise InputError("only a message you wrote can be edited", "pick one of your own messages")
        copied = [Message(m.role, m.content, name=m.name, tool_call=m.tool_call, metadata=dict(m.metadata))
                  for m in msgs[:index]]
        branch = Chat(chat.persona, Conversation(copied, list(chat.conversation.tools)), new_session_id(),
                      parent=chat.session_id)
        return branch, self.turn(branch, text, **kwargs)

