"""Card fields ⇄ pack: the mapping table of docs/packs.md, in one place for import and export.

Import reads a card as a :class:`View` (what the pack will hold: name, system
prompt, greetings, examples, lore, post-history instructions); export compares
the pack's own View with the View of the card it came from (``card.json``) and
rewrites only the card fields whose part of the pack changed, so every other
field, unknown ones included, goes back out as it came in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from persona.cards import CardError, dialogue

# SillyTavern's default main prompt ("Neutral - Chat"): what a card's empty
# system_prompt falls back to, and what {{original}} in one stands for.
ST_DEFAULT_SYSTEM = "Write {{char}}'s next reply in a fictional chat between {{char}} and {{user}}."
# SillyTavern's budget is 25% of the context; a card's book rarely says. This is
# 25% of the 8192-token window persona uses at most (persona's own default, 256,
# is smaller than one entry of most shared books).
DEFAULT_LORE_BUDGET = 2048
MAX_FIELD_BYTES = 1024 * 1024  # a pack's text file holds 1 MiB (persona/pack_files.py)
TEXT_FIELDS = ("name", "description", "personality", "scenario", "first_mes", "mes_example", "creator_notes",
               "system_prompt", "post_history_instructions", "creator", "character_version", "nickname")
_ORIGINAL = re.compile(r"\{\{\s*original\s*\}\}", re.IGNORECASE)
V1_ALIASES = {"creatorcomment": "creator_notes"}
PYGMALION = {"char_name": "name", "char_persona": "description", "char_greeting": "first_mes",
             "world_scenario": "scenario", "example_dialogue": "mes_example"}


@dataclass
class View:
    """A character as a pack holds it; import builds one from a card, export from a pack."""

    name: str
    system: str
    greetings: list[str]
    examples: list[dict[str, Any]]
    lore: dict[str, Any] | None
    post_history: str
    nickname: str = ""
    default_system: str = ST_DEFAULT_SYSTEM
    dropped_example_lines: int = 0
    persona: dict[str, Any] = field(default_factory=dict)  # data.extensions.persona, as exported

    def same(self, other: View, part: str) -> bool:
        return getattr(self, part) == getattr(other, part)


def nl(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def card_data(obj: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    """(spec, the V2/V3 ``data`` fields) of any card shape: V1 flat, V2, V3, Pygmalion, text-generation-webui."""
    spec = obj.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = obj.get("data")
        if not isinstance(data, dict):
            raise CardError(f"the {spec} card has no 'data' object", "a V2/V3 card keeps its fields under 'data'")
        return spec, data
    if spec is not None:
        raise CardError(f"unknown card spec {str(spec)[:60]!r}", "persona reads chara_card_v2 and chara_card_v3 cards")
    if kind == "yaml":
        name = obj.get("name", obj.get("bot"))
        return "textgen_yaml", {"name": name, "description": obj.get("context", ""),
                                "first_mes": obj.get("greeting", ""), "mes_example": obj.get("example_dialogue", "")}
    if "char_name" in obj and "name" not in obj:
        return "pygmalion", {new: obj[old] for old, new in PYGMALION.items() if old in obj}
    if "name" in obj:
        data = {V1_ALIASES.get(k, k): v for k, v in obj.items()}
        return "chara_card_v1", data
    raise CardError("the JSON is neither a character card nor a world-info file",
                    "a card has spec + data (V2/V3) or name + description (V1); world info has entries")


def text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CardError(f"the card's {key} is a {type(value).__name__}, not text",
                        "fix the card: every text field is a JSON string")
    if len(value.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
        raise CardError(f"the card's {key} is {len(value.encode('utf-8', 'surrogatepass')) // 2**20} MiB, "
                        f"over the {MAX_FIELD_BYTES // 2**20} MiB a pack's text may hold",
                        "shorten it; a character definition is a few KiB")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise CardError(f"the card's {key} holds unpaired surrogates (not text)", "save the card as UTF-8")
    return value


def strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]  # as SillyTavern accepts one alternate greeting as a string
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CardError(f"the card's {key} is not a list of strings", f"fix the card's {key}")
    for i, v in enumerate(value):
        text({key: v}, f"{key}[{i}]")
    return value


def story_string(data: dict[str, Any], default_system: str) -> str:
    """SillyTavern's default story string: system, description, personality, scenario (wiAfter: the lore)."""
    system = text(data, "system_prompt").strip()
    if _ORIGINAL.search(system):
        first = iter([default_system])
        system = _ORIGINAL.sub(lambda m: next(first, ""), system).strip()  # {{original}} once, as ST does
    system = system or default_system
    personality, scenario = text(data, "personality").strip(), text(data, "scenario").strip()
    parts = [system, text(data, "description").strip(),
             f"{{{{char}}}}'s personality: {personality}" if personality else "",
             f"Scenario: {scenario}" if scenario else ""]
    return nl("\n".join(p for p in parts if p)).lstrip("\ufeff") or "You are {{char}}."


def lore_of(book: Any, add_budget: bool = True) -> dict[str, Any] | None:
    if not isinstance(book, dict) or not isinstance(book.get("entries"), list):
        return None
    if add_budget and book.get("token_budget") is None:
        book = {**book, "token_budget": DEFAULT_LORE_BUDGET}
    return book


def view_of_card(spec: str, data: dict[str, Any]) -> View:
    """What importing a card with these ``data`` fields puts in the pack."""
    for key in TEXT_FIELDS:
        text(data, key)
    name = text(data, "name").strip()
    if not name:
        raise CardError("the card has no name", "give the character a name in the card (data.name)")
    ext = data.get("extensions") if isinstance(data.get("extensions"), dict) else {}
    persona = ext.get("persona") if isinstance(ext.get("persona"), dict) else {}
    default = persona.get("default_system", ST_DEFAULT_SYSTEM)
    default = default if isinstance(default, str) else ST_DEFAULT_SYSTEM
    greetings = [nl(g) for g in [text(data, "first_mes"), *strings(data, "alternate_greetings")] if g.strip()]
    examples, dropped = dialogue.parse(text(data, "mes_example"))
    system = story_string(data, default)
    exact = persona.get("system")
    if isinstance(exact, dict) and exact.get("sha256") == _sha(text(data, "description")) \
            and isinstance(exact.get("text"), str):
        system = exact["text"]  # the pack's exact prompt, while the description is still the one exported
    if isinstance(persona.get("examples"), list):  # exact ShareGPT records the text form could not carry
        examples = persona["examples"]
    return View(name=name, system=system, greetings=greetings, examples=examples,
                lore=lore_of(data.get("character_book"), not persona.get("no_budget")), post_history=nl(text(data, "post_history_instructions")),
                nickname=text(data, "nickname").strip(), default_system=default, dropped_example_lines=dropped, persona=persona)


def card_fields(view: View, original: View | None) -> dict[str, Any]:
    """The ``data`` fields to write for ``view``: only the parts that differ from ``original``'s."""
    out: dict[str, Any] = {}
    if original is None or not view.same(original, "name"):
        out["name"] = view.name
    if original is None or not view.same(original, "system"):
        out.update(description=view.system, personality="", scenario="", system_prompt="")
    if original is None or not view.same(original, "greetings"):
        out.update(first_mes=view.greetings[0] if view.greetings else "", alternate_greetings=view.greetings[1:])
    if original is None or not view.same(original, "examples"):
        out["mes_example"] = dialogue.render(view.examples)
    if original is None or not view.same(original, "post_history"):
        out["post_history_instructions"] = view.post_history
    if (original is None and view.nickname) or (original is not None and not view.same(original, "nickname")):
        out["nickname"] = view.nickname
    if (original is None or not view.same(original, "lore")) and view.lore is not None:
        out["character_book"] = view.lore
    return out


def persona_extension(view: View, original: View | None, manifest_rest: dict[str, Any]) -> dict[str, Any]:
    """``data.extensions.persona``: what a card has no field for, so importing the export gives the pack back."""
    ext: dict[str, Any] = {"version": 1, "manifest": manifest_rest}
    system_kept = original is not None and view.same(original, "system")
    default = original.default_system if system_kept else ""
    if default != ST_DEFAULT_SYSTEM:
        ext["default_system"] = default
    fields = card_fields(view, original)
    if "description" in fields and story_string(fields, default) != view.system:
        # The story string strips each part; keep the pack's exact text for the way back.
        ext["system"] = {"text": view.system, "sha256": _sha(fields["description"])}
    if view.lore is not None and view.lore.get("token_budget") is None:
        ext["no_budget"] = True  # the pack's book has none: do not add ours on the way back
    if dialogue.parse(dialogue.render(view.examples))[0] != view.examples:
        ext["examples"] = view.examples
    return ext


def _sha(value: str) -> str:
    import hashlib

    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
