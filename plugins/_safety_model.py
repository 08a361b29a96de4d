"""The safety rails' trained classifier: hashed character and word n-grams, a linear model in safetensors.

Hand-written on purpose, and small: the features are every character 1-5-gram
and every word 1-2-gram of the message, hashed into ``2**bits`` buckets with a
polynomial rolling hash computed by numpy over the whole string at once
(prefix sums, no Python loop per n-gram). scikit-learn's text vectorizers build
each n-gram as a Python string, which costs milliseconds on a long jailbreak,
and importing them pulls in scipy; the model itself is trained by
scikit-learn (``scripts/safety_model.py``), and only its weights ship.

The model file is safetensors (never pickle): a float16 ``weight`` matrix
(classes x buckets), a float32 ``bias``, a float16 ``idf`` per bucket, and the settings in the header's
metadata. ``load`` checks all of it before use; a missing or broken file raises
``ModelError``, and the rail that needs it fails closed.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT = "persona-safety-classifier/1"
HEAD, TAIL = 3000, 1000  # characters read: the start and the end of a long message
_BASE = np.uint64(0x100000001B3)  # odd, so it has an inverse modulo 2**64
_MIX = np.uint64(0x9E3779B97F4A7C15)
_SPACE = re.compile(r"\s+")
MAX_FILE_BYTES = 64 << 20
# At standard a message of fewer words than this (two Chinese characters a word) is "short": on
# ordinary short chat ("How was the sea?", "Tell me everything.", 你说什么？) the n-grams have little
# to go on, so it must clear the stricter "standard-short" threshold, chosen on the short val rows
# alone (scripts/safety_model.py); a model file without one leaves short messages to the patterns.
SHORT_WORDS = 8
_LATIN_WORD = re.compile(r"[A-Za-z0-9']+")
_CJK_CHAR = re.compile(r"[\u3400-\u9fff]")


class ModelError(Exception):
    """The classifier's file is missing, not safetensors, or not what this code reads."""


def _text(text: str) -> str:
    text = _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()
    if len(text) > HEAD + TAIL:
        text = text[:HEAD] + " " + text[-TAIL:]
    return f" {text} "


def _word_spans(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of each run of letters or digits (any script but CJK, whose characters stand alone)."""
    word = _alnum_mask(codes)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], word, [False])).astype(np.int8)))
    return edges[0::2], edges[1::2]


_ALNUM_CACHE: dict[int, bool] = {}


def _alnum_mask(codes: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(codes, return_inverse=True)
    flags = np.array([_ALNUM_CACHE.setdefault(c, chr(c).isalnum() and not 0x3400 <= c <= 0x9FFF)
                      for c in uniq.tolist()], dtype=bool)
    return flags[inverse]


def features(text: str, bits: int, idf: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(bucket indices, weights) of the message's hashed n-grams: log-scaled counts, times each
    bucket's inverse document frequency when ``idf`` is given, L2-normalised."""
    codes = np.frombuffer(_text(text).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(n + 1, _BASE, dtype=np.uint64))
        powers = np.concatenate(([np.uint64(1)], powers[:-1]))  # BASE**k
        inverse = np.uint64(pow(int(_BASE), -1, 1 << 64))
        inv_powers = np.cumprod(np.full(n, inverse, dtype=np.uint64))
        inv_powers = np.concatenate(([np.uint64(1)], inv_powers[:-1]))
        prefix = np.concatenate(([np.uint64(0)], np.cumsum(codes * inv_powers, dtype=np.uint64)))

        def span_hash(i: np.ndarray, j: np.ndarray, salt: int) -> np.ndarray:
            # sum of codes[k] * BASE**(k - i) over i <= k < j, then mixed and salted per kind
            h = (prefix[j] - prefix[i]) * powers[i]
            h = (h ^ np.uint64(salt)) * _MIX
            return (h ^ (h >> np.uint64(31))) >> np.uint64(64 - bits)

        parts = [span_hash(np.arange(0, n - k + 1), np.arange(k, n + 1), k) for k in range(1, 6) if n >= k]
        starts, ends = _word_spans(codes)
        if len(starts):
            parts.append(span_hash(starts, ends, 101))
            if len(starts) > 1:
                parts.append(span_hash(starts[:-1], ends[1:], 102))
    index, counts = np.unique(np.concatenate(parts), return_counts=True)
    values = np.log1p(counts.astype(np.float32))
    if idf is not None:
        values *= idf[index]  # 0 for buckets too rare in training to have learned anything
    norm = np.linalg.norm(values)
    return index.astype(np.int64), values / norm if norm else values


def short(text: str) -> bool:
    """Whether the message has under ``SHORT_WORDS`` words in its first 2,000 characters."""
    head = text[:2000]
    return len(_LATIN_WORD.findall(head)) + len(_CJK_CHAR.findall(head)) / 2 < SHORT_WORDS


def threshold_key(text: str, level: str) -> str:
    """Which of the model's thresholds judges ``text`` at ``level``: "standard-short" for a short message at standard."""
    return "standard-short" if level == "standard" and short(text) else level


def language(text: str) -> str:
    """"zh" when at least a third as many CJK characters as Latin letters (the training rows' rule)."""
    sample = text[:HEAD]
    cjk = sum(1 for c in sample if "\u4e00" <= c <= "\u9fff")
    latin = sum(1 for c in sample if c.isascii() and c.isalpha())
    return "zh" if cjk and cjk * 3 >= latin else "en"


@dataclass(frozen=True)
class Model:
    classes: tuple[str, ...]
    weight: np.ndarray  # (classes, 2**bits)
    bias: np.ndarray
    idf: np.ndarray  # (2**bits,)
    bits: int
    thresholds: dict[str, dict[str, float]]  # level -> language -> probability of "not benign" that blocks
    info: dict

    def probabilities(self, text: str) -> np.ndarray:
        index, values = features(text, self.bits, self.idf)
        logits = self.weight[:, index].astype(np.float32) @ values + self.bias
        logits = np.exp(logits - logits.max())
        return logits / logits.sum()

    def judge(self, text: str, level: str) -> tuple[str, float] | None:
        """(class, probability that the message is not benign) when it should be blocked at ``level``."""
        by_lang = self.thresholds.get(threshold_key(text, level))
        if by_lang is None:  # an older file without a short threshold: short messages are the patterns' alone
            return None
        p = self.probabilities(text)
        benign = self.classes.index("benign")
        risk = float(1.0 - p[benign])
        if risk < by_lang[language(text)]:
            return None
        p[benign] = -1.0
        return self.classes[int(p.argmax())], risk


def load(path: Path) -> Model:
    """The classifier in ``path``, checked; ``ModelError`` when it is missing or broken."""
    from safetensors import SafetensorError
    from safetensors.numpy import load as load_bytes

    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ModelError(f"{path.name} is over {MAX_FILE_BYTES >> 20} MB")
        data = path.read_bytes()
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8:8 + header_len]).get("__metadata__") or {}
        tensors = load_bytes(data)
    except ModelError:
        raise
    except (OSError, ValueError, SafetensorError) as exc:
        raise ModelError(f"cannot read the safety classifier {path}: {exc}") from exc
    try:
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        classes = tuple(json.loads(meta["classes"]))
        bits = int(meta["bits"])
        thresholds = {level: {lang: float(t) for lang, t in by_lang.items()}
                      for level, by_lang in json.loads(meta["thresholds"]).items()}
        weight, bias, idf = tensors["weight"], tensors["bias"], tensors["idf"]
        if "benign" not in classes or not 10 <= bits <= 22:
            raise ValueError("no benign class, or bucket bits out of range")
        if weight.shape != (len(classes), 1 << bits) or bias.shape != (len(classes),) or idf.shape != (1 << bits,):
            raise ValueError(f"weight {weight.shape}, bias {bias.shape} and idf {idf.shape} do not fit "
                             f"{len(classes)} classes and 2**{bits} buckets")
        if not all(np.isfinite(t).all() for t in (weight, bias, idf)) or (idf < 0).any():
            raise ValueError("weights are not finite, or an idf is negative")
        if not {"standard", "strict"} <= set(thresholds) <= {"standard", "strict", "standard-short"} \
                or any(set(by_lang) != {"en", "zh"} for by_lang in thresholds.values()):
            raise ValueError(f"threshold levels {sorted(thresholds)}: standard and strict (standard-short optional), "
                             "each for en and zh")
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelError(f"the safety classifier {path} is broken: {exc}") from exc
    return Model(classes, weight, bias.astype(np.float32), idf.astype(np.float32), bits, thresholds,
                 json.loads(meta.get("info", "{}")))


def save(path: Path, classes, weight: np.ndarray, bias: np.ndarray, idf: np.ndarray, bits: int, thresholds: dict,
         info: dict) -> None:
    from safetensors.numpy import save_file

    meta = {"format": FORMAT, "classes": json.dumps(list(classes)), "bits": str(bits),
            "thresholds": json.dumps(thresholds), "info": json.dumps(info, ensure_ascii=False)}
    # C order: scikit-learn's coef_ is Fortran-ordered, and safetensors writes the raw buffer
    tensors = {"weight": np.ascontiguousarray(weight, dtype=np.float16),
               "bias": np.ascontiguousarray(bias, dtype=np.float32), "idf": np.ascontiguousarray(idf, dtype=np.float16)}
    save_file(tensors, str(path), metadata=meta)
