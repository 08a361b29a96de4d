"""The user's side of a chat, mixed into the Engine: the user persona, what ``{{macros}}`` expand to, the author's note."""

from __future__ import annotations

from typing import TYPE_CHECKING

from persona import authors_note, macros, user_personas
from persona.chat import Chat
from persona.user_personas import UserPersona

if TYPE_CHECKING:
    from persona.models import GenerationParams


class UserMixin:
    def user_of(self, chat: Chat) -> UserPersona:
        """The chat's user persona: set, else the last one its messages recorded, else the engine's."""
        if chat.user is None:
            name = next((m.metadata["user_persona"] for m in reversed(chat.conversation.messages)
                         if isinstance(m.metadata.get("user_persona"), str)), None)
            chat.user = user_personas.lookup(name) if name else self.user
        return chat.user

    def set_user(self, chat: Chat, user: UserPersona) -> None:
        """Speak as ``user`` from the next turn on (recorded on each user message, so a resume keeps it)."""
        chat.user = user

    def macro_context(self, chat: Chat, params: GenerationParams | None = None) -> macros.MacroContext:
        """What ``{{macros}}`` expand to in this chat now (persona/macros.py)."""
        import datetime as dt

        msgs = [m for m in chat.conversation.messages
                if m.role in ("user", "assistant") and m.metadata.get("context", True)]
        users = [m for m in msgs if m.role == "user"]
        sent = users[-2].metadata.get("sent") if len(users) > 1 else None
        now = self.clock()
        system = chat.conversation.messages[0] if chat.conversation.messages else None
        pick = (system.metadata.get("pick_seed") if system is not None and system.role == "system" else None)
        return macros.MacroContext(
            char=getattr(chat.persona, "nickname", None) or chat.persona.name, user=self.user_of(chat).name,
            chat_id=pick if isinstance(pick, str) else chat.session_id,
            seed=params.seed if params is not None else None, turn=len(chat.conversation.messages),
            clock=lambda: dt.datetime.fromtimestamp(now),
            last_message=msgs[-1].content if msgs else "",
            last_user_message=users[-1].content if users else "",
            last_char_message=next((m.content for m in reversed(msgs) if m.role == "assistant"), ""),
            idle_seconds=now - sent if isinstance(sent, (int, float)) else None)

    def _user_description(self, chat: Chat, system: dict | None) -> dict | None:
        """SillyTavern's default: the user persona's description ends the story string (system prompt)."""
        description = self.user_of(chat).description.strip()
        if not description:
            return system
        text = chat.persona.render(description)
        if system is None:
            return {"role": "system", "content": text}
        return {**system, "content": "\n\n".join(filter(None, [system["content"].rstrip(), text]))}

    def set_note(self, chat: Chat, text: str | None = None, depth: int | None = None,
                 off: bool = False) -> dict | None:
        """Change the chat's author's note (``/note``); a stored chat keeps it at once."""
        note = authors_note.update(chat, text, depth, off)
        if chat.stored:  # on the newest stored message: a resume before the next turn still has it
            last = chat.conversation.messages[chat.stored - 1]
            last.metadata[authors_note.KEY] = dict(note) if note is not None else None
            self.store.update_message(chat.session_id, chat.stored - 1, last, head=chat.head)
        return note

