"""Threshold selection and Wilson intervals, and the stage history metric."""
import numpy as np
import pytest

from curation.engine import stages
from curation.engine.thresholds import choose, wilson


def test_wilson_matches_known_values():
    low, high = wilson(81, 263, 0.95)  # Wilson's textbook example: 0.2553 - 0.3662
    assert low == pytest.approx(0.2553, abs=1e-3) and high == pytest.approx(0.3662, abs=1e-3)
    assert wilson(0, 0, 0.95) == (0.0, 1.0)


def test_thresholds_meet_target_on_fresh_draws_of_the_same_distribution():
    rng = np.random.default_rng(0)

    def draw(n):
        p = rng.random(n)
        return p, rng.random(n) < p  # calibrated: P(accept | p) = p

    p, labels = draw(4000)
    fresh_p, fresh = draw(200_000)
    t = choose(p, labels, fresh_p, 0.9, 30, 0.95)
    assert 0.75 <= t.accept.threshold <= 0.85  # mean of U(0.8, 1) is 0.9; bins are 0.05 wide
    assert 0.15 <= t.reject.threshold <= 0.25
    assert t.accept.ci_low <= fresh[fresh_p >= t.accept.threshold].mean() <= t.accept.ci_high
    assert fresh[fresh_p >= t.accept.threshold].mean() >= 0.89
    assert (~fresh[fresh_p < t.reject.threshold]).mean() >= 0.89


@pytest.mark.parametrize("seed", range(4))
def test_reviews_crowded_in_the_middle_do_not_bias_the_estimate(seed):
    rng = np.random.default_rng(seed)
    population = rng.beta(0.3, 0.3, 100_000)  # most samples are confidently good or bad
    truth = rng.random(len(population)) < population
    middle = np.flatnonzero(np.abs(population - 0.5) < 0.3)
    reviewed = np.concatenate([rng.choice(middle, 1500, replace=False), rng.choice(len(population), 300)])
    t = choose(population[reviewed], truth[reviewed], population, 0.95, 30, 0.95)
    routed = population >= t.accept.threshold
    precision = truth[routed].mean()  # an unweighted estimate would be dragged down by the crowded middle
    assert t.accept.ci_low <= precision <= t.accept.ci_high and precision >= 0.92 and routed.mean() > 0.2


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
