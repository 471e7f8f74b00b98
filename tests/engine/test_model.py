"""The quality model: learns interactions a linear model cannot, survives a save and load, keeps to its
score columns, and refuses a model file holding foreign types."""
import numpy as np
import pytest
import skops.io
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from curation.engine import Engine, EngineConfig, EngineError, store
from curation.engine.features import FeatureSpec
from curation.engine.model import QualityModel, TreeSettings, fit
from tests.engine.conftest import review_random

SETTINGS = TreeSettings(trees=100, learning_rate=0.1, min_leaf=10, l2=1.0)


def _and_rule(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two scores; a sample is bad only when both are low (the synthetic corpus's off-caption-and-dark rule)."""
    x = np.random.default_rng(seed).normal(size=(n, 2))
    return x, ~((x[:, 0] < -0.3) & (x[:, 1] < -0.3))


def test_learns_a_rule_on_two_scores_that_a_linear_model_cannot():
    x, y = _and_rule(1000, 0)
    test_x, test_y = _and_rule(5000, 1)
    model, heldout = fit(x, y, folds=5, settings=SETTINGS, seed=0)
    trees = roc_auc_score(test_y, model.predict(test_x))
    linear = roc_auc_score(test_y, LogisticRegression().fit(x, y).decision_function(test_x))
    assert trees > 0.99 and linear < 0.97
    assert roc_auc_score(y, heldout) > 0.98  # out-of-fold probabilities are good too
    assert abs(heldout.mean() - y.mean()) < 0.02  # and calibrated on average


def test_missing_scores_are_taken_as_they_are():
    x, y = _and_rule(1000, 0)
    x[::5, 1] = np.nan
    model, _ = fit(x, y, folds=5, settings=SETTINGS, seed=0)
    assert np.isfinite(model.predict(x)).all()


def test_saved_model_predicts_the_same(tmp_path):
    x, y = _and_rule(500, 0)
    model, _ = fit(x, y, folds=3, settings=SETTINGS, seed=0)
    model.save(tmp_path / "model.skops")
    loaded = QualityModel.load(tmp_path / "model.skops", model.platt_slope, model.platt_intercept)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


class Foreign:
    """Not a scikit-learn type: loading it could run anyone's code."""

    def __init__(self):
        self.value = 1


def test_a_model_file_with_foreign_types_is_refused(tmp_path):
    skops.io.dump({"payload": Foreign()}, tmp_path / "model.skops")
    with pytest.raises(EngineError, match="other than scikit-learn's.*Foreign"):
        QualityModel.load(tmp_path / "model.skops", 1.0, 0.0)


def test_features_skip_empty_scores_and_survive_a_new_scorer(corpus, reviewer):
    review_random(corpus, reviewer, 200)
    engine = Engine(corpus.workspace, EngineConfig())
    samples = engine.samples()
    spec = FeatureSpec.fit(samples, 8)
    assert spec.score_names == ["basic.luma_std", "clip.clip_score", "clip.clip_score_min"]  # no empty column
    assert len(samples.score_names) > len(spec.score_names)
    before = spec.transform(samples)
    # a scorer run later adds a column: the saved spec still picks its own columns, by name
    samples.score_names.insert(0, "new.score")
    samples.scores = np.hstack([np.ones((len(samples.ids), 1)), samples.scores])
    np.testing.assert_array_equal(spec.transform(samples), before)


def test_a_model_saved_before_the_trees_is_a_clear_error(corpus, reviewer):
    review_random(corpus, reviewer, 150)
    Engine(corpus.workspace, EngineConfig()).train()
    store.load_model(corpus.workspace, "v0001")[0].unlink()  # as an older gristmill left it
    with pytest.raises(EngineError, match="v0001 .* has no model.skops .*gristmill engine train"):
        Engine(corpus.workspace, EngineConfig()).probabilities()
