"""New versions of a committed shard, committed atomically: a reader sees the old version or the new, never both.

The shard's Parquet is what every reader (the catalog's `samples` view, scoring, export) goes through, and its
rows name the tar holding each sample's media, so replacing `NNNNN.parquet` by rename is the commit point.
Committing version K (K > 0, in this order):

    1. `.NNNNN.pending.json`: the version and the marker it will have (hidden, readers skip it);
    2. `NNNNN.rK.tar`, the media the version adds, fsynced and renamed (no Parquet row points into it yet);
    3. `NNNNN.parquet` replaced (the version's number in its metadata): the commit;
    4. `NNNNN.done` replaced with the new marker, then the pending file removed.

Tars of earlier versions are never touched, so a reader still holding the old Parquet reads valid bytes. A process
that dies before step 3 leaves the old version whole; `recover_commits` (run under the crawl lock before any
crawl or retry) then deletes the orphan tar, and after step 3 it finishes step 4 from the pending file.
"""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.atomic import write_json, write_parquet
from curation.shards import ShardWriter, shard_media_path

VERSION_KEY = b"gristmill.shard_version"


def shard_version(shards_dir: Path, shard: str) -> int:
    """The version of a committed shard's Parquet (0: as the crawl wrote it)."""
    return parquet_version(Path(shards_dir) / f"{shard}.parquet")


def parquet_version(path: Path) -> int:
    """The shard version recorded in a shard Parquet's metadata (0 when it has none: a first version)."""
    metadata = pq.read_schema(path).metadata or {}
    return int(metadata.get(VERSION_KEY, b"0"))


def commit_version(writer: ShardWriter, table: pa.Table, marker: dict) -> Path:
    """Commit `table` (every row of the shard) as version `writer.version`, with the media `writer` holds and
    `marker` as the shard's new marker; returns the Parquet path."""
    shards_dir = Path(writer.workspace_root) / "shards"
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), VERSION_KEY: str(writer.version).encode()})
    pending = write_json({"version": writer.version, "marker": marker}, _pending_path(shards_dir, writer.shard))
    writer.install_media()
    parquet = write_parquet(table, shards_dir / f"{writer.shard}.parquet")
    write_json(marker, shards_dir / f"{writer.shard}.done")
    pending.unlink()
    return parquet


def recover_commits(shards_dir: Path) -> list[str]:
    """Finish or undo the commits a dead process left half done; returns the shards it finished."""
    finished = []
    for pending in sorted(Path(shards_dir).glob(".*.pending.json")):
        shard = pending.name[1:].split(".")[0]
        state = json.loads(pending.read_text())
        if shard_version(shards_dir, shard) == state["version"]:
            write_json(state["marker"], Path(shards_dir) / f"{shard}.done")
            finished.append(shard)
        else:
            (Path(shards_dir).parent / shard_media_path(shard, state["version"])).unlink(missing_ok=True)
        pending.unlink()
    return finished


def _pending_path(shards_dir: Path, shard: str) -> Path:
    return Path(shards_dir) / f".{shard}.pending.json"
