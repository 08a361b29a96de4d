"""Chat templates rendered exactly as transformers renders them, without importing it.

The llama backend must put the same tokens in front of the model as the hf
backend (tests/test_llama.py checks it). transformers renders a template in a
jinja2 ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the
loopcontrols extension, its own ``tojson`` (no HTML escaping) and the globals
``raise_exception`` and ``strftime_now``; this module does the same. It is
written here, not imported, because importing transformers' renderer costs
about a second of the llama backend's cold start.

Templates come from model files and packs, so they are untrusted: the sandbox
is immutable, and underscore attributes are refused by jinja2's sandbox.
"""

from __future__ import annotations

import functools
import json
from datetime import datetime
from typing import Any

from persona.errors import ModelError

MAX_TEMPLATE_CHARS = 64_000


@functools.lru_cache(maxsize=8)
def _compile(template: str):
    import jinja2
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
               separators: Any = None, sort_keys: bool = False) -> str:
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render(template: str, messages: list[dict[str, str]], special: dict[str, str],
           add_generation_prompt: bool = True) -> str:
    """The prompt text for these messages; ``special`` holds bos_token, eos_token, …"""
    if len(template) > MAX_TEMPLATE_CHARS:
        raise ModelError(f"the chat template is {len(template)} characters, over {MAX_TEMPLATE_CHARS}",
                         "use the model's own template or a shorter one")
    import jinja2

    try:
        return _compile(template).render(messages=messages, tools=None, documents=None,
                                         add_generation_prompt=add_generation_prompt, **special)
    except jinja2.TemplateError as exc:
        raise ModelError(f"the chat template failed: {exc}",
                         "check the template in the model or the pack's [model] chat_template") from None
