"""The probe: logistic regression on image embeddings, trained on human labels, calibrated out of fold.

Single-label: one multinomial model over the field's classes plus "none of these" when humans used it.
Multi-label: one binary model per class, for each class with at least `folds` positive and negative labels;
other classes are not modelled (NaN probabilities, never labelled automatically). Features are standardised
embeddings. `fit` runs `folds`-fold stratified cross-validation so that every human label gets an
out-of-fold score, fits the calibration (`curation.labels.calibration`: a temperature, or Platt per class)
on those scores, and refits on all labels; the out-of-fold probabilities are what per-class thresholds are
proven on and what quality is measured on.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from curation.labels.calibration import Calibration, fit as fit_calibration, prior

C = 1.0          # inverse L2 strength of the logistic regression, on standardised embeddings
ABSENT = -50.0   # log-odds given to a class a fold's model never saw


@dataclass
class Probe:
    """A fitted probe: the models and the calibration of their scores."""

    multi: bool
    models: list[Pipeline | None]  # single-label: one model; multi-label: one per class (None: not modelled)
    columns: int                   # classes scored: the field's, plus "none of these" (single-label, if used)
    calibration: Calibration

    def scores(self, embeddings: np.ndarray) -> np.ndarray:
        """Uncalibrated scores (n, columns); NaN for classes not modelled."""
        return _scores(self.models, self.multi, self.columns, embeddings)

    def predict(self, embeddings: np.ndarray, classes: int) -> np.ndarray:
        """Calibrated probabilities of the field's `classes` classes (n, classes); NaN: not modelled."""
        z = self.scores(embeddings)
        p = self.calibration.apply(np.nan_to_num(z))
        return np.where(np.isnan(z), np.nan, p)[:, :classes]


def _model(x: np.ndarray, y: np.ndarray) -> Pipeline:
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(x, y)


def _scores(models: list, multi: bool, columns: int, x: np.ndarray) -> np.ndarray:
    if multi:
        return np.column_stack([np.full(len(x), np.nan) if m is None else m.decision_function(x) for m in models])
    model = models[0]
    z = np.full((len(x), columns), ABSENT)
    z[:, model.classes_] = np.log(np.clip(model.predict_proba(x), 1e-300, None))
    return z


def targets(truth: np.ndarray, multi: bool) -> tuple[np.ndarray, int]:
    """Single-label: (class index per row, k for none of these; columns). Multi-label: (truth, classes)."""
    if multi:
        return truth, truth.shape[1]
    k = truth.shape[1]
    y = np.where(truth.any(axis=1), truth.argmax(axis=1), k)
    return y, k + 1 if (y == k).any() else k


def _out_of_fold(x: np.ndarray, target: np.ndarray, folds: int, seed: int, score) -> np.ndarray:
    """`score(model, rows)` of each row by a model trained on the other folds (stratified by `target`)."""
    out = None
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, target):
        z = score(_model(x[train], target[train]), x[held])
        out = np.empty((len(x),) + z.shape[1:]) if out is None else out
        out[held] = z
    return out


def fit(embeddings: np.ndarray, truth: np.ndarray, multi: bool, folds: int, seed: int = 0) -> tuple[Probe, np.ndarray]:
    """Fit the probe on human labels (truth: (n, classes) booleans); return it and the calibrated
    out-of-fold probabilities of the field's classes (n, classes)."""
    y, columns = targets(truth, multi)
    oof = np.full((len(embeddings), columns), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer members than folds: still stratified
        if multi:
            learnable = [min(y[:, c].sum(), (~y[:, c]).sum()) >= folds for c in range(columns)]
            for c in np.flatnonzero(learnable):
                oof[:, c] = _out_of_fold(embeddings, y[:, c], folds, seed, lambda m, x: m.decision_function(x))
            models = [_model(embeddings, y[:, c]) if ok else None for c, ok in enumerate(learnable)]
        else:
            oof = _out_of_fold(embeddings, y, folds, seed, lambda m, x: _scores([m], False, columns, x))
            models = [_model(embeddings, y)]
    full_truth = truth if multi else np.eye(columns, dtype=bool)[y]
    calibration = fit_calibration(np.nan_to_num(oof), full_truth, prior(multi, columns, 1.0))
    p = np.where(np.isnan(oof), np.nan, calibration.apply(np.nan_to_num(oof)))
    return Probe(multi, models, columns, calibration), p[:, :truth.shape[1]]
