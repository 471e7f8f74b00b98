"""Reviewing as a team when the review log is long: does a click cost the same after 1M logged events as after 1,000?

Workspace: `--samples` samples (default 1,000,000; scores, embeddings and decisions, no media: the review
tests' big workspace); the logged history is on its first half. Two phases on it, each with `--reviewers` simulated reviewers (default 5), separate
processes that each drive the review app's own actions without a browser (a Catalog, a ReviewLog session and
the workspace's leases, as one browser session of the app holds them): build the random audit queue, then
page by page claim a leased page (labeling_ui.work) and decide every sample on it; a decision is what a click
does in the app (append to the log, refresh the catalog's review views, re-claim and redraw the page). A
background compactor (labeling_ui.compactor, as `gristmill review` runs it) compacts the log meanwhile.
- small: the log holds `--small` events (default 1,000) when the reviewers start;
- big: `--big` more events (default 1,000,000, written as compacted files the way background compaction
  leaves them) are added, then the same reviewers make the same number of decisions again.
Measured: p95 latency of a decision (click) and of a page move, per phase; decisions acknowledged but not in
the log (lost), event_ids logged twice, samples decided by two reviewers outside the audit queue's
double-reviewed share (duplicated work); the RSS of one process holding 1 and `--reviewers` app sessions.
Targets (issue 20): big/small p95 ratios <= 1.2, lost = duplicated = 0, RSS ratio < 1.5.

    python benchmarks/review.py [--samples 1000000] [--decisions 2000] [--json]
"""
import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.atomic import write_parquet  # noqa: E402
from curation.catalog import Catalog  # noqa: E402
from curation.leases import Leases  # noqa: E402
from curation.reviews import COMPACT_ROW_GROUP, ORDER, POSITIONS_KEY, REVIEWS, ReviewLog, now_us, read_events  # noqa: E402
from curation.workspace import Workspace  # noqa: E402
from labeling_ui import queues, work  # noqa: E402
from labeling_ui.compactor import Compactor  # noqa: E402
from labeling_ui.queues import QueueSpec  # noqa: E402
from labeling_ui.shared_catalog import session_catalog  # noqa: E402
from schemas import REVIEW_EVENTS  # noqa: E402
from tests.review.workspaces import big_workspace, id_of  # noqa: E402

PAGE = 12
SPEC = QueueSpec("audit", subset="all", seed=0)
RATIO_TARGET = 1.2
RSS_TARGET = 1.5


def add_history(ws: Workspace, n: int, n_samples: int, seed: int, chunk: int = 65_536) -> None:
    """Append `n` logged events (accepts, rejects, tags of 4 old reviewers on random samples of the first
    half of the workspace, so that half is still to review) as compacted files of `chunk` events (what one
    background compaction of MIN_BYTES holds), sorted by sample_id as compaction writes them."""
    rng = np.random.default_rng(seed)
    start = now_us() - n
    for first in range(0, n, chunk):
        k = min(chunk, n - first)
        seq = np.arange(first, first + k)
        action = rng.choice(np.array(["accept", "reject", "tag_add"]), k, p=[0.5, 0.3, 0.2])
        columns = {f.name: pa.nulls(k, f.type) for f in REVIEW_EVENTS}
        columns.update(
            event_id=pa.array([f"h{seed}-{i}" for i in seq]),
            sample_id=pa.array([id_of(int(i)) for i in rng.integers(0, n_samples // 2, k)]),
            action=pa.array(action), reason=pa.array(np.where(action == "reject", "other", None)),
            tag=pa.array(np.where(action == "tag_add", "seen", None)),
            reviewer=pa.array([f"old{i % 4}" for i in seq]), session=pa.array([f"history-{seed}"] * k),
            ts=pa.array(start + seq, pa.int64()).cast(REVIEW_EVENTS.field("ts").type), seq=pa.array(seq, pa.int64()))
        table = pa.table(columns, schema=REVIEW_EVENTS)
        table = table.sort_by([("sample_id", "ascending")] + [(c, "ascending") for c in ORDER])
        files = ws.parquet_files(REVIEWS)  # carry the latest compaction's journal positions forward
        positions = (pq.read_schema(files[-1]).metadata or {}).get(POSITIONS_KEY.encode(), b"{}") if files else b"{}"
        table = table.replace_schema_metadata({**REVIEW_EVENTS.metadata, POSITIONS_KEY: positions})
        index = len(files)
        write_parquet(table, ws.path(REVIEWS, f"{index:05d}.parquet"), row_group_size=COMPACT_ROW_GROUP)


def _p95(seconds: list[float]) -> float:
    return float(np.percentile(np.asarray(seconds) * 1000, 95)) if seconds else float("nan")


def reviewer(root: str, name: str, n: int, ready, out) -> None:
    """One simulated reviewer: `n` decisions through the app's actions; puts timings and what it logged.

    Like a reviewer in the app it decides the next sample of the page it is shown now (a click re-claims
    and redraws the page), and turns the page when none is left. It opens its session and builds its queue
    before the `ready` barrier, so that no reviewer's start-up (which reads the whole log once) is timed in
    another's clicks.
    """
    ws = Workspace.open(Path(root))
    catalog, log, leases = Catalog(ws), ReviewLog(ws, name), Leases(ws)
    queue = queues.build(catalog, SPEC, reviewer=name)
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    clicks, pages, decided, start = [], [], [], 1
    ready.wait()
    while len(decided) < n:
        t = time.perf_counter()
        claim = work.claim_page(catalog, queue, leases, log.session, name, start, PAGE)
        queues.rows(catalog, queue, claim.ranks)
        pages.append(time.perf_counter() - t)
        if not claim.sample_ids:
            break
        shown, start = claim.sample_ids, claim.next_rank
        done = set()
        while len(decided) < n and (todo := [s for s in shown if s not in done]):
            t = time.perf_counter()
            event = log.accept(todo[0]) if rng.random() < 0.7 else log.reject(todo[0], "other")
            catalog.refresh_reviews()
            again = work.claim_page(catalog, queue, leases, log.session, name, claim.ranks[0], PAGE)
            queues.rows(catalog, queue, again.ranks)
            clicks.append(time.perf_counter() - t)
            decided.append(event["event_id"])
            done.add(todo[0])
            shown, start = again.sample_ids, again.next_rank
    leases.release(log.session)
    log.close()
    out.put({"name": name, "clicks": clicks, "pages": pages[1:], "events": decided})


def phase(ws: Workspace, names: list[str], n: int) -> dict:
    """Run the reviewers at once (with a background compactor); their timings and logged event_ids."""
    ctx = multiprocessing.get_context("spawn")
    out, ready = ctx.Queue(), ctx.Barrier(len(names) + 1)
    procs = [ctx.Process(target=reviewer, args=(str(ws.root), name, n, ready, out)) for name in names]
    for p in procs:
        p.start()
    ready.wait()
    compactor = Compactor(ws, interval_s=5.0, min_bytes=64 << 10).start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    compactor.stop()
    clicks = [s for r in results for s in r["clicks"]]
    pages = [s for r in results for s in r["pages"]]
    return {"click_p95_ms": _p95(clicks), "page_p95_ms": _p95(pages), "n_clicks": len(clicks),
            "n_pages": len(pages), "compactions": len(compactor.rounds),
            "events": [e for r in results for e in r["events"]]}


def check(ws: Workspace, acknowledged: list[str]) -> dict:
    """Lost and duplicated decisions, and samples decided by two reviewers where one was wanted."""
    table = read_events(ws).table
    ids = table["event_id"].to_pylist()
    catalog = Catalog(ws)
    wanted = queues.reviews_wanted_sql(SPEC)
    twice = catalog.query(
        f"SELECT sample_id, {wanted} AS wanted, list(reviewer || ':' || action || ':' || epoch_us(ts)::VARCHAR) "
        "AS who FROM reviews WHERE action IN ('accept', 'reject') AND reviewer LIKE 'bench%' GROUP BY sample_id "
        f"HAVING count(DISTINCT reviewer) > {wanted}").to_pylist()
    return {"lost": len(set(acknowledged) - set(ids)), "logged_twice": len(ids) - len(set(ids)),
            "duplicated_work": len(twice), "duplicated_examples": twice[:5]}


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def session_rss(ws: Workspace, n: int) -> dict:
    """RSS of this process with one app session (a session of the process's catalog, as labeling_ui.state opens
    it, a log, leases, a built queue and a page), then `n`."""
    sessions = []

    def open_one(i: int) -> None:
        catalog, log, leases = session_catalog(ws), ReviewLog(ws, f"rss{i}"), Leases(ws)
        queue = queues.build(catalog, SPEC, reviewer=log.reviewer)
        claim = work.claim_page(catalog, queue, leases, log.session, log.reviewer, 1, PAGE)
        queues.rows(catalog, queue, claim.ranks)
        sessions.append((catalog, log, leases, claim))

    base = _rss_mb()
    open_one(0)
    one = _rss_mb()
    for i in range(1, n):
        open_one(i)
    many = _rss_mb()
    for _, log, leases, claim in sessions:
        leases.release(log.session)
        log.close()
    return {"rss_base_mb": base, "rss_1_mb": one, f"rss_{n}_mb": many, "rss_ratio": many / one}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--reviewers", type=int, default=5)
    parser.add_argument("--decisions", type=int, default=2000, help="decisions per reviewer and phase")
    parser.add_argument("--small", type=int, default=1000, help="events logged before the first phase")
    parser.add_argument("--big", type=int, default=1_000_000, help="events added before the second phase")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON list")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        ws = big_workspace(Path(tmp) / "ws", n=args.samples)
        add_history(ws, args.small, args.samples, seed=1)
        print(f"workspace of {args.samples:,} samples in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        names = [f"bench{i}" for i in range(args.reviewers)]
        small = phase(ws, names, args.decisions)
        add_history(ws, args.big, args.samples, seed=2)
        big = phase(ws, [f"{n}b" for n in names], args.decisions)
        checked = check(ws, small.pop("events") + big.pop("events"))
        rss = session_rss(ws, args.reviewers)
    load = os.getloadavg()
    detail = {"samples": args.samples, "reviewers": args.reviewers, "decisions_per_reviewer": args.decisions,
              "small": small, "big": big, **checked, **rss, "load_average": load}
    print(json.dumps(detail, indent=2), file=sys.stderr)
    rows = [
        {"name": "review", "measure": f"p95 click after {args.big + args.small:,} vs {args.small:,} events",
         "gristmill": big["click_p95_ms"], "baseline": small["click_p95_ms"], "unit": "ms",
         "ratio": big["click_p95_ms"] / small["click_p95_ms"], "target": RATIO_TARGET, "higher_is_better": False},
        {"name": "review", "measure": f"p95 next page after {args.big + args.small:,} vs {args.small:,} events",
         "gristmill": big["page_p95_ms"], "baseline": small["page_p95_ms"], "unit": "ms",
         "ratio": big["page_p95_ms"] / small["page_p95_ms"], "target": RATIO_TARGET, "higher_is_better": False},
        {"name": "review", "measure": f"RSS with {args.reviewers} sessions vs 1", "gristmill": rss[f"rss_{args.reviewers}_mb"],
         "baseline": rss["rss_1_mb"], "unit": "MB", "ratio": rss["rss_ratio"], "target": RSS_TARGET,
         "higher_is_better": False},
        {"name": "review", "measure": "decisions lost + logged twice + duplicated work", "unit": "",
         "gristmill": checked["lost"] + checked["logged_twice"] + checked["duplicated_work"], "baseline": 1,
         "ratio": checked["lost"] + checked["logged_twice"] + checked["duplicated_work"], "target": 0,
         "higher_is_better": False},
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for row in rows:
            print(f"{row['measure']}: {row['gristmill']:.4g} vs {row['baseline']:.4g} {row['unit']} "
                  f"(ratio {row['ratio']:.3f}, target <= {row['target']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
