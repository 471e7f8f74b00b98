"""Tests for the misbehaving loopback fixture server (curation/synthetic/server.py)."""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from requests.adapters import HTTPAdapter

from curation.synthetic.server import (
    AI_OPT_OUT_TAG,
    BOMB_HEIGHT,
    BOMB_WIDTH,
    EXTERNAL_REDIRECT_TARGET,
    Access,
    FixtureServer,
)

JPEG = b"\xff\xd8\xff\xe0" + random.Random(1).randbytes(20_000) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + random.Random(2).randbytes(5_000)
MP4 = b"\x00\x00\x00\x18ftypmp42" + random.Random(3).randbytes(100_000)
SECRET = b"TOP SECRET"


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "img").mkdir(parents=True)
    (root / "photo.jpg").write_bytes(JPEG)
    (root / "img" / "logo.png").write_bytes(PNG)
    (root / "clip.mp4").write_bytes(MP4)
    (root / "with space.jpg").write_bytes(JPEG)
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return root


@pytest.fixture
def server(root):
    with FixtureServer(root) as srv:
        yield srv


@pytest.fixture
def http_session():
    with requests.Session() as session:
        session.trust_env = False  # never route loopback requests through an environment proxy
        session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=32))
        yield session


def raw_get(server: FixtureServer, path: str, method: str = "GET", headers: dict | None = None):
    """Send ``path`` verbatim (requests would normalise dot segments); return (response, body)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


# --- plain files -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relpath", "data", "content_type"),
    [("photo.jpg", JPEG, "image/jpeg"), ("img/logo.png", PNG, "image/png"), ("clip.mp4", MP4, "video/mp4")],
)
def test_serves_files_with_type_and_length(server, http_session, relpath, data, content_type):
    response = http_session.get(server.url(relpath))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Content-Length"] == str(len(data))
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.content == data


def test_head_sends_headers_only_and_keeps_connection(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    for _ in range(2):  # the same keep-alive connection serves both requests
        connection.request("HEAD", "/photo.jpg")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Length") == str(len(JPEG))
        assert response.read() == b""
    connection.close()
    assert server.access_log == [Access("HEAD", "/photo.jpg", 200)] * 2


def test_quoted_names_and_query_strings(server, http_session):
    assert server.url("with space.jpg") == server.base_url + "/with%20space.jpg"
    assert http_session.get(server.url("with space.jpg")).content == JPEG
    assert http_session.get(server.url("photo.jpg") + "?v=2").content == JPEG
    assert server.hits("photo.jpg?v=2") == 1
    assert server.hits("/photo.jpg") == 0


def test_missing_file_is_404(server, http_session):
    response = http_session.get(server.url("nope.jpg"))
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert http_session.get(server.url("img")).status_code == 404  # directories are not listed


@pytest.mark.parametrize(
    ("range_header", "status", "content_range", "expected"),
    [
        ("bytes=10-19", 206, f"bytes 10-19/{len(MP4)}", MP4[10:20]),
        ("bytes=99990-", 206, f"bytes 99990-{len(MP4) - 1}/{len(MP4)}", MP4[99990:]),
        ("bytes=-5", 206, f"bytes {len(MP4) - 5}-{len(MP4) - 1}/{len(MP4)}", MP4[-5:]),
        ("bytes=0-999999999", 206, f"bytes 0-{len(MP4) - 1}/{len(MP4)}", MP4),
        ("bytes=0-1,5-6", 200, None, MP4),  # multiple ranges: ignored
        ("bytes=9-3", 200, None, MP4),  # invalid: ignored
    ],
)
def test_range_requests(server, http_session, range_header, status, content_range, expected):
    response = http_session.get(server.url("clip.mp4"), headers={"Range": range_header})
    assert response.status_code == status
    assert response.headers.get("Content-Range") == content_range
    assert response.content == expected


def test_unsatisfiable_range_is_416(server, http_session):
    response = http_session.get(server.url("clip.mp4"), headers={"Range": f"bytes={len(MP4)}-"})
    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{len(MP4)}"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/img/../../secret.txt",
        "/img/%2E%2E/%2E%2E/secret.txt",
        "/..%5csecret.txt",
        "//../secret.txt",
        "/_/noai/../../secret.txt",
        "/_/corrupt/%2e%2e/secret.txt",
        "/photo.jpg%00.png",
        "/",
        "../secret.txt",
        "*",
    ],
)
def test_path_escape_is_refused(server, path):
    response, body = raw_get(server, path)
    assert response.status in (403, 404)
    assert SECRET not in body


def test_symlink_out_of_root_is_refused(server, root):
    (root / "link.txt").symlink_to(root.parent / "secret.txt")
    response, body = raw_get(server, "/link.txt")
    assert response.status == 403
    assert SECRET not in body


# --- failure modes -----------------------------------------------------------------


@pytest.mark.parametrize("code", [403, 404, 410, 429, 500, 503])
def test_status_mode(server, http_session, code):
    response = http_session.get(server.url("does-not-matter.jpg", "status", code=code))
    assert response.status_code == code
    assert response.headers["Content-Type"].startswith("text/html")
    assert str(code).encode() in response.content and len(response.content) < 1024


@pytest.mark.parametrize(
    "path",
    ["/_/nosuchmode/photo.jpg", "/_/status/abc/photo.jpg", "/_/status/200/photo.jpg", "/_/truncated/2/photo.jpg", "/_/429/1"],
)
def test_bad_mode_or_parameter_is_400(server, path):
    assert raw_get(server, path)[0].status == 400


def test_slow_delays_headers(server, http_session):
    started = time.monotonic()
    response = http_session.get(server.url("photo.jpg", "slow", seconds=0.3))
    assert time.monotonic() - started >= 0.3
    assert response.content == JPEG
    with pytest.raises(requests.exceptions.ReadTimeout):
        http_session.get(server.url("photo.jpg", "slow", seconds=0.5), timeout=0.1)


def test_trickle_sends_body_slowly(server, http_session):
    started = time.monotonic()
    response = http_session.get(
        server.url("clip.mp4", "trickle", bytes_per_s=10_000), headers={"Range": "bytes=0-1999"}
    )
    assert time.monotonic() - started >= 0.18  # 2000 bytes at 10 kB/s
    assert response.status_code == 206
    assert response.content == MP4[:2000]


@pytest.mark.parametrize(("mode", "status"), [("429", 429), ("503retry", 503)])
def test_retry_after_modes_fail_first_n_requests_per_url(server, http_session, mode, status):
    url = server.url("photo.jpg", mode, retry_after=7, n=2)
    for _ in range(2):
        response = http_session.get(url)
        assert response.status_code == status
        assert response.headers["Retry-After"] == "7"
    assert http_session.get(server.url("img/logo.png", mode, retry_after=7, n=2)).status_code == status
    response = http_session.get(url)
    assert response.status_code == 200 and response.content == JPEG
    assert server.hits(url) == 3
    server.reset()
    assert server.hits(url) == 0
    assert http_session.get(url).status_code == status


def test_retry_counters_are_thread_safe(server, http_session):
    url = server.url("photo.jpg", "429", retry_after=0, n=50)
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: http_session.get(url).status_code, range(100)))
    assert statuses.count(429) == 50 and statuses.count(200) == 50
    assert server.hits(url) == 100


def test_flaky_fails_n_times_then_succeeds(server, http_session):
    url = server.url("photo.jpg", "flaky", n=3)
    assert [http_session.get(url).status_code for _ in range(5)] == [500, 500, 500, 200, 200]


def test_redirect_chain_resolves(server, http_session):
    url = server.url("img/logo.png", "redirect", n=3)
    response = http_session.get(url)
    assert [r.status_code for r in response.history] == [302, 302, 302]
    assert response.url == server.url("img/logo.png")
    assert response.content == PNG
    assert [entry.path for entry in server.access_log] == [
        "/_/redirect/3/img/logo.png",
        "/_/redirect/2/img/logo.png",
        "/_/redirect/1/img/logo.png",
        "/img/logo.png",
    ]
    assert http_session.get(server.url("photo.jpg", "redirect", n=0)).history == []


def test_redirect_loop_is_endless(server, http_session):
    url = server.url("photo.jpg", "redirect-loop")
    http_session.max_redirects = 10
    with pytest.raises(requests.exceptions.TooManyRedirects):
        http_session.get(url)
    assert server.hits(url) == 6 and server.hits(url + "?hop=b") == 5


def test_redirect_external_only_sends_location(server, http_session):
    response = http_session.get(server.url("photo.jpg", "redirect-external"), allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"] == EXTERNAL_REDIRECT_TARGET


def test_wrong_type_serves_file_bytes(server, http_session):
    url = server.url("photo.jpg", "wrong-type", content_type="text/html")
    assert url.endswith("/_/wrong-type/text%2Fhtml/photo.jpg")
    response = http_session.get(url)
    assert response.headers["Content-Type"] == "text/html"
    assert response.content == JPEG


def test_html_mode_claims_to_be_jpeg(server, http_session):
    response = http_session.get(server.url("photo.jpg", "html"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert response.content.startswith(b"<!doctype html>")


def test_truncated_serves_prefix_with_matching_length(server, http_session):
    response = http_session.get(server.url("photo.jpg", "truncated", fraction=0.25))
    expected = JPEG[: int(len(JPEG) * 0.25)]
    assert response.headers["Content-Length"] == str(len(expected))
    assert response.content == expected


def test_short_body_closes_connection_early(server):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/_/short-body/photo.jpg")
    response = connection.getresponse()
    assert response.getheader("Content-Length") == str(len(JPEG))
    with pytest.raises(http.client.IncompleteRead) as excinfo:
        response.read()
    assert excinfo.value.partial == JPEG[: len(JPEG) // 2]
    connection.close()


def test_corrupt_is_deterministic_and_confined_to_the_middle(server, http_session):
    url = server.url("photo.jpg", "corrupt")
    first, second = http_session.get(url).content, http_session.get(url).content
    assert first == second and len(first) == len(JPEG) and first != JPEG
    changed = [i for i, (a, b) in enumerate(zip(first, JPEG)) if a != b]
    assert len(JPEG) // 3 <= changed[0] and changed[-1] < 2 * len(JPEG) // 3
    assert changed == list(range(changed[0], changed[-1] + 1))


def test_oversized_streams_gigabytes_without_allocating(server, http_session):
    n_bytes = 5 * 10**9
    with http_session.get(server.url("photo.jpg", "oversized", n_bytes=n_bytes), stream=True) as response:
        assert response.headers["Content-Length"] == str(n_bytes)
        head = response.raw.read(2**20)
    assert len(head) == 2**20 and head.startswith(b"\xff\xd8\xff\xe0")
    assert http_session.head(server.url("x.png", "oversized", n_bytes=n_bytes)).headers["Content-Type"] == "image/png"
    assert http_session.get(server.url("photo.jpg")).content == JPEG  # still healthy after the hang-up


def test_oversized_chunked_has_no_content_length(server, http_session):
    response = http_session.get(server.url("big.png", "oversized-chunked", n_bytes=3_000_000))
    assert response.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in response.headers
    assert len(response.content) == 3_000_000
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")


def test_bomb_is_small_but_decodes_to_huge_image(server, http_session):
    data = http_session.get(server.url("bomb.png", "bomb")).content
    assert len(data) < 200_000
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == (BOMB_WIDTH, BOMB_HEIGHT)
    idat_length = struct.unpack(">I", data[33:37])[0]
    assert data[37:41] == b"IDAT"
    decompressor, pending, total = zlib.decompressobj(), data[41 : 41 + idat_length], 0
    while pending:
        total += len(decompressor.decompress(pending, 2**22))
        pending = decompressor.unconsumed_tail
    assert total == BOMB_HEIGHT * (1 + (BOMB_WIDTH + 7) // 8)


@pytest.mark.parametrize(("mode", "tag"), [("noai", AI_OPT_OUT_TAG), ("noindex", "noindex")])
def test_robots_tag_modes(server, http_session, mode, tag):
    response = http_session.get(server.url("photo.jpg", mode))
    assert response.headers["X-Robots-Tag"] == tag
    assert response.content == JPEG


# --- URL builder, bookkeeping, concurrency, lifecycle ------------------------------


def test_url_builder_validates_modes_and_parameters(server):
    assert server.url("img/logo.png", "429", retry_after=2, n=3) == server.base_url + "/_/429/2/3/img/logo.png"
    assert server.url("photo.jpg", "flaky") == server.base_url + "/_/flaky/1/photo.jpg"
    with pytest.raises(ValueError):
        server.url("photo.jpg", "no-such-mode")
    with pytest.raises(TypeError):
        server.url("photo.jpg", "flaky", retries=2)
    with pytest.raises(ValueError):
        server.url("photo.jpg", "truncated", fraction=1.5)
    with pytest.raises(TypeError):
        server.url("photo.jpg", n=2)


def test_access_log_and_hit_counters_are_bounded(root, http_session):
    class SmallServer(FixtureServer):
        MAX_TRACKED_PATHS = 3
        MAX_LOG_ENTRIES = 5

    with SmallServer(root) as srv:
        for i in range(10):
            http_session.get(srv.url("photo.jpg") + f"?i={i}")
        assert srv.access_log == [Access("GET", f"/photo.jpg?i={i}", 200) for i in range(5, 10)]
        assert srv.hits("/photo.jpg?i=9") == 1 and srv.hits("/photo.jpg?i=0") == 0


def test_concurrent_requests_all_succeed(server, http_session):
    files = [("photo.jpg", JPEG), ("img/logo.png", PNG), ("clip.mp4", MP4)]
    cases = [(server.url(relpath, "noai" if i % 2 else None), data) for i, (relpath, data) in enumerate(files * 67)]

    def fetch(case):
        response = http_session.get(case[0], timeout=10)
        return response.status_code == 200 and response.content == case[1]

    with ThreadPoolExecutor(32) as pool:
        assert all(pool.map(fetch, cases[:200]))
    assert len(server.access_log) == 200


def test_stop_aborts_requests_and_frees_port(root):
    server = FixtureServer(root).start()
    port, slow_path = server.port, "/_/slow/30/photo.jpg"
    outcome = []
    client = threading.Thread(target=lambda: outcome.append(_request_fails(port, slow_path)))
    client.start()
    while not server.hits(slow_path):
        time.sleep(0.01)
    started = time.monotonic()
    server.stop()
    client.join(5)
    assert time.monotonic() - started < 2 and outcome == [True]
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    server.stop()  # idempotent
    with pytest.raises(RuntimeError):
        server.base_url


def _request_fails(port: int, path: str) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        connection.getresponse().read()
    except (ConnectionError, http.client.HTTPException):
        return True
    finally:
        connection.close()
    return False


def test_refuses_non_loopback_host(root):
    with pytest.raises(ValueError):
        FixtureServer(root, host="0.0.0.0")
