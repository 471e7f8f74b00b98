"""A synthetic corpus with hidden ground truth and a simulated reviewer, for the engine's tests and benchmark.

Each sample's image embedding is one of `categories` random unit directions plus Gaussian noise
(L2-normalised), and it has two scores: `clip.clip_score` and `basic.luma_std`. The ground truth, never
written to the workspace, is: a sample is good unless its category is one of `bad_categories` (a content
kind the reviewer rejects, visible only in the embedding) or it is both off-caption (clip_score below
`clip_cut`) and washed out (luma_std below `luma_cut`). No single score threshold reproduces it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from curation.atomic import write_parquet
from curation.reviews import ReviewLog
from curation.workspace import Workspace
from schemas import SAMPLES, conform, embedding_schema, score_schema

EMBEDDING_MODEL = "synthetic-clip"


@dataclass
class CorpusSpec:
    """Shape of a synthetic corpus."""

    n: int = 20_000
    dim: int = 512
    categories: int = 20
    bad_categories: tuple[int, ...] = (3, 7, 11)
    noise: float = 0.04           # per-dimension std of the embedding noise (before normalising)
    clip_cut: float = 0.27
    luma_cut: float = 45.0
    seed: int = 0


@dataclass
class Corpus:
    """A built corpus: its workspace and the hidden truth, by sample_id."""

    workspace: Workspace
    ids: np.ndarray
    good: np.ndarray
    category: np.ndarray
    truth: dict[str, bool] = field(repr=False, default_factory=dict)


def _table(schema: pa.Schema, n: int, **columns) -> pa.Table:
    """A table of `schema` with the given columns and nulls elsewhere."""
    arrays = {f.name: columns[f.name] if f.name in columns else pa.nulls(n, f.type) for f in schema}
    return conform(pa.table(arrays), schema, "synthetic")


def build(root: Path, spec: CorpusSpec = CorpusSpec()) -> Corpus:
    """Create a workspace at `root` holding the corpus (samples without media, embeddings, two scores)."""
    rng = np.random.default_rng(spec.seed)
    ws = Workspace.init(root)
    n = spec.n
    ids = np.asarray([hashlib.md5(f"synthetic-{spec.seed}-{i}".encode()).hexdigest() for i in range(n)], dtype=object)
    centres = rng.normal(size=(spec.categories, spec.dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    category = rng.integers(0, spec.categories, n)
    vectors = centres[category] + rng.normal(scale=spec.noise, size=(n, spec.dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    clip = rng.normal(0.30, 0.05, n)
    luma = np.clip(rng.normal(55.0, 20.0, n), 0, 255)
    good = ~np.isin(category, spec.bad_categories) & ~((clip < spec.clip_cut) & (luma < spec.luma_cut))
    write_parquet(_table(SAMPLES, n, sample_id=pa.array(ids, pa.string()),
                         url=pa.array([f"https://example.com/{i}.jpg" for i in range(n)]),
                         caption=pa.array([f"synthetic sample {i}" for i in range(n)]),
                         media_type=pa.array(["image"] * n), status=pa.array(["success"] * n),
                         shard=pa.array(["00000"] * n)), ws.path("shards", "00000.parquet"))
    flat = pa.array(vectors.astype(np.float16).ravel(), pa.float16())
    write_parquet(_table(embedding_schema(spec.dim), n, sample_id=pa.array(ids, pa.string()),
                         image_embedding=pa.FixedSizeListArray.from_arrays(flat, spec.dim),
                         model_id=pa.array([EMBEDDING_MODEL] * n)),
                  ws.path("embeddings", EMBEDDING_MODEL, "00000.parquet"))
    version = pa.array(["synthetic-1"] * n)
    write_parquet(_table(score_schema("clip"), n, sample_id=pa.array(ids, pa.string()), clip_score=pa.array(clip),
                         clip_score_min=pa.array(clip), scorer_version=version),
                  ws.path("scores", "clip", "00000.parquet"))
    write_parquet(_table(score_schema("basic"), n, sample_id=pa.array(ids, pa.string()), luma_std=pa.array(luma),
                         scorer_version=version), ws.path("scores", "basic", "00000.parquet"))
    return Corpus(ws, ids, good, category, dict(zip(ids.tolist(), good.tolist())))


class Reviewer:
    """A simulated human who knows the truth but decides wrongly with probability `error_rate`."""

    def __init__(self, corpus: Corpus, log: ReviewLog, error_rate: float = 0.05, seed: int = 0):
        self.corpus, self.log, self.error_rate = corpus, log, error_rate
        self.rng = np.random.default_rng(seed)
        self.decisions = 0

    def review(self, sample_id: str) -> bool:
        """Accept or reject one sample through the review log; return whether it was accepted."""
        accept = self.corpus.truth[sample_id] != (self.rng.random() < self.error_rate)
        if accept:
            self.log.accept(sample_id)
        else:
            self.log.reject(sample_id, "low_quality")
        self.decisions += 1
        return accept


def precision_recall(kept: set[str], corpus: Corpus) -> tuple[float, float]:
    """Precision and recall of a kept set against the hidden truth."""
    good = int(corpus.good.sum())
    true_kept = sum(corpus.truth[s] for s in kept)
    return (true_kept / len(kept) if kept else 0.0), true_kept / good
