"""No sample can stop a shard: unexpected exceptions become `internal_error` rows; videos spool to disk, probes end."""
import hashlib
import mmap
import tempfile
from pathlib import Path

import pytest

from pipelines.crawl import CrawlConfig, fetch, status, video
from pipelines.crawl.fetch import SampleFetcher
from pipelines.crawl.records import RawRow, to_candidate
from pipelines.crawl.status import Failure
from tests.crawl.conftest import TEST_OPTIONS, by_url, read_samples, run_crawl, write_list


class SimulatedMemoryError(MemoryError):
    """Stands for an allocation failure inside a decoder."""


def _images(corpus, n: int) -> list:
    return [i for i in corpus.items if i.media_type == "image"][:n]


def _crawl_one_shard(tmp_path: Path, urls: list[str]) -> dict[str, dict]:
    """Crawl `urls` into one shard; assert it committed; its rows by URL."""
    ws = tmp_path / "ws"
    run_crawl(ws, write_list(tmp_path / "list.parquet", urls), shard_size=len(urls))
    assert [p.name for p in (ws / "shards").glob("*.done")] == ["00000.done"]
    return by_url(read_samples(ws))


@pytest.mark.parametrize("exc", [
    RuntimeError("resizer exploded"), SimulatedMemoryError("cannot allocate 9 GB"),
    OSError("broken data stream when reading image file"),
], ids=lambda e: type(e).__name__)
def test_a_resizer_exception_fails_only_its_sample(corpus, server, tmp_path, monkeypatch, exc):
    images = _images(corpus, 4)
    poisoned = (corpus.media_dir / images[0].relpath).read_bytes()
    real_resizer = fetch.Resizer

    def resizer(**kwargs):
        real = real_resizer(**kwargs)

        def call(stream, *args):
            if stream.getvalue() == poisoned:
                raise exc
            return real(stream, *args)

        return call

    monkeypatch.setattr(fetch, "Resizer", resizer)
    urls = [server.url(i.relpath) for i in images]
    rows = _crawl_one_shard(tmp_path, urls)
    bad = rows[urls[0]]
    assert bad["status"] == status.INTERNAL_ERROR
    assert bad["error"] == f"{type(exc).__name__}: {exc}"
    assert bad["sha256"] == images[0].sha256 and bad["media_path"] is None
    assert all(rows[u]["status"] == "success" for u in urls[1:])


def test_a_video_probe_exception_fails_only_its_sample(corpus, server, tmp_path, monkeypatch, mp4):
    def probe(*args, **kwargs):
        raise SimulatedMemoryError("probe ran out of memory")

    monkeypatch.setattr(fetch, "probe_video", probe)
    video_url = server.url(mp4)
    image_urls = [server.url(i.relpath) for i in _images(corpus, 3)]
    rows = _crawl_one_shard(tmp_path, [video_url, *image_urls])
    assert rows[video_url]["status"] == status.INTERNAL_ERROR
    assert rows[video_url]["error"] == "SimulatedMemoryError: probe ran out of memory"
    assert all(rows[u]["status"] == "success" for u in image_urls)


def test_an_http_client_exception_fails_only_its_sample(corpus, server, tmp_path, monkeypatch):
    images = _images(corpus, 3)
    urls = [server.url(i.relpath) for i in images]
    real_fetch = fetch.HttpClient.fetch

    def flaky_fetch(self, url, *args):
        if url == urls[1]:
            raise ValueError("unexpected parser state")
        return real_fetch(self, url, *args)

    monkeypatch.setattr(fetch.HttpClient, "fetch", flaky_fetch)
    rows = _crawl_one_shard(tmp_path, urls)
    assert (rows[urls[1]]["status"], rows[urls[1]]["error"]) == (status.INTERNAL_ERROR,
                                                                 "ValueError: unexpected parser state")
    assert rows[urls[0]]["status"] == rows[urls[2]]["status"] == "success"


def _download(url: str, **overrides):
    config = CrawlConfig(urls="unused", **{**TEST_OPTIONS, **overrides})
    fetcher = SampleFetcher(config)
    try:
        return fetcher.download(to_candidate(RawRow((0, 0, 0), url, "a caption", {}), config.video_extensions))
    finally:
        fetcher.close()


def test_video_is_spooled_to_a_temporary_file_and_probed_from_it(corpus, server, mp4, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    probed = []
    real_probe = fetch.probe_video

    def probe(path, *args):
        probed.append((path, Path(path).stat().st_size))
        return real_probe(path, *args)

    monkeypatch.setattr(fetch, "probe_video", probe)
    fetched = _download(server.url(mp4))
    original = (corpus.media_dir / mp4).read_bytes()
    assert fetched.row["status"] == "success"
    assert probed == [(probed[0][0], len(original))] and Path(probed[0][0]).parent == tmp_path
    assert isinstance(fetched.media, mmap.mmap) and fetched.media[:] == original
    assert hashlib.sha256(original).hexdigest() == fetched.row["sha256"]
    assert list(tmp_path.iterdir()) == []  # the spooled file is gone once mapped


def test_a_video_over_the_byte_cap_leaves_no_temporary_file(server, mp4, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fetched = _download(server.url(mp4, "oversized-chunked"), max_video_bytes=100_000)
    assert fetched.row["status"] == "too_large" and "bytes received" in fetched.row["error"]
    assert list(tmp_path.iterdir()) == []


def test_probe_open_past_its_time_limit_is_a_timeout(corpus, mp4):
    with pytest.raises(Failure) as info:
        video.probe_video(str(corpus.media_dir / mp4), 10**8, "mp4", time_limit=0)
    assert info.value.status == status.TIMEOUT and "time limit" in info.value.error


def test_probe_decode_past_its_time_limit_is_a_timeout(corpus, mp4, monkeypatch):
    class JumpingClock:
        """The probe's clock: the start, then an hour later for every later reading."""

        readings = 0

        def monotonic(self) -> float:
            self.readings += 1
            return 0.0 if self.readings == 1 else 3600.0

    monkeypatch.setattr(video, "time", JumpingClock())
    with pytest.raises(Failure) as info:
        video.probe_video(str(corpus.media_dir / mp4), 10**8, "mp4", time_limit=60)
    assert info.value.status == status.TIMEOUT and "after 0 frames" in info.value.error
