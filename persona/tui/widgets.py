"""Widgets of the chat screen: messages, the composer and the status bar."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message as TextualMessage
from textual.widgets import Markdown, Static, TextArea

# Every text shown here goes through sanitize: C0/C1 control characters (ESC starts terminal
# sequences: colours, OSC 8 links, OSC 52 clipboard writes) become visible symbols, never sent.
from persona.textsafe import sanitize


class ChatMessage(Markdown):
    """A user or character message, rendered as Markdown (Rich markup stays literal)."""

    DEFAULT_CSS = """
    ChatMessage { margin: 0 1 1 1; padding: 0 1; height: auto; }
    """

    def __init__(self, role: str, text: str, author: str, **kwargs) -> None:
        super().__init__(sanitize(text), **kwargs)
        self.role = role
        self.add_class(role)
        self.border_title = border_label(author)

    def set_text(self, text: str) -> None:
        self.update(sanitize(text))


def border_label(text: str) -> Text:
    """A border title from untrusted text (a pack's name): one line, control characters
    shown, and as Text so that Textual does not read ``[link=…]`` in it as markup."""
    return Text(sanitize(text, one_line=True))


class Notice(Static):
    """A tool result, a safety notice or an error: plain text, no markup."""

    DEFAULT_CSS = """
    Notice { margin: 0 2 1 2; height: auto; }
    """

    def __init__(self, text: str, kind: str = "notice", **kwargs) -> None:
        super().__init__(Text(sanitize(text)), **kwargs)
        self.add_class(kind)


class Composer(TextArea):
    """The input box: Enter sends, ctrl+j inserts a new line."""

    BINDINGS = [Binding("ctrl+j", "newline", "New line", show=False)]

    class Submitted(TextualMessage):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class Browse(TextualMessage):
        """←/→ in an empty composer: browse greetings."""

        def __init__(self, step: int) -> None:
            super().__init__()
            self.step = step

    async def _on_key(self, event) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text
            if text.strip():
                self.clear()
                self.post_message(self.Submitted(text))
            return
        if event.key in ("left", "right") and not self.text:
            event.prevent_default()
            event.stop()
            self.post_message(self.Browse(-1 if event.key == "left" else 1))
            return
        await super()._on_key(event)

    def action_newline(self) -> None:
        self.insert("\n")


class StatusBar(Static):
    """Persona, model, speed, mood, lore and safety at a glance."""

    ICONS = {"positive": "🙂", "negative": "🙁", "neutral": "😐"}

    def show(self, persona: str, model: str, tokens_per_s: float | None = None,
             sentiment: dict | None = None, lore: list[str] | None = None, safety: str = "") -> None:
        parts = [persona, model, f"{tokens_per_s:.1f} tok/s" if tokens_per_s else "– tok/s"]
        if sentiment:
            parts.append(f"{self.ICONS.get(sentiment.get('label'), '')} {sentiment.get('label')}")
        if lore:
            parts.append("lore: " + ", ".join(lore))
        if safety:
            parts.append("⚠ " + safety)
        self.update(Text(" │ ".join(sanitize(p, one_line=True) for p in parts)))
