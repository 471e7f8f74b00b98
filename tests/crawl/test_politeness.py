"""Per-host politeness and opt-outs against real loopback HTTP servers that count what they are asked and send.

Everything is asserted by counting (requests, concurrent requests, bytes sent), never by timing.
"""
import http.server
import io
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from gristmill.cli import main as cli_main
from pipelines.crawl import CrawlConfig, robots, status, tdmrep
from pipelines.crawl.fetch import ImageFinisher, SampleFetcher
from pipelines.crawl.politeness import Host, HostLimits
from pipelines.crawl.records import RawRow, to_candidate
from pipelines.crawl.status import Failure
from tests.crawl.conftest import TEST_OPTIONS, by_url, read_samples, write_list

HUGE = 256 * 2**20  # an opted-out body: only what the socket buffers take (a few MiB) may leave the server
CHUNK = 64 * 1024
ROBOTS = b"User-agent: *\nDisallow: /\n\nUser-agent: gristmill\nDisallow: /private/\n"
TDMREP = [{"location": "/reserved/*", "tdm-reservation": 1, "tdm-policy": "https://example.com/policy"},
          {"location": "/", "tdm-reservation": 0}]


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 40, 90)).save(buf, "JPEG")
    return buf.getvalue()


JPEG = _jpeg()


class Site:
    """A loopback HTTP server that counts requests per path, concurrent requests and bytes sent per path.

    Paths: /robots.txt and /.well-known/tdmrep.json (served when set, else 404); /fail/... always 500;
    /throttled/... 429 with Retry-After: 0 on its first request; /slow/... a JPEG after 50 ms;
    /huge/... a HUGE-byte JPEG-typed body; anything else a small JPEG. `headers` are added to every media answer.
    """

    def __init__(self, host: str = "127.0.0.1", robots_txt: bytes | None = None, tdmrep_json=None,
                 headers: dict | None = None, total: Counter | None = None):
        self.robots_txt, self.tdmrep_json, self.headers = robots_txt, tdmrep_json, headers or {}
        self.hits: Counter = Counter()
        self.sent: Counter = Counter()
        self.total = total if total is not None else Counter()  # requests in flight, may be shared by sites
        self.active = self.max_active = 0
        self.finished = threading.Semaphore(0)
        self.lock = threading.Lock()
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                site.handle(self)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://{host}:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def url(self, path: str) -> str:
        return self.base + path

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, req) -> None:
        path = req.path
        with self.lock:
            self.hits[path] += 1
            first = self.hits[path] == 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            self.total["now"] += 1
            self.total["max"] = max(self.total["max"], self.total["now"])
        try:
            self._answer(req, path, first)
        finally:
            with self.lock:
                self.active -= 1
                self.total["now"] -= 1
            self.finished.release()

    def _answer(self, req, path: str, first: bool) -> None:
        if path == "/robots.txt" or path == tdmrep.PATH:
            body = self.robots_txt if path == "/robots.txt" else self.tdmrep_json
            if body is None:
                return self._send(req, 404, b"not found", "text/plain")
            return self._send(req, 200, body if isinstance(body, bytes) else json.dumps(body).encode(),
                              "text/plain" if path == "/robots.txt" else "application/json")
        if path.startswith("/fail/"):
            return self._send(req, 500, b"broken", "text/plain")
        if path.startswith("/throttled/") and first:
            return self._send(req, 429, b"slow down", "text/plain", {"Retry-After": "0"})
        if path.startswith("/slow/"):
            time.sleep(0.05)
        if path.startswith("/huge/"):
            return self._stream_huge(req, path)
        self._send(req, 200, JPEG, "image/jpeg", self.headers)

    def _send(self, req, code: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        req.send_response(code)
        req.send_header("Content-Type", content_type)
        req.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            req.send_header(name, value)
        req.end_headers()
        req.wfile.write(body)
        with self.lock:
            self.sent[req.path] += len(body)

    def _stream_huge(self, req, path: str) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "image/jpeg")
        req.send_header("Content-Length", str(HUGE))
        for name, value in self.headers.items():
            req.send_header(name, value)
        req.end_headers()
        chunk = b"\xff\xd8\xff\xe0" + bytes(CHUNK - 4)
        try:
            for _ in range(HUGE // CHUNK):
                req.wfile.write(chunk)
                with self.lock:
                    self.sent[path] += CHUNK
        except (BrokenPipeError, ConnectionResetError):
            req.close_connection = True


@pytest.fixture
def sites():
    """A factory of Site servers, all closed at the end of the test."""
    made = []

    def make(**kwargs) -> Site:
        made.append(Site(**kwargs))
        return made[-1]

    yield make
    for site in made:
        site.close()


def fetch_all(urls: list[str], threads: int = 8, **overrides) -> list[dict]:
    """Rows for `urls`, fetched concurrently by one SampleFetcher (one process's politeness state)."""
    config = CrawlConfig(urls="unused", **{**TEST_OPTIONS, "retries": 0, "threads": threads, "host_rps": 1000.0,
                                           **overrides})
    fetcher, finisher = SampleFetcher(config), ImageFinisher(config)

    def one(url: str) -> dict:
        cand = to_candidate(RawRow((0, 0, 0), url, "a caption", {}), config.video_extensions)
        return finisher.finish(fetcher.download(cand)).row

    try:
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(one, urls))
    finally:
        fetcher.close()


def wait_until_served(site: Site, requests: int) -> None:
    """Block until the server has finished answering `requests` requests (a server thread may lag the client)."""
    for _ in range(requests):
        assert site.finished.acquire(timeout=30), "the server never finished answering"


def test_concurrency_per_host_never_above_the_cap(sites):
    total = Counter()
    first, second = sites(total=total), sites(host="127.0.0.2", total=total)
    urls = [site.url(f"/slow/{i}.jpg") for i in range(12) for site in (first, second)]
    rows = fetch_all(urls, threads=16, host_connections=2)
    assert [r["status"] for r in rows] == ["success"] * len(urls)
    assert first.max_active == 2 and second.max_active == 2
    assert total["max"] > 2  # the cap is per host: both hosts were served at once


def test_host_pacing_holds_starts_apart():
    host = Host("h:80", HostLimits(connections=8, rps=1.0), random.Random(0))
    host.acquire(time.monotonic() + 10)
    host.release(None)
    with pytest.raises(Failure) as info:  # the next start is 1 s away: a deadline before it fails at once
        host.acquire(time.monotonic() + 0.5)
    assert info.value.status == status.TIMEOUT and "politeness" in info.value.error


def test_throttle_backs_the_host_off_and_honours_retry_after():
    limits = HostLimits(connections=8, rps=100.0, backoff=1.0, max_backoff=30.0, failures=100)
    host = Host("h:80", limits, random.Random(0))
    host.acquire(time.monotonic() + 1)
    host.release(Failure("http_429", "HTTP 429", 429, transient=True, retry_after=20.0))
    assert 19.0 < host.pause_left() <= 25.0  # Retry-After plus at most 25 % jitter
    assert host.interval == pytest.approx(2 / limits.rps)  # and the request rate is halved
    host = Host("h:80", limits, random.Random(0))
    pauses = []
    for _ in range(3):
        host.next_start = 0.0
        host.acquire(time.monotonic() + 1)
        host.release(Failure("http_5xx", "HTTP 503", 503, transient=True))
        pauses.append(host.pause_left())
    for n, pause in enumerate(pauses):  # exponential, jittered 0.5-1.5x
        assert 0.5 * 2**n - 0.01 < pause <= 1.5 * 2**n
    host.next_start = 0.0
    host.acquire(time.monotonic() + 1)  # an answer ends the throttling
    host.release(None)
    assert host.throttles == 0 and host.failures == 0


def test_429_with_retry_after_is_retried_and_recorded(sites):
    site = sites()
    rows = fetch_all([site.url("/throttled/a.jpg"), site.url("/b.jpg")], retries=2)
    assert [r["status"] for r in rows] == ["success", "success"]
    assert rows[0]["http_status"] == 200 and site.hits["/throttled/a.jpg"] == 2


def test_breaker_opens_and_robots_are_respected_end_to_end(sites, tmp_path):
    """Through the CLI: a failing host trips its breaker, robots.txt is fetched once and obeyed."""
    failing = sites()
    polite = sites(host="127.0.0.2", robots_txt=ROBOTS)
    urls = ([failing.url(f"/fail/{i}.jpg") for i in range(10)] + [polite.url(f"/ok/{i}.jpg") for i in range(6)]
            + [polite.url(f"/private/{i}.jpg") for i in range(4)])
    url_list = write_list(tmp_path / "list.parquet", urls)
    code = cli_main(["crawl", str(tmp_path / "ws"), "--urls", url_list, "--allow-private-network", "--no-progress",
                     "--threads", "4", "--retries", "0", "--timeout", "2", "--host-connections", "1",
                     "--host-failures", "3", "--host-rps", "1000", "--respect-robots-txt"])
    assert code == 0
    rows = by_url(read_samples(tmp_path / "ws"))
    failing_statuses = Counter(rows[u]["status"] for u in urls[:10])
    assert failing_statuses == {"http_5xx": 3, "host_unavailable": 7}
    assert sum(failing.hits[f"/fail/{i}.jpg"] for i in range(10)) == 3  # the other 7 were never requested
    unavailable = next(rows[u] for u in urls[:10] if rows[u]["status"] == "host_unavailable")
    assert "3 failures in a row" in unavailable["error"] and "HTTP 500" in unavailable["error"]
    assert all(rows[u]["status"] == "success" for u in urls[10:16])
    assert all(rows[u]["status"] == "robots_disallowed" for u in urls[16:])
    assert "/private/" in rows[urls[16]]["error"]
    assert polite.hits["/robots.txt"] == 1
    assert not any(polite.hits[f"/private/{i}.jpg"] for i in range(4))


def test_clients_of_one_process_share_the_host_state(sites):
    """Two fetchers (two DoFn instances of one worker) see one breaker; a fetcher with other limits its own."""
    failing = sites()
    config = CrawlConfig(urls="unused", **{**TEST_OPTIONS, "retries": 0, "host_failures": 2})
    first, second = SampleFetcher(config), SampleFetcher(config)
    other = SampleFetcher(config.model_copy(update={"host_failures": 3}))
    try:
        rows = [fetcher.download(to_candidate(RawRow((0, 0, i), failing.url(f"/fail/{i}.jpg"), None, {}),
                                              config.video_extensions)).row
                for i, fetcher in enumerate([first, second, first, second, other])]
    finally:
        for fetcher in (first, second, other):
            fetcher.close()
    assert [r["status"] for r in rows] == ["http_5xx", "http_5xx", "host_unavailable", "host_unavailable",
                                           "http_5xx"]


@pytest.mark.parametrize("tag, opted_out", [
    ("noai", True), ("noimageai", True), ("noml", True), ("noindex, NoML", True), ("gristmill: noai", True),
    ("otherbot: noai", False), ("noindex", False),
])
def test_x_robots_tag_opt_out_abandons_the_transfer(sites, tag, opted_out):
    site = sites(headers={"X-Robots-Tag": tag})
    path = "/huge/a.jpg" if opted_out else "/small/a.jpg"
    [row] = fetch_all([site.url(path)], max_bytes=2**31)  # no byte cap would stop a download of the body
    if not opted_out:
        assert row["status"] == "success"
        return
    assert row["status"] == "opted_out" and tag in row["error"] and row["http_status"] == 200
    wait_until_served(site, 1)
    assert site.sent[path] < 16 * 2**20  # of 256 MiB: the transfer was abandoned at the headers
    assert row.get("original_bytes") is None


def test_tdm_reservation_header_abandons_the_transfer(sites):
    site = sites(headers={"tdm-reservation": "1", "tdm-policy": "https://example.com/p"})
    [row] = fetch_all([site.url("/huge/a.jpg")], respect_tdmrep=True, max_bytes=2**31)
    assert row["status"] == "tdm_reserved" and "https://example.com/p" in row["error"]
    wait_until_served(site, 2)  # tdmrep.json (404) and the media
    assert site.sent["/huge/a.jpg"] < 16 * 2**20
    [row] = fetch_all([sites(headers={"tdm-reservation": "1"}).url("/a.jpg")])  # not asked to respect it
    assert row["status"] == "success"


def test_tdmrep_json_is_fetched_once_and_honoured(sites):
    site = sites(tdmrep_json=TDMREP)
    urls = [site.url(f"/reserved/{i}.jpg") for i in range(5)] + [site.url(f"/open/{i}.jpg") for i in range(5)]
    rows = fetch_all(urls, respect_tdmrep=True)
    assert [r["status"] for r in rows] == ["tdm_reserved"] * 5 + ["success"] * 5
    assert "https://example.com/policy" in rows[0]["error"]
    assert site.hits[tdmrep.PATH] == 1
    assert not any(site.hits[f"/reserved/{i}.jpg"] for i in range(5))


@pytest.mark.parametrize("code, allowed, refusal", [
    (200, None, "robots_disallowed"), (404, True, None), (403, True, None), (429, False, "robots_disallowed"),
    (503, False, "robots_disallowed"), (None, False, "connection_error"),
])
def test_robots_answers_read_as_rfc_9309_says(code, allowed, refusal):
    failure = Failure(status.http_status_kind(code), f"HTTP {code}", code) if code and code >= 400 else None
    failure = failure or (Failure(status.CONNECTION_ERROR, "connection refused") if code is None else None)
    rules, _ = robots.parse(code, ROBOTS, failure)
    for url, expected in (("http://h/ok/a.jpg", True), ("http://h/private/a.jpg", False)):
        try:
            rules.check(url, "gristmill")
            outcome = True
        except Failure as refused:
            assert refused.status == refusal
            outcome = False
        assert outcome == (expected if allowed is None else allowed)


def test_tdmrep_location_patterns():
    rules, _ = tdmrep.parse(200, json.dumps([
        {"location": "/a/*.jpg$", "tdm-reservation": 1}, {"location": "/a/", "tdm-reservation": 0},
        {"location": "/", "tdm-reservation": 1}]).encode())
    assert tdmrep.file_reservation(rules, "http://h/a/b/c.jpg") is not None
    assert tdmrep.file_reservation(rules, "http://h/a/b/c.jpg?x=1") is None  # '$' anchors: the query differs
    assert tdmrep.file_reservation(rules, "http://h/a/c.png") is None
    assert tdmrep.file_reservation(rules, "http://h/b.jpg") is not None
    assert tdmrep.parse(200, b"not json")[0] == [] and tdmrep.parse(404, b"")[0] == []
