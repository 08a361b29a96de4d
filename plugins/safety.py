"""Built-in safety rails: one on what the user types, one on what the character replies.

Each pack picks a level in persona.toml (standard if it does not say)::

    [extensions.safety]
    level = "standard"   # or "strict", or "off"

Input rail, English and Chinese: self-harm (no generation; a short supportive
reply with crisis lines instead), sexual content involving minors, violence
against people, hate, prompt injection and system-prompt extraction. Output
rail: the same harms, a reply that reads back the system prompt, and personal
data (e-mail addresses, phone numbers, Chinese ID and card numbers), which is
redacted rather than blocked. ``strict`` adds crime how-tos, profanity and
milder phrasings, and no longer excuses violence in games or fiction.

Every message is read as written and in the normalised views of
``_safety_views.py`` (decoded base64/hex/URL/rot13, spacing removed, homoglyphs
and leetspeak folded, reversed); a verdict names the view that triggered it.
On the input rail a trained classifier (``_safety_model.py``, weights in
``_safety_model.safetensors``, trained by ``make safety-model``) judges the
same views after the patterns: either one blocks. A missing or broken model
file raises, and the engine blocks the turn (fail closed).

The patterns are data, in ``_safety_patterns.py``, and ``_safety_rules.py``
applies them; this module holds the settings, the replies and the hooks. Both
hooks are ``trylast`` so that a user's own moderation plugin has the first
word. Fail-closed handling of a crash is the engine's job.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from pathlib import Path

from persona.engine import MAX_MESSAGE_CHARS
from persona.hookspecs import hookimpl
from persona.verdict import Verdict

log = logging.getLogger("persona")
LEVELS = ("off", "standard", "strict")
DEFAULT_LEVEL = "standard"
# The harm rules read at most this many characters: the engine refuses longer
# user messages before moderation, so the input rail loses nothing, and a reply
# is bounded by max_new_tokens (a few hundred tokens in the shipped packs). It
# keeps a hostile 100 KB string under ~25 ms, where scanning all of it with
# ~120 separate patterns costs 50-80 ms. Personal-data redaction and the
# verbatim-span leak check are linear passes and always read the whole reply.
SCAN_CHARS = MAX_MESSAGE_CHARS


def _load(name: str):
    # plugins/ is not a package, so its helper modules are loaded by path, the way
    # persona.plugins loads this file; their leading "_" keeps them from being plugins.
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"persona_builtin_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


P = _load("_safety_patterns")
VIEWS = _load("_safety_views")
_RULES = _load("_safety_rules")
MATCH = _RULES.Matcher(P, SCAN_CHARS)  # the patterns compiled, and how they are scanned
redact = MATCH.redact  # e-mail addresses, phone, ID and card numbers replaced by placeholders
_classifier = None  # _safety_model.py, loaded on first use: it imports numpy, which `persona list` need not
MODEL_PATH = Path(__file__).with_name("_safety_model.safetensors")
# What the classifier's classes are called as verdict categories (and replies).
CLASS_CATEGORY = {"injection": "prompt_injection", "harmful": "harmful", "self_harm": "self_harm"}


# -- settings and replies ------------------------------------------------------------

_warned: set[str] = set()


def level_for(persona) -> str:
    """The pack's ``[extensions.safety] level``; an unknown value warns and means standard."""
    settings = (getattr(persona, "extensions", None) or {}).get("safety") or {}
    level = settings.get("level", DEFAULT_LEVEL) if isinstance(settings, dict) else DEFAULT_LEVEL
    level = str(level).strip().lower()
    if level not in LEVELS:
        if level not in _warned:
            _warned.add(level)
            log.warning("safety level %r is not one of %s; using %s", level, ", ".join(LEVELS), DEFAULT_LEVEL)
        return DEFAULT_LEVEL
    return level


def _lang(persona) -> str:
    return "zh" if str(getattr(persona, "language", "en")).lower().startswith("zh") else "en"


def _reply(key: str, lang: str, persona) -> str:
    return P.REPLIES[key][lang].format(name=getattr(persona, "name", "") or "The character")


# -- system-prompt leakage ------------------------------------------------------------

LEAK = _load("_safety_leak")
_SECOND_PERSON = re.compile(P.SECOND_PERSON)
_shared_spans, _fold = LEAK._shared_spans, LEAK._fold  # the benchmark's end-to-end leak measure


def leaks_prompt(prompt: str, reply: str, level: str = "standard") -> bool:
    """Whether ``reply`` reproduces a long span or a large share of ``prompt`` (``_safety_leak.py``)."""
    return LEAK.leaks_prompt(prompt, reply, P.LEAK[level], _SECOND_PERSON, P.LEAK_NGRAM, P.LEAK_MIN_NGRAMS,
                             SCAN_CHARS)


def _system_prompt(persona, conversation) -> str:
    # The prompt as the model saw it ({{user}} expanded), else the pack's own.
    messages = getattr(conversation, "messages", None) or []
    if messages and messages[0].role == "system":
        return messages[0].content
    return persona.system_prompt() if hasattr(persona, "system_prompt") else ""


# -- hooks -------------------------------------------------------------------------


def _classifier_module():
    global _classifier
    if _classifier is None:
        _classifier = _load("_safety_model")
    return _classifier


def __getattr__(name: str):
    if name == "CLASSIFIER":  # safety.CLASSIFIER: the classifier's module (load, save, features, ModelError)
        return _classifier_module()
    raise AttributeError(name)


_model_cache: dict[tuple[Path, int, int], object] = {}


def model():
    """The classifier, loaded once per file version; ``ModelError`` (with a hint) when missing or broken."""
    try:
        st = MODEL_PATH.stat()
    except OSError:
        raise _classifier_module().ModelError(f"the safety classifier {MODEL_PATH} is missing; "
                                    "hint: reinstall persona, or rebuild it with make safety-model") from None
    key = (MODEL_PATH, st.st_mtime_ns, st.st_size)
    if key not in _model_cache:
        _model_cache.clear()
        _model_cache[key] = _classifier_module().load(MODEL_PATH)
    return _model_cache[key]


_EXCUSES = [re.compile(P.UNLESS[c][lang]) for c in ("violence", "sexual_minors") for lang in ("en", "zh")]


def _excused(text: str) -> bool:
    """Whether the message names a game or fiction, or a protective purpose: the patterns' own excuses,
    which at standard also let a classifier's "harmful" through ("kill the boss in Elden Ring")."""
    folded = text[:SCAN_CHARS].lower()
    return any(excuse.search(folded) for excuse in _EXCUSES)


def _text_lang(text: str) -> str:
    return "zh" if _RULES.CJK.search(text[:SCAN_CHARS]) else "en"


@hookimpl(trylast=True)
def moderate_input(text, persona):
    """Block the user's message, with a reply to show instead, or return None."""
    level = level_for(persona)
    if level == "off" or not text:
        return None
    return check_input(text, level, persona)


def check_input(text: str, level: str, persona, *, views: bool = True, classifier: bool = True) -> Verdict | None:
    """The input rail at ``level``: the patterns read every view first, then the classifier does;
    either one blocks. ``views``/``classifier`` off give the older rails (the benchmark's baseline)."""
    readings = VIEWS.views(text) if views else [("written", text)]
    for view, reading in readings:
        rule = MATCH.scan("input", level, reading)
        if rule is not None:
            return Verdict("block", category=rule.category, reply=_reply(rule.category, rule.lang, persona),
                           reason="pattern", view=view)
    if not classifier:
        return None
    judge = model().judge
    for view, reading in readings:
        hit = judge(reading, level)  # at standard a short message meets a stricter threshold (_safety_model.SHORT_WORDS)
        if hit is not None:
            category = CLASS_CATEGORY[hit[0]]
            if category == "harmful" and level == "standard" and _excused(reading):
                continue
            return Verdict("block", category=category, reply=_reply(category, _text_lang(reading), persona),
                           reason=f"classifier {hit[1]:.2f}", view=view)
    return None


@hookimpl(trylast=True)
def moderate_output(text, persona, conversation):
    """Block a harmful or prompt-leaking reply, redact personal data in it, or return None."""
    level = level_for(persona)
    if level == "off" or not text:
        return None
    lang = _lang(persona)
    readings = VIEWS.views(text)
    for view, reading in readings:
        rule = MATCH.scan("output", level, reading)
        if rule is not None:
            key = "self_harm_output" if rule.category == "self_harm" else rule.category
            return Verdict("block", category=rule.category, reply=_reply(key, lang, persona), reason="pattern",
                           view=view)
    prompt = _system_prompt(persona, conversation)
    for view, reading in readings:  # a prompt read back in base64 or backwards leaks it all the same
        if leaks_prompt(prompt, reading, level):
            return Verdict("block", category="prompt_leak", reply=_reply("prompt_leak", lang, persona),
                           reason="verbatim span", view=view)
    redacted = redact(text, lang)
    if redacted != text:
        return Verdict("redact", category="pii", text=redacted)
    return None
