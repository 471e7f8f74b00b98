"""The persisted plan: one file per shard, the same whatever the bucket count, resumed without reading the list."""
import json
import multiprocessing
import os
import signal
import time
from pathlib import Path

import psutil
import pyarrow.parquet as pq
import pytest

from curation.shards import shard_name
from pipelines.crawl import pipeline, plan
from pipelines.crawl.config import VIDEO_EXTENSIONS
from pipelines.crawl.inputs import Columns, plan_inputs
from pipelines.crawl.records import shard_count, shard_of, url_shard_key
from tests.crawl.conftest import read_samples, run_crawl, write_list

COLUMNS = Columns("url", "caption")


def make_plan(tmp_path: Path, name: str, url_list: str, shard_size: int) -> tuple[dict, Path]:
    shards_dir = tmp_path / name
    parts = plan_inputs(url_list, "auto", COLUMNS)
    size = os.path.getsize(url_list)
    return plan.load_or_make_plan(shards_dir, parts, COLUMNS, shard_size, list(VIDEO_EXTENSIONS), size), shards_dir


def plan_rows(shards_dir: Path) -> dict[str, list[dict]]:
    return {p.stem: pq.read_table(p).to_pylist() for p in sorted((shards_dir / "plan").glob("*.parquet"))}


@pytest.fixture
def url_list(tmp_path) -> str:
    """2000 rows: 1500 URLs, some repeated with other captions, some unusable."""
    urls = [f"http://h{i % 7}.example.com/{i % 1500}.jpg" for i in range(1990)] + ["ftp://x/a", ""] * 5
    return write_list(tmp_path / "list.parquet", urls, [f"c{i % 3}" for i in range(2000)], w=list(range(2000)))


def test_many_buckets_give_the_plan_of_one_and_every_url_meets_in_its_shard(tmp_path, url_list, monkeypatch):
    one, one_dir = make_plan(tmp_path, "one", url_list, shard_size=64)
    monkeypatch.setattr(plan, "BUCKET_ROWS", 50)
    sizes = []
    read_bucket = plan._read_bucket
    monkeypatch.setattr(plan, "_read_bucket", lambda *a: sizes.append((t := read_bucket(*a)).num_rows) or t)
    many, many_dir = make_plan(tmp_path, "many", url_list, shard_size=64)
    assert one["buckets"] == 1 and many["buckets"] > 16
    assert max(sizes) < 2000 / 8  # no pass holds the whole list
    assert (one["rows"], one["shards"], one["planned"]) == (many["rows"], many["shards"], many["planned"])
    assert many["shards"] == shard_count(2000, 64)
    assert plan_rows(one_dir) == plan_rows(many_dir)
    rows = plan_rows(many_dir)
    assert sum(len(r) for r in rows.values()) == 2000 == sum(many["planned"].values())
    assert {name: len(r) for name, r in rows.items()} == many["planned"]
    for name, shard in rows.items():
        assert {shard_name(shard_of(url_shard_key(r["url"]), many["shards"])) for r in shard} == {name}
        assert [r["row_index"] for r in shard] == sorted(r["row_index"] for r in shard)
    assert not (many_dir / "plan" / ".spill").exists()


def test_a_complete_plan_is_read_not_redone(tmp_path, url_list, monkeypatch):
    first, shards_dir = make_plan(tmp_path, "ws", url_list, shard_size=64)
    monkeypatch.setattr(plan, "read_batches", lambda *a: pytest.fail("the list was read again"))
    assert make_plan(tmp_path, "ws", url_list, shard_size=64)[0] == first


def test_resume_reads_only_the_plans_of_uncommitted_shards_and_never_the_list(corpus, server, tmp_path,
                                                                             monkeypatch):
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.parquet", "parquet"))
    ws = tmp_path / "ws"
    run_crawl(ws, url_list, shard_size=4)
    reference = read_samples(ws)
    manifest = json.loads((ws / "shards" / "plan" / "manifest.json").read_text())
    lost = sorted(manifest["planned"])[1]
    for suffix in (".done", ".parquet", ".tar"):
        (ws / "shards" / f"{lost}{suffix}").unlink()
    read = []
    monkeypatch.setattr(plan, "read_batches", lambda *a: pytest.fail("the list was read again"))
    monkeypatch.setattr(pipeline, "read_shard_plan", lambda d, s: read.append(s) or plan.read_shard_plan(d, s))
    report = run_crawl(ws, url_list, shard_size=4)
    assert read == [lost] and report.shards_this_run == 1
    assert read_samples(ws).drop_columns(["media_offset"]) == reference.drop_columns(["media_offset"])


def _plan_then_die(ws: Path, url_list: str, after: int) -> None:
    """Crawl, but SIGKILL this process once `after` shard plans are written."""
    written = []
    write = plan.write_parquet

    def write_then_die(table, path):
        write(table, path)
        written.append(path)
        if len(written) == after:
            os.kill(os.getpid(), signal.SIGKILL)

    plan.write_parquet = write_then_die
    run_crawl(ws, url_list, shard_size=4)


@pytest.mark.parametrize("mode", ["in_memory", "multi_processing"])
def test_sigkill_during_planning_then_rerun_gives_the_uninterrupted_samples(corpus, server, tmp_path, mode):
    url_list = str(corpus.write_url_list(server.base_url, tmp_path / "list.parquet", "parquet"))
    ws = tmp_path / "killed"
    child = multiprocessing.get_context("fork").Process(target=_plan_then_die, args=(ws, url_list, 2))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    assert len(list((ws / "shards" / "plan").glob("*.parquet"))) == 2
    assert not (ws / "shards" / "plan" / "manifest.json").exists() and not list((ws / "shards").glob("*.done"))

    options = dict(direct_running_mode=mode, direct_num_workers=2) if mode == "multi_processing" else {}
    run_crawl(ws, url_list, shard_size=4, **options)
    run_crawl(tmp_path / "uninterrupted", url_list, shard_size=4)
    resumed, reference = read_samples(ws), read_samples(tmp_path / "uninterrupted")
    assert resumed.drop_columns(["media_offset"]) == reference.drop_columns(["media_offset"])
    assert resumed.num_rows == len(corpus.items)
    assert not list((ws / "shards" / "plan").glob(".*"))


def _die_in_a_planning_worker(ws: Path, url_list: str, pids: Path) -> None:
    """Crawl; the first planning worker to read a batch SIGKILLs the driver, then would linger for two minutes."""
    driver = os.getpid()
    candidates = plan.candidate_batch

    def kill_driver(batch, exts):
        if os.getpid() != driver:
            (pids / str(os.getpid())).touch()
            os.kill(driver, signal.SIGKILL)
            time.sleep(120)
        return candidates(batch, exts)

    plan.candidate_batch = kill_driver
    run_crawl(ws, url_list, shard_size=4)


def test_planning_workers_die_with_a_killed_driver_and_the_rerun_plans_the_same(corpus, server, tmp_path):
    listed = pq.read_table(corpus.write_url_list(server.base_url, tmp_path / "one.parquet", "parquet"))
    pq.write_table(listed, tmp_path / "list.parquet", row_group_size=5)  # 5 parts for the planning workers
    url_list, ws, pids = str(tmp_path / "list.parquet"), tmp_path / "killed", tmp_path / "pids"
    pids.mkdir()
    child = multiprocessing.get_context("fork").Process(target=_die_in_a_planning_worker, args=(ws, url_list, pids))
    child.start()
    child.join(120)
    assert child.exitcode == -signal.SIGKILL
    workers = [psutil.Process(int(p.name)) for p in pids.iterdir() if psutil.pid_exists(int(p.name))]
    _, alive = psutil.wait_procs(workers, timeout=30)
    for survivor in alive:  # not left behind when the assertion fails
        survivor.kill()
    assert list(pids.iterdir()) and not alive, "planning workers outlived the killed driver"
    assert not (ws / "shards" / "plan" / "manifest.json").exists()
    run_crawl(ws, url_list, shard_size=4)
    run_crawl(tmp_path / "uninterrupted", url_list, shard_size=4)
    assert plan_rows(ws / "shards") == plan_rows(tmp_path / "uninterrupted" / "shards")
    assert read_samples(ws).num_rows == read_samples(tmp_path / "uninterrupted").num_rows == len(corpus.items)


def test_worker_processes_plan_what_one_process_plans(tmp_path, url_list, monkeypatch):
    monkeypatch.setattr(plan, "BUCKET_ROWS", 100)
    pq.write_table(pq.read_table(url_list), tmp_path / "groups.parquet", row_group_size=300)  # 7 parts
    parts = plan_inputs(str(tmp_path / "groups.parquet"), "auto", COLUMNS)
    made = [plan.load_or_make_plan(tmp_path / f"w{w}", parts, COLUMNS, 64, list(VIDEO_EXTENSIONS), 40_000, workers=w)
            for w in (1, 3)]
    assert made[0] == made[1] and made[0]["rows"] == 2000 and made[0]["buckets"] > 1
    assert plan_rows(tmp_path / "w1") == plan_rows(tmp_path / "w3")
