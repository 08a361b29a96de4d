"""The bootstrap behind every eval figure: its interval covers the truth, and degenerate inputs stay honest."""

from __future__ import annotations

import random

from persona.eval_stats import bootstrap, figure, mean, paired_difference


def test_interval_covers_the_true_mean_of_a_known_distribution_most_of_the_time():
    # 40 draws of N(10, 2): a 95 % interval should hold 10 in about 95 of 100 experiments.
    rng = random.Random(1)
    covered = 0
    for trial in range(100):
        draws = [rng.gauss(10, 2) for _ in range(40)]
        lo, hi = bootstrap(draws, seed=trial, resamples=400)
        covered += lo <= 10 <= hi
        assert lo <= mean(draws) <= hi
    assert 85 <= covered <= 100


def test_interval_narrows_with_more_samples():
    rng = random.Random(2)
    small, large = [rng.random() for _ in range(20)], [rng.random() for _ in range(500)]
    (a, b), (c, d) = bootstrap(small), bootstrap(large)
    assert d - c < (b - a) / 2


def test_degenerate_inputs_give_a_point_interval_or_none():
    assert bootstrap([0.0] * 16) == [0.0, 0.0]
    assert bootstrap([]) is None
    assert figure([]) == {"value": None, "ci95": None}
    assert figure([1.0, 1.0, 1.0]) == {"value": 1.0, "ci95": [1.0, 1.0]}


def test_a_statistic_that_fails_on_some_resamples_skips_them_and_one_that_always_fails_gives_none():
    def needs_both(xs):
        if len(set(xs)) < 2:
            raise ValueError("one class")
        return sum(xs) / len(xs)

    assert bootstrap([0, 1], needs_both) is not None
    assert bootstrap([1, 1, 1], needs_both) is None


def test_the_bootstrap_is_reproducible_with_its_fixed_seed():
    data = [random.Random(3).random() for _ in range(30)]
    assert bootstrap(data) == bootstrap(data)


def test_cluster_bootstrap_draws_whole_groups():
    # Two groups, each constant: any resample's mean is 0, 0.5 or 1 (never a mix inside a group).
    values, groups = [0.0] * 5 + [1.0] * 5, [0] * 5 + [1] * 5
    lo, hi = bootstrap(values, groups=groups, resamples=200)
    assert {lo, hi} <= {0.0, 0.5, 1.0} and lo == 0.0 and hi == 1.0


def test_paired_difference_sees_a_shift_that_unpaired_noise_would_hide():
    rng = random.Random(4)
    a = [rng.gauss(0, 5) for _ in range(60)]
    b = [x + 0.5 for x in a]  # the same items, each 0.5 better
    d = paired_difference(a, b)
    assert d["difference"] == 0.5 and d["interval"][0] > 0.49
    same = paired_difference(a, list(a))
    assert same["difference"] == 0 and same["interval"] == [0.0, 0.0]
