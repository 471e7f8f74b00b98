"""Where samples come from: the folders whose tables the catalog's `samples` view lists as one table.

A sample is anything a stage scores, curates, reviews or exports. Two folders hold them:
    shards/NNNNN.parquet   crawled images and videos (SAMPLES rows), kind 'crawled'
    clips/NNNNN.parquet    clips cut from crawled videos (CLIPS rows), kind 'clip'
Each is mapped onto the `SAMPLES_VIEW` columns by one rule: a column the folder's table has is taken as it
is, a column it lacks is null, and a source may fix a column to a constant (`kind`; a clip's `media_type` is
'video'). The catalog renders the rule as SQL, `read_rows` as Arrow; nothing else knows which folder holds
what. A new kind of sample (frames, crops) is a new entry in SOURCES with its own folder.

Scoring's units of work are a source's committed shards, named `<prefix><shard>` ('00012', 'clips-00012').
"""
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.shard_versions import parquet_version
from curation.shards import is_shard_done
from curation.sql import duckdb_type, glob_select, quote_identifier, quote_literal
from curation.workspace import Workspace
from schemas import CLIPS, SAMPLES, SAMPLES_VIEW


@dataclass(frozen=True)
class SampleSource:
    """One folder of sample tables: its kind, its on-disk schema and the columns it fixes."""

    kind: str
    folder: str
    schema: pa.Schema
    unit_prefix: str
    constants: dict[str, str] = field(default_factory=dict)

    def fixed(self) -> dict[str, str]:
        """Columns this source sets to a constant: `kind` always, plus its own constants."""
        return {"kind": self.kind, **self.constants}

    def committed_units(self, ws: Workspace) -> list[str]:
        """Unit names of this source's committed shards (marker written), sorted."""
        files = ws.parquet_files(self.folder)
        return [self.unit_prefix + p.stem for p in files if is_shard_done(ws.path(self.folder), p.stem)]

    def select_sql(self, ws: Workspace, columns: list[str] | None = None) -> str | None:
        """SQL selecting `columns` (default: every SAMPLES_VIEW column) of this source's files in `ws`, mapped by
        the rule above; None when the source has no files yet."""
        pattern = ws.parquet_glob(self.folder)
        if pattern is None:
            return None
        exprs = []
        for f in _view_fields(columns):
            if f.name in self.fixed():
                expr = quote_literal(self.fixed()[f.name])
            elif f.name in self.schema.names:
                expr = quote_identifier(f.name)
            else:
                expr = "NULL"
            exprs.append(f"CAST({expr} AS {duckdb_type(f.type)}) AS {quote_identifier(f.name)}")
        return f"SELECT {', '.join(exprs)} FROM ({glob_select(pattern)})"

    def read_rows(self, path: Path, columns: list[str]) -> pa.Table:
        """`columns` of one of this source's files as a SAMPLES_VIEW-typed Arrow table, mapped by the rule."""
        present = set(pq.read_schema(path).names)
        table = pq.read_table(path, columns=[c for c in columns if c in present and c not in self.fixed()])
        arrays = []
        for f in _view_fields(columns):
            if f.name in self.fixed():
                arrays.append(pa.array([self.fixed()[f.name]] * table.num_rows, f.type))
            elif f.name in table.column_names:
                arrays.append(table.column(f.name).cast(f.type))
            else:
                arrays.append(pa.nulls(table.num_rows, f.type))
        return pa.Table.from_arrays(arrays, schema=pa.schema(_view_fields(columns)))


def _view_fields(columns: list[str] | None) -> list[pa.Field]:
    if columns is None:
        return list(SAMPLES_VIEW)
    unknown = [c for c in columns if c not in SAMPLES_VIEW.names]
    if unknown:
        raise KeyError(f"not columns of the samples view: {', '.join(unknown)}")
    return [SAMPLES_VIEW.field(c) for c in columns]


SOURCES = (
    SampleSource("crawled", "shards", SAMPLES, unit_prefix=""),
    SampleSource("clip", "clips", CLIPS, unit_prefix="clips-", constants={"media_type": "video"}),
)


def committed_units(ws: Workspace) -> list[str]:
    """Every committed unit of every source, sorted within a source, sources in SOURCES order."""
    return [unit for source in SOURCES for unit in source.committed_units(ws)]


def unit_source(unit: str) -> tuple[SampleSource, str]:
    """The source and shard name of a unit name ('clips-00012' -> (clip source, '00012'))."""
    for source in sorted(SOURCES, key=lambda s: -len(s.unit_prefix)):
        if unit.startswith(source.unit_prefix):
            return source, unit[len(source.unit_prefix):]
    raise KeyError(unit)


def unit_version(root: Path, unit: str) -> int:
    """The version of a unit's committed Parquet (curation.shard_versions; a crawl retry makes new ones)."""
    source, shard = unit_source(unit)
    return parquet_version(Path(root) / source.folder / f"{shard}.parquet")


def unit_rows(root: Path, unit: str, columns: list[str]) -> pa.Table:
    """`columns` of one unit's samples (SAMPLES_VIEW types), in table order."""
    source, shard = unit_source(unit)
    return source.read_rows(Path(root) / source.folder / f"{shard}.parquet", columns)
