"""Local multi-process crawls: disjoint shard sets, the same shards and bytes as in-process, failures raised."""
import json
import os
from pathlib import Path

import pytest

from curation.shards import read_media
from curation.workspace import Workspace
from pipelines.crawl.processes import split_shards
from tests.crawl.conftest import read_samples, run_crawl

MULTI = dict(direct_running_mode="multi_processing", direct_num_workers=2)


def test_split_shards_deals_disjoint_near_equal_sets():
    assert split_shards([5, 0, 3, 1, 4, 2, 6], 3) == [frozenset({0, 3, 6}), frozenset({1, 4}), frozenset({2, 5})]
    assert split_shards([7], 4) == [frozenset({7})]
    assert split_shards([], 2) == []
    with pytest.raises(ValueError, match="processes must be >= 1"):
        split_shards([1], 0)


def test_worker_processes_give_the_same_shards_and_bytes_as_one_process(corpus, server, tmp_path):
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.csv", "csv"))
    run_crawl(tmp_path / "one", url_list, shard_size=4)
    report = run_crawl(tmp_path / "two", url_list, shard_size=4, **MULTI)
    one, two = read_samples(tmp_path / "one"), read_samples(tmp_path / "two")
    # media_offset follows the order downloads finish in, which no run fixes; the bytes must match
    assert one.drop_columns(["media_offset"]) == two.drop_columns(["media_offset"])
    for a, b in zip(one.to_pylist(), two.to_pylist()):
        if a["media_path"] is not None:
            media = [read_media(root, r["media_path"], r["media_offset"], r["media_size"])
                     for root, r in ((tmp_path / "one", a), (tmp_path / "two", b))]
            assert media[0] == media[1]
    workers = {json.loads(p.read_text())["worker"] for p in Path(tmp_path, "two", "shards").glob("*.done")}
    assert len(workers) == 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    assert report.samples == len(corpus.items) and report.shards_this_run == report.shards


def test_a_worker_failure_is_raised_in_the_driver(corpus, server, tmp_path):
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.csv", "csv"))
    Workspace.init(tmp_path / "ws")
    for i in range(3):  # every shard's tar path is taken by a folder: committing fails in each worker
        (tmp_path / "ws" / "shards" / f"{i:05d}.tar").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="Is a directory") as info:
        run_crawl(tmp_path / "ws", url_list, **MULTI)
    assert any(note.startswith("raised in crawl worker") for note in info.value.__notes__)
    assert not list((tmp_path / "ws" / "shards").glob("*.done"))
