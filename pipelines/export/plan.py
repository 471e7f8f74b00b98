"""Cut the sorted selection into shards and row groups, by accumulated bytes, per split.

A shard (or row group) closes with the row that brings it to its target size, so the cut depends only on
the rows, never on how the query batched them: the same selection always gives the same plan.
"""
from dataclasses import dataclass, field
from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.errors import GristmillError
from pipelines.export import split as splits_mod
from pipelines.export.schema import MEDIA
from pipelines.export.select import PLAN_BYTES
from schemas import validate

SHARD_DIGITS = 5


@dataclass
class ShardPlan:
    """One shard to write: its split and index, its rows (without media) and its row groups."""

    split: str
    index: int
    rows: pa.Table
    row_groups: list[tuple[int, int]]
    """(first row, number of rows) of each row group."""

    def stem(self) -> str:
        """File name without extension, e.g. 'train-00003'."""
        return f"{self.split}-{self.index:0{SHARD_DIGITS}d}"


@dataclass
class _Open:
    batches: list[pa.RecordBatch] = field(default_factory=list)
    sizes: list[np.ndarray] = field(default_factory=list)
    bytes: int = 0
    index: int = 0


def _cut(sizes: np.ndarray, target: int, filled: int) -> int:
    """How many of `sizes` fit before the unit (already holding `filled` bytes) reaches `target`; len if never."""
    return int(np.searchsorted(np.cumsum(sizes), target - filled, side="left")) + 1


def row_groups(sizes: np.ndarray, max_bytes: int, max_rows: int) -> list[tuple[int, int]]:
    """Split rows of the given byte sizes into groups of at most max_rows, closing at max_bytes."""
    groups, start = [], 0
    while start < len(sizes):
        n = min(_cut(sizes[start:], max_bytes, 0), max_rows, len(sizes) - start)
        groups.append((start, n))
        start += n
    return groups


def plan_shards(
    batches: Iterable[pa.RecordBatch],
    schema: pa.Schema,
    splits: dict[str, float],
    shard_bytes: int,
    group_bytes: int,
    group_rows: int,
) -> Iterator[ShardPlan]:
    """Shards of the selection (record batches sorted by sample_id) as they fill up, then the partial last ones."""
    open_: dict[str, _Open] = {}
    last_id = None

    def close(name: str) -> ShardPlan:
        unit = open_[name]
        table = pa.Table.from_batches(unit.batches).combine_chunks()
        validate(table, schema, f"shard {name}-{unit.index}")
        sizes = np.concatenate(unit.sizes)
        plan = ShardPlan(name, unit.index, table, row_groups(sizes, group_bytes, group_rows))
        open_[name] = _Open(index=unit.index + 1)
        return plan

    for batch in batches:
        if not batch.num_rows:
            continue
        ids = batch.column("sample_id")
        last_id = _check_sorted(ids, last_id)
        names = splits_mod.assign(ids.to_pylist(), splits)
        batch = _finish(batch, names, schema)
        sizes = np.asarray(batch.column(PLAN_BYTES).to_numpy(zero_copy_only=False), dtype=np.int64)
        batch = batch.drop_columns([PLAN_BYTES])
        name_arr = np.array(names)
        for name in sorted(set(names)):
            mask = name_arr == name
            part, part_sizes = (batch, sizes) if mask.all() else (batch.filter(pa.array(mask)), sizes[mask])
            unit = open_.setdefault(name, _Open())
            while part.num_rows:
                n = min(_cut(part_sizes, shard_bytes, unit.bytes), part.num_rows)
                unit.batches.append(part.slice(0, n))
                unit.sizes.append(part_sizes[:n])
                unit.bytes += int(part_sizes[:n].sum())
                part, part_sizes = part.slice(n), part_sizes[n:]
                if unit.bytes >= shard_bytes:
                    yield close(name)
                    unit = open_[name]
    for name in sorted(open_):
        if open_[name].batches:
            yield close(name)


def _check_sorted(ids: pa.Array, last_id: str | None) -> str:
    """Raise unless the ids ascend strictly (after `last_id`, the previous batch's last); return the last id."""
    seq = pa.concat_arrays([pa.array([last_id], pa.string()), ids.cast(pa.string())]) if last_id is not None else ids
    ascending = pc.less(seq.slice(0, len(seq) - 1), seq.slice(1))
    if not pc.all(ascending).as_py():
        bad = seq[int(pc.index(ascending, False).as_py()) + 1].as_py()
        raise GristmillError(f"sample {bad} appears twice in the selection (duplicate rows in the catalog?)")
    return ids[-1].as_py()


def _finish(batch: pa.RecordBatch, names: list[str], schema: pa.Schema) -> pa.RecordBatch:
    """Fill the split column, type the (still empty) media column and cast the batch to the release schema
    (plus the planning column)."""
    columns = {f.name: batch.column(f.name) for f in batch.schema}
    columns["split"] = pa.array(names, pa.string())
    columns[MEDIA] = pa.nulls(batch.num_rows, schema.field(MEDIA).type)
    arrays = [columns[f.name].cast(f.type) for f in schema] + [columns[PLAN_BYTES]]
    return pa.RecordBatch.from_arrays(arrays, schema=schema.append(pa.field(PLAN_BYTES, pa.int64())))
