"""The built-in lorebook plugin: pack facts that reach the system prompt when the chat mentions them."""

from __future__ import annotations

import json
import logging
import os

import pytest

from persona.conversation import Conversation
from persona.engine import Chat, Engine
from persona.lore_book import parse
from persona.models.scripted import ScriptedBackend
from persona.packs import Persona, get_pack, load_pack
from persona.paths import SHIPPED_PERSONAS
from persona.store import Store
from tests.conftest import MINIMAL, write_pack

HEADER = "Facts you know:"


@pytest.fixture
def select(pm):
    """The plugin's choice of entries for a chat, without the engine: (kept, dropped)."""
    return pm.get_plugin("lorebook").select


def lore_pack(tmp_path, lore, position: str | None = None) -> Persona:
    text = lore if isinstance(lore, str) else json.dumps(lore, ensure_ascii=False)
    table = '[lorebook]\nentries = "lore.json"\n' + (f'position = "{position}"\n' if position else "")
    folder = write_pack(tmp_path / "lorepack", MINIMAL + table, {"lore.json": text})
    return load_pack(folder)


def chat_with(pm, pack: Persona) -> tuple[Engine, Chat, ScriptedBackend]:
    backend = ScriptedBackend(["Aye."])
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    return engine, engine.new_chat(pack), backend


def system_sent(backend: ScriptedBackend, call: int = -1) -> str:
    """The system prompt and this turn's notes (lore) as the model saw them."""
    sent = backend.calls[call]
    assert sent[0]["role"] == "system"
    return "\n\n".join(m["content"] for m in sent if m["role"] == "system")


def lore_of(chat: Chat) -> dict | None:
    """What the newest user message records about lore: what fired and what the budget dropped
    (the why of each is tested in tests/test_worldinfo.py)."""
    user = [m for m in chat.conversation.messages if m.role == "user"][-1]
    lore = user.metadata.get("lore")
    return {k: lore[k] for k in ("fired", "dropped")} if lore is not None else None


def test_keyword_in_user_message_puts_its_entry_in_the_system_prompt(pm, tmp_path):
    pack = lore_pack(tmp_path, [{"keys": ["Port Veyra"], "content": "{{char}} was born in Port Veyra."}])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "How are you?")
    assert HEADER not in system_sent(backend) and lore_of(chat) is None
    engine.turn(chat, "Tell me about port   veyra.")
    system = system_sent(backend)
    assert system.startswith("You are Test Char.")
    assert system.endswith(f"{HEADER}\nTest Char was born in Port Veyra.")
    assert lore_of(chat) == {"fired": ["Port Veyra"], "dropped": []}


def test_keys_ignore_case_unless_the_entry_is_case_sensitive(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"name": "loose", "keys": ["Veyra"], "content": "Loose fact."},
        {"name": "strict", "keys": ["Veyra"], "content": "Strict fact.", "case_sensitive": True},
        # as SillyTavern exports it
        {"name": "exported", "keys": ["Veyra"], "content": "Exported fact.", "case_sensitive": None,
         "extensions": {"case_sensitive": True}},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "tell me of VEYRA")
    assert lore_of(chat)["fired"] == ["loose"] and "Strict fact." not in system_sent(backend)
    engine.turn(chat, "and of Veyra?")
    assert lore_of(chat)["fired"] == ["loose", "strict", "exported"]


def test_english_keys_match_whole_words_unless_the_entry_opts_out(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"name": "word", "keys": ["gull"], "content": "Whole-word fact."},
        {"name": "substring", "keys": ["gull"], "content": "Substring fact.", "match_whole_words": False},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "Do you like seagulls?")
    assert lore_of(chat)["fired"] == ["substring"] and "Whole-word fact." not in system_sent(backend)
    engine.turn(chat, "What of the Gull's old crew?")
    assert lore_of(chat)["fired"] == ["word", "substring"]


def test_selective_entry_needs_a_primary_and_a_secondary_key(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"name": "selective", "keys": ["storm"], "secondary_keys": ["ship"], "selective": True,
         "content": "The storm sank a ship."},
        {"name": "not selective", "keys": ["rain"], "secondary_keys": ["ship"], "content": "It always rains."},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "A storm and rain tonight.")
    # Without `selective`, secondary keys are ignored, as the spec says.
    assert lore_of(chat)["fired"] == ["not selective"]
    assert "The storm sank a ship." not in system_sent(backend)
    engine.turn(chat, "Will the ship hold?")  # the storm is still within the scan depth
    assert lore_of(chat)["fired"] == ["selective", "not selective"]


def test_constant_entries_are_always_in_and_disabled_ones_never(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"name": "always", "keys": [], "constant": True, "content": "The sea is cold."},
        {"name": "off", "keys": ["hello"], "enabled": False, "content": "Disabled fact."},
        {"name": "off constant", "constant": True, "enabled": False, "content": "Disabled constant."},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "hello")
    system = system_sent(backend)
    assert "The sea is cold." in system and "Disabled" not in system
    assert lore_of(chat) == {"fired": ["always"], "dropped": []}


@pytest.mark.parametrize("depth, fires", [(4, False), (20, True)])
def test_scan_depth_bounds_how_far_back_a_key_is_found(pm, tmp_path, depth, fires):
    pack = lore_pack(tmp_path, {"scan_depth": depth, "entries": [
        {"keys": ["Black Gull"], "content": "The Black Gull is a schooner."}]})
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "Tell me of the Black Gull.")
    assert "The Black Gull is a schooner." in system_sent(backend)
    for i in range(5):
        engine.turn(chat, f"Something else, number {i}.")
    # The key is now 10 messages behind the newest one.
    assert ("The Black Gull is a schooner." in system_sent(backend)) is fires


def test_token_budget_drops_the_lowest_priority_entries_and_records_them(pm, tmp_path):
    entries = [
        {"name": "low", "keys": ["alpha"], "insertion_order": 10, "content": "Low priority fact about alpha."},
        {"name": "mid", "keys": ["alpha"], "insertion_order": 20, "content": "Middle priority fact about alpha."},
        {"name": "high", "keys": ["alpha"], "insertion_order": 30, "content": "High priority fact about alpha."},
        {"name": "constant", "constant": True, "insertion_order": 1, "content": "A constant fact."},
    ]
    # Room for every entry but the lowest one; tokens are estimated as UTF-8 bytes // 4 + 1.
    budget = sum(len(e["content"].encode()) // 4 + 1 for e in entries if e["name"] != "low")
    pack = lore_pack(tmp_path, {"token_budget": budget, "entries": entries})
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "alpha?")
    system = system_sent(backend)
    assert "Low priority fact" not in system
    assert system.endswith(f"{HEADER}\nA constant fact.\nMiddle priority fact about alpha.\n"
                           "High priority fact about alpha.")
    assert lore_of(chat) == {"fired": ["constant", "mid", "high"], "dropped": ["low"]}


def test_fired_entries_are_written_in_insertion_order(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"keys": ["alpha"], "insertion_order": 30, "content": "Third."},
        {"keys": ["alpha"], "insertion_order": 10, "content": "First."},
        {"keys": ["alpha"], "insertion_order": 20, "content": "Second."},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "alpha")
    assert system_sent(backend).endswith(f"{HEADER}\nFirst.\nSecond.\nThird.")


def test_stored_user_message_records_which_lore_fired(pm, tmp_path):
    pack = lore_pack(tmp_path, [{"name": "tavern", "keys": ["tavern"], "content": "The tavern is old."}])
    engine, chat, _ = chat_with(pm, pack)
    engine.turn(chat, "Nice weather.")
    engine.turn(chat, "How old is the tavern?")
    _, stored = Store().load(chat.session_id)
    users = [m for m in stored.messages if m.role == "user"]
    assert "lore" not in users[0].metadata
    assert users[1].metadata["lore"] == {"fired": ["tavern"], "dropped": [],
                                         "why": [{"entry": "tavern", "rule": "key", "key": "tavern", "step": 0}]}


@pytest.mark.parametrize("text", [
    "{not json",
    json.dumps({"entries": 3}),
    json.dumps([{"keys": ["alpha"], "content": 5}]),
    json.dumps([{"keys": ["alpha"], "content": "x", "enabled": "no"}]),
    "[" + " " * (1024 * 1024) + "]",
], ids=["not-json", "entries-not-a-list", "content-not-text", "enabled-not-a-flag", "over-1-MiB"])
def test_malformed_lore_file_is_skipped_with_one_warning_and_turns_still_work(pm, tmp_path, caplog, text):
    pack = lore_pack(tmp_path, text)
    engine, chat, backend = chat_with(pm, pack)
    with caplog.at_level(logging.WARNING, logger="persona"):
        assert engine.turn(chat, "alpha").reply == "Aye."
        assert engine.turn(chat, "alpha again").reply == "Aye."
    assert HEADER not in system_sent(backend)
    warnings = [r for r in caplog.records if "lorebook" in r.getMessage()]
    assert len(warnings) == 1 and "lore.json" in warnings[0].getMessage()


def test_regex_keys_the_engine_refuses_are_dropped_with_a_warning_and_other_entries_still_fire(pm, tmp_path, caplog):
    pack = lore_pack(tmp_path, [
        {"name": "regex", "keys": ["/(gul+)\\1/i"], "content": "Regex fact."},  # a backreference: not RE2
        {"name": "plain", "keys": ["gull"], "content": "Plain fact."},
    ])
    engine, chat, backend = chat_with(pm, pack)
    with caplog.at_level(logging.WARNING, logger="persona"):
        engine.turn(chat, "gull gullgull")
    assert "regex key" in caplog.text and "refused" in caplog.text
    assert lore_of(chat)["fired"] == ["plain"] and "Regex fact." not in system_sent(backend)


def test_chinese_keys_fire_inside_chinese_text(pm, tmp_path):
    pack = lore_pack(tmp_path, [
        {"name": "黑鸥号", "keys": ["黑鸥号"], "content": "黑鸥号是玛拉的双桅纵帆船。"},
        {"name": "Mara", "keys": ["Mara"], "content": "Mara is a retired captain."},
    ])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "你听说过黑鸥号吗？你认识Mara吗？")
    system = system_sent(backend)
    assert "黑鸥号是玛拉的双桅纵帆船。" in system and "Mara is a retired captain." in system
    assert lore_of(chat)["fired"] == ["黑鸥号", "Mara"]


@pytest.mark.parametrize("shape", ["bare list", "character_book", "card v2", "lorebook v3"])
def test_tavern_book_shapes_are_accepted_and_unknown_fields_ignored(pm, tmp_path, shape):
    entries = [{"id": 7, "keys": ["alpha"], "content": "Alpha fact.", "position": "after_char",
                "extensions": {"someone/else": {"x": 1}}, "unheard_of": True}]
    book = {"name": "Book", "scan_depth": 4, "token_budget": 100, "recursive_scanning": False,
            "extensions": {}, "entries": entries}
    lore = {"bare list": entries, "character_book": book,
            "card v2": {"spec": "chara_card_v2", "spec_version": "2.0", "data": {"name": "X", "character_book": book}},
            "lorebook v3": {"spec": "lorebook_v3", "data": book}}[shape]
    engine, chat, backend = chat_with(pm, lore_pack(tmp_path, lore))
    engine.turn(chat, "alpha")
    assert system_sent(backend).endswith(f"{HEADER}\nAlpha fact.")


def test_unchanged_lore_file_is_parsed_once_and_an_edit_applies_next_turn(pm, tmp_path, monkeypatch):
    pack = lore_pack(tmp_path, [{"keys": ["alpha"], "content": "Old fact."}])
    plugin = pm.get_plugin("lorebook")
    parsed = []
    real_parse = plugin.parse
    monkeypatch.setattr(plugin, "parse", lambda data, where="": parsed.append(where) or real_parse(data, where))
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "alpha")
    engine.turn(chat, "alpha")
    assert len(parsed) == 1
    pack.lorebook.write_text(json.dumps([{"keys": ["alpha"], "content": "New fact."}]))
    stat = pack.lorebook.stat()
    os.utime(pack.lorebook, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    engine.turn(chat, "alpha")
    assert len(parsed) == 2 and system_sent(backend).endswith(f"{HEADER}\nNew fact.")


def test_lore_becomes_the_system_message_when_there_is_none(pm, tmp_path):
    pack = lore_pack(tmp_path, [{"keys": ["alpha"], "content": "Alpha fact."}])
    conv = Conversation()
    conv.add("user", "alpha")
    messages = [{"role": "user", "content": "alpha"}]
    pm.hook.prepare_messages(messages=messages, persona=pack, conversation=conv)
    assert messages == [{"role": "system", "content": f"{HEADER}\nAlpha fact."}, {"role": "user", "content": "alpha"}]


def test_lore_at_position_note_is_a_note_for_the_engine_to_place(pm, tmp_path):
    pack = lore_pack(tmp_path, [{"keys": ["alpha"], "content": "Alpha fact."}], position="note")
    conv = Conversation()
    conv.add("user", "alpha")
    messages = [{"role": "user", "content": "alpha"}]
    pm.hook.prepare_messages(messages=messages, persona=pack, conversation=conv)
    assert messages == [{"role": "user", "content": "alpha"},
                        {"role": "system", "content": f"{HEADER}\nAlpha fact.", "note": True}]


def test_lore_by_default_ends_the_system_prompt(pm, tmp_path):
    pack = lore_pack(tmp_path, [{"keys": ["alpha"], "content": "Alpha fact."}])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "alpha")
    sent = backend.calls[-1]
    assert sent[0]["role"] == "system" and sent[0]["content"].endswith(f"{HEADER}\nAlpha fact.")
    assert [m["role"] for m in sent].count("system") == 1


def test_shipped_captain_mara_knows_her_ship_when_asked(pm):
    lore = json.loads((SHIPPED_PERSONAS / "captain-mara" / "lore.json").read_text())
    gull = next(e for e in lore["entries"] if e["name"] == "The Black Gull")
    engine, chat, backend = chat_with(pm, get_pack("captain-mara"))
    engine.turn(chat, "What became of the Black Gull?")
    system = system_sent(backend)
    assert "Captain Mara" in system and system.endswith(gull["content"])
    assert lore_of(chat) == {"fired": ["The Black Gull"], "dropped": []}


def test_lore_at_position_note_sits_before_the_newest_message_and_the_prefix_stays_put(pm, tmp_path):
    """What changes every turn must not invalidate the cached prompt before it."""
    pack = lore_pack(tmp_path, [{"keys": ["alpha"], "content": "Alpha fact."},
                                {"keys": ["beta"], "content": "Beta fact."}], position="note")
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "alpha")
    engine.turn(chat, "beta")
    first, second = backend.calls
    assert first[-2] == {"role": "system", "content": f"{HEADER}\nAlpha fact."}
    assert second[-2]["role"] == "system" and second[-2]["content"].endswith("Beta fact.")
    assert second[-1]["content"] == "beta" and first[-1]["content"] == "alpha"
    # Everything before turn 1's note is sent again, unchanged, at the start of turn 2.
    assert second[:len(first) - 2] == first[:-2]
    assert HEADER not in second[0]["content"]


# --- bounds and cost (issue 10, class 5) ------------------------------------------

OVER_THE_BOUNDS = {  # name -> (book, what the warning and `persona validate` say)
    "95k keys in one entry": ({"entries": [{"keys": [f"k{i:05d}" for i in range(95_000)], "content": "A fact."}]},
                              "95000 keys, more than 64"),
    "4097 entries": ([{"keys": ["alpha"], "content": "A fact."}] * 4097, "4097 entries, more than 4096"),
    "a 101-character key": ([{"keys": ["a" * 101], "content": "A fact."}], "longer than 100 characters"),
    "a key ending with 8 others": ([{"keys": ["a" * n for n in range(1, 10)], "content": "A fact.",
                                     "match_whole_words": False}], "ends with 8 other keys, more than 7"),
}


@pytest.mark.parametrize("case", OVER_THE_BOUNDS)
def test_book_over_a_bound_is_skipped_with_one_warning_naming_it_and_turns_still_work(pm, tmp_path, caplog, case):
    book, says = OVER_THE_BOUNDS[case]
    engine, chat, backend = chat_with(pm, lore_pack(tmp_path, book))
    with caplog.at_level(logging.WARNING, logger="persona"):
        assert engine.turn(chat, "alpha k00001 aaaa").reply == "Aye."
        assert engine.turn(chat, "again").reply == "Aye."
    assert HEADER not in system_sent(backend)
    warnings = [r.getMessage() for r in caplog.records if "lorebook" in r.getMessage()]
    assert len(warnings) == 1 and says in warnings[0] and "lore.json" in warnings[0]


@pytest.mark.parametrize("lore, rc, says", [
    (OVER_THE_BOUNDS["95k keys in one entry"][0], 2, "95000 keys, more than 64"),
    ("{not json", 2, "JSONDecodeError"),
    ([{"keys": ["alpha"], "content": "A fact."}], 0, "ok: "),
], ids=["over a bound", "not json", "a good book"])
def test_validate_reports_a_bad_lorebook_as_an_error_with_a_hint(tmp_path, lore, rc, says):
    from tests.conftest import run_cli

    pack = lore_pack(tmp_path, lore)
    proc = run_cli("validate", str(pack.path))
    assert proc.returncode == rc, proc.stderr
    assert says in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    if rc:
        lines = proc.stderr.splitlines()
        assert [line.split(":")[0] for line in lines if line.startswith(("error:", "hint:"))] == ["error", "hint"]
        assert "lore.json" in proc.stderr


def test_matching_work_is_one_pass_over_the_chat_whatever_the_number_of_keys(select):
    chat = ["Tell me of alpha, the harbour and the old crew. " * 40] * 4
    one = parse([{"keys": ["alpha"], "content": "A fact."}])
    many = parse([{"keys": ["alpha"], "content": "A fact."}]
                 + [{"keys": [f"w{e:04d}k{i:02d}" for i in range(64)], "content": "Noise."} for e in range(1000)])
    for book in (one, many):
        assert [e.name for e in select(book, chat)[0]] == ["alpha"]
    # The regexes this replaced searched the chat once per entry: 1001 times here.
    assert many.matcher.scanned == one.matcher.scanned <= 2 * sum(map(len, chat))
    assert many.matcher.hits == one.matcher.hits == 160  # alpha, 40 times in each of 4 messages


def test_matching_hits_grow_linearly_with_the_chat_even_for_keys_nested_to_the_bound(select):
    from persona.lore_book import MAX_NESTED_KEYS

    book = parse([{"keys": ["a" * n for n in range(1, MAX_NESTED_KEYS + 1)], "content": "A fact.",
                   "match_whole_words": False}, {"keys": ["zzz"], "content": "Never."}])
    hits = []
    for n in (2000, 4000):
        book.matcher.hits = book.matcher.scanned = 0
        select(book, ["a" * n] * 4)
        hits.append(book.matcher.hits)
        assert book.matcher.hits <= MAX_NESTED_KEYS * book.matcher.scanned
    assert hits[1] <= 2 * hits[0] + 4 * MAX_NESTED_KEYS ** 2


@pytest.mark.parametrize("key, flags, chat, fires", [
    ("Black Gull", {}, ["the black\tgull\nsails"], True),  # any whitespace run
    ("Black Gull", {}, ["the Black", "Gull sails"], False),  # never across two messages
    ("gull", {}, ["a gull_song"], True),  # "_" is not a letter or digit
    ("R2-D2", {}, ["R2-D2 beeps"], True),
    ("R2-D2", {}, ["XR2-D2 beeps"], False),
    ("Mr.", {}, ["Mr.Smith"], True),  # no edge where the key ends in punctuation
    ("İstanbul", {}, ["İSTANBUL"], True),  # the one letter lower() makes two of
    ("Λόγος", {}, ["ΛΌΓΟΣ"], True),  # final sigma
    ("ıs", {}, ["Is"], True),  # a key starting with ı asks for no word edge, as before
    ("gull", {}, ["sea\ufdd0gull\ufdd1s"], True),  # the matcher's word-edge markers, typed: punctuation
    ("sea", {}, ["sea\ufdd0gull"], True),
    ("a b", {"match_whole_words": False}, ["xa  by"], True),
    ("GULL", {"case_sensitive": True}, ["a GULL!"], True),
], ids=lambda v: v if isinstance(v, str) else None)
def test_keys_match_as_the_regexes_they_replaced_did(select, key, flags, chat, fires):
    book = parse([{"keys": [key], "content": "A fact.", **flags}])
    assert bool(select(book, chat)[0]) is fires
