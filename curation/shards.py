"""Shards: the unit of crawling, scoring and resumption.

A shard `NNNNN` is three files in `shards/`:
    NNNNN.tar       WebDataset tar: <sample_id>.<ext> (media), <sample_id>.txt (caption), <sample_id>.json
    NNNNN.parquet   one SAMPLES row per input pair, successes and failures alike, with the byte offset and size
                    of each media member so any sample can be read without scanning the tar
    NNNNN.done      commit marker (JSON stats), written last
Each file is written under a temporary name and renamed; the marker makes a shard complete.

A committed shard may get new versions (a crawl's retry round K re-fetches its transient failures,
`curation.shard_versions`): version K adds `NNNNN.rK.tar` with only the media it fetched and replaces
`NNNNN.parquet` whole, its rows pointing into the tars of every version. Tars are never changed once written.
"""
import io
import json
import os
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curation.atomic import write_json, write_parquet
from schemas import SAMPLES, conform

SHARD_DIGITS = 5


def shard_name(index: int) -> str:
    """Zero-padded shard name, e.g. 12 -> '00012'."""
    return f"{index:0{SHARD_DIGITS}d}"


def shard_media_path(shard: str, version: int = 0) -> str:
    """Workspace-relative path of the tar of a shard's `version`: 'shards/00012.tar', 'shards/00012.r2.tar'."""
    return f"shards/{shard}.tar" if version == 0 else f"shards/{shard}.r{version}.tar"


def is_shard_done(shards_dir: Path, shard: str) -> bool:
    """True when the shard committed (its marker exists)."""
    return (Path(shards_dir) / f"{shard}.done").is_file()


@dataclass
class ShardWriter:
    """Collect one shard's samples, then `commit()` the tar, the Parquet and the marker atomically.

    `workspace_root` is the workspace folder; media paths in the Parquet are relative to it. `version` 0 writes
    the shard's own tar; version K > 0 a tar of its own for the media a new version adds (`shard_versions`).
    """

    workspace_root: Path
    shard: str
    rows: list[dict] = field(default_factory=list)
    version: int = 0

    def __post_init__(self):
        self._final_tar = Path(self.workspace_root) / self.media_path
        self._final_tar.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_tar = self._final_tar.with_name(f".{self._final_tar.name}.tmp-{uuid.uuid4().hex[:12]}")
        self._tar = tarfile.open(self._tmp_tar, mode="w", format=tarfile.PAX_FORMAT)

    @property
    def media_path(self) -> str:
        return shard_media_path(self.shard, self.version)

    def add(self, row: dict, media: bytes | None = None, ext: str | None = None) -> None:
        """Add one sample row (SAMPLES columns; `shard`/`media_*` are filled here) and its media bytes."""
        row = dict(row, shard=self.shard, media_path=None, media_offset=None, media_size=None)
        key = row["sample_id"]
        if media is not None:
            if not ext:
                raise ValueError(f"sample {key}: media given without a file extension")
            offset = self._add_member(f"{key}.{ext}", media)
            row.update(media_path=self.media_path, media_offset=offset, media_size=len(media))
            self._add_member(f"{key}.txt", (row.get("caption") or "").encode("utf-8"))
            meta = {k: v for k, v in row.items() if k not in ("media_path", "media_offset", "media_size")}
            self._add_member(f"{key}.json", json.dumps(meta, sort_keys=True, default=str).encode("utf-8"))
        self.rows.append(row)

    def add_sharing(self, row: dict, media_of: dict) -> None:
        """Add a sample row whose media is that of `media_of`, a row added before: the tar holds the bytes once."""
        media = {k: media_of[k] for k in ("media_path", "media_offset", "media_size")}
        self.rows.append(dict(row, shard=self.shard, **media))

    def _add_member(self, name: str, data: bytes) -> int:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mtime = 0
        info.mode = 0o644
        self._tar.addfile(info, io.BytesIO(data))
        padded = -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        return self._tar.offset - padded

    def table(self) -> pa.Table:
        """The shard's metadata as a SAMPLES table, in the order samples were added."""
        columns = {f.name: [r.get(f.name) for r in self.rows] for f in SAMPLES}
        return conform(pa.table({n: pa.array(v, type=SAMPLES.field(n).type) for n, v in columns.items()}), SAMPLES,
                       f"shard {self.shard}")

    def commit(self, stats: dict | None = None) -> Path:
        """Write tar, Parquet, then the marker; return the Parquet path."""
        root = Path(self.workspace_root)
        table = self.table()
        self.install_media()
        parquet = write_parquet(table, root / "shards" / f"{self.shard}.parquet")
        write_json(dict(stats or {}, shard=self.shard, rows=len(self.rows)), root / "shards" / f"{self.shard}.done")
        return parquet

    def install_media(self) -> None:
        """Close the tar, fsync it and rename it to `media_path` (readers find it only through a Parquet row)."""
        self._tar.close()
        with open(self._tmp_tar, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self._tmp_tar, self._final_tar)

    def abort(self) -> None:
        """Drop the uncommitted shard's temporary tar."""
        self._tar.close()
        self._tmp_tar.unlink(missing_ok=True)


def read_media(workspace_root: Path, media_path: str, offset: int, size: int) -> bytes:
    """Read one sample's media bytes from its shard tar by offset."""
    with open(Path(workspace_root) / media_path, "rb") as fh:
        fh.seek(offset)
        data = fh.read(size)
    if len(data) != size:
        raise IOError(f"{media_path}: expected {size} bytes at offset {offset}, got {len(data)} (truncated shard?)")
    return data


def read_shard(workspace_root: Path, shard: str) -> pa.Table:
    """The SAMPLES table of one committed shard."""
    return pq.read_table(Path(workspace_root) / "shards" / f"{shard}.parquet")
