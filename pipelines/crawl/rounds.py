"""The rounds of a crawl, to see how much of a list has rotted: `shards/crawl-rounds.json`.

Round 0 is the crawl itself, rounds 1, 2, ... its retry rounds (`retry.py`). Each entry says when the round ran,
which failure kinds it fetched again, how many samples and shards it fetched and rewrote, and the status counts of
the whole workspace after it. A round is recorded when it starts (`finished_at` null) and completed when it ends;
a retry killed mid-round is taken up by the next retry with the same kinds (shards the killed one rewrote are
skipped), or closed as `interrupted` by one with other kinds, which starts the next round. The file is rewritten
atomically: it holds one entry per round, however large the crawl.
"""
import json
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel

from curation.atomic import write_json
from pipelines.crawl.retry_rows import retry_round_of

ROUNDS_FILE = "crawl-rounds.json"


class CrawlRound(BaseModel):
    """One round: 0 the crawl, then each retry round. `shards` it wrote, samples it `retried` (fetched again) and
    `recovered` (now successes); `samples` and `status_counts` are the whole workspace's after it."""

    round: int
    kinds: list[str] = []
    started_at: str | None = None
    finished_at: str | None = None
    interrupted: bool = False
    shards: int = 0
    retried: int = 0
    recovered: int = 0
    samples: int = 0
    status_counts: dict[str, int] = {}


def read_rounds(shards_dir: Path) -> list[CrawlRound]:
    """The recorded rounds, oldest first (empty before the first retry)."""
    path = Path(shards_dir) / ROUNDS_FILE
    return [CrawlRound(**r) for r in json.loads(path.read_text())] if path.exists() else []


def crawl_round(markers: dict[str, dict]) -> CrawlRound:
    """Round 0 as the shards' markers say the crawl left it (counts from before any retry)."""
    timed = [m for m in markers.values() if "started_at" in m]
    started = min((m["started_at"] for m in timed), default=None)
    ended = max((m["started_at"] + m["elapsed_s"] for m in timed), default=None)
    samples, counts = _counts(markers)
    return CrawlRound(round=0, started_at=_iso(started), finished_at=_iso(ended), shards=len(markers),
                      samples=samples, status_counts=counts)


def begin_round(shards_dir: Path, kinds: tuple[str, ...], markers: dict[str, dict]) -> CrawlRound:
    """The round a retry of `kinds` runs: the unfinished last round when it has the same kinds, else a new one
    (an unfinished one with other kinds is closed as interrupted); recorded before it starts."""
    rounds = read_rounds(shards_dir) or [crawl_round(markers)]
    last = rounds[-1]
    if last.round > 0 and last.finished_at is None:
        if last.kinds == list(kinds):
            return last
        rounds[-1] = _closed(last, markers, interrupted=True)
    rounds.append(CrawlRound(round=rounds[-1].round + 1, kinds=list(kinds), started_at=_iso(time.time())))
    _write(shards_dir, rounds)
    return rounds[-1]


def finish_round(shards_dir: Path, round_: int, markers: dict[str, dict]) -> CrawlRound:
    """Record round `round_` as finished, with the counts the shards' markers give now."""
    rounds = read_rounds(shards_dir)
    rounds[round_] = _closed(rounds[round_], markers, interrupted=False)
    _write(shards_dir, rounds)
    return rounds[round_]


def _counts(markers: dict[str, dict]) -> tuple[int, dict[str, int]]:
    counts: Counter = Counter()
    for m in markers.values():
        counts.update(m["status_counts"])
    return sum(counts.values()), dict(counts.most_common())


def _closed(entry: CrawlRound, markers: dict[str, dict], interrupted: bool) -> CrawlRound:
    samples, counts = _counts(markers)
    rewritten = [m["retry"] for m in markers.values() if retry_round_of(m) == entry.round]
    return entry.model_copy(update={
        "finished_at": _iso(time.time()), "interrupted": interrupted, "shards": len(rewritten),
        "retried": sum(r["done"] for r in rewritten),
        "recovered": sum(r["status_counts"].get("success", 0) for r in rewritten),
        "samples": samples, "status_counts": counts,
    })


def _write(shards_dir: Path, rounds: list[CrawlRound]) -> None:
    write_json([r.model_dump() for r in rounds], Path(shards_dir) / ROUNDS_FILE)


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
