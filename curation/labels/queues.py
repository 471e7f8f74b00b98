"""Review queues of a label field: which samples a human should label next, and why.

    uncertain(ws, f)      unlabelled samples whose calibrated proposal is least certain (margin or entropy)
    rare_first(ws, f)     unlabelled samples likely of the classes with the fewest human labels, in turns
    disagreement(ws, f)   unlabelled samples where zero-shot and the probe propose different classes
    likely_wrong(ws, f)   human labels the probe disputes, judged on out-of-fold probabilities
Each returns up to `limit` QueueItems, best first: the sample, a stable reason string and a score (higher
comes first). The first three stream the stored proposals (`curation.labels.proposals`), reading only the
sample ids and probabilities, and skip samples that already have a human label. `likely_wrong` ranks as
cleanlab does (`find_label_issues(filter_by="predicted_neq_given", rank_by="normalized_margin")`; FiftyOne's
mistakenness is alike): a label is suspect when the model's likeliest class is another, ranked by how far
that class's calibrated probability exceeds the given label's. The model never judges a label it was trained
on: labels that trained the current probe version are judged by its out-of-fold probabilities
(`heldout.parquet`), later ones by its proposals (a model that never saw them).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.catalog import Catalog
from curation.labels import proposals, store
from curation.labels.human import HumanLabels, read_labels
from curation.labels.vocabulary import LabelError, LabelField, load_vocabulary
from curation.workspace import Workspace

BATCH = 65_536
ENOUGH = 60   # human labels after which a class is no longer rare to `rare_first` (twice the default min_support)
MIN_P = 0.1   # least probability of a rare class that `rare_first` queues a sample for


@dataclass(frozen=True)
class QueueItem:
    """One sample to review: `reason` is the queue's stable name, `note` says what the model thinks."""

    sample_id: str
    reason: str
    score: float
    note: str = ""


class _Best:
    """The `limit` highest-scoring rows seen so far (ties: smaller sample_id first), with one int per row."""

    def __init__(self, limit: int):
        self.limit = limit
        self.ids, self.scores, self.tags = np.array([], dtype=object), np.array([]), np.array([], dtype=np.int64)

    def add(self, ids: np.ndarray, scores: np.ndarray, tags: np.ndarray) -> None:
        keep = np.isfinite(scores)
        ids = np.concatenate([self.ids, ids[keep]])
        scores, tags = np.concatenate([self.scores, scores[keep]]), np.concatenate([self.tags, tags[keep]])
        order = np.lexsort((ids.astype(str), -scores))[:self.limit]
        self.ids, self.scores, self.tags = ids[order], scores[order], tags[order]

    def rows(self) -> Iterator[tuple[str, float, int]]:
        return zip(self.ids.tolist(), self.scores.tolist(), self.tags.tolist())


def _probabilities(column: pa.Array | pa.ChunkedArray, k: int) -> np.ndarray:
    """(n, k) float matrix of a list<float32> probabilities column (NaN: class not modelled)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column.flatten().to_numpy(zero_copy_only=False).astype(np.float64).reshape(len(column), k)


def _open(workspace: Workspace | str | Path, field_name: str) -> tuple[Workspace, LabelField, HumanLabels]:
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
    label_field = load_vocabulary(ws).field(field_name)
    catalog = Catalog(ws)
    try:
        return ws, label_field, read_labels(catalog, label_field)
    finally:
        catalog.close()


def _path(ws: Workspace, label_field: LabelField, source: str) -> Path:
    path = proposals.proposals_path(ws, label_field.name, source)
    if not path.is_file():
        how = "propose" if source == "zeroshot" else "train"
        raise LabelError(f"field {label_field.name!r} has no {source} proposals: `gristmill labels {how}` first")
    return path


def _unlabelled(path: Path, k: int, labelled: list[str]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(ids, probabilities) of the proposals at `path`, in batches, without the samples in `labelled`."""
    done = pa.array(labelled, pa.string())
    for batch in pq.ParquetFile(path).iter_batches(BATCH, columns=["sample_id", "probabilities"]):
        keep = pc.invert(pc.is_in(batch.column(0), value_set=done)).to_numpy(zero_copy_only=False)
        ids = np.asarray(batch.column(0).to_pylist(), dtype=object)
        yield ids[keep], _probabilities(batch.column(1), k)[keep]


def uncertainty(p: np.ndarray, multi: bool, by: str = "margin") -> np.ndarray:
    """How uncertain each row's proposal is, higher first; NaN columns (not modelled) are left out.

    margin: 1 - (top p - second p) single-label, 1 - min |2 p_c - 1| multi-label; entropy: Shannon entropy in
    nats (multi-label: summed over classes)."""
    known, q = ~np.isnan(p), np.nan_to_num(p)
    if by == "entropy":
        q = np.clip(q, 1e-12, 1 - 1e-12)
        h = -q * np.log(q) - ((1 - q) * np.log(1 - q) if multi else 0.0)
        return np.where(known, h, 0.0).sum(axis=1)
    if by != "margin":
        raise LabelError(f"uncertainty by 'margin' or 'entropy', not {by!r}")
    if multi:
        return 1 - np.where(known, np.abs(2 * q - 1), np.inf).min(axis=1)
    top2 = -np.sort(-np.where(known, q, -1.0), axis=1)[:, :2]
    return 1 - (top2[:, 0] - top2[:, 1])


def uncertain(workspace: Workspace | str | Path, field_name: str, limit: int = 100, source: str = "probe",
              by: str = "margin") -> list[QueueItem]:
    """Unlabelled samples whose `source` proposal is least certain (`uncertainty`), most uncertain first."""
    ws, label_field, human = _open(workspace, field_name)
    best = _Best(limit)
    for ids, p in _unlabelled(_path(ws, label_field, source), len(label_field.classes), human.ids):
        best.add(ids, uncertainty(p, label_field.multi, by), np.zeros(len(ids), dtype=np.int64))
    return [QueueItem(s, "uncertain", score, f"{source} {by}") for s, score, _ in best.rows()]


def rare_first(workspace: Workspace | str | Path, field_name: str, limit: int = 100, source: str = "probe",
               enough: int = ENOUGH, min_p: float = MIN_P) -> list[QueueItem]:
    """Unlabelled samples likely of the classes with fewer than `enough` human labels: per class the samples
    of highest p (at least `min_p`), the classes taking turns, the one with the fewest labels first."""
    ws, label_field, human = _open(workspace, field_name)
    counts = human.indicator(label_field.class_names).sum(axis=0)
    rare = [c for c in np.argsort(counts, kind="stable") if counts[c] < enough]
    best = {c: _Best(limit) for c in rare}
    for ids, p in _unlabelled(_path(ws, label_field, source), len(label_field.classes), human.ids):
        for c in rare:
            best[c].add(ids, np.where(p[:, c] >= min_p, p[:, c], np.nan), np.full(len(ids), c))
    names = label_field.class_names
    return interleave([[QueueItem(s, "rare", score, f"{names[c]} ({int(counts[c])} human labels)")
                        for s, score, _ in best[c].rows()] for c in rare], limit)


def disagreement(workspace: Workspace | str | Path, field_name: str, limit: int = 100) -> list[QueueItem]:
    """Unlabelled samples where zero-shot and the probe propose different classes, by the total variation
    distance between their probabilities (classes both model), largest first."""
    ws, label_field, human = _open(workspace, field_name)
    zs, pr = _path(ws, label_field, "zeroshot"), _path(ws, label_field, "probe")
    k, names, done = len(label_field.classes), label_field.class_names, pa.array(human.ids, pa.string())
    con = duckdb.connect()
    try:
        joined = con.sql("SELECT sample_id, z.probabilities AS z, p.probabilities AS p FROM read_parquet(?) AS z "
                         "JOIN read_parquet(?) AS p USING (sample_id)", params=[str(zs), str(pr)])
        best = _Best(limit)
        for batch in joined.to_arrow_reader(BATCH):
            ids = np.asarray(batch.column(0).to_pylist(), dtype=object)
            z, p = _probabilities(batch.column(1), k), _probabilities(batch.column(2), k)
            both = ~np.isnan(z) & ~np.isnan(p)
            distance = 0.5 * np.where(both, np.abs(np.nan_to_num(z) - np.nan_to_num(p)), 0.0).sum(axis=1)
            z_set, p_set = proposals.proposed(z, label_field.multi)[0], proposals.proposed(p, label_field.multi)[0]
            fresh = pc.invert(pc.is_in(batch.column(0), value_set=done)).to_numpy(zero_copy_only=False)
            differ = (z_set != p_set).any(axis=1) & fresh
            tags = z_set.argmax(axis=1) * k + p_set.argmax(axis=1)
            best.add(ids, np.where(differ, distance, np.nan), tags)
    finally:
        con.close()
    return [QueueItem(s, "disagreement", score, f"zero-shot {names[t // k]}, probe {names[t % k]}"
                      if not label_field.multi else "zero-shot and probe propose different classes")
            for s, score, t in best.rows()]


def _judged(ws: Workspace, label_field: LabelField, human: HumanLabels) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(ids, current human truth (n, classes), probabilities (n, classes) of a model that was not trained on
    that sample's label) of the human-labelled samples the current probe version can judge."""
    version = store.current_version(ws, label_field.name)
    if version is None:
        raise LabelError(f"field {label_field.name!r} has no probe yet: `gristmill labels train` first")
    meta = store.load_meta(ws, label_field.name, version)
    if meta["vocabulary"] != label_field.digest():
        raise LabelError(f"probe {label_field.name}/{version} was trained on another definition of the field: "
                         "train again")
    k = len(label_field.classes)
    held = pq.read_table(store.heldout(ws, label_field.name, version), columns=["sample_id", "p"])
    p_of = dict(zip(held["sample_id"].to_pylist(), _probabilities(held["p"], k)))
    later = [s for s in human.ids if s not in p_of]
    table = proposals.read(ws, label_field.name, "probe", later) if later else None
    if table is not None:
        table = table.filter(pc.equal(table["model_version"], version))
        p_of.update(zip(table["sample_id"].to_pylist(), _probabilities(table["probabilities"], k)))
    truth = human.indicator(label_field.class_names)
    rows = [i for i, s in enumerate(human.ids) if s in p_of]
    return [human.ids[i] for i in rows], truth[rows], np.array([p_of[human.ids[i]] for i in rows]).reshape(-1, k)


def _suspects_single(truth: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-label ("none of these" is a column 1 - sum p): per row, the normalised margin p of the likeliest
    class - p of the given one where the likeliest is another (NaN: not suspect), and that class's column."""
    full = np.column_stack([p, np.clip(1 - p.sum(axis=1), 0, 1)])
    given = np.where(truth.any(axis=1), truth.argmax(axis=1), p.shape[1])
    top = full.argmax(axis=1)
    rows = np.arange(len(full))
    return np.where(top != given, full[rows, top] - full[rows, given], np.nan), top


def _suspects_multi(truth: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label, per class: suspect where the model's p puts the class on the other side of 1/2 than the
    human did; per row, the largest |2 p - 1| over suspect classes (NaN: none) and that class."""
    agree = np.where(np.isnan(p), 1.0, np.where(truth, np.nan_to_num(p), 1 - np.nan_to_num(p)))
    score = np.where(agree < 0.5, 1 - 2 * agree, -np.inf)
    best = score.max(axis=1)
    return np.where(np.isfinite(best), best, np.nan), score.argmax(axis=1)


def likely_wrong(workspace: Workspace | str | Path, field_name: str, limit: int = 100) -> list[QueueItem]:
    """Human labels the current probe disputes, judged by probabilities of a model not trained on them, most
    disputed first; the note names the class the model prefers."""
    ws, label_field, human = _open(workspace, field_name)
    ids, truth, p = _judged(ws, label_field, human)
    if not ids:
        return []
    score, column = (_suspects_multi if label_field.multi else _suspects_single)(truth, p)
    best = _Best(limit)
    best.add(np.asarray(ids, dtype=object), score, column)
    names = label_field.class_names + ([] if label_field.multi else ["none of these"])
    index = {s: i for i, s in enumerate(ids)}

    def note(sample_id: str, c: int) -> str:
        given = [n for n, t in zip(label_field.class_names, truth[index[sample_id]]) if t] or ["none of these"]
        return f"labelled {', '.join(given)}; the probe says {names[c]}"

    return [QueueItem(s, "likely_wrong", score, note(s, c)) for s, score, c in best.rows()]


def interleave(queues: list[list[QueueItem]], limit: int) -> list[QueueItem]:
    """Up to `limit` items taking one from each queue in turn, each sample once (its first queue's reason)."""
    out, seen = [], set()
    iterators = [iter(q) for q in queues]
    while iterators and len(out) < limit:
        for it in list(iterators):
            item = next((i for i in it if i.sample_id not in seen), None)
            if item is None:
                iterators.remove(it)
                continue
            seen.add(item.sample_id)
            out.append(item)
            if len(out) == limit:
                break
    return out
