"""The crawl as a Beam pipeline, identical on every runner.

    shards to crawl ─Reshuffle─> CrawlShard (read the shard's plan, de-duplicate, download)
                    ─> one committed shard (tar + Parquet + .done marker) per planned shard

The driver has planned the list before (`plan.py`: `shards/plan/NNNNN.parquet` holds shard NNNNN's candidates,
every row of one URL in one shard), so a worker reads only the plan of the shard it crawls and nothing reads the
list: no GroupByKey holds the candidates in memory, and a resume costs what is left. `CrawlShard` skips shards
whose marker exists, creates its HTTP client and resizer in `setup()` and receives the workspace as a string,
so DoFns pickle to any worker that can reach the workspace's filesystem.

`run_pipeline(job)` runs the graph on the job's runner over `job.shards`; local worker processes
(`processes.py`) split one crawl by giving each its own shards. A job with `retry` set is a retry round
(`retry.py`): `RetryShard` fetches the round's failures of committed shards again through the same download path
and commits a new version of each shard (`curation.shard_versions`).
"""
import importlib
import json
import os
import queue
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from curation.atomic import write_json
from curation.errors import GristmillError
from curation.shard_versions import commit_version, shard_version
from curation.shards import ShardWriter, is_shard_done, read_shard, shard_name
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.fetch import Fetched, ImageFinisher, SampleFetcher
from pipelines.crawl.plan import read_shard_plan
from pipelines.crawl.records import Candidate, resolve_duplicates
from pipelines.crawl.retry_rows import RetryRound, failed_ids, merge_rows, retried_marker

DIRECT_RUNNERS = ("DirectRunner", "direct", "BundleBasedDirectRunner")


def progress_path(shards_dir: Path, shard: str) -> Path:
    """Where a shard in progress publishes its running counts (hidden: readers skip it)."""
    return Path(shards_dir) / f".{shard}.progress.json"


def pipeline_options(config: CrawlConfig) -> PipelineOptions:
    """Beam options: the runner, DirectRunner's workers and mode, then the passed-through arguments.

    A runner named by its module path (`apache_beam.runners.dask.dask_runner.DaskRunner`) has its module imported
    first: that is where its own options (`--dask_client_address`) are declared."""
    module = config.runner.rpartition(".")[0]
    if module:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise GristmillError(f"runner {config.runner}: cannot import {module} ({exc}); is its package "
                                 "installed? (DaskRunner: pip install 'gristmill[dask]')") from None
    args = [f"--runner={config.runner}", "--default_sdk_harness_log_level=ERROR"]
    if config.runner in DIRECT_RUNNERS:
        args += [f"--direct_num_workers={config.direct_num_workers}",
                 f"--direct_running_mode={config.direct_running_mode}"]
    options = PipelineOptions(args + list(config.beam_args))
    unknown = set(options.get_all_options(retain_unknown_options=True)) - set(options.get_all_options())
    if unknown:
        raise GristmillError(f"unknown Beam options: {', '.join(sorted('--' + u for u in unknown))}")
    return options


@dataclass(frozen=True)
class CrawlJob:
    """One crawl as the driver planned it: the options, the workspace and the planned shards to crawl (or, with
    `retry`, the committed shards to retry)."""

    config: CrawlConfig
    workspace: str
    shards: tuple[int, ...]
    retry: RetryRound | None = None


def run_pipeline(job: CrawlJob) -> None:
    """Run the crawl of `job.shards` on the job's runner until it finishes."""
    with beam.Pipeline(options=pipeline_options(job.config)) as p:
        build_pipeline(p, job)


def build_pipeline(p: beam.Pipeline, job: CrawlJob) -> beam.PCollection:
    """Add the crawl to `p`; the result holds one stats dict per shard crawled."""
    config_json = job.config.model_dump_json()
    step = CrawlShard(job.workspace, config_json) if job.retry is None else RetryShard(job.workspace, config_json,
                                                                                       job.retry)
    return (
        p
        | "Shards" >> beam.Create(job.shards)
        | "SpreadShards" >> beam.Reshuffle()
        | "CrawlShard" >> beam.ParDo(step)
    )


def dedupe(candidates: Iterable[Candidate], one_sample_per_url: bool = False) -> list[Candidate]:
    """One shard's candidates -> its unique samples, sorted by sample_id (duplicates resolved per URL)."""
    by_url: dict[str, list[Candidate]] = {}
    for cand in candidates:
        by_url.setdefault(cand.url, []).append(cand)
    unique = [c for group in by_url.values() for c in resolve_duplicates(group, one_sample_per_url)]
    return sorted(unique, key=lambda c: c.sample_id)


def fetch_once_per_url(samples: list[Candidate]) -> tuple[list[Candidate], dict[str, list[Candidate]]]:
    """(the samples to download, the other samples of each one's URL by its sample_id): of the samples still to
    fetch, the first of a URL in input order downloads it and the others share what it gets."""
    leaders: dict[str, Candidate] = {}
    to_fetch: list[Candidate] = []
    sharing: dict[str, list[Candidate]] = {}
    for cand in sorted(samples, key=lambda c: c.position):
        leader = leaders.setdefault(cand.url, cand) if cand.status is None else cand
        if leader is cand:
            to_fetch.append(cand)
        else:
            sharing.setdefault(leader.sample_id, []).append(cand)
    return sorted(to_fetch, key=lambda c: c.sample_id), sharing


class CrawlShard(beam.DoFn):
    """Download (each URL once), verify and write one shard; commits atomically and skips committed shards."""

    def __init__(self, workspace: str, config_json: str):
        self.workspace = workspace
        self.config_json = config_json

    def setup(self):
        self.config = CrawlConfig.model_validate_json(self.config_json)
        self.fetcher = SampleFetcher(self.config)
        self.finisher = ImageFinisher(self.config)

    def teardown(self):
        self.fetcher.close()

    def process(self, index: int) -> Iterator[dict]:
        shard = shard_name(index)
        shards_dir = Path(self.workspace) / "shards"
        if is_shard_done(shards_dir, shard):
            return
        samples = dedupe(read_shard_plan(shards_dir, shard), self.config.one_sample_per_url)
        yield self._crawl(shard, shards_dir, samples)

    def _crawl(self, shard: str, shards_dir: Path, candidates: list[Candidate]) -> dict:
        writer = ShardWriter(Path(self.workspace), shard)
        try:
            tally = self._fetch_into(writer, shards_dir, candidates)
            writer.commit(tally.as_dict())
        except BaseException:
            writer.abort()
            raise
        return dict(tally.as_dict(), shard=shard)

    def _fetch_into(self, writer: ShardWriter, shards_dir: Path, candidates: list[Candidate]) -> "ShardTally":
        """Fetch `candidates` (each URL once) into `writer`, rows sorted by sample_id; returns their tally."""
        tally = ShardTally(total=len(candidates), input_rows=sum(c.copies for c in candidates))
        progress_file = progress_path(shards_dir, writer.shard)
        to_fetch, sharing = fetch_once_per_url(candidates)
        try:
            for fetched in self._download_all(to_fetch):
                done = self.finisher.finish(fetched)
                writer.add(done.row, done.media, done.ext)
                tally.add(done.row)
                fetched_row = writer.rows[-1]
                for pair in sharing.get(done.row["sample_id"], ()):
                    row = dict(done.row, sample_id=pair.sample_id, caption=pair.caption, extra=pair.extra)
                    writer.add_sharing(row, fetched_row)
                    tally.add(row)
                if tally.due(self.config.progress_interval):
                    write_json(tally.as_dict(), progress_file)
        finally:
            progress_file.unlink(missing_ok=True)
        writer.rows.sort(key=lambda r: r["sample_id"])  # deterministic Parquet whatever the finishing order
        return tally

    def _download_all(self, candidates: list[Candidate]) -> Iterator[Fetched]:
        """Fetched samples in completion order, at most 2 x threads in flight (bounded memory)."""
        window = 2 * self.config.threads
        finished: queue.SimpleQueue = queue.SimpleQueue()
        with ThreadPoolExecutor(self.config.threads, thread_name_prefix="crawl") as pool:
            in_flight = 0
            for cand in candidates:
                pool.submit(self.fetcher.download, cand).add_done_callback(finished.put)
                in_flight += 1
                if in_flight >= window:
                    yield finished.get().result()
                    in_flight -= 1
            for _ in range(in_flight):
                yield finished.get().result()


class RetryShard(CrawlShard):
    """Fetch the round's failures of one committed shard again and commit the shard's new version; skips shards
    already at this round's version and shards without such failures."""

    def __init__(self, workspace: str, config_json: str, retry: RetryRound):
        super().__init__(workspace, config_json)
        self.retry = retry

    def process(self, index: int) -> Iterator[dict]:
        shard = shard_name(index)
        shards_dir = Path(self.workspace) / "shards"
        if shard_version(shards_dir, shard) >= self.retry.round:
            return
        rows = read_shard(Path(self.workspace), shard).to_pylist()
        failed = failed_ids(rows, self.retry.kinds)
        if not failed:
            return
        planned = dedupe(read_shard_plan(shards_dir, shard), self.config.one_sample_per_url)
        writer = ShardWriter(Path(self.workspace), shard, version=self.retry.round)
        try:
            attempt = self._fetch_into(writer, shards_dir, [c for c in planned if c.sample_id in failed]).as_dict()
            writer.rows = merge_rows(rows, writer.rows, self.retry.round)
            marker = retried_marker(json.loads((shards_dir / f"{shard}.done").read_text()), writer.rows, attempt,
                                    self.retry)
            commit_version(writer, writer.table(), marker)
        except BaseException:
            writer.abort()
            raise
        yield dict(attempt, shard=shard)


class ShardTally:
    """Running counts of one shard, written to its progress file and, at commit, its marker."""

    def __init__(self, total: int, input_rows: int):
        self.total = total
        self.input_rows = input_rows
        self.rows = 0
        self.statuses: Counter = Counter()
        self.successes_by_type: Counter = Counter()
        self.bytes_downloaded = 0
        self.started = time.monotonic()
        self.started_at = time.time()
        self._last_write = self.started

    def add(self, row: dict) -> None:
        self.rows += 1
        self.statuses[row["status"]] += 1
        if row["status"] == "success":
            self.successes_by_type[row["media_type"]] += 1
        self.bytes_downloaded += row.get("original_bytes") or 0

    def due(self, interval: float) -> bool:
        """True once per `interval` seconds."""
        now = time.monotonic()
        if now - self._last_write < interval:
            return False
        self._last_write = now
        return True

    def as_dict(self) -> dict:
        return {
            "total": self.total, "done": self.rows, "input_rows": self.input_rows,
            "status_counts": dict(sorted(self.statuses.items())),
            "successes_by_type": dict(sorted(self.successes_by_type.items())),
            "bytes_downloaded": self.bytes_downloaded, "elapsed_s": round(time.monotonic() - self.started, 3),
            "started_at": self.started_at, "worker": f"{socket.gethostname()}:{os.getpid()}",
        }
