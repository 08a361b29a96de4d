"""Every hook persona calls, in one place. Documented in docs/plugins.md.

Implementations may take fewer arguments than a spec names; hooks grow by
adding arguments, never by changing them.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("persona")
hookimpl = pluggy.HookimplMarker("persona")

# -- registration ----------------------------------------------------------------


@hookspec
def register_tools(register):
    """Call ``register(tool)`` for each tool this plugin provides."""


@hookspec
def register_backends(register):
    """Call ``register(name, factory)`` for each model backend this plugin provides."""


@hookspec
def register_commands(cli):
    """Add sub-commands to the CLI; ``cli`` is the argparse sub-parsers object."""


@hookspec(historic=True)
def startup(engine):
    """One-time set-up with the engine, called once it is constructed."""


# -- one turn, in the order they run ------------------------------------------------


@hookspec(firstresult=True)
def moderate_input(text, persona, conversation):
    """Return a Verdict for the user's text, or None. Stops at first non-None result."""


@hookspec
def analyze_message(message, persona, conversation):
    """Return a dict of annotations merged into ``message.metadata``, or None."""


@hookspec
def prepare_messages(messages, persona, conversation):
    """Edit, in place, the list of chat messages the model will see."""


@hookspec(firstresult=True)
def approve_tool_call(call, persona, conversation):
    """Return True to allow a tool call or False to deny it. Stops at first non-None result."""


@hookspec(firstresult=True)
def moderate_output(text, persona, conversation):
    """Return a Verdict for the model's reply, or None. Stops at first non-None result."""


@hookspec
def response_complete(message, persona, conversation):
    """Notification that a turn is final and about to be stored."""
