"""Crawl progress while it runs and the final report after it.

Shard workers publish running counts in hidden `shards/.NNNNN.progress.json` files and final counts in their
`.done` markers, so the driver can follow any runner whose workers write to the workspace. `ProgressMonitor`
renders a live line (samples, samples/s, success rate, failures by kind) on the console it is given when that is
a terminal, and a periodic line otherwise (the CLI passes its own console). `build_report` sums the markers: the
report covers every committed shard, and the `*_this_run` fields the shards this run crawled.
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


def _sum(stats: list[dict]) -> tuple[int, Counter]:
    counts: Counter = Counter()
    for s in stats:
        counts.update(s["status_counts"])
    return sum(counts.values()), counts


def build_report(workspace: Path, urls: str, runner: str, started: float, done_before: set[str]) -> CrawlReport:
    """Sum the shard markers into the report."""
    markers = read_markers(Path(workspace) / "shards")
    total, counts = _sum(list(markers.values()))
    this_run = [s for name, s in markers.items() if name not in done_before]
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
    )


def _failures(counts: Counter, top: int) -> str:
    failures = [(k, v) for k, v in counts.most_common() if k != "success"]
    text = ", ".join(f"{k} {v}" for k, v in failures[:top])
    return text + (f", +{len(failures) - top} more kinds" if len(failures) > top else "") if text else "none"


class ProgressMonitor:
    """Follows a running crawl through the workspace's marker and progress files; prints to `console`, or
    nothing when it is None."""

    def __init__(self, shards_dir: Path, done_before: set[str], console: Console | None):
        self.shards_dir = Path(shards_dir)
        self.done_before = done_before
        self.console = console
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
        for path in self.shards_dir.glob("[!.]*.done"):
            if path.stem not in self.done_before and path.stem not in self._markers:
                self._markers[path.stem] = json.loads(path.read_text())
        done, counts = _sum(list(self._markers.values()) + _read_progress(self.shards_dir))
        elapsed = time.monotonic() - self.started
        ok = f"{counts['success'] / done:.1%}" if done else "-"
        return (f"crawl: {done:,} samples, {len(self._markers)} shards committed, {done / elapsed:,.1f} samples/s, "
                f"{ok} ok; failures: {_failures(counts, 4)}")

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
    parts = [table] + ([failures] if failures.row_count else []) + [Text(f"report: {report_path}")]
    return Group(*parts)
