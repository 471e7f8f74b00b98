"""`retry_failed()`: a retry round over a crawled workspace, to recover transient failures and measure link rot.

Every committed shard with samples whose status is one of the round's kinds (default `status.TRANSIENT_KINDS`)
has just those samples fetched again, by the crawl's own pipeline and download path (`pipeline.RetryShard`) with
the crawl's recorded settings (`shards/crawl-config.json`: politeness, opt-outs, address safety, caps, and the
pinned resize and encode settings); `overrides` may change what does not decide the plan or the bytes written
(a longer timeout, fewer threads, another runner). Each rewritten shard is committed as a new version
(`curation.shard_versions`), so a retry killed at any point loses nothing committed, and the round is recorded in
`shards/crawl-rounds.json` (`rounds.py`) for the report's per-round counts. The retry holds the crawl lock.
"""
import json
import time
from pathlib import Path

from rich.console import Console

from curation.errors import GristmillError
from curation.workspace import CONFIG_NAME, Workspace
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.lock import crawl_lock
from pipelines.crawl.pipeline import CrawlJob
from pipelines.crawl.plan import MANIFEST, plan_folder
from pipelines.crawl.report import CrawlReport, ProgressMonitor, build_report, read_markers
from pipelines.crawl.retry_rows import RetryRound, retry_round_of
from pipelines.crawl.rounds import begin_round, finish_round
from pipelines.crawl.run import CONFIG_FILE, pin_settings, prepare_shards, publish, run_job
from pipelines.crawl.status import FAILURE_KINDS, TRANSIENT_KINDS


def retry_failed(workspace: str | Path, kinds: list[str] | None = None, overrides: dict | None = None,
                 console: Console | None = None) -> CrawlReport:
    """Run one retry round over the crawl in `workspace` and return the report (with every round's counts).

    `kinds`: the failure kinds to fetch again (default TRANSIENT_KINDS); `overrides`: CrawlConfig fields to change
    from the crawl's, e.g. {"timeout": 30.0}. Raises GristmillError for an unknown kind, a workspace without a
    complete crawl, overrides that change the list, the shard layout or the output settings, or a workspace
    another process is crawling.
    """
    chosen = check_kinds(kinds)
    if not (Path(workspace) / CONFIG_NAME).is_file():
        raise GristmillError(f"{workspace} holds no crawl to retry (not a gristmill workspace)")
    ws = Workspace.open(Path(workspace))
    with crawl_lock(ws.root):
        return _retry_locked(ws, chosen, overrides or {}, console)


def check_kinds(kinds: list[str] | None) -> tuple[str, ...]:
    """The kinds to retry, checked against the failure vocabulary; TRANSIENT_KINDS when none are given."""
    if not kinds:
        return TRANSIENT_KINDS
    unknown = [k for k in kinds if k not in FAILURE_KINDS]
    if unknown:
        raise GristmillError(f"unknown failure kind(s): {', '.join(unknown)}; known kinds: "
                             f"{', '.join(sorted(FAILURE_KINDS))}")
    return tuple(dict.fromkeys(kinds))


def _retry_locked(ws: Workspace, kinds: tuple[str, ...], overrides: dict, console: Console | None) -> CrawlReport:
    shards_dir = ws.path("shards")
    prepare_shards(shards_dir)
    markers = _complete_crawl(ws)
    config = _retry_config(ws, overrides)
    entry = begin_round(shards_dir, kinds, markers)
    retry = RetryRound(entry.round, kinds)
    pending = [name for name, m in markers.items()
               if retry_round_of(m) < retry.round and any(m["status_counts"].get(k) for k in kinds)]
    out = console if config.progress else None
    if out is not None:
        out.print(f"retry round {retry.round}: {', '.join(kinds)} in {len(pending):,} of {len(markers):,} shards")
    job = CrawlJob(config, str(ws.root.resolve()), tuple(int(name) for name in pending), retry)
    started = time.time()
    skipped = set(markers) - set(pending)
    run_job(job, ProgressMonitor(shards_dir, skipped, out, retry_round=retry.round))
    finish_round(shards_dir, retry.round, read_markers(shards_dir))
    return publish(ws, build_report(ws.root, config.urls, config.runner, started, skipped, retry.round), out)


def _retry_config(ws: Workspace, overrides: dict) -> CrawlConfig:
    """The crawl's recorded configuration with `overrides`; refuses overrides of the list, layout or output."""
    path = ws.path("shards", CONFIG_FILE)
    if not path.exists():
        raise GristmillError(f"{ws.root} has no recorded crawl settings ({path.name}) to retry with: crawl it "
                             "first, or re-run its crawl command once (it resumes; nothing is fetched again)")
    crawled = CrawlConfig.model_validate_json(path.read_text())
    config = CrawlConfig.model_validate({**crawled.model_dump(), **overrides})
    fixed, now = dict(crawled.shard_plan(), urls=crawled.urls), dict(config.shard_plan(), urls=config.urls)
    changed = sorted(k for k in fixed if fixed[k] != now[k])
    if changed:
        raise GristmillError(f"a retry fetches the crawl's own samples: it cannot change {', '.join(changed)} "
                             f"(the crawl's: {', '.join(f'{k}={fixed[k]!r}' for k in changed)})")
    pin_settings(ws, config)
    return config


def _complete_crawl(ws: Workspace) -> dict[str, dict]:
    """The markers of the workspace's shards; refuses a workspace whose crawl has not committed every shard."""
    shards_dir = ws.path("shards")
    manifest = plan_folder(shards_dir) / MANIFEST
    markers = read_markers(shards_dir)
    if not markers or not manifest.is_file():
        raise GristmillError(f"{ws.root} holds no committed crawl to retry: crawl it first (gristmill crawl "
                             f"{ws.root} --urls LIST)")
    planned = json.loads(manifest.read_text())["planned"]
    missing = sorted(set(planned) - set(markers))
    if missing:
        raise GristmillError(f"the crawl of {ws.root} is not complete ({len(planned) - len(missing)} of "
                             f"{len(planned)} shards committed): resume it with its crawl command first")
    return markers
