"""Calibration of class scores into probabilities, fitted on human labels, and its measure (ECE).

    single-label   p = softmax(t * z) over classes: one temperature t (temperature scaling)
    multi-label    p_c = sigmoid(a_c * z_c + b_c): one Platt scaling per class
Both start from a prior (the CLIP model's logit scale, or 1 and 0) and are fitted by maximum likelihood
when there are human labels; a multi-label class keeps its prior until it has CALIBRATE_MIN positive and
negative labels. One or two parameters per class cannot overfit a few dozen labels the way a model can.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression

CALIBRATE_MIN = 5     # labels of each outcome a class (or, single-label, the field) needs to be fitted
ECE_BINS = 10


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


@dataclass
class Calibration:
    """Parameters mapping scores z (n, classes) to probabilities; `fitted_on`: labels used (0: the prior)."""

    multi: bool
    temperature: float = 1.0
    slopes: list[float] = field(default_factory=list)
    intercepts: list[float] = field(default_factory=list)
    fitted_on: int = 0

    def apply(self, z: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (n, classes)."""
        if self.multi:
            return sigmoid(z * np.asarray(self.slopes) + np.asarray(self.intercepts))
        return softmax(self.temperature * z)


def prior(multi: bool, classes: int, scale: float) -> Calibration:
    """The calibration before any label: scores times `scale` (CLIP's logit scale for zero-shot)."""
    return Calibration(multi, scale, [scale] * classes, [0.0] * classes)


def fit(z: np.ndarray, truth: np.ndarray, start: Calibration) -> Calibration:
    """Fit `start`'s parameters on labelled scores z (n, classes) with truth (n, classes) booleans.

    Single-label rows without a class (none of these) do not inform the temperature and are skipped."""
    if start.multi:
        slopes, intercepts, used = list(start.slopes), list(start.intercepts), 0
        for c in range(z.shape[1]):
            y = truth[:, c]
            if min(y.sum(), (~y).sum()) >= CALIBRATE_MIN:
                platt = LogisticRegression(C=1e6, max_iter=1000).fit(z[:, c:c + 1], y)
                slopes[c], intercepts[c] = float(platt.coef_[0, 0]), float(platt.intercept_[0])
                used = len(y)
        return Calibration(True, start.temperature, slopes, intercepts, used)
    rows = truth.any(axis=1)
    if rows.sum() < CALIBRATE_MIN:
        return start
    z, index = z[rows], truth[rows].argmax(axis=1)

    def nll(log_t: float) -> float:
        logits = np.exp(log_t) * z
        logits = logits - logits.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(z)), index]))

    best = minimize_scalar(nll, bounds=(-5.0, 8.0), method="bounded")
    return Calibration(False, float(np.exp(best.x)), start.slopes, start.intercepts, int(rows.sum()))


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> float:
    """ECE: the mean |accuracy - confidence| over equal-width confidence bins, weighted by their counts."""
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, float)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total / max(len(confidence), 1))
