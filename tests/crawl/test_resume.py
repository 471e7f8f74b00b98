"""SIGKILL a running `gristmill crawl` after its first shard commits, re-run it: the same samples, no refetching.

Run in-process and with local worker processes (`--direct-running-mode multi_processing`), whose workers must
die with the killed driver.
"""
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from curation.shards import read_media
from tests.crawl.conftest import read_samples, run_crawl, write_list

COLUMNS = ["sample_id", "url", "caption", "status", "sha256", "width", "height", "shard", "extra"]


RUNNER_FLAGS = {"in_memory": [], "multi_processing": ["--direct-running-mode", "multi_processing",
                                                      "--direct-num-workers", "2"]}


def cli(workspace: Path, url_list: str, mode: str) -> list[str]:
    return [sys.executable, "-m", "gristmill.cli", "crawl", str(workspace), "--urls", url_list,
            "--allow-private-network", "--shard-size", "4", "--threads", "2", "--timeout", "5", "--no-progress",
            *RUNNER_FLAGS[mode]]


def slow_list(corpus, server, path: Path) -> str:
    """The corpus plus each image again behind a 0.3 s delay: about a dozen shards that take a while."""
    tag = uuid.uuid4().hex[:8]
    images = [i for i in corpus.items if i.media_type == "image"]
    urls = [server.url(i.relpath) + f"?r={tag}" for i in corpus.items]
    urls += [server.url(i.relpath, "slow", seconds=0.3) + f"?r={tag}" for i in images]
    captions = [i.caption for i in corpus.items] + [f"slow {i.caption}" for i in images]
    return write_list(path, urls, captions, n=list(range(len(urls))))


def wait_for_first_commit(proc: subprocess.Popen, shards: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not list(shards.glob("[!.]*.done")):
        assert proc.poll() is None, f"crawl ended before committing a shard: {proc.communicate()}"
        assert time.monotonic() < deadline, "no shard committed in time"
        time.sleep(0.01)


@pytest.mark.parametrize("mode", [pytest.param("in_memory", marks=pytest.mark.slow), "multi_processing"])
def test_sigkill_then_resume_gives_exactly_the_uninterrupted_samples(corpus, server, tmp_path, mode):
    url_list = slow_list(corpus, server, tmp_path / "list.parquet")
    ws = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(cli(ws, url_list, mode), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for_first_commit(proc, ws / "shards")
    workers = psutil.Process(proc.pid).children(recursive=True)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "worker processes outlived the killed driver"
    assert len(workers) == (2 if mode == "multi_processing" else 0)
    committed = sorted(p.stem for p in (ws / "shards").glob("[!.]*.done"))
    committed_urls = [u for s in committed for u in pq.read_table(ws / "shards" / f"{s}.parquet")["url"].to_pylist()]
    hits_before = {u: server.hits(u) for u in committed_urls}

    rerun = subprocess.run(cli(ws, url_list, mode), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert {u: server.hits(u) for u in committed_urls} == hits_before  # committed shards not fetched again
    assert not list((ws / "shards").glob(".*")), "temporary files left behind"
    assert len(committed) < len(list((ws / "shards").glob("*.done"))), "the kill came too late to interrupt"

    run_crawl(tmp_path / "uninterrupted", url_list, shard_size=4)
    resumed, reference = read_samples(ws), read_samples(tmp_path / "uninterrupted")
    assert resumed.select(COLUMNS) == reference.select(COLUMNS)
    assert resumed.num_rows == len(pq.read_table(url_list))
    for row in resumed.to_pylist():
        if row["status"] == "success":
            assert len(read_media(ws, row["media_path"], row["media_offset"], row["media_size"])) == row["media_size"]
