"""Curation engine at scale: a five-step recipe on 10M (or 100M) metadata rows, semantic dedup of 1M embeddings.

1. Recipe. A workspace of `--rows` generated samples (no media; 3% exact duplicates), generated one file of
   1M rows at a time, with basic, text and clip scores. gristmill: `curate()` with exact dedup, not blank,
   English, CLIP >= 0.28 and top 30% by CLIP (every step judges every row, reasons kept, decisions and funnel
   written). Baseline: one hand-written DuckDB query over the same files that computes only the kept set and
   writes its ids to Parquet. Both must keep the same rows; each runs in its own fresh process. Targets:
   ratio (gristmill / baseline) <= 1.5, gristmill under 30 s per 10M rows, peak RSS under 8 GB (at 100M rows,
   `--rows 100000000`, with GRISTMILL_MEMORY_LIMIT set so DuckDB spills into the workspace; the baseline runs
   under the same limit).
2. Many files. `--files` shard files of 1,000 rows (default 10,000, plus as many per scorer). Catalog open
   + first `count(*)` of samples against a bare `count(*)` over the same glob, and the recipe above against
   the hand-written query over read_parquet globs; each side runs in its own fresh process (peak RSS
   printed). Targets: each ratio <= 1.5, and the catalog open + count under 2 s.
3. Semantic dedup. `--embeddings` 512-d unit vectors drawn around 2,000 topics, 5% of them planted
   near-duplicates (cosine 0.96-0.99). gristmill: `cosine_pairs` + `greedy_duplicates` as the recipe step runs
   them (k-means with faiss, sqrt(n) clusters, 2 probes). Baseline: exact brute force on a 50,000-row
   subset (half of it planted pairs), whose time is scaled by (n / 50,000)^2 to estimate brute force on
   all rows. Targets: under 10 minutes; recall on the subset >= 0.95 against brute force.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.catalog import duckdb_settings  # noqa: E402
from curation.curate import curate  # noqa: E402
from curation.recipes.dedup import cosine_pairs, greedy_duplicates  # noqa: E402
from curation.recipes.model import parse_recipe  # noqa: E402
from curation.workspace import Workspace  # noqa: E402
from schemas import SAMPLES, score_schema  # noqa: E402

RECIPE_LIMIT_S = 30.0
"""The recipe's time limit at 10M rows; it grows linearly with --rows."""
RECIPE_RATIO = 1.5
RECIPE_RSS_MB = 8_000.0
CATALOG_LIMIT_S = 2.0
MANY_FILES_RATIO = 1.5
SEMANTIC_LIMIT_S = 600.0
RECALL_TARGET = 0.95
SUBSET = 50_000
CLIP_MODEL = "bench/synthetic-normal-0.3"
"""The model_id of the generated clip scores, which the recipe's CLIP threshold declares."""
RECIPE = {"name": "bench-five-steps", "models": {"clip": CLIP_MODEL}, "steps": [
    {"dedup": "exact"},
    {"filter": {"column": "basic.is_blank", "equals": False}},
    {"filter": {"column": "text.language", "in": ["en"]}},
    {"filter": {"column": "clip.clip_score", "min": 0.28}},
    {"top_fraction": {"column": "clip.clip_score", "fraction": 0.3}},
]}
BASELINE_SQL = """
COPY (
  WITH j AS (
    SELECT s.sample_id, s.sha256, b.is_blank, t.language, c.clip_score FROM samples s
    LEFT JOIN basic b USING (sample_id) LEFT JOIN text t USING (sample_id) LEFT JOIN clip c USING (sample_id)
    WHERE s.status = 'success'),
  dedup AS (SELECT * FROM j QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY sample_id) = 1),
  f AS (SELECT * FROM dedup WHERE NOT is_blank AND language = 'en' AND clip_score >= 0.28),
  r AS (SELECT sample_id, row_number() OVER (ORDER BY clip_score DESC, sample_id) AS rank,
               count(*) OVER () AS n FROM f)
  SELECT sample_id FROM r WHERE rank <= ceil(round(0.3 * n, 9)) ORDER BY sample_id
) TO '{out}' (FORMAT parquet)
"""


def hex_strings(rng: np.random.Generator, n: int, n_bytes: int, values: np.ndarray | None = None) -> pa.Array:
    """n random hex strings of 2*n_bytes chars (or the hex of `values`, rows of uint8), built without Python loops."""
    raw = rng.integers(0, 256, size=(n, n_bytes), dtype=np.uint8) if values is None else values
    digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    chars = np.empty((n, 2 * n_bytes), dtype=np.uint8)
    chars[:, 0::2], chars[:, 1::2] = digits[raw >> 4], digits[raw & 15]
    offsets = np.arange(0, (n + 1) * 2 * n_bytes, 2 * n_bytes, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def splitmix64(x: np.ndarray) -> np.ndarray:
    """A fixed bijective mix of uint64 values (SplitMix64's finaliser): deterministic pseudo-random bits per row."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def payload_digests(rows: np.ndarray) -> np.ndarray:
    """32 bytes per row index, a pure function of the index (a stand-in for the sha256 of its media)."""
    words = [splitmix64(rows.astype(np.uint64) * np.uint64(4) + np.uint64(k)) for k in range(4)]
    return np.stack(words, axis=1).view(np.uint8).reshape(len(rows), 32)


def build_metadata_workspace(root: Path, rows: int, per_file: int = 1_000_000) -> Workspace:
    """Samples plus basic/text/clip scores for `rows` generated samples, in files of `per_file` rows.

    Generated one file at a time (memory stays that of one file at 10^8 rows): 3% of the rows carry the payload
    digest of a random other row, so they are exact duplicates of it."""
    ws = Workspace.init(root)
    rng = np.random.default_rng(0)
    for part, start in enumerate(range(0, rows, per_file)):
        n = min(per_file, rows - start)
        source = np.arange(start, start + n)
        dup = rng.random(n) < 0.03
        source[dup] = rng.integers(0, rows, dup.sum())
        ids = hex_strings(rng, n, 16)
        status = np.where(rng.random(n) < 0.05, "http_404", "success")
        samples = {f.name: pa.nulls(n, f.type) for f in SAMPLES}
        samples.update(sample_id=ids, url=pa.array(np.char.add("http://bench.test/", np.arange(start, start + n)
                                                               .astype(str))),
                       caption=pa.array(["a picture of something"] * n), media_type=pa.array(["image"] * n),
                       status=pa.array(status), sha256=hex_strings(rng, n, 32, payload_digests(source)),
                       shard=pa.array([f"{part:05d}"] * n))
        pq.write_table(pa.table(samples, schema=SAMPLES), ws.path("shards", f"{part:05d}.parquet"))
        scores = {
            "basic": {"is_blank": rng.random(n) < 0.02, "width": rng.integers(64, 1024, n).astype(np.int32)},
            "text": {"language": np.where(rng.random(n) < 0.7, "en", "de")},
            "clip": {"clip_score": rng.normal(0.3, 0.05, n)},
        }
        for scorer, cols in scores.items():
            schema = score_schema(scorer)
            table = {f.name: pa.nulls(n, f.type) for f in schema}
            table.update({k: pa.array(v, schema.field(k).type) for k, v in cols.items()},
                         sample_id=ids, scorer_version=pa.array([f"{scorer}-bench"] * n),
                         model_id=pa.array([CLIP_MODEL if scorer == "clip" else None] * n, pa.string()))
            ws.path("scores", scorer).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.table(table, schema=schema), ws.path("scores", scorer, f"{part:05d}.parquet"))
    return ws


def bench_recipe(rows: int) -> dict:
    """The 5-step recipe against the hand-written query over the same `rows`-row workspace, each side in its own
    fresh process (peak RSS of each printed)."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        t0 = time.perf_counter()
        ws = build_metadata_workspace(Path(tmp) / "ws", rows)
        build_s = time.perf_counter() - t0
        out = Path(tmp) / "baseline.parquet"
        (baseline_s, baseline_kept), baseline_rss = _timed_in_child(_baseline_seconds, str(ws.root), str(out))
        (gristmill_s, kept, phases), rss = _timed_in_child(_curate_seconds, str(ws.root))
        if kept != baseline_kept:
            raise SystemExit(f"gristmill kept {kept} rows, the baseline {baseline_kept}")
    limit = RECIPE_LIMIT_S * max(1.0, rows / 10_000_000)
    return {"name": "curation-recipe", "measure": f"5-step recipe, {rows:,} rows", "unit": "s",
            "gristmill": gristmill_s, "baseline": baseline_s, "ratio": gristmill_s / baseline_s,
            "target": RECIPE_RATIO, "higher_is_better": False, "limit_s": limit, "within_limit": gristmill_s < limit
            and rss < RECIPE_RSS_MB, "kept": kept, "build_s": build_s, "peak_rss_mb": rss,
            "baseline_peak_rss_mb": baseline_rss, "load_average": os.getloadavg()[0], "phases_s": phases}


def glob_baseline_sql(root: Path, out: Path) -> str:
    """BASELINE_SQL over the workspace's files directly (read_parquet globs), not over gristmill's views."""
    views = {"samples": root / "shards", "basic": root / "scores" / "basic", "text": root / "scores" / "text",
             "clip": root / "scores" / "clip"}
    with_views = ", ".join(f"{name} AS (SELECT * FROM read_parquet('{folder}/*.parquet'))"
                           for name, folder in views.items())
    return BASELINE_SQL.format(out=out).replace("WITH j AS", f"WITH {with_views}, j AS", 1)


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, MB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_in_child(target, *args) -> tuple:
    """Run `target(*args)` in a fresh process; (its result, its peak RSS in MB)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_measure, (target, *args))


def _measure(target, *args) -> tuple:
    return target(*args), peak_rss_mb()


def _open_and_count(root: str) -> float:
    from curation.catalog import Catalog

    t0 = time.perf_counter()
    catalog = Catalog(Workspace.open(Path(root)))
    catalog.query("SELECT count(*) AS n FROM samples")
    return time.perf_counter() - t0


def _plain_count(root: str) -> float:
    import duckdb

    t0 = time.perf_counter()
    duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{root}/shards/*.parquet')").fetchall()
    return time.perf_counter() - t0


def _curate_seconds(root: str) -> tuple[float, int, dict]:
    t0 = time.perf_counter()
    result = curate(Workspace.open(Path(root)), parse_recipe(RECIPE))
    return time.perf_counter() - t0, result.kept, result.seconds


def _baseline_seconds(root: str, out: str) -> tuple[float, int]:
    import duckdb

    t0 = time.perf_counter()
    con = duckdb.connect(config=duckdb_settings(Workspace.open(Path(root))))  # the catalog's memory limit and spill
    con.execute("SET enable_progress_bar = false")
    con.execute(glob_baseline_sql(Path(root), Path(out)))
    return time.perf_counter() - t0, pq.read_metadata(out).num_rows


def bench_many_files(files: int, rows_per_file: int = 1_000) -> list[dict]:
    """Catalog open + first count and the 5-step recipe over `files` shard files (and as many per scorer),
    each against a hand-written DuckDB query over the same files, each side in its own fresh process."""
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        t0 = time.perf_counter()
        ws = build_metadata_workspace(Path(tmp) / "ws", files * rows_per_file, per_file=rows_per_file)
        build_s = time.perf_counter() - t0
        root = str(ws.root)
        _timed_in_child(_plain_count, root)  # warm the page cache for both sides alike
        (count_s, count_rss), (plain_s, _) = _timed_in_child(_open_and_count, root), _timed_in_child(_plain_count, root)
        ((curate_s, kept, _), curate_rss) = _timed_in_child(_curate_seconds, root)
        ((baseline_s, baseline_kept), baseline_rss) = _timed_in_child(_baseline_seconds, root, f"{tmp}/base.parquet")
        if kept != baseline_kept:
            raise SystemExit(f"gristmill kept {kept} rows, the baseline {baseline_kept}")
    common = {"unit": "s", "higher_is_better": False, "target": MANY_FILES_RATIO, "build_s": build_s,
              "load_average": os.getloadavg()[0]}
    return [
        {"name": "catalog-many-files", "measure": f"catalog open + first count, {files:,} shard files",
         "gristmill": count_s, "baseline": plain_s, "ratio": count_s / plain_s, "limit_s": CATALOG_LIMIT_S,
         "within_limit": count_s < CATALOG_LIMIT_S, "peak_rss_mb": count_rss, **common},
        {"name": "curation-many-files", "measure": f"5-step recipe, {files:,} files x {rows_per_file:,} rows",
         "gristmill": curate_s, "baseline": baseline_s, "ratio": curate_s / baseline_s, "kept": kept,
         "peak_rss_mb": curate_rss, "baseline_peak_rss_mb": baseline_rss, **common},
    ]


def make_embeddings(n: int, dim: int = 512, topics: int = 2000, planted: float = 0.05):
    """Unit vectors around `topics` centres; the last `planted` share are near-copies of earlier rows."""
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(topics, dim)).astype(np.float32)
    x = np.empty((n, dim), dtype=np.float16)
    n_copies = int(n * planted)
    originals = rng.choice(n - n_copies, n_copies, replace=False)
    for s in range(0, n - n_copies, 100_000):
        e = min(s + 100_000, n - n_copies)
        block = centres[rng.integers(0, topics, e - s)] + 1.5 * rng.normal(size=(e - s, dim)).astype(np.float32)
        x[s:e] = block / np.linalg.norm(block, axis=1, keepdims=True)
    for s in range(0, n_copies, 100_000):
        e = min(s + 100_000, n_copies)
        sigma = rng.uniform(0.005, 0.009, size=(e - s, 1)).astype(np.float32)
        block = x[originals[s:e]].astype(np.float32) + sigma * rng.normal(size=(e - s, dim)).astype(np.float32)
        x[n - n_copies + s:n - n_copies + e] = block / np.linalg.norm(block, axis=1, keepdims=True)
    pairs_in_subset = min(n_copies, SUBSET // 4)  # half of the subset: planted pairs, half: random rows
    copies = np.arange(n - n_copies, n - n_copies + pairs_in_subset)
    chosen = np.concatenate([copies, originals[:pairs_in_subset]])
    others = np.setdiff1d(rng.choice(n, min(n, SUBSET), replace=False), chosen)[: SUBSET - len(chosen)]
    return x, np.unique(np.concatenate([chosen, others]))


def brute_pairs(x: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    out = set()
    xf = x.astype(np.float32)
    for s in range(0, len(xf), 2048):
        i, j = np.nonzero(xf[s:s + 2048] @ xf.T >= threshold)
        out |= {(s + a, b) for a, b in zip(i.tolist(), j.tolist()) if s + a < b}
    return out


def bench_semantic(n: int, threshold: float = 0.95) -> list[dict]:
    x, subset = make_embeddings(n)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    a, b = cosine_pairs(x, threshold)
    duplicate_of = greedy_duplicates(n, n, a, b)
    gristmill_s, cpu_s = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    truth = brute_pairs(x[subset], threshold)
    brute_s = time.perf_counter() - t0
    position = np.full(n, -1)
    position[subset] = np.arange(len(subset))
    inside = (position[a] >= 0) & (position[b] >= 0)
    found = set(zip(position[a[inside]].tolist(), position[b[inside]].tolist()))
    recall = len(found & truth) / max(1, len(truth))
    estimate = brute_s * (n / len(subset)) ** 2
    return [
        {"name": "curation-semantic-dedup", "measure": f"{n:,} x 512-d, cosine >= {threshold}", "unit": "s",
         "gristmill": gristmill_s, "baseline": estimate, "ratio": gristmill_s / estimate,
         "target": SEMANTIC_LIMIT_S / estimate, "higher_is_better": False, "limit_s": SEMANTIC_LIMIT_S,
         "within_limit": gristmill_s < SEMANTIC_LIMIT_S, "baseline_note": "brute force, extrapolated from "
         f"{len(subset):,} rows in {brute_s:.1f} s", "dropped": int((duplicate_of >= 0).sum()), "cpu_s": cpu_s,
         "load_average": os.getloadavg()[0]},
        {"name": "curation-semantic-recall", "measure": f"pair recall on a {len(subset):,}-row subset",
         "unit": "", "gristmill": recall, "baseline": 1.0, "ratio": recall, "target": RECALL_TARGET,
         "higher_is_better": True, "pairs": len(truth)},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="metadata rows for the recipe (10M)")
    parser.add_argument("--embeddings", type=int, default=1_000_000, help="embeddings for semantic dedup (1M)")
    parser.add_argument("--files", type=int, default=10_000, help="shard files for the many-files benchmark")
    parser.add_argument("--only", choices=("recipe", "semantic", "files"), help="run one of the benchmarks")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON list")
    args = parser.parse_args()
    results = []
    if args.only in (None, "recipe"):
        results.append(bench_recipe(args.rows))
    if args.only in (None, "files"):
        results += bench_many_files(args.files)
    if args.only in (None, "semantic"):
        results += bench_semantic(args.embeddings)
    if args.json:
        print(json.dumps(results))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"curation benchmarks ({os.cpu_count()} cores)", title_justify="left")
    for col in ("benchmark", "measure", "gristmill", "baseline", "limit / target", "ok"):
        table.add_column(col)
    for r in results:
        sign = "≥" if r["higher_is_better"] else "≤"
        limit = f"ratio {sign} {r['target']:.3g}" + (f", < {r['limit_s']:.0f} s" if "limit_s" in r else "")
        ok = (r["ratio"] >= r["target"]) if r["higher_is_better"] else (r["ratio"] <= r["target"])
        ok = ok and r.get("within_limit", True)
        table.add_row(r["name"], r["measure"], f"{r['gristmill']:.3g} {r['unit']}", f"{r['baseline']:.3g} {r['unit']}",
                      limit, "yes" if ok else "NO")
    Console().print(table)
    for r in results:
        if "cpu_s" in r:
            print(f"{r['name']}: {r['cpu_s']:.1f} s of CPU, load average {r['load_average']:.1f}")
        if "peak_rss_mb" in r:
            baseline = f", baseline {r['baseline_peak_rss_mb']:,.0f} MB" if "baseline_peak_rss_mb" in r else ""
            print(f"{r['name']}: peak RSS {r['peak_rss_mb']:,.0f} MB (its own process){baseline}")
        if "phases_s" in r:
            print("recipe phases (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r["phases_s"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
