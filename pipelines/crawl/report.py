"""Crawl progress while it runs and the final report after it.

Shard workers publish running counts in hidden `shards/.NNNNN.progress.json` files and final counts in their
`.done` markers, so the driver can follow any runner whose workers write to the workspace. `ProgressMonitor`
renders a live line (samples, samples/s, success rate, failures by kind) on the console it is given when that is
a terminal, and a periodic line otherwise (the CLI passes its own console). `build_report` sums the markers: the
report covers every committed shard, and the `*_this_run` fields the shards this run crawled; in a retry round
(`retry_round` set) the samples it fetched again, from the `retry` part of the markers of the shards it rewrote.
`rounds` lists round 0 (the crawl) and every retry round (`rounds.py`).
"""
import json
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from pipelines.crawl import status
from pipelines.crawl.retry_rows import retry_round_of
from pipelines.crawl.rounds import CrawlRound, crawl_round, read_rounds

PLAIN_LINE_EVERY_S = 10.0


class CrawlReport(BaseModel):
    """What a crawl produced (whole workspace) and what this run did."""

    workspace: str
    urls: str
    runner: str
    started_at: str
    elapsed_s: float
    input_rows: int
    samples: int
    successes: int
    success_rate: float
    status_counts: dict[str, int]
    successes_by_type: dict[str, int]
    bytes_downloaded: int
    shards: int
    shards_this_run: int
    samples_this_run: int
    samples_per_s_this_run: float
    rounds: list[CrawlRound] = []


def read_markers(shards_dir: Path) -> dict[str, dict]:
    """Stats of every committed shard, by shard name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(Path(shards_dir).glob("[!.]*.done"))}


def _read_progress(shards_dir: Path) -> list[dict]:
    found = []
    for path in Path(shards_dir).glob(".*.progress.json"):
        try:
            found.append(json.loads(path.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):  # committed and removed, or being replaced
            continue
    return found


def run_stats(marker: dict, retry_round: int | None) -> dict | None:
    """What a committed shard's `marker` says this run did: the crawl's stats, or in retry round `retry_round` the
    retry's when the round rewrote the shard (None when it did not)."""
    if retry_round is None:
        return marker
    return marker["retry"] if retry_round_of(marker) == retry_round else None


def _sum(stats: list[dict]) -> tuple[int, Counter]:
    counts: Counter = Counter()
    for s in stats:
        counts.update(s["status_counts"])
    return sum(counts.values()), counts


def build_report(workspace: Path, urls: str, runner: str, started: float, done_before: set[str],
                 retry_round: int | None = None) -> CrawlReport:
    """Sum the shard markers into the report; this run covers the shards not in `done_before`."""
    shards_dir = Path(workspace) / "shards"
    markers = read_markers(shards_dir)
    total, counts = _sum(list(markers.values()))
    this_run = [s for name, m in markers.items()
                if name not in done_before and (s := run_stats(m, retry_round)) is not None]
    run_total, _ = _sum(this_run)
    by_type: Counter = Counter()
    for s in markers.values():
        by_type.update(s["successes_by_type"])
    elapsed = time.time() - started
    return CrawlReport(
        workspace=str(workspace), urls=urls, runner=runner,
        started_at=datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        elapsed_s=round(elapsed, 3),
        input_rows=sum(s["input_rows"] for s in markers.values()),
        samples=total, successes=counts["success"], success_rate=round(counts["success"] / total, 4) if total else 0.0,
        status_counts=dict(counts.most_common()), successes_by_type=dict(sorted(by_type.items())),
        bytes_downloaded=sum(s["bytes_downloaded"] for s in markers.values()),
        shards=len(markers), shards_this_run=len(this_run), samples_this_run=run_total,
        samples_per_s_this_run=round(run_total / elapsed, 2) if elapsed > 0 else 0.0,
        rounds=read_rounds(shards_dir) or [crawl_round(markers)],
    )


def _failures(counts: Counter, top: int) -> str:
    failures = [(k, v) for k, v in counts.most_common() if k != "success"]
    text = ", ".join(f"{k} {v}" for k, v in failures[:top])
    return text + (f", +{len(failures) - top} more kinds" if len(failures) > top else "") if text else "none"


class ProgressMonitor:
    """Follows a running crawl through the workspace's marker and progress files; prints to `console`, or
    nothing when it is None. In retry round `retry_round` a marker counts once the round has rewritten it (a marker
    is read again only when its mtime changed)."""

    def __init__(self, shards_dir: Path, done_before: set[str], console: Console | None,
                 retry_round: int | None = None):
        self.shards_dir = Path(shards_dir)
        self.done_before = done_before
        self.console = console
        self.retry_round = retry_round
        self._mtimes: dict[str, int] = {}
        self.started = time.monotonic()
        self._markers: dict[str, dict] = {}
        self._live: Live | None = None
        self._last_plain = self.started

    def __enter__(self) -> "ProgressMonitor":
        if self.console is not None and self.console.is_terminal:
            self._live = Live(Text("crawl: starting"), console=self.console, refresh_per_second=4, transient=True)
            self._live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._live is not None:
            self._live.__exit__(*exc)

    def line(self) -> str:
        """One line: samples done this run, rate, success rate and failures by kind."""
        self._collect()
        done, counts = _sum(list(self._markers.values()) + _read_progress(self.shards_dir))
        elapsed = time.monotonic() - self.started
        ok = f"{counts['success'] / done:.1%}" if done else "-"
        return (f"crawl: {done:,} samples, {len(self._markers)} shards committed, {done / elapsed:,.1f} samples/s, "
                f"{ok} ok; failures: {_failures(counts, 4)}")

    def _collect(self) -> None:
        for path in self.shards_dir.glob("[!.]*.done"):
            name = path.stem
            if name in self.done_before or name in self._markers:
                continue
            if self.retry_round is not None:
                mtime = path.stat().st_mtime_ns
                if self._mtimes.get(name) == mtime:
                    continue
                self._mtimes[name] = mtime
            stats = run_stats(json.loads(path.read_text()), self.retry_round)
            if stats is not None:
                self._markers[name] = stats

    def update(self) -> None:
        """Refresh the live line (terminal) or print a line every PLAIN_LINE_EVERY_S seconds (logs)."""
        if self.console is None:
            return
        if self._live is not None:
            self._live.update(Text(self.line()))
        elif time.monotonic() - self._last_plain >= PLAIN_LINE_EVERY_S:
            self._last_plain = time.monotonic()
            self.console.print(self.line())


def summary(report: CrawlReport, report_path: Path) -> Group:
    """The one-screen summary printed after a crawl."""
    table = Table(title=f"crawl of {report.urls}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("samples", f"{report.samples:,} from {report.input_rows:,} input rows in {report.shards} shards")
    table.add_row("success", f"{report.successes:,} ({report.success_rate:.1%}); "
                  + ", ".join(f"{k} {v:,}" for k, v in report.successes_by_type.items()))
    table.add_row("this run", f"{report.samples_this_run:,} samples in {report.shards_this_run} shards, "
                  f"{report.elapsed_s:.1f} s, {report.samples_per_s_this_run:,.1f} samples/s ({report.runner})")
    table.add_row("downloaded", f"{report.bytes_downloaded / 2**20:,.1f} MiB")
    failures = Table("failure", "samples", title="failures by kind", title_justify="left")
    for kind, n in report.status_counts.items():
        if kind != "success":
            failures.add_row(kind, f"{n:,}")
    parts = [table] + ([failures] if failures.row_count else []) + _rounds_table(report.rounds)
    return Group(*parts, Text(f"report: {report_path}"))


def _rounds_table(rounds: list[CrawlRound], top: int = 6) -> list[Table]:
    """Per-round counts once the crawl has been retried: how much of the list each round got, and what rotted
    (the `top` failure kinds of the last round, the others summed)."""
    if len(rounds) < 2:
        return []
    kinds = sorted({k for r in rounds for k in r.status_counts if k != status.SUCCESS},
                   key=lambda k: (-rounds[-1].status_counts.get(k, 0), k))
    shown, rest = kinds[:top], kinds[top:]
    table = Table("round", "kinds", "retried", "recovered", "success", *shown, *(["other"] if rest else []),
                  title="rounds (samples after each round)", title_justify="left")
    for r in rounds:
        state = " (crawl)" if r.round == 0 else " (interrupted)" if r.interrupted else \
            " (running)" if r.finished_at is None else ""
        named = "transient" if tuple(r.kinds) == status.TRANSIENT_KINDS else ",".join(r.kinds)
        other = [f"{sum(r.status_counts.get(k, 0) for k in rest):,}"] if rest else []
        table.add_row(f"{r.round}{state}", named, f"{r.retried:,}", f"{r.recovered:,}",
                      f"{r.status_counts.get(status.SUCCESS, 0):,}",
                      *(f"{r.status_counts.get(k, 0):,}" for k in shown), *other)
    return [table]
