"""Every failure mode of the fixture server -> a specific status and error (SampleFetcher, no Beam)."""
import http.server
import threading
import time
import uuid

import pytest

from curation.synthetic.server import bomb_png
from pipelines.crawl import CrawlConfig, status
from pipelines.crawl.fetch import ImageFinisher, SampleFetcher
from pipelines.crawl.http import Caps, HttpClient
from pipelines.crawl.records import RawRow, to_candidate
from pipelines.crawl.urls import AddressPolicy
from tests.crawl.conftest import TEST_OPTIONS

RETRIES = 2

# (file kind, mode, params, config overrides, expected status, error substring, expected hits or None)
CASES = [
    ("jpg", None, {}, {}, "success", None, 1),
    ("png", None, {}, {}, "success", None, 1),
    ("mp4", None, {}, {}, "success", None, 1),
    ("jpg", "status", {"code": 404}, {}, "http_404", "HTTP 404", 1),
    ("jpg", "status", {"code": 410}, {}, "http_410", "HTTP 410", 1),
    ("jpg", "status", {"code": 403}, {}, "http_403", "HTTP 403", 1),
    ("jpg", "status", {"code": 418}, {}, "http_4xx", "HTTP 418", 1),
    ("jpg", "status", {"code": 500}, {}, "http_5xx", "HTTP 500", RETRIES + 1),
    ("jpg", "status", {"code": 503}, {}, "http_5xx", "HTTP 503", RETRIES + 1),
    ("jpg", "slow", {"seconds": 0.1}, {}, "success", None, 1),
    ("jpg", "slow", {"seconds": 3}, {"timeout": 0.3}, "timeout", "timed out", RETRIES + 1),
    ("jpg", "trickle", {"bytes_per_s": 5000}, {"image_deadline": 1.0}, "timeout", "deadline", 1),
    ("jpg", "429", {"retry_after": 0, "n": 1}, {}, "success", None, 2),
    ("jpg", "429", {"retry_after": 0, "n": 5}, {}, "http_429", "HTTP 429", RETRIES + 1),
    ("jpg", "503retry", {"retry_after": 0, "n": 1}, {}, "success", None, 2),
    ("jpg", "flaky", {"n": 1}, {}, "success", None, 2),
    ("jpg", "flaky", {"n": 5}, {}, "http_5xx", "HTTP 500", RETRIES + 1),
    ("jpg", "redirect", {"n": 3}, {}, "success", None, 1),
    ("jpg", "redirect", {"n": 4}, {"max_redirects": 3}, "too_many_redirects", "more than 3 redirects", 1),
    ("jpg", "redirect-loop", {}, {}, "too_many_redirects", "redirect loop", 1),
    ("jpg", "redirect-external", {}, {}, "blocked_private_network", "169.254.169.254 is a cloud metadata", 1),
    ("jpg", "wrong-type", {"content_type": "text/html"}, {}, "wrong_content_type", "text/html", 1),
    ("jpg", "wrong-type", {"content_type": "application/octet-stream"}, {}, "success", None, 1),
    ("jpg", "wrong-type", {"content_type": "video/mp4"}, {}, "not_a_video", "an image", 1),
    ("jpg", "html", {}, {}, "not_an_image", "<!doctype html>", 1),
    ("jpg", "truncated", {"fraction": 0.5}, {}, "truncated", "no end-of-image marker", 1),
    ("png", "truncated", {"fraction": 0.5}, {}, "truncated", "PNG", 1),
    ("mp4", "truncated", {"fraction": 0.5}, {}, "undecodable_video", "", 1),
    ("jpg", "short-body", {}, {}, "truncated", "connection closed after", RETRIES + 1),
    ("jpg", "corrupt", {}, {}, "corrupt", "in scan data", 1),
    ("png", "corrupt", {}, {}, "corrupt", "PNG check failed", 1),
    ("mp4", "corrupt", {}, {}, "undecodable_video", "", 1),
    ("jpg", "oversized", {}, {"max_bytes": 1_000_000}, "too_large", "Content-Length 1000000000", 1),
    ("jpg", "oversized-chunked", {}, {"max_bytes": 1_000_000}, "too_large", "more than 1000000 bytes", 1),
    ("png", "oversized", {"n_bytes": 200_000}, {}, "corrupt", "header cannot be parsed", 1),
    ("jpg", "bomb", {}, {}, "decompression_bomb", "pixels", 1),
    ("jpg", "noai", {}, {}, "opted_out", "noai", 1),
    ("jpg", "noindex", {}, {}, "success", None, 1),
    ("fake_mp4", None, {}, {}, "not_a_video", "cannot open as a video", 1),
]


@pytest.fixture(scope="module")
def files(corpus):
    bomb_png()  # built once per process: build it now, not within a request's read timeout
    fake = corpus.media_dir / "extra" / "page.mp4"
    fake.parent.mkdir(exist_ok=True)
    fake.write_bytes(b"<!doctype html><html><body>a web page, not a video</body></html>")
    return {
        "jpg": next(i.relpath for i in corpus.items if i.relpath.endswith(".jpg") and i.n_bytes > 20_000),
        "png": next(i.relpath for i in corpus.items if i.relpath.endswith(".png")),
        "mp4": next(i.relpath for i in corpus.items if i.media_type == "video"),
        "fake_mp4": "extra/page.mp4",
    }


def fetch(url: str, **overrides) -> dict:
    config = CrawlConfig(urls="unused", **{**TEST_OPTIONS, "retries": RETRIES, **overrides})
    fetcher = SampleFetcher(config)
    try:
        cand = to_candidate(RawRow((0, 0, 0), url, "a caption", {}), config.video_extensions)
        return ImageFinisher(config).finish(fetcher.download(cand)).row
    finally:
        fetcher.close()


def unique(url: str) -> str:
    """The same file under a URL of its own (the server counts hits per path and query)."""
    return f"{url}?t={uuid.uuid4().hex}"


@pytest.mark.parametrize("kind, mode, params, overrides, expected, error, hits", CASES,
                         ids=[f"{c[1] or 'plain'}-{c[0]}-{c[4]}" for c in CASES])
def test_fixture_mode_gives_specific_status(server, files, kind, mode, params, overrides, expected, error, hits):
    url = unique(server.url(files[kind], mode, **params))
    row = fetch(url, **overrides)
    assert row["status"] == expected, row["error"]
    if expected == "success":
        assert row["error"] is None and row["sha256"] and row["width"] and row["height"]
    else:
        assert error in row["error"]
    assert server.hits(url) == hits


def test_video_probe_fields(server, files, corpus):
    truth = next(i for i in corpus.items if i.relpath == files["mp4"])
    row = fetch(unique(server.url(files["mp4"])))
    assert row["media_type"] == "video"
    assert (row["width"], row["height"]) == (truth.width, truth.height)
    assert row["frame_count"] == truth.n_frames
    assert row["fps"] == pytest.approx(truth.fps)
    assert row["duration_s"] == pytest.approx(truth.duration_s, abs=0.1)
    assert row["video_codec"] == "h264" and row["rotation"] == 0 and "mp4" in row["container"]


def test_image_row_fields(server, files, corpus):
    truth = next(i for i in corpus.items if i.relpath == files["jpg"])
    row = fetch(unique(server.url(files["jpg"])), image_size=64, resize_mode="keep_ratio")
    assert (row["original_width"], row["original_height"]) == (truth.width, truth.height)
    assert min(row["width"], row["height"]) == 64
    assert row["sha256"] == truth.sha256 and row["original_bytes"] == truth.n_bytes
    assert row["mime_type"] == "image/jpeg" and row["http_status"] == 200


def test_retry_after_is_honoured(server, files):
    url = unique(server.url(files["jpg"], "429", retry_after=1, n=1))
    started = time.monotonic()
    row = fetch(url)
    assert row["status"] == "success"
    assert server.hits(url) == 2
    assert time.monotonic() - started >= 1.0


def test_retry_after_is_capped(server, files):
    url = unique(server.url(files["jpg"], "503retry", retry_after=60, n=1))
    started = time.monotonic()
    row = fetch(url, max_retry_after=0.2)
    assert row["status"] == "success" and server.hits(url) == 2
    assert time.monotonic() - started < 5


def test_loopback_refused_without_flag(server, files):
    url = unique(server.url(files["jpg"]))
    row = fetch(url, allow_private_network=False)
    assert row["status"] == "blocked_private_network"
    assert "--allow-private-network" in row["error"]
    assert server.hits(url) == 0


class _RedirectTo(http.server.BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", self.target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _OnlyThisHostIsPublic(AddressPolicy):
    """Treats one loopback address as public, so a redirect from it to another loopback address is testable."""

    def refusal(self, address):
        return None if address == "127.0.0.1" else super().refusal(address)


def test_redirect_to_private_address_refused(server, files):
    """A public-looking first hop redirecting to a private address: refused at the second hop."""
    private = server.url(files["jpg"]).replace("127.0.0.1", "127.0.0.2")
    _RedirectTo.target = private
    redirector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RedirectTo)
    threading.Thread(target=redirector.serve_forever, daemon=True).start()
    client = HttpClient(_OnlyThisHostIsPublic(False), timeout=2, max_redirects=5, retries=0, backoff=0,
                        max_retry_after=0, user_agent_token="t", disallowed_header_directives=[], pool_size=2)
    try:
        with pytest.raises(status.Failure) as info:
            client.fetch(f"http://127.0.0.1:{redirector.server_port}/x.jpg", "image", {"image": Caps(10**6, 5)})
    finally:
        redirector.shutdown()
        client.close()
    assert info.value.status == "blocked_private_network"
    assert "127.0.0.2 is not a public address" in info.value.error


def test_bad_scheme_and_bad_url_not_fetched():
    assert fetch("ftp://example.com/a.jpg")["status"] == "bad_scheme"
    assert fetch("file:///etc/passwd")["status"] == "bad_scheme"
    assert fetch("http:///nohost.jpg")["status"] == "bad_url"
    assert fetch("   ")["status"] == "bad_url"
