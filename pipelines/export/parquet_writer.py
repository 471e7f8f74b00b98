"""Write one Parquet shard: zstd, one row group per planned group, sorted by sample_id, nothing time-dependent.

The media column is neither dictionary-encoded nor given statistics (both cost time and bytes for blobs);
every other column is. The same rows always give the same bytes (for a given pyarrow version).
"""
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.export.schema import MEDIA

EXTENSION = "parquet"
COMPRESSION = "zstd"


def leaf_paths(schema: pa.Schema) -> list[str]:
    """Dotted Parquet paths of every leaf column of `schema` (e.g. 'scores.clip.clip_score')."""
    sink = io.BytesIO()
    pq.write_table(schema.empty_table(), sink)
    parquet_schema = pq.ParquetFile(io.BytesIO(sink.getvalue())).schema
    return [parquet_schema.column(i).path for i in range(len(parquet_schema))]


def writer_options(schema: pa.Schema) -> dict:
    """The `pyarrow.parquet.ParquetWriter` options of every shard with rows of `schema`."""
    encoded = [p for p in leaf_paths(schema) if p != MEDIA]
    return {
        "compression": COMPRESSION,
        "use_dictionary": encoded,
        "write_statistics": encoded,
        "sorting_columns": [pq.SortingColumn(schema.get_field_index("sample_id"))],
    }


class ParquetShard:
    """A Parquet shard being written at `path`; write() each row group, then close()."""

    extension = EXTENSION

    def __init__(self, path: Path, schema: pa.Schema):
        self._writer = pq.ParquetWriter(path, schema, **writer_options(schema))

    def write(self, rows: pa.Table) -> None:
        """Append `rows` as one row group."""
        self._writer.write_table(rows, row_group_size=max(rows.num_rows, 1))

    def close(self) -> None:
        self._writer.close()


def count_rows(path: Path) -> int:
    """Rows of a Parquet shard, from its footer."""
    return pq.ParquetFile(path).metadata.num_rows
