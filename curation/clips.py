"""The clips stage as a local batch job: every video of every committed shard → clips, keyframes, motion scores.

`make_clips(workspace, ClipsConfig()) -> ClipsReport`. The unit of resumption is the shard: a shard whose
`clips/NNNNN.done` exists for the crawl shard's current version is skipped; anything else is (re)done from
scratch and committed atomically. A crawl retry commits new shard versions (curation.shard_versions): their
clips are made again into `clips/NNNNN.rK.tar`, the clips Parquet (which records K) replaced last but the
marker, so a reader sees the old clips or the new, never a mix.

Storage, for crawl shard NNNNN (only its successful `media_type = 'video'` samples are read):
    clips/NNNNN.tar             WebDataset tar, one key per stored clip: <clip_id>.mp4, <clip_id>.first.jpg,
                                <clip_id>.middle.jpg, <clip_id>.last.jpg (duplicates dropped for clips under
                                three frames), <clip_id>.txt (caption), <clip_id>.json (its clips row)
    clips/NNNNN.parquet         one CLIPS row per planned clip: stored ones (status 'success', media_offset /
                                media_size of the mp4 and keyframe_offsets / keyframe_sizes of the JPEGs in the
                                tar) and dropped ones (status too_short / too_long / cut_error, with `error`)
    scores/motion/NNNNN.parquet one motion row per video (whole-video motion, or the video's failure reason
                                in `error`: empty_file, not_a_video, truncated, audio_only, no_video_stream,
                                too_large, decode_error, no_frames, internal_error) and one per stored clip
    clips/NNNNN.done            commit marker, written last: counts per status and reason, each failed
                                video's reason and message, and the crawl shard's version (source_version)
Clip rows carry the SAMPLES columns every stage reads (url with a media fragment, caption, media_type 'video',
status, size, media location), so the catalog's `samples` view lists clips beside crawled samples, with
kind 'clip' and the parent video in parent_id (curation.sample_sources).
"""
import io
import json
import os
import tarfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq

from curation.atomic import write_json, write_parquet
from curation.shard_versions import VERSION_KEY, shard_version
from curation.video.decode import FileWindow
from curation.video.config import ClipsConfig
from curation.video.process import VideoProcessor, VideoResult
from curation.workspace import Workspace
from schemas import CLIPS, conform, score_schema

__all__ = ["ClipsConfig", "ClipsReport", "make_clips", "pending_shards", "video_rows", "process_row",
           "write_clip_shard", "clips_done"]


@dataclass
class ClipsReport:
    """What a run did: shards done and skipped, videos and clips by outcome, wall time."""

    shards_done: list[str] = field(default_factory=list)
    shards_skipped: list[str] = field(default_factory=list)
    videos: int = 0
    video_errors: Counter = field(default_factory=Counter)
    clips: Counter = field(default_factory=Counter)
    model_id: str | None = None
    seconds: float = 0.0

    def add(self, stats: dict) -> None:
        """Fold one shard's marker stats into the report."""
        self.shards_done.append(stats["shard"])
        self.videos += stats["videos"]
        self.video_errors.update(stats["video_errors"])
        self.clips.update(stats["clips"])


def pending_shards(ws: Workspace) -> tuple[dict[str, int], list[str]]:
    """(crawl shards without clips of their current version yet → that version, shards already done), sorted;
    only committed crawl shards count."""
    crawled = sorted(p.stem for p in ws.path("shards").glob("*.done") if not p.name.startswith("."))
    versions = {s: shard_version(ws.path("shards"), s) for s in crawled}
    done = [s for s in crawled if clips_done(ws.root, s, versions[s])]
    return {s: v for s, v in versions.items() if s not in done}, done


def clips_done(ws_root: Path, shard: str, version: int) -> bool:
    """True when the clips of version `version` of crawl shard `shard` are committed."""
    marker = Path(ws_root) / "clips" / f"{shard}.done"
    return marker.is_file() and json.loads(marker.read_text()).get("source_version", 0) == version


def video_rows(ws: Workspace, shard: str) -> list[dict]:
    """The shard's successfully crawled video samples (sample_id, url, caption, shard, media location)."""
    table = pq.read_table(ws.path("shards", f"{shard}.parquet"),
                          columns=["sample_id", "url", "caption", "media_type", "status", "shard", "media_path",
                                   "media_offset", "media_size"])
    return [r for r in table.to_pylist() if r["media_type"] == "video" and r["status"] == "success"]


def process_row(processor: VideoProcessor, ws_root: Path, row: dict) -> VideoResult:
    """Process one video sample, reading its bytes straight from the shard tar (never loaded whole)."""
    window = FileWindow(Path(ws_root) / row["media_path"], row["media_offset"], row["media_size"])
    with window:
        return processor.process(row, window)


def make_clips(workspace: Workspace | Path, config: ClipsConfig = ClipsConfig(),
               progress: Callable[[str, int, int], None] | None = None) -> ClipsReport:
    """Run the clips stage over every pending shard; `progress(shard, videos_done, videos)` after each video."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    started = time.perf_counter()
    processor = VideoProcessor(config)
    processor.load()
    pending, done = pending_shards(ws)
    report = ClipsReport(shards_skipped=done, model_id=processor.model_id)
    for shard, version in pending.items():
        rows = video_rows(ws, shard)
        results = []
        for i, row in enumerate(rows):
            results.append(process_row(processor, ws.root, row))
            if progress:
                progress(shard, i + 1, len(rows))
        report.add(write_clip_shard(ws.root, shard, results, version))
    report.seconds = time.perf_counter() - started
    return report


class _TarWriter:
    """Append members to a tar under a temporary name; `commit()` renames it into place."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
        self.tar = tarfile.open(self.tmp, mode="w", format=tarfile.PAX_FORMAT)

    def add(self, name: str, data: bytes) -> int:
        """Add a member; return the byte offset of its data."""
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        self.tar.addfile(info, io.BytesIO(data))
        return self.tar.offset - -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE

    def commit(self) -> None:
        self.tar.close()
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)


def write_clip_shard(ws_root: Path, shard: str, results: list[VideoResult], source_version: int = 0) -> dict:
    """Commit the clips of version `source_version` of a crawl shard: tar, motion Parquet, clips Parquet and
    marker (in that order); return the stats."""
    root = Path(ws_root)
    media_path = f"clips/{shard}.tar" if source_version == 0 else f"clips/{shard}.r{source_version}.tar"
    results = sorted(results, key=lambda r: r.parent_id)
    writer = _TarWriter(root / media_path)
    clip_rows, motion_rows = [], []
    try:
        for result in results:
            motion_rows += result.motion_rows
            for row in sorted(result.clip_rows, key=lambda r: r["start_frame"]):
                clip_rows.append(_store(writer, media_path, row, result.media.get(row["sample_id"])))
        writer.commit()
    finally:
        Path(writer.tmp).unlink(missing_ok=True)
    write_parquet(_table(motion_rows, score_schema("motion"), f"motion scores {shard}"),
                  root / "scores" / "motion" / f"{shard}.parquet")
    clips = _table(clip_rows, CLIPS, f"clips {shard}")
    clips = clips.replace_schema_metadata({**(clips.schema.metadata or {}), VERSION_KEY: str(source_version).encode()})
    write_parquet(clips, root / "clips" / f"{shard}.parquet")
    stats = {
        "shard": shard,
        "videos": len(results),
        "video_errors": dict(Counter(r.error for r in results if r.error)),
        "clips": dict(Counter(row["status"] for row in clip_rows)),
        "failed_videos": [{"sample_id": r.parent_id, "reason": r.error, "message": r.message}
                          for r in results if r.error],
        "seconds": round(sum(r.seconds for r in results), 3),
        "source_version": source_version,
    }
    write_json(stats, root / "clips" / f"{shard}.done")
    return stats


def _store(writer: _TarWriter, media_path: str, row: dict, files: list[tuple[str, bytes]] | None) -> dict:
    """Write a stored clip's files into the tar and fill in its media columns."""
    if not files:
        return row
    key = row["sample_id"]
    offsets, sizes = [], []
    for ext, data in files:
        offset = writer.add(f"{key}.{ext}", data)
        if ext == "mp4":
            row = dict(row, media_path=media_path, media_offset=offset, media_size=len(data))
        else:
            offsets.append(offset)
            sizes.append(len(data))
    row = dict(row, keyframe_offsets=offsets, keyframe_sizes=sizes)
    writer.add(f"{key}.txt", (row.get("caption") or "").encode("utf-8"))
    writer.add(f"{key}.json", json.dumps(row, sort_keys=True, default=str).encode("utf-8"))
    return row


def _table(rows: list[dict], schema: pa.Schema, name: str) -> pa.Table:
    columns = {f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema}
    return conform(pa.table(columns), schema, name)
