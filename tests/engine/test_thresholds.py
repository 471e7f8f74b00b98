"""Threshold selection and Wilson intervals, and the stage history metric."""
import numpy as np
import pytest

from curation.engine import stages
from curation.engine.thresholds import choose, wilson


def test_wilson_matches_known_values():
    low, high = wilson(81, 263, 0.95)  # Wilson's textbook example: 0.2553 - 0.3662
    assert low == pytest.approx(0.2553, abs=1e-3) and high == pytest.approx(0.3662, abs=1e-3)
    assert wilson(0, 0, 0.95) == (0.0, 1.0)


def _calibrated(rng, n):
    p = rng.random(n)
    return p, rng.random(n) < p  # P(accept | p) = p


def test_thresholds_meet_target_on_fresh_draws_of_the_same_distribution():
    rng = np.random.default_rng(0)
    p, labels = _calibrated(rng, 4000)
    fresh_p, fresh = _calibrated(rng, 200_000)
    t = choose(p, labels, fresh_p, 0.9, 30, 0.95)
    # precision of p >= t is (1 + t) / 2: the estimate reaches 0.9 at t = 0.8, its lower bound a little higher
    assert 0.8 < t.accept.threshold <= 0.9 and 0.1 <= t.reject.threshold < 0.2
    assert t.accept.ci_low >= 0.9 and t.reject.ci_low >= 0.9
    assert t.accept.ci_low <= fresh[fresh_p >= t.accept.threshold].mean() <= t.accept.ci_high
    assert fresh[fresh_p >= t.accept.threshold].mean() >= 0.9
    assert (~fresh[fresh_p < t.reject.threshold]).mean() >= 0.9


def test_the_lower_bound_not_the_estimate_meets_the_target_in_repeated_trials():
    """Over many small held-out sets, the true precision of the chosen region falls below the target about
    as rarely as the interval's level allows (choosing where the estimate reaches it would miss ~half the time)."""
    rng = np.random.default_rng(1)
    population = rng.random(20_000)
    misses, sides = 0, 0
    for _ in range(120):
        p, labels = _calibrated(rng, 1500)
        t = choose(p, labels, population, 0.9, 30, 0.95)
        for side, true_precision in ((t.accept, lambda x: (1 + x) / 2), (t.reject, lambda x: 1 - x / 2)):
            if side is not None:
                assert side.ci_low >= 0.9
                sides += 1
                misses += true_precision(side.threshold) < 0.9
    assert sides >= 200 and misses / sides <= 0.05


def test_one_disagreement_near_the_extreme_does_not_end_the_search():
    """Few decisions where the model is confident (reviews crowd the middle): wherever a single rejection
    falls among the most confident ones, accept still covers all of p >= 1/2, which the data supports."""
    rng = np.random.default_rng(2)
    p = np.concatenate([rng.random(400), rng.uniform(0.4, 0.6, 2000)])
    top = np.argsort(-p)[:60]
    population = rng.random(20_000)
    for flipped in top:
        labels = p >= 0.5
        labels[flipped] = False
        t = choose(p, labels, population, 0.9, 30, 0.95)
        assert t.accept.threshold < 0.55 and t.accept.ci_low >= 0.9


@pytest.mark.parametrize("seed", range(4))
def test_reviews_crowded_in_the_middle_do_not_bias_the_estimate(seed):
    rng = np.random.default_rng(seed)
    population = rng.beta(0.3, 0.3, 100_000)  # most samples are confidently good or bad
    truth = rng.random(len(population)) < population
    middle = np.flatnonzero(np.abs(population - 0.5) < 0.3)
    reviewed = np.concatenate([rng.choice(middle, 1500, replace=False), rng.choice(len(population), 600)])
    t = choose(population[reviewed], truth[reviewed], population, 0.9, 30, 0.95)
    routed = population >= t.accept.threshold
    precision = truth[routed].mean()  # an unweighted estimate would be dragged down by the crowded middle
    assert t.accept.ci_low <= precision <= t.accept.ci_high and precision >= 0.9 and routed.mean() > 0.2


def test_no_threshold_when_the_target_cannot_be_met():
    p = np.linspace(0, 1, 500)
    t = choose(p, np.arange(500) % 2 == 0, p, 0.95, 30, 0.95)  # labels independent of p
    assert t.accept is None and t.reject is None


def test_history_attributes_human_and_automatic_decisions_to_stages():
    snaps = [{"at": 1, "stage": stages.SEMI, "n_human": 100, "n_curated": 5100},
             {"at": 2, "stage": stages.FULL, "n_human": 300, "n_curated": 9300},
             {"at": 3, "stage": stages.FULL, "n_human": 310, "n_curated": 9800}]
    h = stages.history(snaps)
    assert h["per_stage"][stages.MANUAL] == {"human": 100, "curated": 100, "per_1000": 1000.0}
    assert h["per_stage"][stages.SEMI] == {"human": 200, "curated": 5200, "per_1000": pytest.approx(1000 * 200 / 5200)}
    assert h["per_stage"][stages.FULL] == {"human": 10, "curated": 4000 + 10 + 490, "per_1000": pytest.approx(10 / 4.5)}
    assert [row["per_1000"] for row in h["over_time"]] == pytest.approx([100 / 5.1, 300 / 9.3, 310 / 9.8])


def test_withdrawn_automatic_decisions_never_make_a_stage_negative():
    snaps = [{"at": 1, "stage": stages.SEMI, "n_human": 100, "n_curated": 5100},
             {"at": 2, "stage": stages.MANUAL, "n_human": 200, "n_curated": 200}]  # stricter: all withdrawn
    per_stage = stages.history(snaps)["per_stage"]
    assert per_stage[stages.MANUAL] == {"human": 100, "curated": 100, "per_1000": 1000.0}
    assert per_stage[stages.SEMI] == {"human": 100, "curated": 5100, "per_1000": pytest.approx(1000 * 100 / 5100)}
