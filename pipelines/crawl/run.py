"""`crawl()`: validate the list, run the Beam pipeline while showing progress, write the report.

Resuming is re-running: committed shards are skipped, uncommitted ones are crawled again from scratch. The
shard layout is pinned in `shards/crawl-plan.json`: a later crawl of another list (or with another shard size
or columns) into the same workspace is refused instead of silently mixing two layouts.
"""
import json
import logging
import threading
import time
from pathlib import Path

import apache_beam as beam
import fsspec

from curation.atomic import write_json
from curation.errors import GristmillError
from curation.workspace import CONFIG_NAME, Workspace
from gristmill.console import console
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.inputs import Columns, InputPart, count_rows, plan_inputs
from pipelines.crawl.pipeline import build_pipeline, pipeline_options
from pipelines.crawl.records import shard_count
from pipelines.crawl.report import CrawlReport, ProgressMonitor, build_report, read_markers, summary

PLAN_FILE = "crawl-plan.json"
LAYOUT = "url-hash-ranges/v2"  # how samples map to shards; a workspace pinned with another layout is refused
REPORT_FILE = "crawl.json"


def crawl(workspace: str | Path, config: CrawlConfig) -> CrawlReport:
    """Crawl `config.urls` into `workspace` (created when missing or empty) and return the report.

    Raises GristmillError, before any download, for an unusable list or a workspace holding another crawl.
    """
    ws = _open_or_create(Path(workspace))
    columns = Columns(config.url_col, config.caption_col, tuple(config.column_names or ()) or None)
    parts = plan_inputs(config.urls, config.input_format, columns)
    n_shards = shard_count(count_rows(parts), config.shard_size)
    _pin_plan(ws, config, parts, n_shards)
    shards_dir = ws.path("shards")
    _remove_stale_temporaries(shards_dir)
    done_before = set(read_markers(shards_dir))
    started = time.time()
    with ProgressMonitor(shards_dir, done_before, config.progress) as monitor:
        _run_with_progress(parts, columns, config, str(ws.root.resolve()), n_shards, monitor)
    report = build_report(ws.root, config.urls, config.runner, started, done_before)
    report_path = write_json(report.model_dump(), ws.path("reports", REPORT_FILE))
    if config.progress:
        console.print(summary(report, report_path))
    return report


def _open_or_create(root: Path) -> Workspace:
    if (root / CONFIG_NAME).exists() or (root.is_dir() and any(root.iterdir())):
        return Workspace.open(root)
    return Workspace.init(root)


def _pin_plan(ws: Workspace, config: CrawlConfig, parts: list[InputPart], n_shards: int) -> None:
    uris = sorted({p.uri for p in parts})
    inputs = [{"uri": u, "bytes": fsspec.core.url_to_fs(u)[0].size(u)} for u in uris]
    plan = dict(config.shard_plan(), layout=LAYOUT, shards=n_shards, inputs=inputs)
    path = ws.path("shards", PLAN_FILE)
    if path.exists():
        pinned = json.loads(path.read_text())
        if pinned != plan:
            changed = sorted(k for k in plan.keys() | pinned.keys() if plan.get(k) != pinned.get(k))
            raise GristmillError(
                f"{ws.root} already holds a crawl with a different list or shard layout (differs in: "
                f"{', '.join(changed)}); re-run with the same list and options to resume, or use a new workspace"
            )
        return
    write_json(plan, path)


def _remove_stale_temporaries(shards_dir: Path) -> None:
    """Delete temporary files of shards a killed crawl left uncommitted (committed shards have no temporaries)."""
    for tmp in shards_dir.glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
    for progress in shards_dir.glob(".*.progress.json"):
        progress.unlink(missing_ok=True)


def _run_with_progress(parts, columns, config: CrawlConfig, workspace: str, n_shards: int,
                       monitor: ProgressMonitor) -> None:
    """Run the pipeline in a thread (runners block differently) while the monitor refreshes."""
    outcome: dict = {}
    options = pipeline_options(config)  # raises on unknown options, before anything runs
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # workers' start-up chatter; failures still raise

    def target():
        try:
            with beam.Pipeline(options=options) as p:
                build_pipeline(p, parts, columns, config, workspace, n_shards)
        except BaseException as exc:  # re-raised in the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="crawl-pipeline", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(config.progress_interval)
        monitor.update()
    if "error" in outcome:
        raise outcome["error"]
