"""Calibration draws: random within probability bins, filling the bins human decisions cover least."""
import numpy as np

from curation.engine.routing import calibration_draw


def test_draws_go_where_decisions_are_missing():
    rng = np.random.default_rng(0)
    pool = rng.uniform(0, 1, 10_000)
    decided = rng.uniform(0.4, 0.6, 300)  # uncertainty sampling filled the middle only
    picked = calibration_draw(pool, decided, 200, np.random.default_rng(1))
    assert len(picked) == len(set(picked.tolist())) == 200
    drawn = pool[picked]
    assert np.mean((drawn > 0.4) & (drawn < 0.6)) < 0.02  # the middle has more than its share already
    assert 0.4 < np.mean(drawn < 0.4) < 0.6  # the two sides, evenly
    together = np.concatenate([decided, drawn])
    assert np.histogram(together, bins=5, range=(0, 1))[0].min() > 0


def test_without_decisions_it_is_a_stratified_random_sample():
    rng = np.random.default_rng(0)
    pool = rng.beta(8, 1, 5000)  # most samples confidently good
    drawn = pool[calibration_draw(pool, np.zeros(0), 400, np.random.default_rng(1))]
    assert abs(np.median(drawn) - np.median(pool)) < 0.02


def test_small_pools_and_exhausted_bins():
    pool = np.asarray([0.1, 0.1, 0.9, 0.95, 0.99])
    assert sorted(calibration_draw(pool, np.full(50, 0.1), 5, np.random.default_rng(0)).tolist()) == [0, 1, 2, 3, 4]
    assert len(calibration_draw(pool, np.zeros(0), 0, np.random.default_rng(0))) == 0
    assert len(calibration_draw(pool, np.zeros(0), 9, np.random.default_rng(0))) == 5
