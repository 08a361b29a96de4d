"""SillyTavern world info: each honoured field behaves as SillyTavern's World Info docs say (issue 11, item 4)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from persona.engine import Engine
from persona.models.scripted import ScriptedBackend
from persona.packs import load_pack
from tests.conftest import MINIMAL, ROOT, write_pack

ELDORIA = ROOT.parent / "shared" / "data" / "cards" / "eldoria.worldinfo.json"
HEADER = "Facts you know:"


def world(*entries: dict) -> dict:
    """A SillyTavern world-info file: entries keyed by uid, with its defaults where a test says nothing."""
    out = {}
    for uid, e in enumerate(entries):
        out[str(uid)] = {"uid": uid, "key": [], "keysecondary": [], "comment": f"e{uid}", "content": "",
                         "constant": False, "selective": True, "selectiveLogic": 0, "order": 100, "position": 1,
                         "disable": False, "probability": 100, "useProbability": True, "depth": 4,
                         "group": "", "groupWeight": 100, "scanDepth": None, "caseSensitive": None,
                         "matchWholeWords": None, "use_regex": True, "sticky": 0, "cooldown": 0, "delay": 0,
                         **e}
    return {"entries": out}


def pack_with(tmp_path, book: dict | None = None, books: list[str] = (), extra: str = ""):
    files = {"lore.json": json.dumps(book)} if book is not None else {}
    table = "[lorebook]\n" + ('entries = "lore.json"\n' if book is not None else "") \
        + (f"books = {json.dumps(list(books))}\n" if books else "")
    return load_pack(write_pack(tmp_path / "wi", extra + MINIMAL + table, files))


def chat_with(pm, pack, replies=("Aye.",)):
    backend = ScriptedBackend(list(replies) * 50)
    engine = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    return engine, engine.new_chat(pack), backend


def lore_of(chat) -> dict:
    user = [m for m in chat.conversation.messages if m.role == "user"][-1]
    return user.metadata.get("lore") or {"fired": [], "dropped": []}


def sent_text(backend) -> str:
    return "\n".join(m["content"] for m in backend.calls[-1])


def share(home: Path, name: str, data) -> Path:
    folder = home / "lorebooks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


# --- the real file, and keys -------------------------------------------------------------

def test_eldoria_world_info_shared_by_a_pack_fires_on_its_keys_before_the_character(pm, tmp_path, persona_home):
    shutil.copy(ELDORIA, (persona_home / "lorebooks").mkdir(parents=True) or persona_home / "lorebooks" / "eldoria.json")
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, books=["eldoria"]))
    engine.turn(chat, "Where am I? This forest is strange.")
    system = backend.calls[-1][0]["content"]
    # position 0: before the character definitions
    assert system.startswith(HEADER + "\n") and "Eldoria is here, all of the woods." in system
    assert system.index("Eldoria is here") < system.index("You are Test Char.")
    assert "{{user}}" not in system and "{{char}}: *Seraphina" not in system  # macros rendered
    lore = lore_of(chat)
    assert lore["why"][0] == {"entry": "eldoria", "rule": "key", "key": "forest", "step": 0, "book": "eldoria"}
    # SillyTavern scans world info recursively: the forest entry speaks of Shadowfangs and the glade.
    assert [(w["entry"], w["step"]) for w in lore["why"][1:]] == [("shadowfang", 1), ("glade", 1)]
    assert "power" not in lore["fired"]


def test_use_regex_true_with_plain_keys_means_plain_keys(pm, tmp_path):
    book = world({"key": ["Black Gull"], "content": "The Black Gull is a schooner.", "use_regex": True})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "Tell me of the black gull.")
    assert "The Black Gull is a schooner." in sent_text(backend)


def test_regex_key_fires_as_its_flags_say(pm, tmp_path):
    book = world({"key": ["/gul+s?\\b/i"], "content": "Loose regex fact."},
                 {"key": ["/Gull/"], "content": "Strict regex fact."},
                 {"key": ["/^the end$/m"], "content": "Multiline regex fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "GULLS overhead\nthe end")
    assert lore_of(chat)["fired"] == ["e0", "e2"]
    assert lore_of(chat)["why"][0]["key"] == "/gul+s?\\b/i"
    engine.turn(chat, "A Gull.")
    assert "Strict regex fact." in sent_text(backend)


def test_a_pattern_re2_refuses_is_dropped_with_one_warning_and_the_turn_goes_on(pm, tmp_path, caplog):
    book = world({"key": ["/gull(?=s)/"], "content": "Lookahead fact."},
                 {"key": ["gull"], "content": "Plain fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    with caplog.at_level(logging.WARNING, logger="persona"):
        engine.turn(chat, "gulls and a gull")
        engine.turn(chat, "gulls again")
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "/gull(?=s)/" in refused[0]
    assert lore_of(chat)["fired"] == ["e1"] and "Lookahead fact." not in sent_text(backend)


def test_regex_keys_are_bounded_in_number_and_length(pm, tmp_path, caplog):
    from persona.lore_book import check
    from persona.errors import PackError

    many = world(*[{"key": [f"/k{i}/"], "content": "x"} for i in range(65)])
    long = world({"key": ["/" + "a" * 600 + "/"], "content": "x"})
    for book in (many, long):
        path = tmp_path / "book.json"
        path.write_text(json.dumps(book))
        with pytest.raises(PackError, match="regex"):
            check(path)


# --- matching ----------------------------------------------------------------------------

@pytest.mark.parametrize("logic, text, fires", [
    (0, "storm and ship", True), (0, "storm alone", False),  # AND ANY
    (3, "storm, ship and sail", True), (3, "storm and ship", False),  # AND ALL
    (2, "storm alone", True), (2, "storm and sail", False),  # NOT ANY
    (1, "storm and ship", True), (1, "storm, ship and sail", False),  # NOT ALL
], ids=lambda v: str(v))
def test_selective_logic_combines_the_optional_filter_as_sillytavern_does(pm, tmp_path, logic, text, fires):
    book = world({"key": ["storm"], "keysecondary": ["ship", "sail"], "selectiveLogic": logic,
                  "content": "The storm fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, text)
    assert ("The storm fact." in sent_text(backend)) is fires


def test_per_entry_case_whole_words_and_scan_depth_override_the_book(pm, tmp_path):
    book = world({"key": ["Rose"], "caseSensitive": True, "content": "Case fact."},
                 {"key": ["king"], "matchWholeWords": False, "content": "Substring fact."},
                 {"key": ["anchor"], "scanDepth": 1, "content": "Shallow fact."},
                 {"key": ["anchor"], "content": "Deep fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "a rose for the liking of the anchor")
    assert lore_of(chat)["fired"] == ["e1", "e2", "e3"]
    engine.turn(chat, "and a Rose")  # the anchor is now 2 messages back: beyond e2's depth of 1
    assert lore_of(chat)["fired"] == ["e0", "e1", "e3"]


# --- insertion -----------------------------------------------------------------------------

def test_positions_place_entries_before_or_after_the_character_and_at_a_depth_with_a_role(pm, tmp_path):
    book = world({"key": ["x"], "position": 0, "content": "Before fact."},
                 {"key": ["x"], "position": 1, "content": "After fact."},
                 {"key": ["x"], "position": 4, "depth": 0, "role": 0, "content": "Depth 0 system."},
                 {"key": ["x"], "position": 4, "depth": 2, "role": 1, "content": "Depth 2 user."},
                 {"key": ["x"], "position": 4, "depth": 2, "role": 2, "content": "Depth 2 assistant."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "one")
    engine.turn(chat, "two x")
    sent = backend.calls[-1]
    assert sent[0]["content"] == f"{HEADER}\nBefore fact.\n\nYou are Test Char. Talk to User.\n\n{HEADER}\nAfter fact."
    # greeting, one, Aye., [depth 2], two x, [depth 0]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("assistant", "Hi, User, I am Test Char."), ("user", "one"),
        ("user", "Depth 2 user."), ("assistant", "Depth 2 assistant."),
        ("assistant", "Aye."), ("user", "two x"), ("system", "Depth 0 system.")]


def test_order_sorts_entries_within_a_place_lower_first(pm, tmp_path):
    book = world({"key": ["x"], "order": 30, "content": "Third."}, {"key": ["x"], "order": 10, "content": "First."},
                 {"key": ["x"], "order": 20, "content": "Second."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "x")
    assert backend.calls[-1][0]["content"].endswith(f"{HEADER}\nFirst.\nSecond.\nThird.")


def test_an_entry_at_depth_leaves_the_prompt_before_it_unchanged_between_turns(pm, tmp_path):
    book = world({"key": ["x"], "position": 4, "depth": 1, "content": "Depth fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "x one")
    engine.turn(chat, "x two")
    first, second = backend.calls
    cut = next(i for i, m in enumerate(first) if m["content"] == "Depth fact.")
    assert second[:cut] == first[:cut]


def test_character_book_as_sillytavern_exports_it_keeps_the_fields_under_extensions(pm, tmp_path):
    book = {"entries": [{"keys": ["x"], "content": "Exported depth fact.", "position": "after_char",
                         "use_regex": True, "enabled": True, "insertion_order": 100,
                         "extensions": {"position": 4, "depth": 0, "role": 1, "probability": 100,
                                        "useProbability": True}}]}
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "x")
    assert backend.calls[-1][-1] == {"role": "user", "content": "Exported depth fact."}


def test_post_history_instructions_come_after_the_history_just_before_the_reply(pm, tmp_path):
    pack = pack_with(tmp_path, world({"key": ["x"], "position": 4, "depth": 0, "content": "Depth 0 lore."}),
                     extra='post_history = "Stay in character, {{user}}."\n')
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "x")
    assert backend.calls[-1][-2:] == [{"role": "user", "content": "x"},
                                      {"role": "system", "content": "Depth 0 lore.\nStay in character, User."}]


# --- control -------------------------------------------------------------------------------

def fired_with_seed(pm, tmp_path, book, seed, text="x") -> list[str]:
    engine, chat, _ = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, text, seed=seed)
    return lore_of(chat)["fired"]


def test_probability_is_rolled_with_the_turn_seed_so_a_seed_reproduces_it(pm, tmp_path):
    book = world({"key": ["x"], "probability": 50, "content": "Maybe fact."},
                 {"key": ["x"], "probability": 0, "content": "Never fact."},
                 {"key": ["x"], "probability": 0, "useProbability": False, "content": "Always fact."})
    runs = {seed: fired_with_seed(pm, tmp_path, book, seed) for seed in range(24)}
    assert runs == {seed: fired_with_seed(pm, tmp_path, book, seed) for seed in range(24)}  # reproduced
    assert {tuple(r) for r in runs.values()} == {("e0", "e2"), ("e2",)}  # 50% does both, 0% never
    engine, chat, _ = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "x", seed=next(s for s, r in runs.items() if r == ["e2"]))
    assert {"entry": "e0", "rule": "probability", "step": 0} in lore_of(chat)["skipped"]


def test_constant_fires_without_keys_and_disable_never(pm, tmp_path):
    book = world({"constant": True, "content": "Constant fact."},
                 {"constant": True, "disable": True, "content": "Disabled fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "hello")
    assert "Constant fact." in sent_text(backend) and "Disabled fact." not in sent_text(backend)
    assert lore_of(chat)["why"] == [{"entry": "e0", "rule": "constant", "step": 0}]


def test_an_inclusion_group_lets_one_entry_in_drawn_by_weight(pm, tmp_path):
    book = world({"key": ["x"], "group": "weather", "groupWeight": 1, "content": "Rain."},
                 {"key": ["x"], "group": "weather", "groupWeight": 1000, "content": "Sun."},
                 {"key": ["x"], "content": "Ungrouped."})
    runs = [fired_with_seed(pm, tmp_path, book, seed) for seed in range(20)]
    assert all(len([n for n in r if n in ("e0", "e1")]) == 1 and "e2" in r for r in runs)
    assert sum("e1" in r for r in runs) >= 18  # a 1000:1 draw
    assert runs == [fired_with_seed(pm, tmp_path, book, seed) for seed in range(20)]


def test_group_override_picks_the_highest_order_member(pm, tmp_path):
    book = world({"key": ["x"], "group": "g", "groupOverride": True, "order": 5, "content": "Low."},
                 {"key": ["x"], "group": "g", "groupOverride": True, "order": 50, "content": "High."})
    assert all(fired_with_seed(pm, tmp_path, book, seed) == ["e1"] for seed in range(5))


# --- recursion ---------------------------------------------------------------------------

def chain(n: int, flags: dict | None = None) -> dict:
    """Entry i mentions entry i+1's key; the chat mentions k0."""
    return world(*[{"key": [f"k{i}"], "content": f"Fact {i} about k{i + 1}.", **(flags or {}).get(i, {})}
                   for i in range(n)])


def test_recursion_fires_entries_mentioned_by_fired_entries_up_to_three_steps(pm, tmp_path):
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, chain(6)))
    engine.turn(chat, "k0")
    why = lore_of(chat)["why"]
    assert [(w["entry"], w["step"]) for w in why] == [("e0", 0), ("e1", 1), ("e2", 2), ("e3", 3)]


@pytest.mark.parametrize("flags, fired", [
    ({0: {"preventRecursion": True}}, ["e0"]),
    ({1: {"excludeRecursion": True}}, ["e0"]),
    ({2: {"delayUntilRecursion": True}}, ["e0", "e1", "e2", "e3"]),
], ids=["preventRecursion", "excludeRecursion", "delayUntilRecursion"])
def test_recursion_flags(pm, tmp_path, flags, fired):
    engine, chat, _ = chat_with(pm, pack_with(tmp_path, chain(4, flags)))
    engine.turn(chat, "k0")
    assert lore_of(chat)["fired"] == fired


def test_delay_until_recursion_keeps_an_entry_out_of_the_first_scan(pm, tmp_path):
    book = world({"key": ["k0"], "delayUntilRecursion": True, "content": "Delayed fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "k0")  # nothing else fired, so there is no recursive scan to wait for
    assert lore_of(chat)["fired"] == []
    book = world({"key": ["k0"], "delayUntilRecursion": True, "content": "Delayed fact."},
                 {"key": ["start"], "content": "Nothing to do with it."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "k0 start")
    assert lore_of(chat)["why"][-1] == {"entry": "e0", "rule": "key", "key": "k0", "step": 1}


def test_delay_until_recursion_levels_open_one_after_another(pm, tmp_path):
    book = world({"key": ["start"], "content": "Nothing to recurse on."},
                 {"key": ["k"], "delayUntilRecursion": 1, "content": "Level one."},
                 {"key": ["k"], "delayUntilRecursion": 2, "content": "Level two."})
    engine, chat, _ = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "start k")
    # step 2 scans "Level one." (nothing new): only then does level 2 open
    assert [(w["entry"], w["step"]) for w in lore_of(chat)["why"]] == [("e0", 0), ("e1", 1), ("e2", 3)]


def test_recursion_work_is_bounded_by_the_content_scanned_once(pm, tmp_path):
    from persona.lore_book import parse
    from persona.lore_scan import activate
    from persona.lore_timed import Timed

    book = parse(chain(200), "lore.json")
    act = activate([book], ["k0"], Timed(None, 1, [book]), 0, 10_000)
    assert len(act.kept) == 4
    content = sum(len(f.entry.content) for f in act.kept[:3])
    assert book.matcher.scanned <= 2 * (len("k0") + content)


# --- timed effects -------------------------------------------------------------------------

def test_sticky_keeps_an_entry_for_its_messages_then_cooldown_keeps_it_out(pm, tmp_path):
    book = world({"key": ["bell"], "sticky": 3, "cooldown": 4, "content": "The bell rang."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "The bell!")  # chat length 2: sticky until 5
    assert lore_of(chat)["why"][0]["rule"] == "key"
    engine.turn(chat, "Quiet now.")  # 4 < 5: still sticky
    assert lore_of(chat)["why"][0]["rule"] == "sticky" and "The bell rang." in sent_text(backend)
    engine.turn(chat, "The bell again?")  # 6: sticky over, cooldown until 10
    assert lore_of(chat)["fired"] == [] and lore_of(chat)["skipped"][0]["rule"] == "cooldown"
    engine.turn(chat, "The bell?")  # 8: cooling
    assert lore_of(chat)["fired"] == []
    engine.turn(chat, "The bell.")  # 10: free again
    assert lore_of(chat)["fired"] == ["e0"]


def test_delay_keeps_an_entry_out_until_the_chat_is_long_enough(pm, tmp_path):
    book = world({"key": ["bell"], "delay": 4, "content": "The bell rang."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "bell")  # chat length 2
    assert lore_of(chat)["fired"] == [] and lore_of(chat)["skipped"] == [{"entry": "e0", "rule": "delay", "step": 0}]
    engine.turn(chat, "bell")  # 4
    assert lore_of(chat)["fired"] == ["e0"]


def test_timed_effects_survive_a_resumed_session(pm, tmp_path):
    book = world({"key": ["bell"], "sticky": 3, "content": "The bell rang."})
    pack = pack_with(tmp_path, book)
    engine, chat, _ = chat_with(pm, pack)
    engine.turn(chat, "The bell!")
    backend = ScriptedBackend(["Aye."] * 5)
    again = Engine(pm=pm, backend_loader=lambda ref, progress=None, **kw: backend)
    resumed = again.resume(chat.session_id, pack)
    again.turn(resumed, "Quiet now.")
    assert lore_of(resumed)["why"][0]["rule"] == "sticky" and "The bell rang." in sent_text(backend)


# --- shared books ----------------------------------------------------------------------------

def test_shared_books_outside_the_lorebooks_folder_or_missing_are_skipped_with_a_warning(pm, tmp_path, persona_home,
                                                                                        caplog):
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps(world({"key": ["x"], "content": "Secret fact."})))
    (persona_home / "lorebooks").mkdir(parents=True)
    (persona_home / "lorebooks" / "evil.json").symlink_to(outside)
    share(persona_home, "good", world({"key": ["x"], "content": "Good fact."}))
    os.mkfifo(persona_home / "lorebooks" / "fifo.json")  # opening it would block
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, books=["evil", "missing", "fifo", "good"]))
    with caplog.at_level(logging.WARNING, logger="persona"):
        engine.turn(chat, "x")
    assert "Good fact." in sent_text(backend) and "Secret fact." not in sent_text(backend)
    assert "leads outside" in caplog.text and "missing.json" in caplog.text and "not a regular file" in caplog.text


def test_validate_checks_shared_books_and_warns_about_bad_or_missing_ones(tmp_path, persona_home, capsys):
    from persona import cli

    share(persona_home, "good", world({"key": ["x"], "content": "{{weird_macro}} fact."}))
    share(persona_home, "broken", "{not json")
    pack = pack_with(tmp_path, books=["good", "broken", "missing"])
    assert cli.main(["validate", str(pack.path)]) == 0  # the pack itself is fine
    err = capsys.readouterr().err
    assert "shared lorebook broken:" in err and "missing.json" in err and "weird_macro" in err


def test_a_shared_book_name_that_is_a_path_is_refused_by_the_pack_schema(tmp_path):
    from persona.errors import PackError

    with pytest.raises(PackError, match="books"):
        pack_with(tmp_path, books=["../../etc/passwd"])


def test_a_pack_book_and_a_shared_book_fire_together_and_recurse_into_each_other(pm, tmp_path, persona_home):
    share(persona_home, "world", world({"key": ["harbour"], "content": "The harbour of Veyra."}))
    pack = pack_with(tmp_path, world({"key": ["mara"], "content": "Mara knows the harbour."}), books=["world"])
    engine, chat, backend = chat_with(pm, pack)
    engine.turn(chat, "Who is Mara?")
    assert [(w["entry"], w["step"], w.get("book")) for w in lore_of(chat)["why"]] == [("e0", 0, None),
                                                                                      ("e0", 1, "world")]


def test_regex_work_is_the_text_times_the_regex_keys_even_for_a_backtracking_killer():
    from persona.lore_book import parse
    from persona.lore_scan import activate
    from persona.lore_timed import Timed

    # (a+)+$ takes exponential time in a backtracking engine on "aaaa…!"; RE2 reads the text once.
    book = parse(world({"key": ["/(a+)+$/"], "content": "Never."}, {"key": ["/b/i"], "content": "B."}), "lore.json")
    for n in (2000, 4000):
        book.regexes.scanned = 0
        act = activate([book], ["a" * n + "!"] * 4, Timed(None, 4, [book]), 0, 1000)
        assert [f.entry.content for f in act.kept] == []
        assert book.regexes.scanned == 2 * 4 * (n + 1)  # each pattern over each message, once


def test_regex_flags_with_no_meaning_for_a_search_are_ignored_with_a_warning(pm, tmp_path, caplog):
    book = world({"key": ["/veyra/gi"], "content": "Veyra fact."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    with caplog.at_level(logging.WARNING, logger="persona"):
        engine.turn(chat, "VEYRA")
    assert "regex flags g mean nothing to a search" in caplog.text and lore_of(chat)["fired"] == ["e0"]


def test_a_damaged_timed_state_in_the_store_is_ignored_and_the_turn_goes_on(pm, tmp_path):
    book = world({"key": ["bell"], "sticky": 3, "scanDepth": 1, "content": "The bell rang."})
    engine, chat, backend = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "bell")
    user = [m for m in chat.conversation.messages if m.role == "user"][-1]
    user.metadata["lore"]["timed"] = {"sticky": {"pack.0": ["x", None]}, "cooldown": 7}
    engine.turn(chat, "quiet")
    assert lore_of(chat)["fired"] == [] and lore_of(chat)["timed"] == {"sticky": {}, "cooldown": {}}


def test_an_entry_kept_out_by_its_cooldown_is_recorded_once_whatever_the_recursion(pm, tmp_path):
    book = world({"key": ["bell"], "cooldown": 10, "content": "The bell rang."},
                 {"key": ["tower"], "content": "The tower has a bell."})
    engine, chat, _ = chat_with(pm, pack_with(tmp_path, book))
    engine.turn(chat, "bell")
    engine.turn(chat, "the bell tower")
    assert lore_of(chat)["fired"] == ["e1"]
    assert lore_of(chat)["skipped"] == [{"entry": "e0", "rule": "cooldown", "step": 0}]
