"""The quality model: gradient-boosted trees on the engine's features, calibrated by cross-validation.

A reviewer's verdict rarely follows one score: a content kind visible only in the embedding, a low score
that matters only when another is low too. A linear model cannot express such interactions and leaves
those samples in the middle of its probability range, where they are flagged for humans forever.
scikit-learn's HistGradientBoostingClassifier learns them, takes missing scores (NaN) as they are, and
trains in under a second on thousands of decisions.

Training (`fit`) runs `folds`-fold stratified cross-validation: each fold's model scores the decisions it
did not see, which gives every human decision an out-of-fold score. A Platt scaling (a 1-d logistic fit
of label on out-of-fold score) calibrates the scores into probabilities; the final model is refitted on
all decisions and uses the same calibration. The out-of-fold probabilities are what thresholds are chosen
on and what the reported quality (AUC, Brier score, log loss) is measured on.
The label is 1 for a human accept, 0 for a reject. Models are saved with skops (a format that loads only
known scikit-learn types, unlike pickle).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import skops.io
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold

from curation.engine.config import EngineError


@dataclass
class Quality:
    """Out-of-fold quality of a trained model, measured on held-out human decisions."""

    n: int
    n_accept: int
    auc: float
    brier: float
    log_loss: float
    accuracy: float


@dataclass
class TreeSettings:
    """Size and regularisation of the boosted trees."""

    trees: int
    learning_rate: float
    min_leaf: int
    l2: float


@dataclass
class QualityModel:
    """A fitted model: the boosted trees and the Platt calibration of their score."""

    trees: HistGradientBoostingClassifier
    platt_slope: float
    platt_intercept: float

    def score(self, features: np.ndarray) -> np.ndarray:
        """The uncalibrated score (log-odds of the trees) of each row."""
        return self.trees.decision_function(features)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The calibrated probability that a human accepts each row."""
        return _sigmoid(self.platt_slope * self.score(features) + self.platt_intercept)

    def save(self, path: Path) -> None:
        """Write the trees to `path` (skops); the calibration is saved by the caller with the other arrays."""
        skops.io.dump(self.trees, path)

    @classmethod
    def load(cls, path: Path, platt_slope: float, platt_intercept: float) -> "QualityModel":
        """The model saved at `path` with its calibration."""
        listed = skops.io.get_untrusted_types(file=path)
        unexpected = [t for t in listed if not t.startswith("sklearn.")]
        if unexpected:
            raise EngineError(f"{path} holds types other than scikit-learn's ({', '.join(unexpected)}): "
                              "refusing to load it")
        return cls(skops.io.load(path, trusted=listed), platt_slope, platt_intercept)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _trees(features: np.ndarray, labels: np.ndarray, settings: TreeSettings, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=settings.trees, learning_rate=settings.learning_rate, min_samples_leaf=settings.min_leaf,
        l2_regularization=settings.l2, early_stopping=False, random_state=seed).fit(features, labels)


def fit(features: np.ndarray, labels: np.ndarray, folds: int, settings: TreeSettings,
        seed: int) -> tuple[QualityModel, np.ndarray]:
    """Fit and calibrate the model on labelled rows; return it and the out-of-fold probabilities."""
    labels = labels.astype(int)
    oof = np.empty(len(labels))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splits.split(features, labels):
        oof[held] = _trees(features[train], labels[train], settings, seed).decision_function(features[held])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], labels)
    model = QualityModel(_trees(features, labels, settings, seed), float(platt.coef_[0, 0]),
                         float(platt.intercept_[0]))
    return model, _sigmoid(model.platt_slope * oof + model.platt_intercept)


def quality(labels: np.ndarray, probabilities: np.ndarray) -> Quality:
    """Quality of probabilities against human labels (both outcomes must be present)."""
    labels = labels.astype(int)
    return Quality(n=len(labels), n_accept=int(labels.sum()), auc=float(roc_auc_score(labels, probabilities)),
                   brier=float(brier_score_loss(labels, probabilities)),
                   log_loss=float(log_loss(labels, probabilities, labels=[0, 1])),
                   accuracy=float(((probabilities >= 0.5) == labels).mean()))
