"""Crawl (URL, caption) lists into WebDataset shards: `crawl(workspace, CrawlConfig(urls=...))`.

Modules, in pipeline order: `inputs` (reading lists), `records` (normalise, repair, identify, de-duplicate,
shard), `batches` (the same over Arrow batches), `plan` (the list planned once into `shards/plan/`, streaming),
`orphans` (helper processes that die with the driver), `urls` (URL normalisation, address safety), `http` (vetted downloads, retries), `politeness` (per-host
limits, backoff, circuit breaker), `optouts` with `robots` and `tdmrep` (site opt-outs), `images` and `video`
(verification, probe), `fetch` (one sample to one row), `pipeline` (the Beam graph), `processes` (local
multi-process runs), `report` (progress and report), `run` (the `crawl()` entry point), `retry` (the
`retry_failed()` entry point: a retry round) with `retry_rows` (a retried shard's rows) and `rounds` (the record
of rounds). `status` documents the failure vocabulary; RUNNERS.md the runners.
"""
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.report import CrawlReport
from pipelines.crawl.retry import retry_failed
from pipelines.crawl.run import crawl

__all__ = ["CrawlConfig", "CrawlReport", "crawl", "retry_failed"]
