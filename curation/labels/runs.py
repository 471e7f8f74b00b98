"""Label runs over a workspace: zero-shot proposals, and probe training with proven automatic labels.

    propose_zeroshot(ws, "scene")     CLIP prompts x stored image embeddings -> labels/proposals/scene.zeroshot.parquet
    train_probe(ws, "scene")          a new probe version from the review log's labels, then its proposals
Each proposal run also writes a summary beside its Parquet file (`<field>.<source>.json`: counts per class,
model, calibration size). Human labels always win over proposals: proposals are stored apart from the review
log and say their source.
"""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import sklearn

from curation.atomic import write_json
from curation.catalog import Catalog
from curation.engine.thresholds import Side, choose
from curation.labels import audit, embeddings, probe, proposals, store, zeroshot
from curation.labels.calibration import Calibration, expected_calibration_error
from curation.labels.human import HumanLabels, read_labels
from curation.labels.text import encode_field, spec_for
from curation.labels.vocabulary import LabelError, LabelField, Vocabulary, load_vocabulary
from curation.placeholders import PLACEHOLDER_MARK
from curation.workspace import Workspace


@dataclass
class TextModel:
    """How to load the CLIP text encoder; by default the model and tag of the stored image embeddings."""

    pretrained: str | None = None  # a tag or local checkpoint, overriding the embeddings' weights
    device: str = "cpu"
    precision: str = "fp32"


@dataclass
class ProposeReport:
    """One proposal run: where it was written, over how many samples, and what it proposed."""

    field: str
    source: str
    path: Path
    samples: int
    model_id: str
    placeholder: bool
    calibrated_on: int
    proposed: dict[str, int] = field(default_factory=dict)   # class -> samples proposed it
    automatic: dict[str, int] = field(default_factory=dict)  # class -> samples labelled automatically
    audits: str | None = None                                # probe: the audits' agreement, in words
    stopped: bool = False                                    # probe: the stop rule halted automatic labels


@dataclass
class TrainReport:
    """A new probe version, its held-out quality and per-class thresholds, and the proposals it made."""

    field: str
    version: str
    n_labels: int
    accuracy: float
    ece: float
    thresholds: dict[str, dict | None]
    proposals: ProposeReport


def _now_us() -> int:
    return time.time_ns() // 1000


def _open(ws: Workspace | str | Path, field_name: str) -> tuple[Workspace, Vocabulary, LabelField]:
    ws = ws if isinstance(ws, Workspace) else Workspace.open(Path(ws))
    vocabulary = load_vocabulary(ws)
    return ws, vocabulary, vocabulary.field(field_name)


def _labelled(catalog: Catalog, model: str, label_field: LabelField) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The ids, embeddings and human truth (n, classes) of the field's human-labelled samples with embeddings."""
    human = read_labels(catalog, label_field)
    ids, emb = embeddings.of_samples(catalog, model, human.ids)
    by_id = dict(zip(human.ids, human.classes))
    return ids, emb, HumanLabels(ids, [by_id[i] for i in ids]).indicator(label_field.class_names)


def _propose(ws: Workspace, catalog: Catalog, model: str, meta: proposals.ProposalMeta, predict,
             calibrated_on: int, audits: str | None = None, stopped: bool = False) -> ProposeReport:
    """Stream every sample's embedding through `predict` into the proposals file of `meta`."""
    k = len(meta.label_field.classes)
    proposed, automatic, total = np.zeros(k, dtype=np.int64), np.zeros(k, dtype=np.int64), 0
    with proposals.writer(ws, meta) as write:
        for ids, emb in embeddings.batches(catalog, model):
            p = predict(emb)
            write(ids, p)
            proposed += proposals.proposed(p, meta.label_field.multi)[0].sum(axis=0)
            automatic += proposals.automatic(p, meta.thresholds).sum(axis=0)
            total += len(ids)
    path = proposals.proposals_path(ws, meta.label_field.name, meta.source)
    names = meta.label_field.class_names
    report = ProposeReport(meta.label_field.name, meta.source, path, total, meta.model_id, meta.placeholder,
                           calibrated_on, dict(zip(names, proposed.tolist())), dict(zip(names, automatic.tolist())),
                           audits, stopped)
    write_json(asdict(report), path.with_suffix(".json"))
    return report


def propose_zeroshot(workspace: Workspace | str | Path, field_name: str,
                     text_model: TextModel = TextModel()) -> ProposeReport:
    """Zero-shot proposals for every sample with an image embedding, calibrated on the human labels so far."""
    ws, vocabulary, label_field = _open(workspace, field_name)
    catalog = Catalog(ws)
    try:
        model = catalog.embedding_model()
        spec = spec_for(model, text_model.pretrained, text_model.device)
        text = encode_field(label_field, spec, model, text_model.precision)
        _, emb, truth = _labelled(catalog, model, label_field)
        calibration = zeroshot.calibrate(text, emb, truth)
        meta = proposals.ProposalMeta(label_field, "zeroshot", f"{text.model_id}#labels-{label_field.digest()}",
                                      "zeroshot", text.placeholder or PLACEHOLDER_MARK in model, _now_us())
        return _propose(ws, catalog, model, meta, lambda e: calibration.apply(zeroshot.scores(e, text)),
                        calibration.fitted_on)
    finally:
        catalog.close()


def _check_trainable(label_field: LabelField, truth: np.ndarray, vocabulary: Vocabulary) -> None:
    counts = truth.sum(axis=0)
    per_class = ", ".join(f"{c} {int(n)}" for c, n in zip(label_field.class_names, counts))
    folds = vocabulary.cv_folds
    if label_field.multi:
        ok = ((counts >= folds) & (len(truth) - counts >= folds)).any()
    else:
        y, _ = probe.targets(truth, False)
        ok = (np.bincount(y) >= folds).sum() >= 2
    if len(truth) < vocabulary.min_labels or not ok:
        need = "one class with" if label_field.multi else "two classes (or none of these) with"
        raise LabelError(f"field {label_field.name!r} has {len(truth)} human labels on samples with embeddings "
                         f"({per_class}); a probe needs {vocabulary.min_labels}, and {need} at least {folds} "
                         f"{'positive and negative labels' if label_field.multi else 'labels'}")


def _thresholds(oof: np.ndarray, truth: np.ndarray, population: np.ndarray, vocabulary: Vocabulary
                ) -> list[Side | None]:
    """Per class, the automatic-label threshold whose precision's lower bound meets the target, or None."""
    sides = []
    for c in range(truth.shape[1]):
        if np.isnan(oof[:, c]).any() or not len(population):
            sides.append(None)
            continue
        found = choose(oof[:, c], truth[:, c], population[:, c], vocabulary.target_precision,
                       vocabulary.min_support, vocabulary.confidence)
        sides.append(found.accept)
    return sides


def _accuracy(p: np.ndarray, truth: np.ndarray, multi: bool) -> tuple[float, float]:
    """Held-out accuracy and ECE of proposals (multi-label: per class decision at 1/2, pooled)."""
    if multi:
        known = ~np.isnan(p)
        right = ((p >= 0.5) == truth)[known]
        return float(right.mean()) if right.size else float("nan"), expected_calibration_error(
            np.maximum(p, 1 - p)[known], right)
    labelled = truth.any(axis=1)
    top = np.nanargmax(np.where(np.isnan(p), -1, p), axis=1)
    right = truth[np.arange(len(p)), top] & labelled
    confidence = p[np.arange(len(p)), top]
    return float(right.mean()), expected_calibration_error(confidence, right)


def train_probe(workspace: Workspace | str | Path, field_name: str, seed: int = 0) -> TrainReport:
    """Train a new probe version on every human label of the field, prove per-class thresholds, propose."""
    ws, vocabulary, label_field = _open(workspace, field_name)
    catalog = Catalog(ws)
    try:
        model = catalog.embedding_model()
        ids, emb, truth = _labelled(catalog, model, label_field)
        _check_trainable(label_field, truth, vocabulary)
        fitted, oof = probe.fit(emb, truth, label_field.multi, vocabulary.cv_folds, seed)
        k = len(label_field.classes)
        population = fitted.predict(embeddings.sample_of_rest(catalog, model, ids, seed=seed), k)
        sides = _thresholds(oof, truth, population, vocabulary)
        accuracy, ece = _accuracy(oof, truth, label_field.multi)
        names = label_field.class_names
        thresholds = {c: None if s is None else asdict(s) for c, s in zip(names, sides)}
        meta = {"field": label_field.name, "vocabulary": label_field.digest(), "classes": names,
                "embedding_model": model, "trained_at_us": _now_us(), "n_labels": len(ids),
                "labels_per_class": dict(zip(names, truth.sum(axis=0).astype(int).tolist())),
                "columns": fitted.columns, "calibration": asdict(fitted.calibration), "thresholds": thresholds,
                "quality": {"accuracy": accuracy, "ece": ece}, "target_precision": vocabulary.target_precision,
                "confidence": vocabulary.confidence, "min_support": vocabulary.min_support,
                "cv_folds": vocabulary.cv_folds, "seed": seed, "sklearn": sklearn.__version__,
                "hash": _digest(ids, truth, vocabulary, label_field)}
        heldout = pa.table({"sample_id": pa.array(ids, pa.string()),
                            "p": pa.array(oof.astype(np.float32).tolist(), pa.list_(pa.float32())),
                            "truth": pa.array(truth.tolist(), pa.list_(pa.bool_()))})
        version = store.save(ws, label_field.name, fitted.models, meta, heldout)
        report = _propose_probe(ws, catalog, model, vocabulary, label_field, version, fitted, sides)
        return TrainReport(label_field.name, version, len(ids), accuracy, ece, thresholds, report)
    finally:
        catalog.close()


def _digest(ids: list[str], truth: np.ndarray, vocabulary: Vocabulary, label_field: LabelField) -> str:
    """Identity of a probe version: what it was trained on and how."""
    h = hashlib.sha256(json.dumps([vocabulary.model_dump(exclude={"fields"}), label_field.digest(),
                                   sklearn.__version__], sort_keys=True).encode())
    h.update("\n".join(ids).encode())
    h.update(np.packbits(truth).tobytes())
    return h.hexdigest()


def _propose_probe(ws: Workspace, catalog: Catalog, model: str, vocabulary: Vocabulary, label_field: LabelField,
                   version: str, fitted: probe.Probe, sides: list[Side | None]) -> ProposeReport:
    """The version's proposals, with automatic labels unless its audits stopped them (checked first)."""
    found = audit.agreement(ws, catalog, label_field, version, vocabulary)
    if found.stopped and not audit.is_stopped(ws, label_field.name, version):
        audit.record_stop(ws, label_field.name, version, found)
    stopped = audit.is_stopped(ws, label_field.name, version)
    thresholds = None if stopped else [None if s is None else s.threshold for s in sides]
    meta = proposals.ProposalMeta(label_field, "probe", f"probe:{label_field.name}/{version}@{model}", version,
                                  PLACEHOLDER_MARK in model, _now_us(), thresholds, vocabulary.audit_fraction)
    k = len(label_field.classes)
    return _propose(ws, catalog, model, meta, lambda e: fitted.predict(e, k), fitted.calibration.fitted_on,
                    found.message, stopped)


def propose_probe(workspace: Workspace | str | Path, field_name: str) -> ProposeReport:
    """Proposals of the field's current probe version for every sample (after new embeddings arrived)."""
    ws, vocabulary, label_field = _open(workspace, field_name)
    version = store.current_version(ws, label_field.name)
    if version is None:
        raise LabelError(f"field {field_name!r} has no probe yet: `gristmill labels train` first")
    models, meta = store.load(ws, label_field.name, version)
    if meta["vocabulary"] != label_field.digest():
        raise LabelError(f"probe {field_name}/{version} was trained on another definition of the field: train again")
    fitted = probe.Probe(label_field.multi, models, meta["columns"], Calibration(**meta["calibration"]))
    sides = [None if meta["thresholds"][c] is None else Side(**meta["thresholds"][c]) for c in label_field.class_names]
    catalog = Catalog(ws)
    try:
        return _propose_probe(ws, catalog, meta["embedding_model"], vocabulary, label_field, version, fitted, sides)
    finally:
        catalog.close()
