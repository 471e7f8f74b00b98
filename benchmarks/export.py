"""Export throughput vs a bare pyarrow write of the same shards to the same disk.

Builds a workspace of `--images` samples (default 12,000: about 3.3 GB, 7 shards), all kept, whose media
are noise JPEGs (incompressible, like real photos; about 275 KB each), `DISTINCT` of them used in turn
(media are stored uncompressed, so repeats cost what distinct images cost; encoding 12,000 would take
minutes), and exports it once as a warm-up, which also gives every shard's rows and row groups. The size
matters: an export has fixed work (the DuckDB selection, manifest, journal, about 0.15-0.2 s here) that
a bare write of in-memory rows has not, and a 1 GB export would mostly measure that; real releases run
to tens of gigabytes. Then it runs
`--repeats` rounds (each starting with the next side in turn) of:
- gristmill (warm): `export()` to a fresh folder (DuckDB selection, reading media from the shard tars,
  zstd Parquet shards, sha256 of every file, fsync + rename, journal, manifest) with the shard tars in the
  page cache, as the baseline's rows are in memory;
- gristmill (cold): the same with the shard tars evicted from the page cache first (it also reads them
  from disk, which the baseline never does);
- baseline: for every shard of the release, `pyarrow.parquet.ParquetWriter` with the export's writer
  options (zstd, same dictionary and statistics settings) writing the shard's rows (media included,
  already in memory) in the same row groups, then an fsync of the file. Before the rounds the baseline's
  files are checked to be byte-identical to the export's shards: both sides put the same bytes on disk;
- the same baseline without fsync, for reference.
The export writes up to `workers` shards at once (its default: cores, at most 4); the baseline writes them one
after another, as a plain pyarrow script would.
Each side reports MB/s (shard bytes / wall time; best run counts) and CPU seconds per GB (process CPU time
of all threads; lowest counts): wall time swings with other load on the machine, CPU time much less.
ratio = gristmill (warm) MB/s / baseline MB/s; target ≥ 0.8. Load averages are printed with the figures.
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
from typing import Callable

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
from pipelines.export.parquet_writer import writer_options  # noqa: E402
from schemas import DECISIONS  # noqa: E402

TARGET = 0.8
DISTINCT = 1000
SIDES = ("gristmill", "gristmill_cold", "baseline", "baseline_unsynced")


def noise_jpegs(n: int, seed: int = 0) -> list[bytes]:
    """n distinct noise JPEGs (640x480, quality 90)."""
    rng = np.random.default_rng(seed)
    jpegs = []
    for _ in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(buf, "JPEG", quality=90)
        jpegs.append(buf.getvalue())
    return jpegs


def build_workspace(root: Path, n_images: int, per_shard: int = 500) -> Workspace:
    """A workspace of `n_images` samples with noise-JPEG media (DISTINCT images in turn), every one kept."""
    ws = Workspace.init(root)
    jpegs = noise_jpegs(min(DISTINCT, n_images))
    ids = []
    for start in range(0, n_images, per_shard):
        writer = ShardWriter(ws.root, shard_name(start // per_shard))
        for i in range(start, min(start + per_shard, n_images)):
            url, caption = f"http://bench.test/{i}.jpg", f"noise picture number {i}"
            ids.append(sample_id(url, caption))
            writer.add(dict(sample_id=ids[-1], url=url, caption=caption, media_type="image", status="success",
                            width=640, height=480, mime_type="image/jpeg"), media=jpegs[i % len(jpegs)], ext="jpg")
        writer.commit()
    rows = [dict(sample_id=sid, kept=True, reason=None, reasons=[], source="recipe", recipe_name="bench",
                 recipe_hash="0", versions="{}") for sid in ids]
    write_parquet(pa.Table.from_pylist(rows, schema=DECISIONS), ws.path("decisions", "bench.parquet"))
    ws.path("decisions", "CURRENT").write_text("bench.parquet\n")
    return ws


def load_shards(release: Path, files: list[str]) -> list[tuple[str, pa.Table, list[int]]]:
    """(file, rows, rows per row group) of each Parquet shard of a release."""
    shards = []
    for file in files:
        parquet = pq.ParquetFile(release / file)
        groups = [parquet.metadata.row_group(i).num_rows for i in range(parquet.metadata.num_row_groups)]
        shards.append((file, parquet.read(), groups))
    return shards


def write_baseline(shards: list[tuple[str, pa.Table, list[int]]], folder: Path, durable: bool) -> int:
    """Write every shard with bare pyarrow (the export's writer options and row groups); its bytes."""
    total = 0
    for file, rows, groups in shards:
        path = folder / file
        path.parent.mkdir(parents=True, exist_ok=True)
        with pq.ParquetWriter(path, rows.schema, **writer_options(rows.schema)) as writer:
            start = 0
            for n in groups:
                writer.write_table(rows.slice(start, n), row_group_size=n)
                start += n
        if durable:
            fsync_path(path)
        total += path.stat().st_size
    return total


def _page_cache(ws: Workspace, warm: bool) -> None:
    """Read the workspace's shard tars into the page cache, or evict them from it."""
    for tar in sorted(ws.path("shards").glob("*.tar")):
        with open(tar, "rb") as fh:
            if warm:
                while fh.read(16 * 2**20):
                    pass
            else:
                os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)


def _timed(prepare: Callable[[], None], run: Callable[[], int], out: Path) -> tuple[float, float]:
    """(MB/s, CPU seconds per GB) of `run`, which writes into `out` and returns the bytes it wrote."""
    os.sync()
    prepare()
    wall, cpu = time.perf_counter(), time.process_time()
    written = run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    shutil.rmtree(out)
    return written / wall / 1e6, cpu / (written / 1e9)


def measure(root: Path, n_images: int, repeats: int) -> dict:
    """Alternate the four sides `repeats` times after one warm-up export; keep the best of each."""
    ws = build_workspace(root / "ws", n_images)
    load_before = os.getloadavg()
    warm_up = export(ws, ExportConfig(out=root / "warm-up"))
    shards = load_shards(root / "warm-up", [s.file for s in warm_up.shards])
    write_baseline(shards, root / "check", durable=False)
    for file, _, _ in shards:
        if (root / "check" / file).read_bytes() != (root / "warm-up" / file).read_bytes():
            raise SystemExit(f"the baseline's {file} differs from the export's: the comparison would not be fair")
    shutil.rmtree(root / "check")
    shutil.rmtree(root / "warm-up")

    out = root / "out"
    sides = {  # side: (untimed preparation, timed run returning the bytes written)
        "gristmill": (lambda: _page_cache(ws, warm=True), lambda: export(ws, ExportConfig(out=out)).bytes),
        "gristmill_cold": (lambda: _page_cache(ws, warm=False), lambda: export(ws, ExportConfig(out=out)).bytes),
        "baseline": (lambda: None, lambda: write_baseline(shards, out, durable=True)),
        "baseline_unsynced": (lambda: None, lambda: write_baseline(shards, out, durable=False)),
    }
    runs: dict[str, list[tuple[float, float]]] = {side: [] for side in SIDES}
    for r in range(repeats):  # each round starts with another side: a disk that slows down over the
        order = list(sides)    # rounds (burst credits, writeback) weighs on every side alike
        for side in order[r % len(order):] + order[:r % len(order)]:
            prepare, run = sides[side]
            runs[side].append(_timed(prepare, run, out))
    mb_s = {side: max(r[0] for r in values) for side, values in runs.items()}
    cpu = {side: min(r[1] for r in values) for side, values in runs.items()}
    return {
        "name": "export",
        "measure": f"Parquet export throughput, {warm_up.rows} JPEGs, {warm_up.bytes / 1e6:.0f} MB, "
                   f"{len(shards)} shards",
        "gristmill": round(mb_s["gristmill"], 1),
        "baseline": round(mb_s["baseline"], 1),
        "unit": "MB/s",
        "ratio": round(mb_s["gristmill"] / mb_s["baseline"], 3),
        "target": TARGET,
        "higher_is_better": True,
        "gristmill_cold": round(mb_s["gristmill_cold"], 1),
        "ratio_cold": round(mb_s["gristmill_cold"] / mb_s["baseline"], 3),
        "baseline_unsynced": round(mb_s["baseline_unsynced"], 1),
        "cpu_s_per_gb": {side: round(value, 3) for side, value in cpu.items()},
        "cpu_ratio": round(cpu["baseline"] / cpu["gristmill"], 3),
        "machine": f"{platform.node()}, {os.cpu_count()} cores",
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
        "runs_mb_s": {side: [round(r[0], 1) for r in values] for side, values in runs.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12_000,
                        help="samples in the workspace (default 12,000, ~3.3 GB)")
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

    table = Table(title=f"export benchmark — {row['machine']}, load average before {row['load_average']['before']}, "
                        f"after {row['load_average']['after']}", title_justify="left")
    for col in ("side", "MB/s (best)", "CPU s/GB (lowest)", "runs, MB/s"):
        table.add_column(col)
    labels = {"gristmill": "gristmill export (tars in page cache)", "gristmill_cold": "gristmill export (tars on disk)",
              "baseline": "pyarrow ParquetWriter + fsync", "baseline_unsynced": "pyarrow ParquetWriter, no fsync"}
    best = {"gristmill": row["gristmill"], "gristmill_cold": row["gristmill_cold"], "baseline": row["baseline"],
            "baseline_unsynced": row["baseline_unsynced"]}
    for side in SIDES:
        table.add_row(labels[side], str(best[side]), str(row["cpu_s_per_gb"][side]), str(row["runs_mb_s"][side]))
    Console().print(table)
    print(f"{row['measure']}: gristmill {row['gristmill']} MB/s, baseline {row['baseline']} MB/s, "
          f"ratio {row['ratio']} (target ≥ {TARGET}); tars on disk {row['ratio_cold']}; "
          f"CPU time ratio (baseline / gristmill) {row['cpu_ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
