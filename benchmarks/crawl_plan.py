"""Crawl planning at scale: a generated LAION-style Parquet list planned by `crawl()`, and a resume of its plan.

The list has `--rows` rows (default 10M; `--rows 100000000` for the big run) of url, caption and three carried
columns (width, height, similarity), written 1M rows at a time; 2% of the URLs repeat with another caption, 3%
have an upper-case host and 5% of the captions need ftfy (non-ASCII or an HTML entity), so both paths of
`batches.candidate_batch` run. Each measure runs in its own fresh process:

1. Plan. gristmill: `crawl()` on a new workspace, from the call until the first shard's plan is read for
   downloading (the process then exits: nothing is downloaded). Baseline: a bare pyarrow scan of the same file
   and columns (every batch read, the lengths of url and caption summed); a bare DuckDB scan is printed too.
   Targets: ratio (gristmill / pyarrow scan) <= 2.0, peak RSS < 2 GB of the driver and of each planning worker
   process (one per core; forked, so the pages they share with the driver are counted in both).
2. Resume. 90% of the planned shards marked committed; `crawl()` again, from the call until the first shard's
   plan is read. Target: < 5 s.

The generated list, the workspace and its plan live in one temporary folder that is deleted at the end.
"""
import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PLAN_RATIO = 2.0
PLAN_RSS_MB = 2_000.0
RESUME_LIMIT_S = 5.0
CHUNK_ROWS = 1_000_000
SHARD_SIZE = 10_000
FIRST_SHARD_FILE = "first-shard.json"
FANCY = "Caf\u00e9 &amp; "  # a caption prefix only ftfy and html.unescape repair


def write_list(path: Path, rows: int, seed: int = 0) -> None:
    """`rows` LAION-style rows, 1M at a time (one row group each)."""
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, pa.schema([("url", pa.string()), ("caption", pa.string()), ("width", pa.int32()),
                                           ("height", pa.int32()), ("similarity", pa.float32())])) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            ids = np.arange(start, start + n)
            url_ids = np.where(rng.random(n) < 0.02, rng.integers(0, start + n, n), ids)
            hosts = rng.integers(0, 50_000, n)
            upper = rng.random(n) < 0.03
            urls = [f"https://{'CDN' if up else 'cdn'}{h % 7}.site{h}.example.com/images/{u % 997:03d}/{u}.jpg?w=640"
                    for u, h, up in zip(url_ids.tolist(), hosts.tolist(), upper.tolist())]
            fancy = rng.random(n) < 0.05
            captions = [f"{FANCY if f else ''}A photo of item {i} on a  wooden table, size {i % 91}"
                        for i, f in zip(ids.tolist(), fancy.tolist())]
            writer.write_table(pa.table({
                "url": urls, "caption": captions, "width": rng.integers(64, 4096, n, dtype=np.int32),
                "height": rng.integers(64, 4096, n, dtype=np.int32),
                "similarity": rng.random(n, dtype=np.float32)}))


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory so far of this process (or of its largest finished child process), MB."""
    return resource.getrusage(who).ru_maxrss / 1024


def in_child(target, *args):
    """Run `target(*args)` in a fresh process; (its result, its peak RSS in MB)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (target, *args))


def _measure(target, *args):
    return target(*args), peak_rss_mb()


def pyarrow_scan(path: str) -> float:
    t0 = time.perf_counter()
    total = 0
    for batch in pq.ParquetFile(path).iter_batches(65536, use_threads=False):
        total += pc.sum(pc.utf8_length(batch.column("url"))).as_py() + pc.sum(
            pc.utf8_length(batch.column("caption"))).as_py()
    return time.perf_counter() - t0


def duckdb_scan(path: str) -> float:
    import duckdb

    t0 = time.perf_counter()
    duckdb.connect().execute(f"SELECT sum(length(url)), sum(length(caption)), sum(width), sum(height), "
                             f"sum(similarity) FROM read_parquet('{path}')").fetchall()
    return time.perf_counter() - t0


def crawl_until_first_shard(workspace: str, url_list: str) -> float:
    """Seconds from calling crawl() until it reads the first shard's plan to download it; then exit the process."""
    from pipelines.crawl import CrawlConfig, crawl, pipeline

    t0 = time.perf_counter()
    read_plan = pipeline.read_shard_plan

    def first_shard(shards_dir, shard):
        read_plan(shards_dir, shard)
        seconds = time.perf_counter() - t0
        Path(workspace, FIRST_SHARD_FILE).write_text(json.dumps(
            {"seconds": seconds, "rss_mb": peak_rss_mb(), "worker_rss_mb": peak_rss_mb(resource.RUSAGE_CHILDREN)}))
        os._exit(0)

    pipeline.read_shard_plan = first_shard
    crawl(workspace, CrawlConfig(urls=url_list, shard_size=SHARD_SIZE, progress=False))
    raise RuntimeError("crawl() ended without reading a shard's plan")


def first_shard_seconds(workspace: Path, url_list: Path) -> dict:
    """Run crawl_until_first_shard in a fresh interpreter (it exits from inside the pipeline)."""
    import subprocess

    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r}); "
            f"from benchmarks.crawl_plan import crawl_until_first_shard; "
            f"crawl_until_first_shard({str(workspace)!r}, {str(url_list)!r})")
    subprocess.run([sys.executable, "-c", code], check=True)
    return json.loads((workspace / FIRST_SHARD_FILE).read_text())


def mark_committed(workspace: Path, fraction: float) -> int:
    """Write a committed marker for `fraction` of the planned shards; returns how many stay to crawl."""
    manifest = json.loads((workspace / "shards" / "plan" / "manifest.json").read_text())
    names = sorted(manifest["planned"])
    done = names[: int(len(names) * fraction)]
    marker = {"status_counts": {"success": 1}, "successes_by_type": {"image": 1}, "total": 1, "done": 1,
              "input_rows": 1, "bytes_downloaded": 0}
    for name in done:
        (workspace / "shards" / f"{name}.done").write_text(json.dumps(dict(marker, shard=name)))
    return len(names) - len(done)


def run(rows: int, keep: Path | None) -> list[dict]:
    root = Path(tempfile.mkdtemp(prefix="gristmill-crawl-plan-", dir=keep))
    try:
        url_list = root / "list.parquet"
        t0 = time.perf_counter()
        write_list(url_list, rows)
        generate_s = time.perf_counter() - t0
        scan_s, scan_rss = in_child(pyarrow_scan, str(url_list))
        duck_s, _ = in_child(duckdb_scan, str(url_list))
        ws = root / "ws"
        planned = first_shard_seconds(ws, url_list)
        plan_bytes = sum(p.stat().st_size for p in (ws / "shards" / "plan").glob("*.parquet"))
        left = mark_committed(ws, 0.9)
        resumed = first_shard_seconds(ws, url_list)
        common = {"rows": rows, "load_average": os.getloadavg()[0], "list_bytes": url_list.stat().st_size}
        return [
            dict(common, name="crawl_plan", measure=f"plan {rows:,} rows until the first download", unit="s",
                 gristmill=planned["seconds"], baseline=scan_s, ratio=planned["seconds"] / scan_s,
                 target=PLAN_RATIO, higher_is_better=False, peak_rss_mb=planned["rss_mb"],
                 planning_worker_peak_rss_mb=planned["worker_rss_mb"],
                 rss_target_mb=PLAN_RSS_MB, duckdb_scan_s=duck_s, pyarrow_scan_rss_mb=scan_rss,
                 plan_bytes=plan_bytes, generate_s=generate_s,
                 meets=planned["seconds"] / scan_s <= PLAN_RATIO
                 and max(planned["rss_mb"], planned["worker_rss_mb"]) < PLAN_RSS_MB),
            dict(common, name="crawl_plan_resume", measure=f"resume, 90% committed, {left} shards left", unit="s",
                 gristmill=resumed["seconds"], baseline=RESUME_LIMIT_S, ratio=resumed["seconds"] / RESUME_LIMIT_S,
                 target=1.0, higher_is_better=False, peak_rss_mb=resumed["rss_mb"],
                 meets=resumed["seconds"] < RESUME_LIMIT_S),
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--tmp", type=Path, help="folder for the generated list and workspace (default: system temp)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON list")
    args = parser.parse_args()
    results = run(args.rows, args.tmp)
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(json.dumps(r, indent=2))
    return 0 if all(r["meets"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
