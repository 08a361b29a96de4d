"""Existing datasets are first-class: Alpaca, ShareGPT (and OpenAI ``messages``), LLaMA-Factory's
dataset_info.json and persona's own folder all reach training, and bad input is one clear error."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from persona.data import dataset_formats
from persona.data.datasets import ALPACA_RUN, is_dataset, load_training_data, read_dataset, split
from persona.data.records import DataError
from tests.conftest import SHARED_DATA, run_cli

HUANHUAN = SHARED_DATA / "datasets" / "huanhuan.alpaca.json"


def write_json(path: Path, records, lines: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records) if lines \
        else json.dumps(records, ensure_ascii=False, indent=2)
    path.write_text(text, encoding="utf-8")
    return path


def everything(path, **kw) -> list[dict]:
    train, val = load_training_data(path, **kw)
    return sorted(train + val, key=lambda r: int(r["scene"].rsplit(" ", 1)[1]))


def convs(row) -> list[tuple[str, str]]:
    return [(t["from"], t["value"]) for t in row["conversations"]]


# --- formats ----------------------------------------------------------------------

def test_alpaca_joins_input_to_the_instruction_and_history_becomes_earlier_turns(tmp_path):
    path = write_json(tmp_path / "a.json", [
        {"instruction": "Translate", "input": "bonjour", "output": "hello", "system": "You are a translator."},
        {"instruction": "And this?", "input": "", "output": "goodbye",
         "history": [["Hi", "Hello, friend."], ["Ready?", "Always."]]},
    ])
    first, second = everything(path)
    assert first["system"] == "You are a translator."
    assert convs(first) == [("human", "Translate\nbonjour"), ("gpt", "hello")]
    assert second["system"] == ""
    assert convs(second) == [("human", "Hi"), ("gpt", "Hello, friend."), ("human", "Ready?"), ("gpt", "Always."),
                             ("human", "And this?"), ("gpt", "goodbye")]
    assert read_dataset(path).format == "alpaca"


def test_huanhuan_alpaca_file_splits_off_a_tenth_in_runs_of_consecutive_lines_by_seed():
    train, val = load_training_data(HUANHUAN)
    assert (len(train), len(val)) == (3729 - 373, 373)
    first = "小姐，别的秀女都在求中选，唯有咱们小姐想被撂牌子，菩萨一定记得真真儿的——"
    assert convs(train[0]) == [("human", first), ("gpt", "嘘——都说许愿说破是不灵的。")]
    held = sorted(int(r["scene"].rsplit(" ", 1)[1]) for r in val)
    # Whole runs of ALPACA_RUN consecutive records; only the last run taken may be cut short.
    per_run = Counter((n - 1) // ALPACA_RUN for n in held)
    whole = {r: min(ALPACA_RUN, 3729 - r * ALPACA_RUN) for r in per_run}
    assert sum(per_run[r] != whole[r] for r in per_run) <= 1 and len(per_run) < 373 / 10
    assert load_training_data(HUANHUAN) == (train, val)
    assert load_training_data(HUANHUAN, seed=1)[1] != val
    assert len(load_training_data(HUANHUAN, val_fraction=0.2)[1]) == 746


def test_sharegpt_json_array_keeps_system_tools_and_function_turns(tmp_path):
    tools = [{"name": "weather", "parameters": {"type": "object"}}]
    path = write_json(tmp_path / "s.json", [
        {"conversations": [{"from": "human", "value": "Weather in Paris?"},
                           {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Paris"}}'},
                           {"from": "observation", "value": "18C, sunny"},
                           {"from": "gpt", "value": "Sunny and 18 degrees."}],
         "system": "You are helpful.", "tools": tools},
        {"conversations": [{"from": "system", "value": "You are Mara."}, {"from": "human", "value": "Hi"},
                           {"from": "gpt", "value": "Ahoy."}]},
    ])
    first, second = everything(path)
    assert first["system"] == "You are helpful." and json.loads(first["tools"]) == tools
    assert [t for t, _ in convs(first)] == ["human", "function_call", "observation", "gpt"]
    assert second["system"] == "You are Mara."  # a leading system turn is the system prompt
    assert convs(second) == [("human", "Hi"), ("gpt", "Ahoy.")]
    assert read_dataset(path).format == "sharegpt"


def test_sharegpt_jsonl_and_openai_messages_read_the_same(tmp_path):
    pairs = [("Hi", "Ahoy."), ("Any news?", "Black sails at dawn."), ("Rum?", "Always.")]
    share = write_json(tmp_path / "s.jsonl", [
        {"system": "You are Mara.", "conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]}
        for q, a in pairs], lines=True)
    openai = write_json(tmp_path / "o.jsonl", [
        {"messages": [{"role": "system", "content": "You are Mara."}, {"role": "user", "content": q},
                      {"role": "assistant", "content": a}]} for q, a in pairs], lines=True)
    rows = [[(r["system"], convs(r)) for r in everything(p)] for p in (share, openai)]
    assert rows[0] == rows[1] == [("You are Mara.", [("human", q), ("gpt", a)]) for q, a in pairs]
    assert read_dataset(openai).format == "openai"


def test_a_single_pretty_printed_record_is_one_record(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"instruction": "a", "output": "b"}, indent=2))
    with pytest.raises(DataError, match="has 1 record; training needs at least 2"):
        load_training_data(path)
    assert read_dataset(path).records == 1


def test_dataset_info_columns_and_tags_decide_which_keys_are_read(tmp_path):
    write_json(tmp_path / "qa.json", [
        {"q": "Who are you?", "ctx": "be brief", "a": "Mara.", "instruction": "IGNORED", "output": "IGNORED"},
        {"q": "Where?", "a": "The docks.", "sys": "You are Mara."},
    ])
    write_json(tmp_path / "chat.jsonl", [
        {"dialog": [{"speaker": "me", "text": "Hi"}, {"speaker": "bot", "text": "Ahoy."}], "conversations": "IGNORED"},
    ], lines=True)
    (tmp_path / "dataset_info.json").write_text(json.dumps({
        "qa": {"file_name": "qa.json", "columns": {"prompt": "q", "query": "ctx", "response": "a", "system": "sys"}},
        "chat": {"file_name": "chat.jsonl", "formatting": "sharegpt", "columns": {"messages": "dialog"},
                 "tags": {"role_tag": "speaker", "content_tag": "text", "user_tag": "me", "assistant_tag": "bot"}},
    }))
    train, val = load_training_data(tmp_path, val_fraction=0.3)
    assert len(train) == 2 and len(val) == 1
    rows = {r["scene"]: r for r in train + val}
    assert convs(rows["qa.json: record 1"]) == [("human", "Who are you?\nbe brief"), ("gpt", "Mara.")]
    assert rows["qa.json: record 2"]["system"] == "You are Mara."
    assert convs(rows["chat.jsonl: record 1"]) == [("human", "Hi"), ("gpt", "Ahoy.")]
    assert read_dataset(tmp_path / "dataset_info.json").format == "dataset_info"
    assert is_dataset(tmp_path)


def test_persona_folder_is_read_as_it_is(tmp_path):
    rows = [{"system": "You are Mara.", "conversations": [{"from": "human", "value": f"q{i}"},
                                                          {"from": "gpt", "value": f"a{i}"}], "scene": f"s{i}"}
            for i in range(3)]
    write_json(tmp_path / "train.jsonl", rows[:2], lines=True)
    write_json(tmp_path / "val.jsonl", rows[2:], lines=True)
    # persona data build also writes a dataset_info.json; train.jsonl/val.jsonl win.
    (tmp_path / "dataset_info.json").write_text(json.dumps({"x": {"file_name": "train.jsonl"}}))
    assert load_training_data(tmp_path) == (rows[:2], rows[2:])
    (tmp_path / "val.jsonl").write_text("")
    assert load_training_data(tmp_path) == (rows[:2], [])  # train then says "0 validation samples"


def test_split_holds_out_at_least_one_and_never_all():
    runs = [[{"n": i}] for i in range(2)]
    assert [len(s) for s in split(runs, 0.1, 0)] == [1, 1]
    assert [len(s) for s in split([[{"n": i}] for i in range(3)], 0.99, 0)] == [1, 2]
    with pytest.raises(DataError, match="has 1 record; training needs at least 2"):
        split([[{"n": 0}]], 0.1, 0)
    for bad in (0, 1, 1.5):
        with pytest.raises(DataError, match="between 0 and 1"):
            split(runs, bad, 0)


# --- bad input ------------------------------------------------------------------------

def test_alpaca_record_without_output_is_named_by_record_and_line(tmp_path):
    path = write_json(tmp_path / "a.json", [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"},
                                            {"instruction": "e", "input": "f"}])
    with pytest.raises(DataError, match=r'record 3 \(line 10\) has no "output"') as err:
        load_training_data(path)
    assert '"instruction" and "output"' in err.value.hint


def test_mixed_formats_are_refused_with_the_record_and_line(tmp_path):
    path = write_json(tmp_path / "m.jsonl", [
        {"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"},
        {"conversations": [{"from": "human", "value": "e"}, {"from": "gpt", "value": "f"}]}], lines=True)
    with pytest.raises(DataError, match=r"record 3 \(line 3\) is a ShareGPT record \(conversations\), but "
                                        r"record 1 is an Alpaca record") as err:
        load_training_data(path)
    assert "one format" in err.value.hint
    write_json(path, [{"instruction": "a", "output": "b"}, {"prompt": "x"}])
    with pytest.raises(DataError, match=r"record 2 \(line 6\) is not an Alpaca or ShareGPT record \(prompt\)"):
        load_training_data(path)


@pytest.mark.parametrize("records, message", [
    ([{"conversations": [{"from": "human", "value": "a"}, {"from": "bot", "value": "b"}]}],
     r"record 1 \(line 1\), turn 2: role 'bot' is not one of"),
    ([{"conversations": [{"from": "human", "value": "a"}]}], r"record 1 \(line 1\) has no assistant turn"),
    ([{"conversations": [{"from": "human", "value": ["a"]}, {"from": "gpt", "value": "b"}]}],
     r'turn 1: "value" is not a string'),
    ([{"instruction": "a", "output": "b", "history": [["only one"]]}], "history item 1 is not a"),
    ([{"instruction": "", "output": "b"}], "has an empty instruction and input"),
    ([{"instruction": "a", "output": 3}], r'"output" is int, not a string'),
])
def test_bad_records_name_the_record(tmp_path, records, message):
    path = write_json(tmp_path / "bad.jsonl", records, lines=True)
    with pytest.raises(DataError, match=message):
        load_training_data(path)


def test_size_and_nesting_are_bounded_before_the_records_are_walked(tmp_path, monkeypatch):
    deep = "[" * 200 + "]" * 200
    (tmp_path / "deep.json").write_text('[{"instruction": "a", "output": "b"},\n {"instruction": ' + deep + "}]")
    with pytest.raises(DataError, match=r"deep.json:2: JSON nests more than 64 levels deep"):
        load_training_data(tmp_path / "deep.json")
    deeper = "[" * 5000 + "]" * 5000  # past the parser's own recursion limit
    (tmp_path / "deep.jsonl").write_text('{"instruction": "a", "output": "b"}\n{"x": ' + deeper + "}\n")
    with pytest.raises(DataError, match=r"deep.jsonl:2: JSON nests more than 64 levels deep"):
        load_training_data(tmp_path / "deep.jsonl")
    monkeypatch.setattr(dataset_formats, "MAX_BYTES", 1000)
    write_json(tmp_path / "big.json", [{"instruction": "a" * 600, "output": "b" * 600}])
    with pytest.raises(DataError, match="is larger than"):
        load_training_data(tmp_path / "big.json")


def test_broken_json_names_the_line(tmp_path):
    (tmp_path / "b.json").write_text('[\n{"instruction": "a", "output": "b"},\n{"instruction": "c", "output": }\n]')
    with pytest.raises(DataError, match=r"b.json:3: not valid JSON"):
        load_training_data(tmp_path / "b.json")
    (tmp_path / "b.jsonl").write_text('{"instruction": "a", "output": "b"}\n\n{"instruction": \n')
    with pytest.raises(DataError, match=r"b.jsonl:3: not valid JSON"):
        load_training_data(tmp_path / "b.jsonl")


@pytest.mark.parametrize("entry, message", [
    ({"hf_hub_url": "someone/data"}, "is on hf_hub_url someone/data, not a file in this folder"),
    ({"file_name": "d.json", "ranking": True}, "preference"),
    ({"file_name": "../outside.json"}, "is not a file in"),
    ({"file_name": "d.json", "formatting": "parquet"}, "formatting 'parquet' is not alpaca or sharegpt"),
    ({"file_name": "d.json", "columns": {"prompt": 3}}, "columns and tags map names to key names"),
    ({"file_name": "d.json", "columns": {"response": "answer"}}, r'record 1 \(line 2\) has no "answer"'),
])
def test_dataset_info_entries_persona_cannot_use_are_refused(tmp_path, entry, message):
    folder = tmp_path / "ds"
    folder.mkdir()
    write_json(folder / "d.json", [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "d"}])
    write_json(tmp_path / "outside.json", [{"instruction": "a", "output": "b"}])
    (folder / "dataset_info.json").write_text(json.dumps({"mine": entry}))
    with pytest.raises(DataError, match=message):
        load_training_data(folder)


def test_train_cli_refuses_a_bad_dataset_file_with_error_and_hint(tmp_path):
    path = write_json(tmp_path / "a.json", [{"instruction": "a", "output": "b"}, {"instruction": "c"}])
    proc = run_cli("train", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert 'error: ' in proc.stderr and 'record 2 (line 6) has no "output"' in proc.stderr
    assert "hint: every Alpaca record needs" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_build_trains_on_a_dataset_file_as_it_is(tmp_path):
    path = write_json(tmp_path / "mara.alpaca.json", [{"instruction": "a", "output": "b"},
                                                      {"conversations": []}])
    proc = run_cli("build", str(path), "-o", str(tmp_path / "pack"))  # no --character: named after the file
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "record 2 (line 6) is a ShareGPT record (conversations), but record 1 is an Alpaca" in proc.stderr
    proc = run_cli("build", str(path), str(HUANHUAN), "-o", str(tmp_path / "pack"))
    assert proc.returncode == 2 and "error: persona build trains on one dataset at a time" in proc.stderr
    assert not (tmp_path / "pack").exists()


def test_a_dataset_pack_whose_fidelity_cannot_be_scored_gets_the_rest_of_the_eval(tmp_path, monkeypatch):
    import persona.evaluate
    from persona import dataset_pack

    def refuse(folder, **kw):
        raise DataError("too few lines to train the style scorer", "the dataset needs other speakers' lines")

    monkeypatch.setattr(persona.evaluate, "evaluate", refuse)
    monkeypatch.setattr(dataset_pack, "_without_fidelity",
                        lambda folder, n, tokens, reason: {"skipped": {"fidelity": reason}, "samples": n})
    notes = []
    report = dataset_pack.evaluate_dataset_pack(tmp_path, 5, progress=notes.append)
    assert report == {"skipped": {"fidelity": "too few lines to train the style scorer: the dataset needs other "
                                              "speakers' lines"}, "samples": 5}
    assert notes == ["note: fidelity skipped (too few lines to train the style scorer: the dataset needs other "
                     "speakers' lines)"]
    monkeypatch.setattr(persona.evaluate, "evaluate", lambda folder, **kw: {"full": kw})
    assert dataset_pack.evaluate_dataset_pack(tmp_path, 5) == {"full": {"samples": 5, "max_new_tokens": None}}


def test_resuming_a_dataset_build_refuses_a_dataset_that_changed(tmp_path):
    from persona.dataset_pack import build_from_dataset

    path = write_json(tmp_path / "mara.json", [{"instruction": f"q{i}", "output": f"a{i}"} for i in range(4)])
    work = tmp_path / ".pack.partial"
    (work / "data").mkdir(parents=True)
    (work / "checkpoint").mkdir()  # training had begun: the work folder is kept for --resume
    (work / "data" / "dataset_report.json").write_text(json.dumps({"dataset_sha256": "something else"}))
    with pytest.raises(DataError, match="an unfinished build of pack is in"):
        build_from_dataset(path, tmp_path / "pack", progress=lambda m: None)
    with pytest.raises(DataError, match="changed since the unfinished build"):
        build_from_dataset(path, tmp_path / "pack", resume=True, progress=lambda m: None)
    assert json.loads((work / "data" / "dataset_report.json").read_text()) == {"dataset_sha256": "something else"}


def test_pack_name_defaults_to_the_file_name_before_its_first_dot(tmp_path):
    from persona.dataset_pack import default_name

    assert default_name(HUANHUAN) == "huanhuan"
    assert default_name(tmp_path) == tmp_path.name
    assert default_name(tmp_path / "dataset_info.json") == tmp_path.name


# --- training -------------------------------------------------------------------------

@pytest.mark.slow
def test_train_cli_trains_an_adapter_from_the_huanhuan_alpaca_file(tmp_path, model_cache):
    out = tmp_path / "out"
    proc = run_cli("train", str(HUANHUAN), "-o", str(out), "--max-steps", "2", "--max-len", "32", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["train_samples"], report["val_samples"], report["steps"]) == (3356, 373, 2)
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "smollm2-135m"
