"""Alpaca and ShareGPT records (LLaMA-Factory's shapes, OpenAI ``messages`` too) → persona's ShareGPT rows.

Every file is read bounded (size before parsing, nesting while parsing) and
every record is checked, so a bad one is an error naming its record and line,
never a KeyError later in training. A file holds one format: the first record
decides it, and a record of another shape is refused. LLaMA-Factory's
``dataset_info.json`` passes its ``columns`` and ``tags`` here as a
:class:`Mapping`, which then decides which keys are read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from persona import jsonlimits
from persona.data.records import DataError

MAX_BYTES = 200 * 1024 * 1024  # a real dataset is a few MB (huanhuan's is 0.9); 200 MB is the wrong file
ONE_FORMAT = "a dataset file holds one format: split the file by format, or convert the odd records"

# LLaMA-Factory's defaults (data/README.md): alpaca columns and sharegpt columns/tags.
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": "system",
                  "history": "history"}
SHAREGPT_COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools"}
SHAREGPT_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}
# OpenAI-style ``messages`` (LLaMA-Factory reads them with these tags).
OPENAI_COLUMNS = {"messages": "messages", "system": "system", "tools": "tools"}
OPENAI_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
               "observation_tag": "tool", "function_tag": "function_call", "system_tag": "system"}
# The tag → the ShareGPT role persona's rows use.
_ROLE_OF_TAG = {"user_tag": "human", "assistant_tag": "gpt", "observation_tag": "observation",
                "function_tag": "function_call", "system_tag": "system"}
SHAREGPT_HINT = ('a ShareGPT record is {"conversations": [{"from": "human", "value": ...}, '
                 '{"from": "gpt", "value": ...}], "system": ...}')
ALPACA_HINT = ('every Alpaca record needs "instruction" and "output" ("input", "system" and "history", '
               'a list of [user, assistant] pairs, are optional)')


@dataclass
class Mapping:
    """Which keys a record's parts are read from: ``formatting`` is "alpaca" or "sharegpt"."""

    formatting: str
    columns: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def default(cls, shape: str) -> Mapping:
        if shape == "alpaca":
            return cls("alpaca", dict(ALPACA_COLUMNS))
        if shape == "openai":
            return cls("sharegpt", dict(OPENAI_COLUMNS), dict(OPENAI_TAGS))
        return cls("sharegpt", dict(SHAREGPT_COLUMNS), dict(SHAREGPT_TAGS))


def read_records(path: Path) -> list[tuple[int, Any]]:
    """``(line, record)`` from a JSON array (or one object) or JSON Lines, size and depth bounded."""
    from persona.pack_files import read_limited

    try:
        raw = read_limited(path, MAX_BYTES, "split it, or train on a part of it", error=DataError,
                           not_regular="pass a .json or .jsonl file", size=f"{MAX_BYTES // 2**20} MB")
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc.strerror or exc}",
                        "check the path; a dataset is a .json/.jsonl file or a folder") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path} is not UTF-8 text", "JSON datasets are UTF-8: convert it with iconv") from None
    stripped = text.lstrip()
    if not stripped:
        raise DataError(f"{path} is empty", "pass a dataset with some records in it")
    if stripped[0] == "[":
        return _array(path, text)
    first = text.count("\n", 0, len(text) - len(stripped)) + 1
    try:  # one (pretty-printed) object; JSON Lines fail fast here, at the end of their first line
        return [(first, jsonlimits.loads(text))]
    except jsonlimits.JSONLimitError as exc:  # the first record (the only one, or line 1's)
        raise DataError(f"{path}:{first}: {exc}", "a dataset record is a few levels deep; check the file") from None
    except ValueError:
        pass  # JSON Lines, or broken: read line by line, so an error names its line
    out = []
    for n, line in enumerate(text.split("\n"), 1):
        if line.strip():
            out.append((n, _loads(path, line, n)))
    return out


def _loads(path: Path, text: str, line: int) -> Any:
    try:
        return jsonlimits.loads(text)
    except jsonlimits.JSONLimitError as exc:
        raise DataError(f"{path}:{line}: {exc}", "a dataset record is a few levels deep; check the file") from None
    except ValueError as exc:
        raise DataError(f"{path}:{line}: not valid JSON ({exc})",
                        "a dataset is a JSON array of records, or one JSON record per line (JSON Lines)") from None


def _array(path: Path, text: str) -> list[tuple[int, Any]]:
    """The array's records one at a time, so each keeps the line it starts on."""
    decoder, out = json.JSONDecoder(), []
    pos, line = text.index("[") + 1, text.count("\n", 0, text.index("[")) + 1
    while True:
        start = pos
        while pos < len(text) and text[pos] in " \t\r\n":
            pos += 1
        line += text.count("\n", start, pos)
        if pos < len(text) and text[pos] == "]" and not text[pos + 1:].strip():
            return out
        if out:  # between records: a comma
            if pos >= len(text) or text[pos] != ",":
                raise DataError(f"{path}:{line}: not valid JSON (expected ',' or ']' after record {len(out)})",
                                "a dataset is a JSON array of records, or one JSON record per line")
            pos += 1
            start = pos
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            line += text.count("\n", start, pos)
        try:
            record, end = decoder.raw_decode(text, pos)
        except RecursionError:
            raise DataError(f"{path}:{line}: JSON nests more than {jsonlimits.MAX_DEPTH} levels deep",
                            "a dataset record is a few levels deep; check the file") from None
        except ValueError as exc:
            raise DataError(f"{path}:{line}: not valid JSON ({exc.msg})",
                            "a dataset is a JSON array of records, or one JSON record per line") from None
        if jsonlimits.depth(record) >= jsonlimits.MAX_DEPTH:
            raise DataError(f"{path}:{line}: JSON nests more than {jsonlimits.MAX_DEPTH} levels deep",
                            "a dataset record is a few levels deep; check the file")
        out.append((line, record))
        line += text.count("\n", pos, end)
        pos = end


def shape(record: Any) -> str | None:
    """The format a record looks like without a mapping: "sharegpt", "openai", "alpaca" or None."""
    if not isinstance(record, dict):
        return None
    if "conversations" in record:
        return "sharegpt"
    if "messages" in record:
        return "openai"
    if "instruction" in record or "output" in record:
        return "alpaca"
    return None


NAMES = {"sharegpt": "a ShareGPT record (conversations)", "openai": "an OpenAI-style record (messages)",
         "alpaca": "an Alpaca record (instruction/output)", None: "neither Alpaca nor ShareGPT"}


def detect(path: Path, records: list[tuple[int, Any]]) -> str:
    """The one shape all records have; a record of another shape is an error naming it."""
    first = shape(records[0][1]) if records else None
    for n, (line, record) in enumerate(records, 1):
        got = shape(record)
        if got is None:
            keys = ", ".join(sorted(record)[:8]) if isinstance(record, dict) else type(record).__name__
            raise DataError(f"{path}: record {n} (line {line}) is not an Alpaca or ShareGPT record ({keys})",
                            f"{ALPACA_HINT}; {SHAREGPT_HINT}")
        if got != first:
            raise DataError(f"{path}: record {n} (line {line}) is {NAMES[got]}, but record 1 is {NAMES[first]}",
                            ONE_FORMAT)
    return first or "sharegpt"


def to_row(record: Any, mapping: Mapping, where: str) -> dict:
    """One record as ``{"system", "conversations", ...}``; ``where`` names it in errors ("f.json: record 3")."""
    alpaca = mapping.formatting == "alpaca"
    if not isinstance(record, dict):
        raise DataError(f"{where} is not a JSON object", ALPACA_HINT if alpaca else SHAREGPT_HINT)
    if alpaca:
        return _alpaca(record, mapping.columns, where)
    return _sharegpt(record, mapping.columns, mapping.tags, where)


def _text(record: dict, key: str | None, where: str, hint: str, required: bool = False) -> str:
    if not key or record.get(key) is None:
        if required:
            raise DataError(f"{where} has no {json.dumps(key)}", hint)
        return ""
    if not isinstance(record[key], str):
        raise DataError(f"{where}: {json.dumps(key)} is {type(record[key]).__name__}, not a string", hint)
    return record[key]


def _alpaca(record: dict, columns: dict, where: str) -> dict:
    col = {**ALPACA_COLUMNS, **columns}
    instruction = _text(record, col["prompt"], where, ALPACA_HINT, required=True)
    query = _text(record, col.get("query"), where, ALPACA_HINT)
    output = _text(record, col["response"], where, ALPACA_HINT, required=True)
    turns = []
    history = record.get(col.get("history") or "") or []
    if not isinstance(history, list):
        raise DataError(f"{where}: {json.dumps(col['history'])} is not a list of [user, assistant] pairs", ALPACA_HINT)
    for k, pair in enumerate(history, 1):
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise DataError(f"{where}: history item {k} is not a [user, assistant] pair of strings", ALPACA_HINT)
        turns += [{"from": "human", "value": pair[0]}, {"from": "gpt", "value": pair[1]}]
    # LLaMA-Factory joins a non-empty input to the instruction with a newline.
    prompt = "\n".join(s for s in (instruction, query) if s)
    if not prompt:
        raise DataError(f"{where} has an empty instruction and input", ALPACA_HINT)
    turns += [{"from": "human", "value": prompt}, {"from": "gpt", "value": output}]
    return {"system": _text(record, col.get("system"), where, ALPACA_HINT), "conversations": turns}


def _sharegpt(record: dict, columns: dict, tags: dict, where: str) -> dict:
    col, tag = {**SHAREGPT_COLUMNS, **columns}, {**SHAREGPT_TAGS, **tags}
    turns = record.get(col["messages"])
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{where} has no {json.dumps(col['messages'])} list of turns", SHAREGPT_HINT)
    roles = {tag[t]: role for t, role in _ROLE_OF_TAG.items() if tag.get(t)}
    system, out = _text(record, col.get("system"), where, SHAREGPT_HINT), []
    for k, turn in enumerate(turns, 1):
        role = turn.get(tag["role_tag"]) if isinstance(turn, dict) else None
        if role not in roles:
            known = ", ".join(repr(r) for r in roles)
            raise DataError(f"{where}, turn {k}: role {role!r} is not one of {known}",
                            "map your roles with \"tags\" in dataset_info.json (LLaMA-Factory's format), "
                            f"or use the ShareGPT roles; {SHAREGPT_HINT}")
        content = turn.get(tag["content_tag"])
        if content is None and roles[role] == "gpt" and turn.get("tool_calls"):
            role, content = tag["function_tag"], json.dumps(turn["tool_calls"], ensure_ascii=False)
        if not isinstance(content, str):
            raise DataError(f"{where}, turn {k}: {json.dumps(tag['content_tag'])} is not a string", SHAREGPT_HINT)
        if roles[role] == "system" and not out and not system:
            system = content  # a leading system turn is the record's system prompt
            continue
        out.append({"from": roles[role], "value": content})
    if not any(t["from"] == "gpt" for t in out):
        raise DataError(f"{where} has no assistant turn, so nothing to learn from", SHAREGPT_HINT)
    row = {"system": system, "conversations": out}
    tools = record.get(col.get("tools") or "")
    if tools:
        row["tools"] = tools if isinstance(tools, str) else json.dumps(tools, ensure_ascii=False)
    return row
