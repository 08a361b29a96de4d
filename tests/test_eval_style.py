"""The style scorer is checked on real held-out lines before it judges generations: it must beat chance there."""

from __future__ import annotations

import pytest

from persona.data.records import DataError
from persona.eval_style import AUC_FLOOR, StyleScorer, unique_lines
from persona.train import read_samples
from tests.conftest import ROOT, SHARED_DATA

MARA = ROOT / "personas" / "mara-of-the-lantern" / "data"
# The margin over chance we claim: on the shipped pack's real held-out lines the scorer's AUC is
# 0.865 [0.747-0.961]; the lower end of its 95 % interval must stay above 0.65.
MARGIN = 0.65


def test_scorer_separates_maras_real_held_out_lines_from_the_other_speakers():
    scorer = StyleScorer(read_samples(MARA / "train.jsonl"))
    check = scorer.check(read_samples(MARA / "val.jsonl"))
    assert check["held_out_lines"] == {"character": 20, "others": 23}
    assert check["trustworthy"] and check["auc"] >= 0.8 and check["ci95"][0] > MARGIN
    assert check["ci95"][0] <= check["auc"] <= check["ci95"][1]
    mine, others = unique_lines(read_samples(MARA / "val.jsonl"))
    assert sum(scorer.score(mine)) / len(mine) > sum(scorer.score(others)) / len(others)


def test_scorer_separates_zhen_huans_real_held_out_lines_in_the_chinese_script(tmp_path):
    from persona.data.build import build_dataset
    from persona.data.extract import extract

    script = SHARED_DATA / "scripts" / "zhenhuan_ep11-20.txt"
    if not script.exists():
        pytest.skip("the shared 甄嬛传 script is not here")
    build_dataset(extract(script, "auto").utterances, "甄嬛", tmp_path / "ds")
    scorer = StyleScorer(read_samples(tmp_path / "ds" / "train.jsonl"))
    check = scorer.check(read_samples(tmp_path / "ds" / "val.jsonl"))
    # Measured: 0.732 [0.637-0.819] on 53 of her held-out lines and 58 of the others'.
    assert check["trustworthy"] and check["auc"] >= 0.65 and check["ci95"][0] > 0.55


def test_a_scorer_that_cannot_tell_the_speakers_apart_is_reported_as_not_trustworthy():
    # Both "speakers" say the same kind of thing: the AUC on held-out lines sits near chance.
    def rows(start, n):
        return [{"conversations": [{"from": "human", "value": f"BOB: line number {i} of the ledger, {i * 7 % 13}"},
                                   {"from": "gpt", "value": f"line number {i + 1} of the ledger, {i * 5 % 11}"}]}
                for i in range(start, start + n)]

    scorer = StyleScorer(rows(0, 40))
    check = scorer.check(rows(100, 30))
    assert check["auc"] < AUC_FLOOR or check["ci95"][0] <= 0.5
    assert not check["trustworthy"] and "not trustworthy" in check["reason"]


def test_too_few_held_out_lines_is_a_clear_error_when_strict_and_a_warning_otherwise():
    scorer = StyleScorer(read_samples(MARA / "train.jsonl"))
    few = read_samples(MARA / "val.jsonl")[:3]
    loose = scorer.check(few)
    assert loose["auc"] is None and not loose["trustworthy"] and "too few held-out lines" in loose["reason"]
    with pytest.raises(DataError, match="too few held-out lines"):
        scorer.check(few, strict=True)


def test_too_few_training_lines_is_a_clear_error():
    with pytest.raises(DataError, match="too few lines to train the style scorer"):
        StyleScorer([{"conversations": [{"from": "human", "value": "A: hi"}, {"from": "gpt", "value": "yo"}]}])


def test_held_out_lines_seen_in_training_do_not_count():
    rows = read_samples(MARA / "train.jsonl")
    scorer = StyleScorer(rows)
    assert scorer.check(rows[:40])["held_out_lines"] == {"character": 0, "others": 0}
