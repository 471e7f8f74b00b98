"""Features of every crawled sample from the catalog: its image embedding and its numeric scores.

`load_samples` reads the raw inputs (one row per successful sample with an embedding, sorted by
sample_id); `FeatureSpec` turns them into the model's matrix: the embedding's leading principal components
(whitened) and every score that has any value, standardised, missing values left as NaN (the trees route
them on their own). A score column with no value at all (a scorer that did not run on these samples) is
left out, and a spec picks its columns by name: a scorer run later does not break a saved model.
The spec is fitted on all samples (no labels involved) and saved with each model version.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.catalog import Catalog
from curation.engine.config import EngineConfig, EngineError
from curation.errors import GristmillError
from curation.sql import quote_identifier

NUMERIC = ("DOUBLE", "FLOAT", "INTEGER", "BIGINT", "BOOLEAN", "SMALLINT", "TINYINT", "REAL")
NOT_SCORES = {"sample_id", "error", "scorer_version", "model_id"}
PCA_FIT_ROWS = 50_000  # rows the principal components are estimated on


@dataclass
class Samples:
    """Raw model inputs, rows sorted by sample_id."""

    ids: np.ndarray            # object array of sample_id
    embeddings: np.ndarray     # (n, dim) float32, L2-normalised
    scores: np.ndarray         # (n, n_scores) float64, NaN where missing
    score_names: list[str]     # 'view.column'
    embedding_model: str


def score_columns(catalog: Catalog) -> list[str]:
    """Every numeric score column of the catalog's scorer views, as 'view.column'."""
    return [f"{view}.{column}" for view, cols in catalog.score_views().items()
            for column, kind in cols if column not in NOT_SCORES and kind in NUMERIC]


def _embedding_model(catalog: Catalog, wanted: str | None) -> str:
    try:
        return catalog.embedding_model(wanted, choose="set embedding_model in engine/config.yaml")
    except GristmillError as exc:
        raise EngineError(f"the engine learns from image embeddings: {exc}") from None


def load_samples(catalog: Catalog, config: EngineConfig) -> Samples:
    """Every successful sample with an image embedding of the configured model, with its scores."""
    model = _embedding_model(catalog, config.embedding_model)
    available = score_columns(catalog)
    names = available if config.score_columns is None else config.score_columns
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise EngineError(f"unknown score columns {unknown}; numeric columns present: {available}")
    views = sorted({n.split(".", 1)[0] for n in names})
    qualified = {n: ".".join(quote_identifier(part) for part in n.split(".", 1)) for n in names}
    select = ", ".join(f"CAST({qualified[n]} AS DOUBLE) AS {quote_identifier(n)}" for n in names)
    joins = " ".join(f"LEFT JOIN (SELECT * FROM {quote_identifier(v)} QUALIFY row_number() OVER "
                     f"(PARTITION BY sample_id) = 1) AS {quote_identifier(v)} USING (sample_id)" for v in views)
    sql = (f"SELECT sample_id, e.image_embedding{', ' + select if select else ''} FROM samples AS s "
           f"JOIN (SELECT sample_id, image_embedding FROM ({catalog.embeddings_sql(model)}) WHERE image_embedding "
           f"IS NOT NULL QUALIFY row_number() OVER (PARTITION BY sample_id) = 1) AS e USING (sample_id) {joins} "
           f"WHERE s.status = 'success' ORDER BY sample_id")
    table = catalog.query(sql)
    if table.num_rows == 0:
        raise EngineError(f"no successful sample has an image embedding of model {model!r}")
    emb = table.column("image_embedding").combine_chunks()
    dim = len(emb[0])
    matrix = emb.flatten().to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(emb), dim)
    scores = (np.column_stack([table.column(n).to_numpy(zero_copy_only=False).astype(np.float64) for n in names])
              if names else np.zeros((len(emb), 0)))
    return Samples(np.asarray(table.column("sample_id").to_pylist(), dtype=object), matrix, scores, list(names), model)


@dataclass
class FeatureSpec:
    """The fitted transform from raw inputs to model features (saved with each model)."""

    mean: np.ndarray           # (dim,) embedding mean
    components: np.ndarray     # (dim, c) principal directions, columns scaled to unit variance (whitening)
    score_mean: np.ndarray     # (n_scores,)
    score_std: np.ndarray      # (n_scores,)
    score_names: list[str]

    @classmethod
    def fit(cls, samples: Samples, components: int, seed: int = 0) -> "FeatureSpec":
        """Fit principal components and score standardisation on all samples."""
        rng = np.random.default_rng(seed)
        rows = samples.embeddings
        if len(rows) > PCA_FIT_ROWS:
            rows = rows[rng.choice(len(rows), PCA_FIT_ROWS, replace=False)]
        mean = rows.mean(axis=0)
        centred = (rows - mean).astype(np.float64)
        values, vectors = np.linalg.eigh(centred.T @ centred / max(len(rows) - 1, 1))
        order = np.argsort(values)[::-1][:min(components, rows.shape[1])]
        scale = np.sqrt(np.maximum(values[order], 1e-12))
        present = ~np.isnan(samples.scores).all(axis=0)
        scores = samples.scores[:, present]
        score_std = np.nanstd(scores, axis=0)
        score_std = np.where(score_std > 0, score_std, 1.0)
        return cls(mean.astype(np.float32), (vectors[:, order] / scale).astype(np.float32),
                   np.nanmean(scores, axis=0), score_std, [n for n, p in zip(samples.score_names, present) if p])

    def embed(self, embeddings: np.ndarray) -> np.ndarray:
        """The whitened principal-component coordinates of embeddings (n, c)."""
        return (embeddings - self.mean) @ self.components

    def transform(self, samples: Samples) -> np.ndarray:
        """The model's feature matrix (n, c + n_scores), float64; NaN where a score is missing."""
        gone = [n for n in self.score_names if n not in samples.score_names]
        if gone:
            raise EngineError(f"the model was trained on scores {gone} that the workspace no longer has: "
                              "train a new version")
        columns = [samples.score_names.index(n) for n in self.score_names]
        scores = (samples.scores[:, columns] - self.score_mean) / self.score_std
        return np.hstack([self.embed(samples.embeddings).astype(np.float64), scores])

    def names(self) -> list[str]:
        """Column names of `transform`'s matrix."""
        return [f"pc{i}" for i in range(self.components.shape[1])] + self.score_names

    def arrays(self) -> dict[str, np.ndarray]:
        """The spec as arrays, for saving."""
        return {"feat_mean": self.mean, "feat_components": self.components, "feat_score_mean": self.score_mean,
                "feat_score_std": self.score_std}

    @classmethod
    def from_arrays(cls, arrays, score_names: list[str]) -> "FeatureSpec":
        """The spec saved by `arrays`."""
        return cls(arrays["feat_mean"], arrays["feat_components"], arrays["feat_score_mean"],
                   arrays["feat_score_std"], list(score_names))
