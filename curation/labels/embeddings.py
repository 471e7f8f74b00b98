"""Image embeddings of the samples to label, read from the catalog (no image forward).

The model is the workspace's embedding model (`Catalog.embedding_model`: gristmill.yaml's `embedding_model`,
or the only model present); only that model's files are read.
Only successful samples count, one embedding per sample (the first stored one). Reading is streamed in
record batches of BATCH rows, so labelling a corpus never holds all of its embeddings in memory.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import pyarrow as pa

from curation.catalog import Catalog

BATCH = 65_536
SAMPLE_ROWS = 200_000  # unlabelled samples the thresholds' population weights are estimated on

_SQL = ("SELECT sample_id, e.image_embedding FROM samples AS s JOIN (SELECT sample_id, image_embedding FROM "
        "({embeddings}) WHERE image_embedding IS NOT NULL QUALIFY row_number() OVER (PARTITION BY sample_id) = 1) "
        "AS e USING (sample_id) WHERE s.status = 'success'")


def _select(catalog: Catalog, model: str) -> str:
    return _SQL.format(embeddings=catalog.embeddings_sql(model))


def matrix(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """(n, dim) float32 matrix of a fixed-size list column of embeddings."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if len(column) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    values = column.flatten().to_numpy(zero_copy_only=False).astype(np.float32)
    return values.reshape(len(column), -1)


def batches(catalog: Catalog, model: str, rows: int = BATCH) -> Iterator[tuple[list[str], np.ndarray]]:
    """(sample ids, embeddings) of every successful sample with an embedding of `model`, in batches."""
    reader = catalog.con.sql(f"{_select(catalog, model)} ORDER BY sample_id").to_arrow_reader(rows)
    for batch in reader:
        yield batch.column(0).to_pylist(), matrix(batch.column(1))


def of_samples(catalog: Catalog, model: str, ids: list[str]) -> tuple[list[str], np.ndarray]:
    """(ids that have an embedding, their embeddings), sorted by sample_id."""
    catalog.con.register("_wanted", pa.table({"sample_id": pa.array(ids, pa.string())}))
    try:
        table = catalog.query(f"SELECT * FROM ({_select(catalog, model)}) WHERE sample_id IN "
                              "(SELECT sample_id FROM _wanted) ORDER BY sample_id")
    finally:
        catalog.con.unregister("_wanted")
    return table.column(0).to_pylist(), matrix(table.column(1))


def sample_of_rest(catalog: Catalog, model: str, exclude: list[str], rows: int = SAMPLE_ROWS,
                   seed: int = 0) -> np.ndarray:
    """Embeddings of up to `rows` random samples not in `exclude` (the population thresholds weigh)."""
    catalog.con.register("_exclude", pa.table({"sample_id": pa.array(exclude, pa.string())}))
    try:
        table = catalog.query(
            f"SELECT image_embedding FROM ({_select(catalog, model)}) WHERE sample_id NOT IN "
            f"(SELECT sample_id FROM _exclude) USING SAMPLE reservoir({int(rows)} ROWS) REPEATABLE ({int(seed)})")
    finally:
        catalog.con.unregister("_exclude")
    return matrix(table.column(0))
