"""The style scorer: does a line sound like the character or like the others? Trained on train.jsonl, checked on val.

The scorer is checked on the real held-out lines before it judges any
generation: its ROC AUC on val.jsonl (the character's lines against the other
speakers') says whether it can tell them apart at all. Below :data:`AUC_FLOOR`
(or with an interval reaching chance) the pack's style score is reported as
not trustworthy.
"""

from __future__ import annotations

import re

from persona.data.records import DataError
from persona.eval_stats import bootstrap

AUC_FLOOR = 0.6  # below this the scorer barely ranks the character's real lines above the others'
MIN_TRAIN_LINES = 5  # per side, to fit the scorer at all
MIN_HELD_OUT_LINES = 10  # per side, for an AUC whose interval means something
_NAME_PREFIX = re.compile(r"^([^:：\n]{1,40})[:：]\s*(.+)$")


def speaker_lines(rows: list[dict]) -> tuple[list[str], list[str]]:
    """The character's lines (gpt turns) and the other speakers' (``NAME: text`` lines of human turns)."""
    mine, others = [], []
    for row in rows:
        for turn in row["conversations"]:
            if turn["from"] == "gpt":
                mine.append(turn["value"])
            elif turn["from"] == "human":
                for line in turn["value"].splitlines():
                    m = _NAME_PREFIX.match(line.strip())
                    if m:
                        others.append(m.group(2))
    return mine, others


def unique_lines(rows: list[dict], exclude: set[str] = frozenset()) -> tuple[list[str], list[str]]:
    """:func:`speaker_lines` once each: a scene's rows repeat its earlier turns as context."""
    mine, others = speaker_lines(rows)
    mine = [x for x in dict.fromkeys(mine) if x not in exclude]
    taken = set(mine)
    return mine, [x for x in dict.fromkeys(others) if x not in exclude and x not in taken]


def roc_auc(pairs: list[tuple[int, float]]) -> float:
    """ROC AUC of ``(label, score)`` pairs; ValueError when one class is missing."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([y for y, _ in pairs], [s for _, s in pairs]))


class StyleScorer:
    """TF-IDF character n-grams (Chinese needs no word splitting) and a balanced logistic regression."""

    def __init__(self, train_rows: list[dict], seed: int = 0) -> None:
        mine, others = unique_lines(train_rows)
        if len(mine) < MIN_TRAIN_LINES or len(others) < MIN_TRAIN_LINES:
            raise DataError(f"too few lines to train the style scorer ({len(mine)} of the character's, "
                            f"{len(others)} of other speakers'; {MIN_TRAIN_LINES} each needed)",
                            "the dataset needs the character's lines and other speakers' (NAME: text) lines")
        self.train_lines = set(mine) | set(others)
        self.seed = seed
        self.model = self._pipeline().fit(mine + others, [1] * len(mine) + [0] * len(others))
        self.threshold = self._threshold(mine, others)

    def _pipeline(self):
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                             LogisticRegression(max_iter=1000, class_weight="balanced"))

    def _threshold(self, mine: list[str], others: list[str]) -> float:
        """The cut that best balances both classes' accuracy on cross-validated train predictions
        (the fitted model's own predictions on its training lines would be overconfident)."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        folds = min(5, len(mine), len(others))
        labels = [1] * len(mine) + [0] * len(others)
        probs = cross_val_predict(self._pipeline(), mine + others, labels, method="predict_proba",
                                  cv=StratifiedKFold(folds, shuffle=True, random_state=self.seed))[:, 1]
        best, best_score = 0.5, -1.0
        for cut in sorted(set(probs)):
            hit = sum(p >= cut for p, y in zip(probs, labels) if y) / len(mine)
            reject = sum(p < cut for p, y in zip(probs, labels) if not y) / len(others)
            if hit + reject > best_score:
                best, best_score = float(cut), hit + reject
        return round(best, 4)

    def score(self, texts: list[str]) -> list[float]:
        """The probability that each text is the character's."""
        return [float(p) for p in self.model.predict_proba(list(texts))[:, 1]] if texts else []

    def check(self, val_rows: list[dict], seed: int = 0, strict: bool = False) -> dict:
        """The scorer's ROC AUC on the real held-out lines, with its interval, and whether to trust it.

        Args:
            strict: raise DataError when there are too few held-out lines to measure the AUC,
                instead of reporting the style score as untrustworthy.
        """
        mine, others = unique_lines(val_rows, exclude=self.train_lines)
        out = {"held_out_lines": {"character": len(mine), "others": len(others)}, "threshold": self.threshold,
               "auc_floor": AUC_FLOOR}
        if len(mine) < MIN_HELD_OUT_LINES or len(others) < MIN_HELD_OUT_LINES:
            reason = (f"too few held-out lines to check the style scorer ({len(mine)} of the character's, "
                      f"{len(others)} of other speakers'; {MIN_HELD_OUT_LINES} each needed)")
            if strict:
                raise DataError(reason, "evaluate on a dataset with more held-out scenes (--data), "
                                        "e.g. one built with a larger val_fraction")
            return {**out, "auc": None, "ci95": None, "trustworthy": False, "reason": reason}
        pairs = list(zip([1] * len(mine) + [0] * len(others), self.score(mine + others)))
        auc, ci = round(roc_auc(pairs), 3), bootstrap(pairs, roc_auc, seed=seed)
        trustworthy = auc >= AUC_FLOOR and ci is not None and ci[0] > 0.5
        out.update(auc=auc, ci95=ci, trustworthy=trustworthy)
        if not trustworthy:
            out["reason"] = (f"the style scorer's AUC on real held-out lines is {auc} {ci} (floor {AUC_FLOOR}, "
                             "interval above 0.5): its style score is not trustworthy for this pack")
        return out
