"""Write one Parquet shard: zstd, one row group per planned group, sorted by sample_id, nothing time-dependent.

The media column (both leaves, `bytes` and `path`, where it is Image storage) is stored uncompressed, without
dictionary or statistics: JPEG, PNG and MP4 bytes are already compressed, so zstd would spend writer and
reader CPU to save about nothing, and a dictionary or min/max statistics of blobs cost time and bytes. Every
other column is zstd-compressed, dictionary-encoded and has statistics. The same rows always give the same
bytes (for a given pyarrow version).
"""
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.export.schema import MEDIA

EXTENSION = "parquet"
COMPRESSION = "zstd"
LAYOUT_VERSION = 3  # bumped whenever the same rows give other bytes (3: Hugging Face features); resume checks it


def leaf_paths(schema: pa.Schema) -> list[str]:
    """Dotted Parquet paths of every leaf column of `schema` (e.g. 'scores.clip.clip_score')."""
    sink = io.BytesIO()
    pq.write_table(schema.empty_table(), sink)
    parquet_schema = pq.ParquetFile(io.BytesIO(sink.getvalue())).schema
    return [parquet_schema.column(i).path for i in range(len(parquet_schema))]


def writer_options(schema: pa.Schema) -> dict:
    """The `pyarrow.parquet.ParquetWriter` options of every shard with rows of `schema`."""
    paths = leaf_paths(schema)
    encoded = [p for p in paths if p.split(".")[0] != MEDIA]
    return {
        "compression": {p: COMPRESSION if p in encoded else "none" for p in paths},
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
