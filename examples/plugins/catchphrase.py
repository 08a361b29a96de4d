"""An example persona plugin: copy it into $PERSONA_HOME/plugins/ to use it.

It shows the three things most plugins do:
- annotate messages (``analyze_message``): a word count on every message;
- steer the model (``prepare_messages``): a pack can set a catchphrase with
  ``[extensions.catchphrase] phrase = "By the tides!"`` in its persona.toml;
- add a tool (``register_tools``): ``flip_coin``, callable by the model or by
  the user as ``/flip`` (list it in the pack's ``[tools] allow``).
"""

import random

from persona.hookspecs import hookimpl
from persona.tools import Tool


@hookimpl
def analyze_message(message, persona, conversation):
    if message.role in ("user", "assistant"):
        return {"words": len(message.content.split())}
    return None


@hookimpl
def prepare_messages(messages, persona, conversation):
    phrase = persona.extensions.get("catchphrase", {}).get("phrase")
    if phrase and messages and messages[0]["role"] == "system":
        messages[0]["content"] += f'\nNow and then, say your catchphrase: "{phrase}"'


def flip_coin(arguments, ctx):
    return random.choice(["heads", "tails"])


@hookimpl
def register_tools(register):
    register(Tool(
        name="flip_coin",
        description="Flip a coin.",
        parameters={"type": "object", "properties": {}, "additionalProperties": False},
        function=flip_coin,
        command="flip",
    ))
