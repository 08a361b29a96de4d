"""Undo, swipes and branches: the engine methods that rewrite a conversation's tail.

Mixed into :class:`persona.engine.Engine`; every front end uses the same calls.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from persona.conversation import Conversation, Message
from persona.errors import InputError
from persona.store import new_session_id

if TYPE_CHECKING:
    from persona.engine import Chat, TurnResult


class BranchingMixin:
    def undo(self, chat: Chat) -> bool:
        """Remove the last turn (the last user message and all after it). False if none."""
        msgs = chat.conversation.messages
        last_user = next((i for i in range(len(msgs) - 1, -1, -1) if msgs[i].role == "user"), None)
        if last_user is None:
            return False
        if chat.stored > last_user:
            self.store.truncate(chat.session_id, last_user)
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
            self.store.replace_from(chat.session_id, u + 1, msgs[u + 1:])
        except BaseException:
            msgs[u + 1:] = previous
            raise
        chat.stored = len(msgs)
        from persona.engine import TurnResult

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
            self.store.update_message(chat.session_id, chat.stored - 1, reply)
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
        from persona.engine import Chat

        branch = Chat(chat.persona, Conversation(copied, list(chat.conversation.tools)), new_session_id(),
                      parent=chat.session_id)
        return branch, self.turn(branch, text, **kwargs)

