"""Stored label proposals: probabilities per class turned into LABEL_PROPOSALS rows, written atomically.

`labels/proposals/<field>.<source>.parquet` holds the latest proposals of one source for one field (the
catalog's `label_proposals` view reads them all). A run writes its file in batches under a temporary name
and renames it when complete, so readers see the previous run or this one, never a mix.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.atomic import atomic_path
from curation.engine.routing import audit_draw
from curation.labels.vocabulary import LABELS, LabelField
from curation.workspace import Workspace
from schemas import LABEL_PROPOSALS, conform

PROPOSALS = "proposals"


@dataclass
class ProposalMeta:
    """What every row of one run shares."""

    label_field: LabelField
    source: str
    model_id: str
    model_version: str
    placeholder: bool
    proposed_at_us: int
    thresholds: list[float | None] | None = None  # per class: automatic at p >= threshold; None: never
    audit_fraction: float = 0.0                    # share of rows with automatic labels marked for audit


def proposals_path(workspace: Workspace, field_name: str, source: str) -> Path:
    return workspace.path(LABELS, PROPOSALS, f"{field_name}.{source}.parquet")


def proposed(p: np.ndarray, multi: bool) -> tuple[np.ndarray, np.ndarray]:
    """(n, classes) mask of the proposed classes and each row's confidence (NaN in p: class not modelled)."""
    known = ~np.isnan(p)
    if multi:
        certainty = np.where(known, np.maximum(p, 1 - p), np.inf).min(axis=1)
        return known & (np.nan_to_num(p) >= 0.5), np.where(np.isfinite(certainty), certainty, 0.0)
    top = np.argmax(np.where(known, p, -1.0), axis=1)
    mask = np.zeros(p.shape, dtype=bool)
    mask[np.arange(len(p)), top] = True
    return mask, p[np.arange(len(p)), top]


def automatic(p: np.ndarray, thresholds: list[float | None] | None) -> np.ndarray:
    """(n, classes) mask of the classes whose proven threshold the row's probability reaches."""
    if not thresholds:
        return np.zeros(p.shape, dtype=bool)
    limits = np.array([np.inf if t is None else t for t in thresholds])
    return np.where(np.isnan(p), -np.inf, p) >= limits


def _lists(values: pa.Array, lengths: np.ndarray) -> pa.ListArray:
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _names(mask: np.ndarray, names: list[str]) -> pa.ListArray:
    """Per row, the names of the classes set in `mask` (in class order)."""
    return _lists(pa.array(np.asarray(names, dtype=object)[np.nonzero(mask)[1]], pa.string()), mask.sum(axis=1))


def table(ids: list[str], p: np.ndarray, meta: ProposalMeta) -> pa.Table:
    """LABEL_PROPOSALS rows of sample ids with calibrated probabilities p (n, classes)."""
    names = meta.label_field.class_names
    n, k = p.shape
    chosen, confidence = proposed(p, meta.label_field.multi)
    auto = automatic(p, meta.thresholds)
    flat = p.astype(np.float32).ravel()
    constant = lambda value, type_: pa.array([value] * n, type_)  # noqa: E731
    return conform(pa.table({
        "sample_id": pa.array(ids, pa.string()),
        "field": constant(meta.label_field.name, pa.string()),
        "source": constant(meta.source, pa.string()),
        "proposal": _names(chosen, names),
        "confidence": pa.array(confidence, pa.float64()),
        "classes": _names(np.ones((n, k), dtype=bool), names),
        "probabilities": _lists(pa.array(flat, pa.float32(), mask=np.isnan(flat)), np.full(n, k)),
        "automatic": _names(auto, names),
        "audit": pa.array(auto.any(axis=1) & audit_draw(np.asarray(ids, dtype=object), meta.audit_fraction)),
        "model_id": constant(meta.model_id, pa.string()),
        "model_version": constant(meta.model_version, pa.string()),
        "vocabulary": constant(meta.label_field.digest(), pa.string()),
        "placeholder": constant(meta.placeholder, pa.bool_()),
        "proposed_at": pa.array([meta.proposed_at_us] * n, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
    }), LABEL_PROPOSALS, "label proposals")


@contextmanager
def writer(workspace: Workspace, meta: ProposalMeta) -> Iterator:
    """A function writing one batch (ids, probabilities) at a time; the file is committed on exit."""
    path = proposals_path(workspace, meta.label_field.name, meta.source)
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, LABEL_PROPOSALS, compression="zstd") as out:
        yield lambda ids, p: out.write_table(table(ids, p, meta))


def read(workspace: Workspace, field_name: str, source: str, ids: list[str] | None = None) -> pa.Table | None:
    """The stored proposals of one field and source (only those of `ids` when given); None when there are none."""
    path = proposals_path(workspace, field_name, source)
    if not path.is_file():
        return None
    filters = None if ids is None else pc.field("sample_id").isin(pa.array(list(ids), pa.string()))
    return pq.read_table(path, schema=LABEL_PROPOSALS, filters=filters)


def count(workspace: Workspace, field_name: str, source: str) -> int:
    """Rows of the stored proposals of one field and source (0 when there are none)."""
    path = proposals_path(workspace, field_name, source)
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0
