"""FiftyOne Brain over gristmill's stored embeddings: an embedding map, a similarity index and uniqueness.

`compute` copies each sample's stored image embedding (the catalog's `embeddings` view, that is the
workspace's embedding model) into the field `gm_embedding` (None for a sample without one) and runs,
over the samples that have one, these brain runs, replacing any earlier run under the same key:
    gm_map         compute_visualization: the 2-D map of the App's Embeddings panel (UMAP when umap-learn
                   is installed, else t-SNE)
    gm_similarity  compute_similarity, sklearn backend: nearest neighbours ("sort by similarity" in the App)
    gm_uniqueness  compute_uniqueness over that index: the field `gm_uniqueness`, 0-1, low for near-duplicates
The model's id is kept in `dataset.info["gm_embedding_model"]`.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np
import pyarrow.compute as pc

from curation.catalog import Catalog
from curation.errors import GristmillError

EMBEDDING_FIELD = "gm_embedding"
MAP_KEY = "gm_map"
SIMILARITY_KEY = "gm_similarity"
UNIQUENESS_KEY = "gm_uniqueness"
KEYS = (MAP_KEY, SIMILARITY_KEY, UNIQUENESS_KEY)
MODEL_INFO = "gm_embedding_model"
TSNE_PERPLEXITY = 30.0  # FiftyOne's default, lowered for small datasets (t-SNE needs fewer than n samples)
TSNE_PCA_DIMS = 50      # FiftyOne's default PCA before t-SNE, skipped when the vectors are not longer


@dataclass
class BrainReport:
    """What `compute` did: the embedding model, the map's method, samples with and without an embedding."""

    model: str
    method: str
    embedded: int
    missing: int


def compute(dataset, catalog: Catalog) -> BrainReport:
    """Attach the stored embeddings to `dataset` and (re)compute the brain runs gm_map, gm_similarity and
    gm_uniqueness over the samples that have one; GristmillError when fewer than two have one."""
    import fiftyone.brain as fob

    model = catalog.embedding_model()
    missing = attach_embeddings(dataset, catalog)
    samples = dataset.exists(EMBEDDING_FIELD)
    if len(samples) < 2:
        raise GristmillError(f"FiftyOne Brain needs at least two samples with embeddings of {model}; "
                             f"{len(samples)} of the dataset's {len(dataset)} have one")
    for key in set(KEYS) & set(dataset.list_brain_runs()):
        dataset.delete_brain_run(key)
    dim = len(samples.first()[EMBEDDING_FIELD])
    method, options = map_method(len(samples), dim)
    fob.compute_visualization(samples, embeddings=EMBEDDING_FIELD, brain_key=MAP_KEY, method=method,
                              progress=False, **options)
    fob.compute_similarity(samples, embeddings=EMBEDDING_FIELD, backend="sklearn", brain_key=SIMILARITY_KEY,
                           progress=False)
    fob.compute_uniqueness(samples, uniqueness_field=UNIQUENESS_KEY, embeddings=EMBEDDING_FIELD,
                           similarity_index=SIMILARITY_KEY, progress=False)
    dataset.info[MODEL_INFO] = model
    dataset.save()
    return BrainReport(model, method, len(samples), missing)


def attach_embeddings(dataset, catalog: Catalog) -> int:
    """Set every sample's `gm_embedding` to its stored image embedding (float32), None where it has none;
    return how many have none."""
    import fiftyone as fo

    ids = dataset.values("gm_id")
    rows = catalog.query("SELECT sample_id, image_embedding FROM embeddings WHERE image_embedding IS NOT NULL "
                         "AND sample_id IN (SELECT unnest(?))", [ids])
    flat = np.asarray(pc.list_flatten(rows["image_embedding"]), dtype=np.float32)
    vectors = dict(zip(rows["sample_id"].to_pylist(), flat.reshape(rows.num_rows, -1)))
    if EMBEDDING_FIELD not in dataset.get_field_schema():
        dataset.add_sample_field(EMBEDDING_FIELD, fo.VectorField)
    dataset.set_values(EMBEDDING_FIELD, [vectors.get(sid) for sid in ids])
    return len(ids) - len(vectors.keys() & set(ids))


def map_method(n: int, dim: int) -> tuple[str, dict]:
    """The embedding map's method and options for `n` vectors of length `dim`: UMAP when umap-learn is
    installed, else t-SNE with a perplexity below n and PCA first only for vectors longer than 50."""
    if importlib.util.find_spec("umap") is not None:
        return "umap", {}
    pca_dims = TSNE_PCA_DIMS if min(n, dim) > TSNE_PCA_DIMS else None
    return "tsne", {"perplexity": min(TSNE_PERPLEXITY, (n - 1) / 3), "pca_dims": pca_dims, "seed": 0,
                    "verbose": False}
