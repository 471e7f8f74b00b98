"""The quality model: L2 logistic regression on the engine's features, calibrated by cross-validation.

Training (`fit`) runs `folds`-fold stratified cross-validation: each fold's model scores the decisions it
did not see, which gives every human decision an out-of-fold score. A Platt scaling (a 1-d logistic fit
of label on out-of-fold score) calibrates the scores into probabilities; the final model is refitted on
all decisions and uses the same calibration. The out-of-fold probabilities are what thresholds are chosen
on and what the reported quality (AUC, Brier score, log loss) is measured on.
The label is 1 for a human accept, 0 for a reject.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold


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
class QualityModel:
    """A fitted model: linear weights on the features and the Platt calibration of its score."""

    weights: np.ndarray
    bias: float
    platt_slope: float
    platt_intercept: float

    def score(self, features: np.ndarray) -> np.ndarray:
        """The uncalibrated linear score of each row."""
        return features @ self.weights + self.bias

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The calibrated probability that a human accepts each row."""
        return _sigmoid(self.platt_slope * self.score(features) + self.platt_intercept)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _linear(features: np.ndarray, labels: np.ndarray, c: float) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000).fit(features, labels)


def fit(features: np.ndarray, labels: np.ndarray, folds: int, c: float, seed: int) -> tuple[QualityModel, np.ndarray]:
    """Fit and calibrate the model on labelled rows; return it and the out-of-fold probabilities."""
    labels = labels.astype(int)
    oof = np.empty(len(labels))
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, held in splits.split(features, labels):
        oof[held] = _linear(features[train], labels[train], c).decision_function(features[held])
    platt = LogisticRegression(C=1e6, max_iter=1000).fit(oof[:, None], labels)
    final = _linear(features, labels, c)
    model = QualityModel(final.coef_[0].copy(), float(final.intercept_[0]),
                         float(platt.coef_[0, 0]), float(platt.intercept_[0]))
    return model, _sigmoid(model.platt_slope * oof + model.platt_intercept)


def quality(labels: np.ndarray, probabilities: np.ndarray) -> Quality:
    """Quality of probabilities against human labels (both outcomes must be present)."""
    labels = labels.astype(int)
    return Quality(n=len(labels), n_accept=int(labels.sum()), auc=float(roc_auc_score(labels, probabilities)),
                   brier=float(brier_score_loss(labels, probabilities)),
                   log_loss=float(log_loss(labels, probabilities, labels=[0, 1])),
                   accuracy=float(((probabilities >= 0.5) == labels).mean()))
