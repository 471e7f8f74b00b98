"""End-to-end crawls with the Beam DirectRunner against the fixture server."""
import io
import json
import tarfile
import uuid
from pathlib import Path

import pytest
from PIL import Image

from curation.errors import GristmillError
from curation.identity import sample_id
from curation.shards import read_media
from gristmill.cli import main as cli_main
from tests.crawl.conftest import by_url, read_samples, run_crawl, write_list

# (mode, params, expected status) mixed into the list; every one must land in a shard with its status
HOSTILE = [
    ("status", {"code": 404}, "http_404"), ("status", {"code": 410}, "http_410"),
    ("status", {"code": 500}, "http_5xx"), ("429", {"retry_after": 1, "n": 1}, "success"),
    ("flaky", {"n": 1}, "success"), ("redirect", {"n": 2}, "success"),
    ("redirect-loop", {}, "too_many_redirects"), ("redirect-external", {}, "blocked_private_network"),
    ("wrong-type", {"content_type": "text/html"}, "wrong_content_type"), ("html", {}, "not_an_image"),
    ("truncated", {"fraction": 0.5}, "truncated"), ("short-body", {}, "truncated"), ("corrupt", {}, "corrupt"),
    ("oversized", {}, "too_large"), ("bomb", {}, "decompression_bomb"), ("noai", {}, "opted_out"),
    ("noindex", {}, "success"), ("slow", {"seconds": 0.1}, "success"),
]


@pytest.fixture(scope="module")
def crawled(corpus, server, tmp_path_factory):
    """One crawl of the corpus plus hostile, duplicate and malformed rows; returns (workspace, list, expected)."""
    root = tmp_path_factory.mktemp("crawl")
    tag = uuid.uuid4().hex[:8]
    jpg = next(i.relpath for i in corpus.items if i.relpath.endswith(".jpg") and i.n_bytes > 20_000)
    urls = [server.url(i.relpath) for i in corpus.items]
    captions = [i.caption for i in corpus.items]
    expected = {u: "success" for u in urls}
    for mode, params, status in HOSTILE:
        urls.append(f"{server.url(jpg, mode, **params)}?t={tag}")
        captions.append(f"hostile {mode}")
        expected[urls[-1]] = status
    # an exact duplicate (collapses), the same URL with another caption, and unusable URLs
    urls += [urls[0], urls[1], "ftp://example.com/a.jpg", "not a url"]
    captions += [captions[0], "another caption", "ftp", "junk"]
    expected.update({"ftp://example.com/a.jpg": "bad_scheme", "not a url": "bad_url"})
    sources = [f"s{i}" for i in range(len(urls))]
    url_list = write_list(root / "list.parquet", urls, captions, source=sources)
    report = run_crawl(root / "ws", url_list)
    return root / "ws", url_list, expected, report


def test_every_row_lands_with_its_status(crawled, corpus, server):
    ws, _, expected, report = crawled
    table = read_samples(ws)
    statuses = {}
    for row in table.to_pylist():
        statuses.setdefault(row["url"], []).append(row["status"])
        assert row["sample_id"] == sample_id(row["url"], row["caption"])
        assert (row["error"] is None) == (row["status"] == "success")
    for url, status in expected.items():
        assert status in statuses[url], (url, statuses[url])
    pair = [r for r in table.to_pylist() if r["url"] == server.url(corpus.items[1].relpath)]  # two captions
    assert sorted(r["caption"] for r in pair) == sorted(["another caption", corpus.items[1].caption])
    assert len({(r["status"], r["sha256"], r["media_path"], r["media_offset"], r["media_size"]) for r in pair}) == 1
    assert pair[0]["status"] == "success" and not any(r["status"] == "duplicate_url" for r in table.to_pylist())
    assert report.samples == table.num_rows == report.input_rows - 1  # the exact duplicate collapsed
    assert len(set(table.column("sample_id").to_pylist())) == table.num_rows


@pytest.mark.parametrize("one_sample_per_url", [False, True])
def test_a_url_with_two_captions_is_fetched_once(server, tmp_path, jpg, one_sample_per_url):
    url = f"{server.url(jpg)}?pair={uuid.uuid4().hex[:8]}"
    report = run_crawl(tmp_path / "ws", write_list(tmp_path / "l.parquet", [url, url, url], ["a", "b", "a"]),
                       one_sample_per_url=one_sample_per_url)
    rows = sorted(read_samples(tmp_path / "ws").to_pylist(), key=lambda r: r["caption"])
    assert server.hits(url) == 1 and report.input_rows == 3
    assert [r["caption"] for r in rows] == ["a", "b"]
    if one_sample_per_url:
        assert [r["status"] for r in rows] == ["success", "duplicate_url"] and rows[1]["media_path"] is None
    else:
        assert [r["status"] for r in rows] == ["success", "success"]
        assert len({(r["sha256"], r["media_path"], r["media_offset"], r["media_size"]) for r in rows}) == 1
        with tarfile.open(tmp_path / "ws" / rows[0]["media_path"]) as tar:
            assert [n.rsplit(".", 1)[-1] for n in tar.getnames()].count("jpg") == 1  # the bytes stored once


def test_report_counts_and_file(crawled):
    ws, _, _, report = crawled
    saved = json.loads((ws / "reports" / "crawl.json").read_text())
    assert saved["samples"] == report.samples and saved["status_counts"] == report.status_counts
    statuses = read_samples(ws).column("status").to_pylist()
    assert report.successes == statuses.count("success")
    hostile_successes = sum(status == "success" for _, _, status in HOSTILE)
    assert report.successes_by_type == {"image": 20 + hostile_successes + 1, "video": 2}  # + the other caption
    assert report.shards == len(list((ws / "shards").glob("*.done"))) > 1


def test_media_is_readable_and_carried_columns_kept(crawled, corpus):
    ws, _, _, _ = crawled
    rows = [r for r in read_samples(ws).to_pylist() if r["status"] == "success"]
    for row in rows:
        data = read_media(ws, row["media_path"], row["media_offset"], row["media_size"])
        if row["media_type"] == "image":
            with Image.open(io.BytesIO(data)) as im:
                assert im.size == (row["width"], row["height"])
        assert json.loads(row["extra"])["source"].startswith("s")
    video = next(r for r in rows if r["media_type"] == "video")
    with tarfile.open(ws / video["media_path"]) as tar:
        meta = json.load(tar.extractfile(f"{video['sample_id']}.json"))
        assert tar.extractfile(f"{video['sample_id']}.mp4").read()[4:8] == b"ftyp"
    assert meta["video_codec"] == "h264" and meta["frame_count"] == video["frame_count"] > 0


def test_rerun_in_same_workspace_fetches_nothing(crawled, server):
    ws, url_list, expected, _ = crawled
    before = {u: server.hits(u) for u in expected if u.startswith("http")}
    report = run_crawl(ws, url_list)
    assert report.shards_this_run == 0 and report.samples_this_run == 0
    assert {u: server.hits(u) for u in before} == before


def test_recrawl_gives_identical_sample_ids(crawled, tmp_path):
    ws, url_list, _, _ = crawled
    run_crawl(tmp_path / "again", url_list, shard_size=5)
    first, second = read_samples(ws), read_samples(tmp_path / "again")
    assert first.column("sample_id").to_pylist() == second.column("sample_id").to_pylist()
    assert by_url(first).keys() == by_url(second).keys()


def test_another_list_into_the_same_workspace_is_refused(crawled, corpus, server, tmp_path):
    ws, _, _, _ = crawled
    other = corpus.write_url_list(server.base_url, tmp_path / "other.csv", "csv")
    with pytest.raises(GristmillError, match="different list or shard layout"):
        run_crawl(ws, str(other))


def test_private_network_refused_without_flag(corpus, server, tmp_path):
    urls = [f"{server.url(i.relpath)}?p=1" for i in corpus.items[:3]]
    report = run_crawl(tmp_path / "ws", write_list(tmp_path / "l.parquet", urls), allow_private_network=False)
    assert report.status_counts == {"blocked_private_network": 3}
    assert all(server.hits(u) == 0 for u in urls)


def test_cli_crawls_and_reports_bad_input(corpus, server, tmp_path, capsys):
    url_list = corpus.write_url_list(server.base_url, tmp_path / "list.jsonl", "jsonl", url_col="link")
    assert cli_main(["crawl", str(tmp_path / "ws"), "--urls", str(url_list), "--allow-private-network"]) == 2
    err = capsys.readouterr().err
    assert "no URL column (--url-col) 'url'" in err and "link, caption, source, license" in err
    assert not Path(tmp_path / "ws" / "shards").exists() or not list((tmp_path / "ws" / "shards").glob("*.tar"))
    code = cli_main(["crawl", str(tmp_path / "ws"), "--urls", str(url_list), "--url-col", "link",
                     "--allow-private-network", "--shard-size", "10", "--threads", "4", "--timeout", "2"])
    assert code == 0
    out = capsys.readouterr().out
    assert "samples" in out and "22 from 22 input rows" in out
    assert "plan: 22 input rows in 3 shards" in out
