"""`crawl()`: validate the list, run the Beam pipeline while showing progress, write the report.

Resuming is re-running: committed shards are skipped, uncommitted ones are crawled again from scratch. The first
crawl plans the list into `shards/plan/` (`plan.py`: one Parquet file of candidates per shard and a manifest);
every later run reads only the plans of the shards not yet committed and never the list. What decides the plan
is pinned in `shards/crawl-plan.json`: a later crawl of another list (or with another shard size or columns)
into the same workspace is refused instead of silently mixing two layouts. Likewise the resize and
encode settings are pinned in `shards/crawl-settings.json` by the first crawl: a workspace never mixes samples
written with two settings. Every crawl records its whole configuration in `shards/crawl-config.json`, which a
retry round (`retry.py`) runs with. One crawl or retry at a time holds the workspace's lock (`lock.py`); each
first finishes or undoes the shard commits a killed retry left half done (`curation.shard_versions`).

Where the pipeline runs: on the configured Beam runner in a thread of the driver, except for the DirectRunner's
`multi_processing` mode, where the shards still to crawl are split over local worker processes that each run
the same pipeline in memory (`processes.py`).
"""
import json
import logging
import os
import threading
import time
from pathlib import Path

import fsspec
from rich.console import Console

from curation.atomic import write_json
from curation.errors import GristmillError
from curation.shard_versions import recover_commits
from curation.workspace import CONFIG_NAME, Workspace
from pipelines.crawl.config import OUTPUT_SETTINGS, CrawlConfig
from pipelines.crawl.inputs import Columns, InputPart, plan_inputs
from pipelines.crawl.lock import crawl_lock
from pipelines.crawl.pipeline import DIRECT_RUNNERS, CrawlJob, pipeline_options, run_pipeline
from pipelines.crawl.plan import PLAN_FOLDER, load_or_make_plan
from pipelines.crawl.processes import LocalProcesses, split_shards
from pipelines.crawl.report import CrawlReport, ProgressMonitor, build_report, read_markers, summary

PLAN_FILE = "crawl-plan.json"
SETTINGS_FILE = "crawl-settings.json"
CONFIG_FILE = "crawl-config.json"
# how samples map to shards; a workspace pinned with another layout is refused. v3: the shard count comes from the
# rows planned (v2 counted lines of text files) and the plan is persisted in shards/plan
LAYOUT = "url-hash-ranges/v3"
REPORT_FILE = "crawl.json"


def crawl(workspace: str | Path, config: CrawlConfig, console: Console | None = None) -> CrawlReport:
    """Crawl `config.urls` into `workspace` (created when missing or empty) and return the report.

    With `config.progress`, progress and the final summary go to `console` (the CLI passes its own); without a
    console nothing is printed. Raises GristmillError, before any download, for an unusable list, a workspace
    holding another crawl or other output settings, or a workspace another process is crawling.
    """
    ws = _open_or_create(Path(workspace))
    with crawl_lock(ws.root):
        return _crawl_locked(ws, config, console)


def _crawl_locked(ws: Workspace, config: CrawlConfig, console: Console | None) -> CrawlReport:
    columns = Columns(config.url_col, config.caption_col, tuple(config.column_names or ()) or None)
    parts = plan_inputs(config.urls, config.input_format, columns)
    list_bytes = _pin_plan(ws, config, parts)
    pin_settings(ws, config)
    shards_dir = ws.path("shards")
    write_json(config.model_dump(mode="json"), shards_dir / CONFIG_FILE)
    prepare_shards(shards_dir)
    out = console if config.progress else None
    planning = time.time()
    plan = load_or_make_plan(shards_dir, parts, columns, config.shard_size, config.video_extensions, list_bytes)
    if out is not None:
        out.print(f"plan: {plan['rows']:,} input rows in {len(plan['planned']):,} shards "
                  f"({time.time() - planning:.1f} s, shards/{PLAN_FOLDER}/)")
    done_before = set(read_markers(shards_dir))
    pending = [int(name) for name in sorted(plan["planned"]) if name not in done_before]
    job = CrawlJob(config, str(ws.root.resolve()), tuple(pending))
    started = time.time()
    run_job(job, ProgressMonitor(shards_dir, done_before, out))
    return publish(ws, build_report(ws.root, config.urls, config.runner, started, done_before), out)


def run_job(job: CrawlJob, monitor: ProgressMonitor) -> None:
    """Run `job` to its end (`start_job`), updating `monitor` every progress interval."""
    logging.getLogger("apache_beam").setLevel(logging.ERROR)  # workers' start-up chatter; failures still raise
    with start_job(job) as running, monitor:
        while not running.wait(job.config.progress_interval):
            monitor.update()


def publish(ws: Workspace, report: CrawlReport, out: Console | None) -> CrawlReport:
    """Write `report` to reports/crawl.json and print its summary on `out` (when not None)."""
    report_path = write_json(report.model_dump(), ws.path("reports", REPORT_FILE))
    if out is not None:
        out.print(summary(report, report_path))
    return report


def _open_or_create(root: Path) -> Workspace:
    if (root / CONFIG_NAME).exists() or (root.is_dir() and any(root.iterdir())):
        return Workspace.open(root)
    return Workspace.init(root)


def _pin_plan(ws: Workspace, config: CrawlConfig, parts: list[InputPart]) -> int:
    """Pin the list and the options that decide the plan, or refuse a crawl that differs; returns the list's bytes."""
    uris = sorted({p.uri for p in parts})
    inputs = [{"uri": u, "bytes": fsspec.core.url_to_fs(u)[0].size(u)} for u in uris]
    plan = dict(config.shard_plan(), layout=LAYOUT, inputs=inputs)
    path = ws.path("shards", PLAN_FILE)
    if path.exists():
        pinned = json.loads(path.read_text())
        if pinned != plan:
            changed = sorted(k for k in plan.keys() | pinned.keys() if plan.get(k) != pinned.get(k))
            raise GristmillError(
                f"{ws.root} already holds a crawl with a different list or shard layout (differs in: "
                f"{', '.join(changed)}); re-run with the same list and options to resume, or use a new workspace"
            )
    else:
        write_json(plan, path)
    return sum(i["bytes"] for i in inputs)


def pin_settings(ws: Workspace, config: CrawlConfig) -> None:
    """Pin the output settings on the first crawl; refuse a later one with others, listing the differences."""
    settings = config.output_settings()
    path = ws.path("shards", SETTINGS_FILE)
    if not path.exists():
        write_json(settings, path)
        return
    pinned = json.loads(path.read_text())
    differing = [f"{OUTPUT_SETTINGS[k]} {pinned.get(k)} (pinned) vs {settings[k]} (now)"
                 for k in settings if pinned.get(k) != settings[k]]
    if differing:
        raise GristmillError(
            f"{ws.root} holds samples written with other settings: {'; '.join(differing)}. Re-run with the "
            "pinned settings to resume, or crawl into a new workspace to use the new ones"
        )


def prepare_shards(shards_dir: Path) -> None:
    """Finish or undo the commits a killed retry left half done, then delete the temporary files of shards a
    killed crawl left uncommitted (committed shards have no temporaries)."""
    recover_commits(shards_dir)
    for tmp in shards_dir.glob(".*.tmp-*"):
        tmp.unlink(missing_ok=True)
    for progress in shards_dir.glob(".*.progress.json"):
        progress.unlink(missing_ok=True)


def start_job(job: CrawlJob) -> "LocalProcesses | PipelineThread":
    """Local worker processes for the DirectRunner's multi_processing mode, else the pipeline in a thread."""
    config = job.config
    if config.runner in DIRECT_RUNNERS and config.direct_running_mode == "multi_processing":
        return LocalProcesses(job, split_shards(list(job.shards), config.direct_num_workers or os.cpu_count() or 1))
    return PipelineThread(job)


class PipelineThread:
    """The pipeline on the job's runner, in a thread of the driver (runners block differently)."""

    def __init__(self, job: CrawlJob):
        pipeline_options(job.config)  # raises on unknown options, before anything runs
        self.job = job
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="crawl-pipeline", daemon=True)

    def __enter__(self) -> "PipelineThread":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        pass  # a runner cannot be stopped from here; the daemon thread ends with the driver

    def _run(self) -> None:
        try:
            run_pipeline(self.job)
        except BaseException as exc:  # re-raised in the driver's thread by wait()
            self._error = exc

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s; True once the pipeline has finished; raises its failure."""
        self._thread.join(timeout)
        if self._error is not None:
            raise self._error
        return not self._thread.is_alive()
