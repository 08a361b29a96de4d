"""Modal screens: the persona picker, the session browser and help."""

from __future__ import annotations

import datetime as dt

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from persona.tui.widgets import sanitize


class _Picker(ModalScreen[str]):
    BINDINGS = [Binding("escape", "dismiss_none", "Close")]

    def __init__(self, title: str, options: list[Option], empty: str) -> None:
        super().__init__()
        self.title_text, self.options, self.empty = title, options, empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text), classes="dialog-title")
            if self.options:
                yield OptionList(*self.options)
            else:
                yield Static(Text(self.empty))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class PersonaPicker(_Picker):
    """Every pack, rescanned on opening, with a greeting preview."""

    def __init__(self) -> None:
        from persona.packs import discover

        options = []
        for pack in discover().values():
            text = Text()
            text.append(sanitize(pack.name), style="bold")
            text.append(f"  [{pack.language}] adapter: {'yes' if pack.adapter else 'no'}\n")
            text.append(sanitize(pack.description) + "\n", style="italic")
            greeting = pack.render(pack.greetings[0]) if pack.greetings else "(no greeting)"
            text.append("“" + sanitize(greeting[:100]) + "”", style="dim")
            options.append(Option(text, id=pack.id))
        super().__init__("Choose a character (Enter: new chat, Esc: close)", options, "No persona packs found.")


class SessionBrowser(_Picker):
    """Past sessions, newest first."""

    def __init__(self, store) -> None:
        options = []
        for info in store.sessions(100):
            when = dt.datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
            text = Text()
            text.append(f"{sanitize(info.persona)}", style="bold")
            text.append(f"  {when}  {info.messages} messages\n")
            text.append(sanitize(info.title or "(no messages)")[:80], style="dim")
            options.append(Option(text, id=info.id))
        super().__init__("Resume a conversation (Enter: open, Esc: close)", options, "No saved sessions yet.")


HELP = """\
Keys
  Enter        send the message
  ctrl+j       new line in the message
  Esc          stop the reply being generated
  ←/→          other greetings (before the first message)
  ctrl+p       choose a character (new chat)
  ctrl+o       browse and resume saved sessions
  ctrl+u       undo the last turn
  F1           this help
  ctrl+q       quit (everything is saved as you go)

Slash commands
  /help  /persona ID  /reset  /undo  /export sharegpt|markdown  /system
  and the character's tools, e.g. /roll 2d6  /clock  /calc 2*3
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Help (Esc to close)"), classes="dialog-title")
            yield Static(Text(HELP))
