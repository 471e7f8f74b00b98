"""Export throughput vs a bare pyarrow write of the same table to the same disk.

Builds a workspace of noise JPEGs (incompressible, like real photos; about 275 KB each), all kept, then
alternates, after one warm-up export, `--repeats` rounds of:
- gristmill (warm): `export()` to a fresh folder (DuckDB selection, reading media from the shard tars,
  zstd Parquet shards, sha256 of every file, fsync + rename, manifest) with the shard tars in the page
  cache, as the baseline's table is in memory; MB/s = shard bytes / wall time;
- gristmill (cold): the same with the shard tars evicted from the page cache first (it also reads them
  from disk, which the baseline never does);
- baseline: `pyarrow.parquet.write_table(table, path, compression="zstd")` of the exported rows (media
  included, already in memory) plus one fsync, so both sides put durable bytes on the same disk;
- the same pyarrow write without fsync, for reference.
The best run of each side counts; ratio = gristmill (warm) / baseline. Target: ratio ≥ 0.8.
"""
import argparse
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.atomic import fsync_path, write_parquet  # noqa: E402
from curation.identity import sample_id  # noqa: E402
from curation.shards import ShardWriter, shard_name  # noqa: E402
from curation.workspace import Workspace  # noqa: E402
from pipelines.export import ExportConfig, export  # noqa: E402
from schemas import DECISIONS  # noqa: E402

TARGET = 0.8


def build_workspace(root: Path, n_images: int, per_shard: int = 500) -> Workspace:
    """A workspace of `n_images` distinct noise JPEGs (640x480, quality 90), every one kept."""
    ws = Workspace.init(root)
    rng = np.random.default_rng(0)
    ids = []
    for start in range(0, n_images, per_shard):
        writer = ShardWriter(ws.root, shard_name(start // per_shard))
        for i in range(start, min(start + per_shard, n_images)):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
            url, caption = f"http://bench.test/{i}.jpg", f"noise picture number {i}"
            ids.append(sample_id(url, caption))
            writer.add(dict(sample_id=ids[-1], url=url, caption=caption, media_type="image", status="success",
                            width=640, height=480, mime_type="image/jpeg"), media=buf.getvalue(), ext="jpg")
        writer.commit()
    rows = [dict(sample_id=sid, kept=True, reason=None, reasons=[], source="recipe", recipe_name="bench",
                 recipe_hash="0", versions="{}") for sid in ids]
    write_parquet(pa.Table.from_pylist(rows, schema=DECISIONS), ws.path("decisions", "bench.parquet"))
    ws.path("decisions", "CURRENT").write_text("bench.parquet\n")
    return ws


def _page_cache(ws: Workspace, warm: bool) -> None:
    """Read the workspace's shard tars into the page cache, or evict them from it."""
    for tar in sorted(ws.path("shards").glob("*.tar")):
        with open(tar, "rb") as fh:
            if warm:
                while fh.read(16 * 2**20):
                    pass
            else:
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _export_mb_s(ws: Workspace, out: Path, warm: bool) -> tuple[float, object]:
    os.sync()
    _page_cache(ws, warm)
    started = time.perf_counter()
    result = export(ws, ExportConfig(out=out))
    mb_s = result.bytes / (time.perf_counter() - started) / 1e6
    shutil.rmtree(out)
    return mb_s, result


def _write_mb_s(table: pa.Table, path: Path, durable: bool) -> float:
    os.sync()
    started = time.perf_counter()
    pq.write_table(table, path, compression="zstd")
    if durable:
        fsync_path(path)
    mb_s = path.stat().st_size / (time.perf_counter() - started) / 1e6
    path.unlink()
    return mb_s


def measure(root: Path, n_images: int, repeats: int) -> dict:
    """Alternate the four sides `repeats` times after one warm-up export; keep the best of each."""
    ws = build_workspace(root / "ws", n_images)
    result = export(ws, ExportConfig(out=root / "warm-up"))
    table = pa.concat_tables(pq.read_table(root / "warm-up" / s.file) for s in result.shards)
    shutil.rmtree(root / "warm-up")
    runs: dict[str, list[float]] = {"gristmill": [], "gristmill_cold": [], "baseline": [], "baseline_unsynced": []}
    for i in range(repeats):
        runs["gristmill"].append(_export_mb_s(ws, root / f"release-{i}", warm=True)[0])
        runs["gristmill_cold"].append(_export_mb_s(ws, root / f"release-{i}", warm=False)[0])
        runs["baseline"].append(_write_mb_s(table, root / "baseline.parquet", durable=True))
        runs["baseline_unsynced"].append(_write_mb_s(table, root / "baseline.parquet", durable=False))
    best = {side: max(values) for side, values in runs.items()}
    return {
        "name": "export",
        "measure": f"Parquet export throughput, {result.rows} JPEGs, {result.bytes / 1e6:.0f} MB",
        "gristmill": round(best["gristmill"], 1),
        "baseline": round(best["baseline"], 1),
        "unit": "MB/s",
        "ratio": round(best["gristmill"] / best["baseline"], 3),
        "target": TARGET,
        "higher_is_better": True,
        "gristmill_cold": round(best["gristmill_cold"], 1),
        "ratio_cold": round(best["gristmill_cold"] / best["baseline"], 3),
        "baseline_unsynced": round(best["baseline_unsynced"], 1),
        "ratio_unsynced": round(best["gristmill"] / best["baseline_unsynced"], 3),
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": {side: [round(v, 1) for v in values] for side, values in runs.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4000, help="JPEGs in the workspace (default 4000, ~1.1 GB)")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each side; the best counts (default 5)")
    parser.add_argument("--dir", help="scratch folder on the disk to measure (default: the system temp folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="gristmill-bench-export-") as tmp:
        row = measure(Path(tmp), args.images, args.repeats)
    if args.json:
        print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"export benchmark — {row['machine']}, load average {row['load_average']}",
                  title_justify="left")
    for col in ("side", "MB/s (best)", "runs"):
        table.add_column(col)
    table.add_row("gristmill export (tars in page cache)", str(row["gristmill"]), str(row["runs"]["gristmill"]))
    table.add_row("gristmill export (tars on disk)", str(row["gristmill_cold"]), str(row["runs"]["gristmill_cold"]))
    table.add_row("pyarrow write_table + fsync", str(row["baseline"]), str(row["runs"]["baseline"]))
    table.add_row("pyarrow write_table (page cache)", str(row["baseline_unsynced"]),
                  str(row["runs"]["baseline_unsynced"]))
    Console().print(table)
    print(f"{row['measure']}: ratio {row['ratio']} (target ≥ {TARGET}); tars on disk {row['ratio_cold']}; "
          f"vs the unsynced write {row['ratio_unsynced']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
