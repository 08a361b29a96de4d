"""Issue 10, "keep it fixed": hypothesis over every parser of untrusted input, with a fixed budget.

The budget is fixed and the runs derandomized, so `make test` is repeatable;
PERSONA_FUZZ_EXAMPLES raises it (e.g. 2000) for a longer local run, and
scripts/fuzz.py runs the same targets under atheris. Each property is in
tests/fuzz/targets.py: a clean result or a PersonaError, within a step budget.
"""

from __future__ import annotations

import io
import json
import os
import string
import struct

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz import targets

EXAMPLES = int(os.environ.get("PERSONA_FUZZ_EXAMPLES", "40"))


def budget(weight: float = 1.0):
    return settings(max_examples=max(1, int(EXAMPLES * weight)), deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=5)
                           | st.dictionaries(st.text(max_size=12), kids, max_size=5), max_leaves=30)


def keyed(keys: list[str], values=json_values):
    """Objects over the field names a format really has, so the fuzzer gets past the first check."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=len(keys))


def _toml_safe(value):
    if isinstance(value, dict):
        return {str(k): _toml_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_toml_safe(v) for v in value if v is not None]
    return value


def toml_text(data: dict) -> str:
    try:
        return tomli_w.dumps(_toml_safe(data))
    except (TypeError, ValueError):  # tomli_w refuses NaN keys and mixed types in some versions
        return ""


PACK_KEYS = ["spec", "spec_version", "id", "name", "description", "language", "greetings", "system",
             "examples", "lorebook", "adapter", "model", "sampling", "plugins", "tools", "tags"]
SAMPLING = ["temperature", "top_p", "top_k", "repetition_penalty", "repetition_penalty_range", "max_new_tokens", "stop"]
base_manifest = st.fixed_dictionaries({"spec": st.just("persona-pack"), "spec_version": st.just("1"),
                                       "name": st.text(max_size=30), "system": st.text(max_size=60)})
manifests = (st.text(max_size=400)
             | keyed(PACK_KEYS).map(toml_text)
             | st.tuples(base_manifest, keyed(PACK_KEYS), keyed(SAMPLING)).map(
                 lambda t: toml_text({**t[0], **t[1], "sampling": t[2]})))


@budget()
@given(manifests)
def test_fuzz_manifest(text):
    targets.manifest(text)


TURN_KEYS = ["from", "value", "name", "metadata", "tool_call"]
turns = keyed(TURN_KEYS, json_values | st.sampled_from(["human", "gpt", "system", "function_call", "observation"]))
sharegpt = st.dictionaries(st.sampled_from(["conversations", "system", "tools", "system_metadata", "system_name"]),
                           st.lists(turns, max_size=4) | json_values, max_size=4)


@budget()
@given(st.lists(sharegpt.map(json.dumps) | st.text(max_size=80), max_size=4).map("\n".join))
def test_fuzz_examples(text):
    targets.examples(text)


ENTRY_KEYS = ["keys", "secondary_keys", "content", "constant", "selective", "enabled", "priority", "insertion_order",
              "case_sensitive", "match_whole_words", "use_regex", "name", "comment", "extensions"]
entries = keyed(ENTRY_KEYS, json_values | st.lists(st.text(max_size=10), max_size=4))
books = (st.lists(entries, max_size=5)
         | st.fixed_dictionaries({"entries": st.lists(entries, max_size=5)},
                                 optional={"scan_depth": json_values, "token_budget": json_values}))


@budget()
@given(books.map(json.dumps) | st.text(max_size=200), st.text(max_size=200))
def test_fuzz_lorebook(text, chat):
    targets.lore(text, chat or "hello")


CONFIG_KEYS = ["peft_type", "r", "lora_alpha", "target_modules", "task_type", "lora_dropout", "bias",
               "fan_in_fan_out", "layers_to_transform", "modules_to_save", "use_dora", "base_model_name_or_path"]


def _safetensors(header: dict, tail: bytes) -> bytes:
    blob = json.dumps(header).encode()
    return struct.pack("<Q", len(blob)) + blob + tail


tensor_info = keyed(["dtype", "shape", "data_offsets"], json_values | st.lists(st.integers(-5, 2**40), max_size=3))
weights = st.binary(max_size=200) | st.tuples(st.dictionaries(st.text(max_size=40), tensor_info, max_size=3),
                                              st.binary(max_size=64)).map(lambda t: _safetensors(*t))


@budget()
@given(keyed(CONFIG_KEYS).map(json.dumps) | st.text(max_size=100), weights)
def test_fuzz_adapter(config, blob):
    targets.adapter(config, blob)


ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "gb18030", "big5", "shift_jis", "latin-1"]
script_lines = st.lists(st.sampled_from(["MARA: Ahoy.", "BEN: Hi.", "INT. SHIP - NIGHT", "[[note]]", "甄嬛：臣妾在。",
                                         "（旁白）", '"Aye," said Mara.', "", "EXT. DOCK", "(beat)"])
                        | st.text(max_size=30), max_size=12).map("\n".join)


@budget(2)
@given(st.binary(max_size=600) | st.tuples(script_lines, st.sampled_from(ENCODINGS)).map(
           lambda t: t[0].encode(t[1], "replace")),
       st.sampled_from([".txt", ".json", ".jsonl", ".fountain", ".md"]),
       st.sampled_from(["auto", "zh-script", "stageplay", "fountain", "prose", "sharegpt", "alpaca"]))
def test_fuzz_extract(data, suffix, fmt):
    targets.extract(data, suffix, fmt)


CARD_KEYS = ["spec", "spec_version", "data", "name", "description", "personality", "scenario", "first_mes",
             "mes_example", "alternate_greetings", "character_book", "extensions", "tags", "system_prompt",
             "post_history_instructions", "creator_notes", "nickname", "assets"]
cards = st.fixed_dictionaries({"spec": st.sampled_from(["chara_card_v2", "chara_card_v3", "x"]),
                               "data": keyed(CARD_KEYS)}) | keyed(CARD_KEYS)


def _png_card(value: dict, keyword: str) -> bytes:
    import base64

    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(keyword, base64.b64encode(json.dumps(value).encode()).decode())
    out = io.BytesIO()
    Image.new("RGB", (2, 2)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


@budget()
@given(st.one_of(cards.map(lambda c: (json.dumps(c).encode(), ".json")),
                 st.tuples(cards, st.sampled_from(["chara", "ccv3", "Chara"])).map(
                     lambda t: (_png_card(*t), ".png")),
                 st.tuples(st.binary(max_size=300), st.sampled_from([".png", ".json", ".charx", ".yaml"]))))
def test_fuzz_card_import(case):
    targets.card(*case)


fragments = st.sampled_from(["<tool_call>", "</tool_call>", "{", "}", "[", "]", '"name"', ":", '"arguments"', ",",
                             '"calc"', '"', "\\", " ", "\n", "null", "1e999"])


@budget(5)
@given(st.lists(fragments | st.text(max_size=10), max_size=40).map("".join))
def test_fuzz_tool_calls(text):
    targets.tool_calls(text)


@budget(5)
@given(json_values | sharegpt | st.lists(keyed(["role", "content", "name", "tool_calls", "tool_call_id", "metadata"],
                                                json_values | st.sampled_from(["user", "assistant", "tool"])),
                                          max_size=4))
def test_fuzz_sharegpt_and_openai_records(value):
    targets.records(value)


@budget(5)
@given(st.text(alphabet=string.digits + "+-*/%().^e ", max_size=60) | st.text(max_size=30))
def test_fuzz_calculator(expression):
    targets.calculator(expression)
