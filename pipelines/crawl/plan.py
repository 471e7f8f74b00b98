"""The crawl plan: the list read once, streaming, into one Parquet file of candidates per shard.

Pass 1 reads the inputs part by part in Arrow batches (`inputs.read_batches`), turns them into candidates
(`batches.candidate_batch`: the same normalisation and sample ids as `records.to_candidate`) and appends each
row to one of B spill buckets by the top bits of its URL hash (zstd Arrow IPC streams in `shards/plan/.spill`).
With W > 1 workers (one per core) the parts are dealt to W forked processes, each reading only its own parts
(Parquet row groups, text byte ranges) into its own bucket files; they die with the driver.
The rows are counted on the way, so the shard count n = ceil(rows / shard_size) is known when the pass ends,
without a counting scan. Pass 2 reads one bucket at a time, gives each row its shard (`shard_of` of the URL hash:
every row of one URL meets in one shard, as before) and writes each shard's candidates, in input order, to
`shards/plan/NNNNN.parquet` atomically; a shard that straddles two buckets is carried into the next one. Peak
memory is one input batch per worker, then one bucket (about BUCKET_ROWS rows, up to MAX_BUCKETS x BUCKET_ROWS =
128M rows; beyond that buckets grow with the list: 2M rows each at 10^9) and one carried shard.

`plan/manifest.json`, written last, records the shard count and every non-empty shard's row count: a plan with
a manifest is complete and is read as it is by every resume (the list is never read again); without one (a
planning that was killed) the folder is emptied and the list planned again, which gives the same plan.
"""
import json
import math
import multiprocessing
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from curation.atomic import write_json, write_parquet
from curation.shards import shard_name
from pipelines.crawl.batches import HASH_FIELD, PLAN_SCHEMA, candidate_batch
from pipelines.crawl.inputs import Columns, InputPart, read_batches
from pipelines.crawl.orphans import exit_with_parent
from pipelines.crawl.records import Candidate, shard_count

PLAN_FOLDER = "plan"
MANIFEST = "manifest.json"
BUCKET_ROWS = 250_000  # rows per spill bucket, about (so one bucket is tens of MB in memory)
MAX_BUCKETS = 512  # each worker keeps one file open per bucket
BYTES_PER_ROW_GUESS = 32  # to size the buckets from the list's bytes (more buckets than needed is harmless)
_SPILL_SCHEMA = PLAN_SCHEMA.append(HASH_FIELD)
_IPC = ipc.IpcWriteOptions(compression="zstd")
_FORK = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")


def plan_folder(shards_dir: Path) -> Path:
    return Path(shards_dir) / PLAN_FOLDER


def load_or_make_plan(shards_dir: Path, parts: list[InputPart], columns: Columns, shard_size: int,
                      video_extensions: list[str], list_bytes: int, workers: int | None = None) -> dict:
    """The manifest of the workspace's plan, planning the list first (with `workers` processes, default one per
    core) when no complete plan exists."""
    folder = plan_folder(shards_dir)
    manifest = folder / MANIFEST
    if manifest.is_file():
        shutil.rmtree(folder / ".spill", ignore_errors=True)  # left when killed after the manifest was written
        return json.loads(manifest.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    n_buckets = max(1, min(MAX_BUCKETS, math.ceil(list_bytes / BYTES_PER_ROW_GUESS / BUCKET_ROWS)))
    rows = _spill(folder / ".spill", parts, columns, video_extensions, n_buckets, workers or os.cpu_count() or 1)
    n_shards = shard_count(rows, shard_size)
    planned = dict(_write_shards(folder, n_buckets, n_shards))
    plan = {"rows": rows, "shards": n_shards, "buckets": n_buckets, "planned": planned}
    write_json(plan, manifest)
    shutil.rmtree(folder / ".spill")
    return plan


def read_shard_plan(shards_dir: Path, shard: str) -> list[Candidate]:
    """The candidates of one planned shard, in input order."""
    table = pq.read_table(plan_folder(shards_dir) / f"{shard}.parquet")
    return [Candidate((r["file_index"], r["part_index"], r["row_index"]), r["sample_id"], r["url"], r["caption"],
                      r["extra"], r["media_type"], r["status"], r["error"]) for r in table.to_pylist()]


def _bucket(hashes: np.ndarray, n: int) -> np.ndarray:
    """Which of `n` equal ranges of the 32-bit URL hash each row falls in (`records.shard_of`, vectorised)."""
    return (hashes.astype(np.uint64) * np.uint64(n)) >> np.uint64(32)


def _spill(spill: Path, parts: list[InputPart], columns: Columns, video_extensions: list[str], n_buckets: int,
           workers: int) -> int:
    """Pass 1: every row of the list to its bucket files; returns the number of rows."""
    spill.mkdir(parents=True)
    groups = [parts[k::workers] for k in range(min(workers, len(parts)))]
    if len(groups) == 1:
        return _spill_parts(spill, 0, groups[0], columns, video_extensions, n_buckets)
    with ProcessPoolExecutor(len(groups), mp_context=_FORK, initializer=exit_with_parent) as pool:
        counts = pool.map(_spill_parts, [spill] * len(groups), range(len(groups)), groups,
                          [columns] * len(groups), [video_extensions] * len(groups), [n_buckets] * len(groups))
        return sum(counts)


def _spill_parts(spill: Path, worker: int, parts: list[InputPart], columns: Columns, video_extensions: list[str],
                 n_buckets: int) -> int:
    """One worker's parts to its own bucket files `.spill/W-BBBBB.arrow`; returns their rows."""
    writers: dict[int, ipc.RecordBatchStreamWriter] = {}
    rows = 0
    try:
        for part in parts:
            for batch in read_batches(part, columns):
                table = candidate_batch(batch, video_extensions)
                rows += table.num_rows
                _append(spill / f"{worker}", writers, table, n_buckets)
    finally:
        for writer in writers.values():
            writer.close()
    return rows


def _append(prefix: Path, writers: dict, table: pa.Table, n_buckets: int) -> None:
    buckets = _bucket(table["url_hash"].to_numpy(), n_buckets)
    order = np.argsort(buckets, kind="stable")
    table, buckets = table.take(order), buckets[order]
    starts = np.flatnonzero(np.diff(buckets, prepend=-1))
    for start, end in zip(starts, list(starts[1:]) + [len(buckets)]):
        bucket = int(buckets[start])
        if bucket not in writers:
            writers[bucket] = ipc.new_stream(f"{prefix}-{bucket:05d}.arrow", _SPILL_SCHEMA, options=_IPC)
        writers[bucket].write_table(table.slice(start, end - start))


def _write_shards(folder: Path, n_buckets: int, n_shards: int) -> Iterator[tuple[str, int]]:
    """Pass 2: bucket by bucket, each complete shard to its plan file; yields (shard name, rows)."""
    carry = _SPILL_SCHEMA.empty_table()
    for bucket in range(n_buckets):
        table = pa.concat_tables([carry, _read_bucket(folder / ".spill", bucket)])
        shards = _bucket(table["url_hash"].to_numpy(), n_shards)
        table = table.append_column("shard", pa.array(shards)).sort_by(
            [("shard", "ascending"), ("file_index", "ascending"), ("part_index", "ascending"),
             ("row_index", "ascending")])
        shards = table["shard"].to_numpy()
        next_hash = -(-(bucket + 1) * 2**32 // n_buckets)  # the first hash of the next bucket
        open_shard = (next_hash * n_shards) >> 32 if bucket + 1 < n_buckets else None
        done = len(shards) if open_shard is None else int(np.searchsorted(shards, open_shard))
        starts = np.flatnonzero(np.diff(shards[:done], prepend=-1))
        for start, end in zip(starts, list(starts[1:]) + [done]):
            name = shard_name(int(shards[start]))
            write_parquet(table.slice(start, end - start).select(PLAN_SCHEMA.names), folder / f"{name}.parquet")
            yield name, int(end - start)
        carry = table.slice(done).drop_columns(["shard"])


def _read_bucket(spill: Path, bucket: int) -> pa.Table:
    """One bucket's rows, from every worker's file of it."""
    tables = [_SPILL_SCHEMA.empty_table()]
    for path in sorted(spill.glob(f"*-{bucket:05d}.arrow")):
        with ipc.open_stream(str(path)) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables)
