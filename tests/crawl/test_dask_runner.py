"""The crawl on a real cluster engine: Beam's DaskRunner on a dask.distributed scheduler with two worker processes.

The same code reaches a real cluster through dask-jobqueue (SLURM, PBS) or dask-kubernetes: only the scheduler
address changes (pipelines/crawl/RUNNERS.md).
"""
import os

import pytest

from curation.shards import read_media
from tests.crawl.conftest import read_samples, run_crawl

distributed = pytest.importorskip("distributed")
DASK_RUNNER = "apache_beam.runners.dask.dask_runner.DaskRunner"


@pytest.fixture
def dask_cluster():
    """A scheduler and two worker processes (not threads of this process), torn down after the test."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            yield cluster, client


def test_dask_runner_crawls_in_worker_processes_as_direct_runner_does(corpus, server, tmp_path, dask_cluster):
    cluster, client = dask_cluster
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.tsv", "tsv"))
    with distributed.get_task_stream(client) as tasks:
        report = run_crawl(tmp_path / "dask", url_list, runner=DASK_RUNNER,
                           beam_args=[f"--dask_client_address={cluster.scheduler_address}"])
    assert report.samples == len(corpus.items) and report.successes == len(corpus.items)
    assert tasks.data and {t["worker"] for t in tasks.data} <= set(cluster.scheduler_info["workers"])
    worker_pids = set(client.run(os.getpid).values())
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids  # the stages ran in those processes
    run_crawl(tmp_path / "direct", url_list)
    cols = ["sample_id", "status", "sha256", "width", "height", "shard", "media_size"]
    assert read_samples(tmp_path / "dask").select(cols) == read_samples(tmp_path / "direct").select(cols)
    media = {}
    for side in ("dask", "direct"):  # the same stored bytes per sample (member order in a tar follows completion)
        rows = read_samples(tmp_path / side).to_pylist()
        media[side] = {r["sample_id"]: read_media(tmp_path / side, r["media_path"], r["media_offset"], r["media_size"])
                       for r in rows if r["media_path"]}
    assert media["dask"] == media["direct"] and len(media["dask"]) == len(corpus.items)
