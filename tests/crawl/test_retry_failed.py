"""`gristmill crawl WS --retry-failed`: transient failures fetched again into new shard versions, against the fixture
server (URLs that fail the first time and then answer), with crashes simulated around the commit."""
import hashlib
import json
import uuid
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from rich.console import Console

from curation import shard_versions
from curation.catalog import Catalog
from curation.shard_versions import shard_version
from curation.shards import read_media
from curation.workspace import Workspace
from gristmill.cli import main as cli_main
from pipelines.crawl import retry_failed
from pipelines.crawl.report import ProgressMonitor, summary
from pipelines.crawl.rounds import read_rounds
from tests.crawl.conftest import by_url, read_samples, run_crawl, write_list

# the first crawl: no retries inside the crawl, a timeout the slow URL cannot meet; the breaker never opens
FIRST = dict(retries=0, timeout=0.5, host_failures=1000)
PATIENT = {"timeout": 5.0}  # the retry's override: the slow URL now answers in time


@pytest.fixture
def crawled(corpus, server, tmp_path):
    """A crawl where six samples fail transiently (5xx, 503, 429, a timeout; one URL with two captions) and two
    with 404; each failing image is also in the list at its plain URL, to compare bytes. Returns (ws, urls)."""
    tag = uuid.uuid4().hex[:8]
    images = [i.relpath for i in corpus.items if i.media_type == "image"]
    transient = {"flaky": server.url(images[0], "flaky", n=1), "503": server.url(images[1], "503retry", retry_after=0),
                 "429": server.url(images[2], "429", retry_after=0), "slow": server.url(images[3], "slow", seconds=1.5),
                 "shared": server.url(images[4], "flaky", n=1)}
    urls = {name: f"{u}?t={tag}" for name, u in transient.items()}
    urls |= {f"404-{k}": server.url(f"gone-{k}.jpg", "status", code=404) + f"?t={tag}" for k in range(2)}
    urls |= {f"plain-{k}": server.url(images[k]) + f"?t={tag}" for k in range(6)}
    names = list(urls) + ["shared"]
    captions = [f"caption {n}" for n in urls] + ["another caption of shared"]
    url_list = write_list(tmp_path / "list.parquet", [urls[n] for n in names], captions)
    ws = tmp_path / "ws"
    run_crawl(ws, url_list, **FIRST)
    return ws, urls


def statuses(ws: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in read_samples(ws).to_pylist():
        out.setdefault(row["url"], []).append(row["status"])
    return {u: sorted(s) for u, s in out.items()}


def media(ws: Path, row: dict) -> bytes:
    return read_media(ws, row["media_path"], row["media_offset"], row["media_size"])


def catalog_ids(ws: Path) -> list[str]:
    catalog = Catalog(Workspace.open(ws))
    return [r[0] for r in catalog.con.execute("SELECT sample_id FROM samples ORDER BY sample_id").fetchall()]


def tar_digests(ws: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (ws / "shards").glob("*.tar")}


def test_the_crawl_fails_as_designed(crawled):
    ws, urls = crawled
    got = statuses(ws)
    assert got[urls["flaky"]] == got[urls["503"]] == ["http_5xx"]
    assert got[urls["429"]] == ["http_429"] and got[urls["slow"]] == ["timeout"]
    assert got[urls["shared"]] == ["http_5xx", "http_5xx"] and got[urls["404-0"]] == ["http_404"]
    assert all(got[urls[f"plain-{k}"]] == ["success"] for k in range(6))


def test_retry_recovers_transient_failures_into_a_new_version(crawled, server):
    ws, urls = crawled
    before = read_samples(ws)
    ids_before, tars_before = catalog_ids(ws), tar_digests(ws)
    hits_404 = server.hits(urls["404-0"])

    code = cli_main(["crawl", str(ws), "--retry-failed", "--no-progress", "--timeout", "5"])

    assert code == 0
    after = read_samples(ws)
    rows = by_url(after)
    for name in ("flaky", "503", "429", "slow", "shared"):
        assert rows[urls[name]]["status"] == "success", name
    plain = {k: media(ws, rows[urls[f"plain-{k}"]]) for k in range(5)}
    for k, name in enumerate(("flaky", "503", "429", "slow", "shared")):
        assert media(ws, rows[urls[name]]) == plain[k], f"{name}: other bytes than the same image crawled plainly"
        assert rows[urls[name]]["media_path"].endswith(".r1.tar")
    shared = [r for r in after.to_pylist() if r["url"] == urls["shared"]]
    assert len(shared) == 2 and len({(r["media_path"], r["media_offset"]) for r in shared}) == 1  # fetched once
    assert server.hits(urls["shared"]) == 2  # once by the crawl, once by the retry
    # permanent failures are not fetched again; every other row is exactly as it was
    assert server.hits(urls["404-0"]) == hits_404 and rows[urls["404-0"]]["status"] == "http_404"
    retried = {urls[n] for n in ("flaky", "503", "429", "slow", "shared")}
    unchanged = [r for r in before.to_pylist() if r["url"] not in retried]
    assert [r for r in after.to_pylist() if r["url"] not in retried] == unchanged
    # old tars untouched; no sample lost or doubled in the catalog
    assert {k: v for k, v in tar_digests(ws).items() if ".r" not in k} == tars_before
    assert catalog_ids(ws) == ids_before and len(set(ids_before)) == len(ids_before) == before.num_rows
    rewritten = {r["shard"] for r in after.to_pylist() if r["url"] in retried}
    assert {s: shard_version(ws / "shards", s) for s in rewritten} == {s: 1 for s in rewritten}


def test_report_shows_each_rounds_counts(crawled):
    ws, urls = crawled
    report = retry_failed(ws, overrides=dict(PATIENT, progress=False))
    assert [r.round for r in report.rounds] == [0, 1]
    crawl_round, retry_round = report.rounds
    assert crawl_round.status_counts == {"success": 6, "http_5xx": 4, "http_404": 2, "http_429": 1, "timeout": 1}
    assert retry_round.status_counts == {"success": 12, "http_404": 2}
    assert (retry_round.retried, retry_round.recovered, retry_round.finished_at is not None) == (6, 6, True)
    assert retry_round.kinds == ["timeout", "connection_error", "dns_error", "http_5xx", "http_429",
                                 "host_unavailable"]
    assert report.samples_this_run == 6 and report.status_counts == {"success": 12, "http_404": 2}
    assert read_rounds(ws / "shards") == report.rounds
    assert json.loads((ws / "reports" / "crawl.json").read_text())["rounds"][1]["recovered"] == 6
    console = Console(record=True, width=120)
    console.print(summary(report, ws / "reports" / "crawl.json"))
    text = console.export_text()
    assert "rounds (samples after each round)" in text and "0 (crawl)" in text
    line = ProgressMonitor(ws / "shards", set(), None, retry_round=1).line()
    assert line.startswith("crawl: 6 samples, ") and "100.0% ok" in line

    again = retry_failed(ws, kinds=["http_404"], overrides={"progress": False})  # permanent kinds when named
    assert [r.round for r in again.rounds] == [0, 1, 2] and again.rounds[2].retried == 2
    rows = by_url(read_samples(ws))
    assert rows[urls["404-0"]]["status"] == "http_404" and rows[urls["404-0"]]["error"].startswith("round 2: ")
    assert catalog_ids(ws) == sorted(read_samples(ws)["sample_id"].to_pylist())
    idle = retry_failed(ws, kinds=["too_large"], overrides={"progress": False})  # nothing of that kind: a no-op
    assert (idle.rounds[3].retried, idle.shards_this_run, idle.status_counts) == (0, 0, again.status_counts)


def test_a_crash_before_the_commit_keeps_the_old_version_and_the_next_retry_finishes(crawled, monkeypatch):
    ws, urls = crawled
    before, tars_before, ids_before = read_samples(ws), tar_digests(ws), catalog_ids(ws)

    def dies(*args, **kwargs):
        raise OSError("simulated crash before the shard's Parquet is replaced")

    monkeypatch.setattr(shard_versions, "write_parquet", dies)
    with pytest.raises(Exception, match="simulated crash"):
        retry_failed(ws, overrides=dict(PATIENT, progress=False))
    monkeypatch.undo()
    assert read_samples(ws) == before and catalog_ids(ws) == ids_before
    assert list((ws / "shards").glob(".*.pending.json")), "the crash should leave a commit half done"
    for row in before.to_pylist():
        if row["status"] == "success":
            assert len(media(ws, row)) == row["media_size"]
    assert read_rounds(ws / "shards")[-1].finished_at is None

    report = retry_failed(ws, overrides=dict(PATIENT, progress=False))

    assert [r.round for r in report.rounds] == [0, 1] and report.rounds[1].recovered == 6
    assert all(s == ["success"] * len(s) for u, s in statuses(ws).items() if "gone-" not in u)
    assert {k: v for k, v in tar_digests(ws).items() if ".r" not in k} == tars_before
    assert not list((ws / "shards").glob(".*")), "temporary or pending files left behind"
    assert catalog_ids(ws) == ids_before


def test_a_crash_after_the_commit_is_finished_by_the_next_retry(crawled, monkeypatch):
    ws, urls = crawled
    real_write_json = shard_versions.write_json

    def dies_at_the_marker(obj, path):
        if Path(path).suffix == ".done":
            raise OSError("simulated crash after the Parquet is replaced")
        return real_write_json(obj, path)

    monkeypatch.setattr(shard_versions, "write_json", dies_at_the_marker)
    with pytest.raises(Exception, match="simulated crash"):
        retry_failed(ws, overrides=dict(PATIENT, progress=False, threads=1))
    monkeypatch.undo()
    committed = [p.name[1:6] for p in (ws / "shards").glob(".*.pending.json")]
    assert committed, "the crash should leave a commit half done"
    for shard in committed:  # committed; their markers still say the old counts
        assert shard_version(ws / "shards", shard) == 1
        assert json.loads((ws / "shards" / f"{shard}.done").read_text()).get("retry") is None

    report = retry_failed(ws, overrides=dict(PATIENT, progress=False, direct_running_mode="multi_processing",
                                             direct_num_workers=2))

    for shard in committed:
        marker = json.loads((ws / "shards" / f"{shard}.done").read_text())
        table = pq.read_table(ws / "shards" / f"{shard}.parquet")
        assert marker["status_counts"].get("success") == table["status"].to_pylist().count("success")
    assert report.status_counts == {"success": 12, "http_404": 2} and report.rounds[-1].round == 1
    assert report.rounds[-1].recovered == 6 and not list((ws / "shards").glob(".*"))


def test_cli_refuses_unknown_kinds_and_workspaces_without_a_crawl(crawled, tmp_path, capsys):
    ws, _ = crawled
    assert cli_main(["crawl", str(ws), "--retry-failed", "--kinds", "timeout,http_599"]) == 2
    assert "unknown failure kind(s): http_599" in capsys.readouterr().err
    assert cli_main(["crawl", str(ws), "--kinds", "timeout"]) == 2
    assert "add --retry-failed" in capsys.readouterr().err
    assert cli_main(["crawl", str(tmp_path / "nothing"), "--retry-failed"]) == 2
    assert "holds no crawl to retry" in capsys.readouterr().err
    Workspace.init(tmp_path / "empty")
    assert cli_main(["crawl", str(tmp_path / "empty"), "--retry-failed"]) == 2
    assert "holds no committed crawl to retry" in capsys.readouterr().err
    assert cli_main(["crawl", str(ws), "--retry-failed", "--shard-size", "3"]) == 2
    assert "cannot change shard_size" in capsys.readouterr().err
    assert cli_main(["crawl", str(ws), "--retry-failed", "--image-size", "64"]) == 2
    assert "other settings" in capsys.readouterr().err
    assert cli_main(["crawl", str(ws)]) == 2
    assert "--urls is required" in capsys.readouterr().err


def test_scores_and_clips_of_a_retried_shard_are_made_again_for_its_new_version(crawled):
    from curation.clips import ClipsConfig, make_clips, pending_shards
    from curation.scoring import ScoreConfig, score

    ws, urls = crawled
    workspace = Workspace.open(ws)
    config, clips = ScoreConfig(scorers=["basic"], num_workers=0), ClipsConfig(cut_mode="reencode")
    make_clips(workspace, clips)
    assert not pending_shards(workspace)[0]
    assert score(workspace, config).scorers[0].samples > 0
    retry_failed(ws, overrides=dict(PATIENT, progress=False))
    shards = sorted(p.stem for p in (ws / "shards").glob("*.parquet"))
    versions = {s: shard_version(ws / "shards", s) for s in shards}
    retried = [s for s, v in versions.items() if v > 0]
    assert retried and pending_shards(workspace)[0] == {s: versions[s] for s in retried}

    rescored = score(workspace, config).scorers[0]  # the retried crawl shards; clip units are unchanged yet
    assert rescored.shards_scored == len(retried) and rescored.shards_skipped == 2 * len(shards) - len(retried)
    basic = Catalog(workspace).con.execute(
        "SELECT s.url FROM samples s JOIN basic b USING (sample_id) WHERE s.status = 'success'").fetchall()
    assert {urls["flaky"], urls["503"], urls["429"], urls["slow"]} <= {u for (u,) in basic}

    make_clips(workspace, clips)  # clips of the new versions, whose units are then scored again
    assert not pending_shards(workspace)[0]
    for shard in retried:
        assert pq.read_schema(ws / "clips" / f"{shard}.parquet").metadata[shard_versions.VERSION_KEY] == b"1"
    assert score(workspace, config).scorers[0].shards_scored == len(retried)
    assert score(workspace, config).scorers[0].shards_scored == 0
