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

from persona.textsafe import sanitize


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
    """Past sessions, newest first; or the branches of one conversation."""

    def __init__(self, store, branches_of: str | None = None) -> None:
        options = []
        sessions = store.branches(branches_of) if branches_of else store.sessions(100)
        for info in sessions:
            when = dt.datetime.fromtimestamp(info.updated).strftime("%Y-%m-%d %H:%M")
            text = Text()
            text.append(f"{sanitize(info.persona)}", style="bold")
            text.append(f"  {when}  {info.messages} messages\n")
            text.append(sanitize(info.title or "(no messages)")[:80], style="dim")
            options.append(Option(text, id=info.id))
        title = ("Branches of this conversation (Enter: open, Esc: close)" if branches_of
                 else "Resume a conversation (Enter: open, Esc: close)")
        empty = "No branches yet: ctrl+e edits a message into a new branch." if branches_of else "No saved sessions yet."
        super().__init__(title, options, empty)


class EditPicker(_Picker):
    """Your messages in this conversation; the chosen one is edited into a branch."""

    def __init__(self, messages) -> None:
        options = [Option(Text(sanitize(m.content)[:100]), id=str(i))
                   for i, m in enumerate(messages) if m.role == "user"]
        super().__init__("Edit which message? (Enter: edit, Esc: close)", options, "No messages to edit yet.")


HELP = """\
Keys
  Enter        send the message
  ctrl+j       new line in the message
  Esc          stop the reply being generated
  ←/→          other greetings (before the first message), or the kept
               replies of the last turn (in an empty input box)
  ctrl+r       regenerate the last reply (earlier ones are kept)
  ctrl+e       edit one of your messages and resend it as a new branch
  ctrl+b       list this conversation's branches
  ctrl+p       choose a character (new chat)
  ctrl+o       browse and resume saved sessions
  ctrl+u       undo the last turn
  F1           this help
  ctrl+q       quit (everything is saved as you go)

Slash commands
  /help  /persona ID  /reset  /regen  /undo  /system
  /export sharegpt|markdown  /as NAME  /note TEXT | depth N | off
  and the character's tools, e.g. /roll 2d6  /clock  /calc 2*3
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Help (Esc to close)"), classes="dialog-title")
            yield Static(Text(HELP))
