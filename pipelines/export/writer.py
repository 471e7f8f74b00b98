"""Write the planned shards of a release, several at once, reusing files an earlier run finished.

Each shard is written by one of `workers` threads ("lanes"); within a lane the next row group's media is
read on a helper thread while this one is written, and every file is hashed on another as it grows. A
finished file is fsynced, renamed to its final name and recorded in the journal by its lane, while the
other lanes keep writing. Shard files do not depend on which lane wrote them or when.
"""
import hashlib
import json
import queue
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from curation import __version__
from pipelines.export.config import ExportConfig, ShardRecord
from pipelines.export.hashing import TailHasher
from curation.atomic import temporary_path
from pipelines.export.journal import FOLDERS, Journal, inside
from pipelines.export.media import MediaReader
from pipelines.export.parquet_writer import LAYOUT_VERSION, ParquetShard
from pipelines.export.plan import ShardPlan
from pipelines.export.schema import MEDIA, media_column
from pipelines.export.webdataset_writer import TarShard

WRITERS = {"parquet": ParquetShard, "webdataset": TarShard}
OnShard = Callable[[ShardRecord, bool], None]


@dataclass
class _Lane:
    """What one shard-writing thread owns: a media reader (with its two buffers) and a prefetch thread."""

    media: MediaReader | None
    prefetch: ThreadPoolExecutor


class ReleaseWriter:
    """Writes planned shards in every format; `write(plan)` queues one, `finish()` waits for all."""

    def __init__(self, workspace_root: Path, config: ExportConfig, schema: pa.Schema, on_shard: OnShard | None):
        self.config, self.schema, self.on_shard = config, schema, on_shard
        self.out = Path(config.out)
        self.journal = Journal(self.out)
        self.lanes: queue.Queue[_Lane] = queue.Queue()
        for i in range(config.workers):
            media = MediaReader(workspace_root) if config.media == "bytes" else None
            self.lanes.put(_Lane(media, ThreadPoolExecutor(1, thread_name_prefix=f"export-media-{i}")))
        self.pool = ThreadPoolExecutor(config.workers, thread_name_prefix="export-shard")
        self.pending: deque[Future] = deque()
        self.shards: list[tuple[ShardRecord, bool]] = []
        self.rows_by_split: dict[str, int] = {}

    def write(self, plan: ShardPlan) -> None:
        """Queue one planned shard; waits while every lane is busy (at most `workers` shards in memory)."""
        self.rows_by_split[plan.split] = self.rows_by_split.get(plan.split, 0) + plan.rows.num_rows
        while len(self.pending) >= self.config.workers:
            self._collect(self.pending.popleft())
        self.pending.append(self.pool.submit(self._shard, plan))

    def finish(self) -> None:
        """Wait for every queued shard."""
        while self.pending:
            self._collect(self.pending.popleft())

    def records(self) -> list[ShardRecord]:
        """Every shard file of the release, sorted by name."""
        return sorted((record for record, _ in self.shards), key=lambda r: r.file)

    def close(self) -> None:
        """Stop the threads (a shard being written finishes or fails first) and close the media readers."""
        self.pool.shutdown(cancel_futures=True)
        while not self.lanes.empty():
            lane = self.lanes.get()
            lane.prefetch.shutdown(cancel_futures=True)
            if lane.media:
                lane.media.close()

    def _collect(self, future: Future) -> None:
        for record, reused in future.result():
            self.shards.append((record, reused))
            if self.on_shard:
                self.on_shard(record, reused)

    def _shard(self, plan: ShardPlan) -> list[tuple[ShardRecord, bool]]:
        """Write (or reuse) every format's file of one planned shard, on a lane."""
        lane = self.lanes.get()
        try:
            rows_digest = plan_digest(plan, self.config.media)
            done, todo = [], {}
            for fmt in self.config.formats:
                file = f"{FOLDERS[fmt]}/{plan.stem()}.{WRITERS[fmt].extension}"
                digest = hashlib.sha256(f"{fmt} {rows_digest}".encode()).hexdigest()
                previous = self.journal.reusable(file, digest)
                if previous:
                    done.append((ShardRecord(**previous), True))
                else:
                    todo[file] = (fmt, digest)
            if todo:
                done += [(record, False) for record in self._write_files(plan, todo, lane)]
            return sorted(done, key=lambda d: d[0].file)
        finally:
            self.lanes.put(lane)

    def _write_files(self, plan: ShardPlan, todo: dict[str, tuple[str, str]], lane: _Lane) -> list[ShardRecord]:
        groups = [plan.rows.slice(start, n) for start, n in plan.row_groups]
        tmps = {file: temporary_path(inside(self.out, file)) for file in todo}
        try:
            with ExitStack() as stack:
                files = []
                for file, (fmt, _) in todo.items():
                    tmps[file].parent.mkdir(parents=True, exist_ok=True)
                    writer = WRITERS[fmt](tmps[file], self.schema)
                    files.append((file, writer, stack.enter_context(TailHasher(tmps[file]))))
                pending = lane.prefetch.submit(self._with_media, lane, groups[0])
                for i in range(len(groups)):
                    rows = pending.result()
                    if i + 1 < len(groups):
                        pending = lane.prefetch.submit(self._with_media, lane, groups[i + 1])
                    for _, writer, _ in files:
                        writer.write(rows)
                records = []
                for file, writer, hasher in files:
                    writer.close()
                    records.append(ShardRecord(file=file, format=todo[file][0], split=plan.split,
                                               rows=plan.rows.num_rows, bytes=tmps[file].stat().st_size,
                                               sha256=hasher.digest()))
            for record in records:
                self.journal.commit(tmps[record.file], record.model_dump(), todo[record.file][1])
        finally:
            for tmp in tmps.values():
                tmp.unlink(missing_ok=True)
        return records

    def _with_media(self, lane: _Lane, rows: pa.Table) -> pa.Table:
        if lane.media is None:
            return rows
        index, field = self.schema.get_field_index(MEDIA), self.schema.field(MEDIA)
        return rows.set_column(index, field, media_column(lane.media.read(rows), field.type))


def plan_digest(plan: ShardPlan, media_mode: str) -> str:
    """Fingerprint of what a shard will contain: its rows (without media), row groups and writer versions."""
    h = hashlib.sha256(json.dumps({
        "media": media_mode, "stem": plan.stem(), "row_groups": plan.row_groups,
        "gristmill": __version__, "pyarrow": pa.__version__, "layout": LAYOUT_VERSION,
    }, sort_keys=True).encode())
    sink = pa.BufferOutputStream()
    pq.write_table(plan.rows, sink, compression="none", use_dictionary=False, write_statistics=False)
    h.update(sink.getvalue())
    return h.hexdigest()
