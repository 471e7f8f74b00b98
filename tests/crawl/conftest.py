"""Crawl test fixtures: a small synthetic corpus served by the loopback fixture server, and crawl helpers."""
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curation.synthetic.corpus import CorpusSpec, generate_corpus
from curation.synthetic.server import FixtureServer
from pipelines.crawl import CrawlConfig, crawl
from pipelines.crawl.inputs import Columns, plan_inputs, read_batches, text_value
from pipelines.crawl.records import RawRow

# fast, loopback-friendly settings: tests always pass --allow-private-network explicitly; one fixture server is
# every URL's host, so its request rate is not capped (test_politeness.py tests the per-host limits)
TEST_OPTIONS = dict(allow_private_network=True, timeout=2.0, backoff=0.05, max_retry_after=5.0, threads=8,
                    progress=False, shard_size=8, host_rps=1000.0)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """20 images (JPEG and PNG) and 2 H.264 videos with ground truth."""
    return generate_corpus(tmp_path_factory.mktemp("corpus"), CorpusSpec(seed=3, n_images=20, n_videos=2))


@pytest.fixture(scope="session")
def server(corpus):
    with FixtureServer(corpus.media_dir) as srv:
        yield srv


@pytest.fixture
def jpg(corpus) -> str:
    return next(i.relpath for i in corpus.items if i.relpath.endswith(".jpg"))


@pytest.fixture
def png(corpus) -> str:
    return next(i.relpath for i in corpus.items if i.relpath.endswith(".png"))


@pytest.fixture
def mp4(corpus) -> str:
    return next(i.relpath for i in corpus.items if i.media_type == "video")


def write_list(path: Path, urls: list[str], captions: list[str | None] | None = None, **extra) -> str:
    """A Parquet URL list with url, caption and any extra columns."""
    captions = captions if captions is not None else [f"caption {i}" for i in range(len(urls))]
    pq.write_table(pa.table({"url": urls, "caption": captions, **extra}), path)
    return str(path)


def read_rows(spec: str, columns: Columns, fmt: str = "auto") -> list[RawRow]:
    """Every row of a list as the planner reads it (`read_batches`), as RawRows with the carried columns decoded."""
    out: list[RawRow] = []
    for part in plan_inputs(spec, fmt, columns):
        for batch in read_batches(part, columns):
            if batch.rows is not None:
                out += batch.rows
                continue
            captions = batch.captions.to_pylist() if batch.captions is not None else [None] * len(batch.extras)
            out += [RawRow((part.file_index, part.part_index, batch.row_start + i), text_value(u), text_value(c),
                           json.loads(e) if e else {})
                    for i, (u, c, e) in enumerate(zip(batch.urls.to_pylist(), captions, batch.extras))]
    return out


def run_crawl(workspace: Path, urls: str, **options):
    """crawl() with the test defaults, overridable."""
    return crawl(workspace, CrawlConfig(urls=urls, **{**TEST_OPTIONS, **options}))


def read_samples(workspace: Path) -> pa.Table:
    """Every committed shard's rows, sorted by sample_id."""
    files = sorted(Path(workspace, "shards").glob("[!.]*.parquet"))
    return pa.concat_tables(pq.read_table(f) for f in files).sort_by("sample_id")


def by_url(table: pa.Table) -> dict[str, dict]:
    return {row["url"]: row for row in table.to_pylist()}
