"""Loopback HTTP fixture server that serves files from a directory and misbehaves on demand.

Used by the crawl tests, ``gristmill demo`` and the crawl benchmark. It is a real
multi-threaded HTTP/1.1 server (keep-alive, HEAD, single-range ``Range`` requests)
bound to an IPv4 loopback address and run in a background thread::

    with FixtureServer(root) as srv:
        ok = srv.url("img/0001.jpg")                          # http://127.0.0.1:PORT/img/0001.jpg
        limited = srv.url("img/0001.jpg", "429", retry_after=2, n=3)
        ...
        assert srv.hits(limited) == 4

URL scheme
==========

``/<relpath>`` serves ``root/<relpath>`` with a Content-Type from its extension,
Content-Length and ``Accept-Ranges: bytes``. Missing files answer 404. Paths with
``.``/``..``/empty segments, encoded ``/`` or ``\\``, NUL bytes or symlinks leading
out of ``root`` answer 403. The query string is ignored when serving (it is part of
the hit-counter key).

``/_/<mode>/<param>.../<relpath>`` serves ``<relpath>`` with a failure mode. Each
mode takes a fixed number of parameters, one path segment each, percent-encoded
(``text/html`` is written ``text%2Fhtml``). :meth:`FixtureServer.url` builds these
URLs from keyword arguments (names below, defaults in brackets). Unknown modes and
invalid parameters answer 400. Modes marked * never read the file, so it need not exist.

=================================================  ==========================================
``status/<code>`` *  [500]                          answer ``code`` (400-599) with a small HTML page
``slow/<seconds>``  [1.0]                           wait, then send headers and the file
``trickle/<bytes_per_s>``  [1024]                   send headers at once, then the body at that rate
``429/<retry_after>/<n>``  [1, 1]                   the first n requests to this URL get 429 with
                                                    ``Retry-After: <retry_after>`` (integer seconds),
                                                    later ones the file
``503retry/<retry_after>/<n>``  [1, 1]              the same with 503
``flaky/<n>``  [1]                                  the first n requests to this URL get 500
``redirect/<n>``  [1]                               a chain of n 302s (``redirect/n-1/...``) ending at
                                                    ``/<relpath>``; n=0 serves the file directly
``redirect-loop`` *                                 302 to the same path with ``?hop=b``, which 302s
                                                    back to the path without a query: A -> B -> A ...
``redirect-external`` *                             302 to :data:`EXTERNAL_REDIRECT_TARGET` (a
                                                    link-local metadata address; never contacted)
``wrong-type/<content_type>``  [text/html]          the file's bytes with that Content-Type
``html`` *                                          200, ``Content-Type: image/jpeg``, an HTML page
``truncated/<fraction>``  [0.5]                     the first ``int(size * fraction)`` bytes, with a
                                                    matching Content-Length
``short-body``                                      Content-Length of the whole file, half the bytes,
                                                    then the connection is closed
``corrupt``                                         the file with a span in its middle third XOR-ed
                                                    with non-zero bytes, deterministic per relpath
``oversized/<n_bytes>`` *  [1000000000]             n_bytes streamed (never held in memory): a PNG
                                                    header for ``.png``, a JPEG header otherwise,
                                                    then zero filler; Content-Type from the extension
``oversized-chunked/<n_bytes>`` *  [1000000000]     the same, chunked, without Content-Length
``bomb`` *                                          a ~110 kB 1-bit PNG of 30000x30000 pixels
                                                    (:func:`bomb_png`), ``Content-Type: image/png``
``noai``                                            the file with ``X-Robots-Tag: noai, noimageai``
``noindex``                                         the file with ``X-Robots-Tag: noindex`` (not an
                                                    AI opt-out)
=================================================  ==========================================

Responses built from bytes (files and the file-based modes, ``bomb``) honour
``Range``; ``status``/``html``/redirect/``oversized``/``short-body`` responses do not.
A top-level directory named ``_`` under ``root`` is shadowed by the mode prefix.

Every request increments a hit counter keyed by its raw path and query (what
:meth:`FixtureServer.hits` reads; the 429/503retry/flaky counters are these hit
counts) and appends ``(method, path, status)`` to :attr:`FixtureServer.access_log`.
Both are bounded (:attr:`FixtureServer.MAX_TRACKED_PATHS`, least recently hit
paths are forgotten first; :attr:`FixtureServer.MAX_LOG_ENTRIES`, oldest first).
"""

from __future__ import annotations

import collections
import functools
import html
import http
import http.server
import io
import ipaddress
import mimetypes
import random
import socket
import socketserver
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import BinaryIO, Callable, Iterable, Iterator, NamedTuple
from urllib.parse import quote, unquote, urlsplit

MODE_PREFIX = "_"
EXTERNAL_REDIRECT_TARGET = "http://169.254.169.254/latest/meta-data/"
BOMB_WIDTH = BOMB_HEIGHT = 30_000
AI_OPT_OUT_TAG = "noai, noimageai"

_CHUNK_SIZE = 64 * 1024
_FILLER = bytes(_CHUNK_SIZE)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_HEADER = bytes.fromhex("ffd8ffe000104a46494600010100000100010000")  # SOI + APP0/JFIF
_HTML_TYPE = "text/html; charset=utf-8"
_CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".webm": "video/webm",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".txt": "text/plain; charset=utf-8",
    ".html": _HTML_TYPE,
    ".json": "application/json",
}


class Access(NamedTuple):
    """One access-log entry."""

    method: str
    path: str
    status: int


class _HTTPProblem(Exception):
    """Abort the current request with an HTML error page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _RangeNotSatisfiable(Exception):
    pass


# --- mode parameters ---------------------------------------------------------------


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError(f"expected a positive integer, got {text!r}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"expected a finite non-negative number, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(f"expected a fraction in [0, 1], got {text!r}")
    return value


def _error_status(text: str) -> int:
    value = int(text)
    if not 400 <= value <= 599:
        raise ValueError(f"expected a status in 400-599, got {text!r}")
    return value


def _header_value(text: str) -> str:
    if not text or not text.isascii() or not text.isprintable():
        raise ValueError(f"not a valid header value: {text!r}")
    return text


@dataclass(frozen=True)
class _Param:
    name: str
    parse: Callable[[str], object]
    default: object


@dataclass(frozen=True)
class _Mode:
    params: tuple[_Param, ...]
    serve: Callable[..., None]  # (handler, relpath, *parsed params)


# --- payload helpers ---------------------------------------------------------------


def _content_type(relpath: str) -> str:
    suffix = PurePosixPath(relpath).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(relpath)[0] or "application/octet-stream"


def _quote_relpath(relpath: str | PurePath) -> str:
    text = relpath.as_posix() if isinstance(relpath, PurePath) else str(relpath)
    return "/".join(quote(segment, safe="") for segment in text.lstrip("/").split("/"))


def _html_page(status: int, message: str) -> bytes:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    title = html.escape(f"{status} {phrase}".strip())
    return (
        f"<!doctype html><html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1><p>{html.escape(message)}</p></body></html>\n"
    ).encode()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width: int, height: int, bit_depth: int, colour_type: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return _PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr)


@functools.cache
def _build_bomb_png() -> bytes:
    row = bytes(1 + (BOMB_WIDTH + 7) // 8)  # filter byte 0 + 1-bit black pixels
    rows_per_block = 1000
    full_blocks, rest = divmod(BOMB_HEIGHT, rows_per_block)
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row * rows_per_block) for _ in range(full_blocks)]
    parts += [compressor.compress(row * rest), compressor.flush()]
    idat = _png_chunk(b"IDAT", b"".join(parts))
    return _png_header(BOMB_WIDTH, BOMB_HEIGHT, 1, 0) + idat + _png_chunk(b"IEND", b"")


_BOMB_LOCK = threading.Lock()


def bomb_png() -> bytes:
    """Return a small valid PNG that decodes to BOMB_WIDTH x BOMB_HEIGHT black pixels (built once, in memory)."""
    with _BOMB_LOCK:
        return _build_bomb_png()


def corrupt_bytes(data: bytes, seed: str) -> bytes:
    """Return ``data`` with a span in its middle third XOR-ed with non-zero bytes, deterministic for ``seed``."""
    if not data:
        return data
    rng = random.Random(seed)
    span = max(1, min(len(data) // 10, 1024))
    low = len(data) // 3
    start = rng.randint(low, max(low, 2 * len(data) // 3 - span))
    span = min(span, len(data) - start)
    corrupted = bytearray(data)
    for offset in range(start, start + span):
        corrupted[offset] ^= rng.randrange(1, 256)
    return bytes(corrupted)


def _oversized_chunks(header: bytes, n_bytes: int) -> Iterator[bytes]:
    head = header[:n_bytes]
    yield head
    remaining = n_bytes - len(head)
    while remaining > 0:
        chunk = _FILLER[: min(remaining, _CHUNK_SIZE)]
        remaining -= len(chunk)
        yield chunk


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single ``bytes=`` range into a half-open span; None means "send everything"."""
    if not header or "," in header or not header.strip().startswith("bytes="):
        return None
    first, dash, last = header.strip()[len("bytes=") :].partition("-")
    if not dash or not (first or last) or not (first + last).isdigit():
        return None
    if not first:  # suffix range: the last N bytes
        if int(last) == 0 or size == 0:
            raise _RangeNotSatisfiable
        return max(0, size - int(last)), size
    start = int(first)
    stop = size if not last else int(last) + 1
    if last and stop <= start:
        return None
    if start >= size:
        raise _RangeNotSatisfiable
    return start, min(stop, size)


def _split_target(raw_path: str) -> tuple[Callable[..., None], tuple, str]:
    """Split a raw request path into (serve function, parsed mode params, relpath)."""
    if not raw_path.startswith("/"):
        raise _HTTPProblem(403, "invalid path")
    segments = raw_path.split("/")[1:]
    if segments[0] != MODE_PREFIX:
        return _Handler.serve_file, (), _relpath(segments)
    if len(segments) < 2 or segments[1] not in MODES:
        raise _HTTPProblem(400, "unknown failure mode")
    mode, params = segments[1], MODES[segments[1]].params
    raw_args = segments[2 : 2 + len(params)]
    if len(raw_args) < len(params):
        raise _HTTPProblem(400, f"mode {mode} needs parameters: {[p.name for p in params]}")
    try:
        args = tuple(param.parse(unquote(arg)) for param, arg in zip(params, raw_args))
    except ValueError as exc:
        raise _HTTPProblem(400, f"bad parameter for mode {mode}: {exc}") from None
    return MODES[mode].serve, args, _relpath(segments[2 + len(params) :])


def _relpath(raw_segments: list[str]) -> str:
    segments = [unquote(segment) for segment in raw_segments]
    if not segments or any(
        segment in ("", ".", "..") or "/" in segment or "\\" in segment or "\x00" in segment
        for segment in segments
    ):
        raise _HTTPProblem(403, "invalid path")
    return "/".join(segments)


# --- request handling --------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GristmillFixture/1.0"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server: _Server

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.server.stats.record_access(Access(self.command or "-", getattr(self, "path", ""), int(code)))

    def log_message(self, format: str, *args: object) -> None:
        """Silence the default stderr logging."""

    def _dispatch(self) -> None:
        self.hit_count = self.server.stats.record_hit(self.path)
        raw_path, _, self.query = self.path.partition("?")
        try:
            serve, args, relpath = _split_target(raw_path)
            serve(self, relpath, *args)
        except _HTTPProblem as problem:
            self._send_html(problem.status, str(problem))

    # --- senders ---

    def _send_html(
        self,
        status: int,
        message: str = "",
        headers: Iterable[tuple[str, str]] = (),
        content_type: str = _HTML_TYPE,
    ) -> None:
        body = _html_page(status, message)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_content(
        self,
        body: BinaryIO,
        size: int,
        content_type: str,
        headers: Iterable[tuple[str, str]] = (),
        rate: int | None = None,
    ) -> None:
        """Send a seekable body, honouring Range and HEAD, optionally at ``rate`` bytes/s."""
        try:
            span = _parse_range(self.headers.get("Range"), size)
        except _RangeNotSatisfiable:
            self._send_html(416, "range not satisfiable", [("Content-Range", f"bytes */{size}")])
            return
        start, stop = span or (0, size)
        self.send_response(206 if span else 200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(stop - start))
        self.send_header("Accept-Ranges", "bytes")
        if span:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{size}")
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            body.seek(start)
            self._copy(body, stop - start, rate)

    def _send_bytes(self, data: bytes, content_type: str) -> None:
        self._send_content(io.BytesIO(data), len(data), content_type)

    def _copy(self, body: BinaryIO, length: int, rate: int | None) -> None:
        chunk_size = _CHUNK_SIZE if rate is None else max(1, rate // 20)
        started, sent = time.monotonic(), 0
        while sent < length:
            data = body.read(min(chunk_size, length - sent))
            if not data:
                raise ConnectionAbortedError("file shrank while being served")
            if rate is not None:
                self._pause(started + (sent + len(data)) / rate - time.monotonic())
            self.wfile.write(data)
            sent += len(data)

    def _stream(self, chunks: Iterable[bytes], content_type: str, length: int | None) -> None:
        """Stream chunks with a Content-Length, or chunked when ``length`` is None."""
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        if self.command == "HEAD":
            return
        for chunk in chunks:
            if length is None and chunk:
                chunk = b"%X\r\n%s\r\n" % (len(chunk), chunk)
            self.wfile.write(chunk)
        if length is None:
            self.wfile.write(b"0\r\n\r\n")

    def _redirect(self, location: str) -> None:
        self._send_html(302, f"see {location}", [("Location", location)])

    def _pause(self, seconds: float) -> None:
        """Sleep, aborting the request if the server is stopping."""
        if seconds > 0 and self.server.stopping.wait(seconds):
            raise ConnectionAbortedError("server stopping")

    # --- files ---

    def _file(self, relpath: str) -> Path:
        path = (self.server.root / relpath).resolve()
        if not path.is_relative_to(self.server.root):
            raise _HTTPProblem(403, "path escapes the served directory")
        if not path.is_file():
            raise _HTTPProblem(404, "no such file")
        return path

    def _read(self, relpath: str) -> bytes:
        return self._file(relpath).read_bytes()

    # --- modes ---

    def serve_file(
        self,
        relpath: str,
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        rate: int | None = None,
    ) -> None:
        with self._file(relpath).open("rb") as body:
            size = body.seek(0, io.SEEK_END)
            self._send_content(body, size, content_type or _content_type(relpath), headers, rate)

    def serve_status(self, relpath: str, code: int) -> None:
        self._send_html(code, f"fixture status for {relpath}")

    def serve_slow(self, relpath: str, seconds: float) -> None:
        self._pause(seconds)
        self.serve_file(relpath)

    def serve_trickle(self, relpath: str, bytes_per_s: int) -> None:
        self.serve_file(relpath, rate=bytes_per_s)

    def serve_429(self, relpath: str, retry_after: int, n: int) -> None:
        self._fail_first(n, 429, relpath, [("Retry-After", str(retry_after))])

    def serve_503retry(self, relpath: str, retry_after: int, n: int) -> None:
        self._fail_first(n, 503, relpath, [("Retry-After", str(retry_after))])

    def serve_flaky(self, relpath: str, n: int) -> None:
        self._fail_first(n, 500, relpath)

    def _fail_first(self, n: int, status: int, relpath: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        if self.hit_count <= n:
            self._send_html(status, f"attempt {self.hit_count} of {n} failing", headers)
        else:
            self.serve_file(relpath)

    def serve_redirect(self, relpath: str, n: int) -> None:
        if n == 0:
            self.serve_file(relpath)
            return
        target = f"/{MODE_PREFIX}/redirect/{n - 1}/" if n > 1 else "/"
        self._redirect(self.server.base_url + target + _quote_relpath(relpath))

    def serve_redirect_loop(self, relpath: str) -> None:
        raw_path = self.path.partition("?")[0]
        self._redirect(self.server.base_url + raw_path + ("" if self.query else "?hop=b"))

    def serve_redirect_external(self, relpath: str) -> None:
        self._redirect(EXTERNAL_REDIRECT_TARGET)

    def serve_html(self, relpath: str) -> None:
        self._send_html(200, "this is not an image", content_type="image/jpeg")

    def serve_truncated(self, relpath: str, fraction: float) -> None:
        data = self._read(relpath)
        self._send_bytes(data[: int(len(data) * fraction)], _content_type(relpath))

    def serve_short_body(self, relpath: str) -> None:
        data = self._read(relpath)
        self.send_response(200)
        self.send_header("Content-Type", _content_type(relpath))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True

    def serve_corrupt(self, relpath: str) -> None:
        self._send_bytes(corrupt_bytes(self._read(relpath), relpath), _content_type(relpath))

    def serve_oversized(self, relpath: str, n_bytes: int) -> None:
        self._stream_oversized(relpath, n_bytes, chunked=False)

    def serve_oversized_chunked(self, relpath: str, n_bytes: int) -> None:
        self._stream_oversized(relpath, n_bytes, chunked=True)

    def _stream_oversized(self, relpath: str, n_bytes: int, chunked: bool) -> None:
        content_type = _content_type(relpath)
        header = _png_header(100_000, 100_000, 8, 2) if content_type == "image/png" else _JPEG_HEADER
        self._stream(_oversized_chunks(header, n_bytes), content_type, None if chunked else n_bytes)

    def serve_bomb(self, relpath: str) -> None:
        self._send_bytes(bomb_png(), "image/png")

    def serve_noai(self, relpath: str) -> None:
        self.serve_file(relpath, headers=[("X-Robots-Tag", AI_OPT_OUT_TAG)])

    def serve_noindex(self, relpath: str) -> None:
        self.serve_file(relpath, headers=[("X-Robots-Tag", "noindex")])


_RETRY_PARAMS = (_Param("retry_after", _non_negative_int, 1), _Param("n", _non_negative_int, 1))
_OVERSIZED_PARAMS = (_Param("n_bytes", _non_negative_int, 1_000_000_000),)
MODES: dict[str, _Mode] = {
    "status": _Mode((_Param("code", _error_status, 500),), _Handler.serve_status),
    "slow": _Mode((_Param("seconds", _non_negative_float, 1.0),), _Handler.serve_slow),
    "trickle": _Mode((_Param("bytes_per_s", _positive_int, 1024),), _Handler.serve_trickle),
    "429": _Mode(_RETRY_PARAMS, _Handler.serve_429),
    "503retry": _Mode(_RETRY_PARAMS, _Handler.serve_503retry),
    "flaky": _Mode((_Param("n", _non_negative_int, 1),), _Handler.serve_flaky),
    "redirect": _Mode((_Param("n", _non_negative_int, 1),), _Handler.serve_redirect),
    "redirect-loop": _Mode((), _Handler.serve_redirect_loop),
    "redirect-external": _Mode((), _Handler.serve_redirect_external),
    "wrong-type": _Mode((_Param("content_type", _header_value, "text/html"),), _Handler.serve_file),
    "html": _Mode((), _Handler.serve_html),
    "truncated": _Mode((_Param("fraction", _fraction, 0.5),), _Handler.serve_truncated),
    "short-body": _Mode((), _Handler.serve_short_body),
    "corrupt": _Mode((), _Handler.serve_corrupt),
    "oversized": _Mode(_OVERSIZED_PARAMS, _Handler.serve_oversized),
    "oversized-chunked": _Mode(_OVERSIZED_PARAMS, _Handler.serve_oversized_chunked),
    "bomb": _Mode((), _Handler.serve_bomb),
    "noai": _Mode((), _Handler.serve_noai),
    "noindex": _Mode((), _Handler.serve_noindex),
}
"""Failure modes by URL name: their parameters (in URL order) and handlers. See the module docstring."""


# --- server ------------------------------------------------------------------------


class _Stats:
    """Thread-safe, bounded hit counters and access log."""

    def __init__(self, max_paths: int, max_log: int) -> None:
        self._lock = threading.Lock()
        self._max_paths = max_paths
        self._hits: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._log: collections.deque[Access] = collections.deque(maxlen=max_log)

    def record_hit(self, key: str) -> int:
        """Count one request for ``key`` and return its new count."""
        with self._lock:
            count = self._hits.pop(key, 0) + 1
            self._hits[key] = count
            if len(self._hits) > self._max_paths:
                self._hits.popitem(last=False)
            return count

    def hits(self, key: str) -> int:
        with self._lock:
            return self._hits.get(key, 0)

    def record_access(self, entry: Access) -> None:
        with self._lock:
            self._log.append(entry)

    def log(self) -> list[Access]:
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        with self._lock:
            self._hits.clear()
            self._log.clear()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], root: Path, stats: _Stats) -> None:
        self.root = root
        self.stats = stats
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.base_url = "http://%s:%d" % self.server_address[:2]

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse-DNS lookup of the host."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: socket.socket, client_address: tuple[str, int]) -> None:
        """Ignore clients that hang up and requests aborted by stop(); report anything else."""
        if self.stopping.is_set() or isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class FixtureServer:
    """Multi-threaded HTTP/1.1 server on a loopback address serving ``root``, with failure modes.

    See the module docstring for the URL scheme. Use as a context manager or call
    start()/stop().
    """

    MAX_TRACKED_PATHS = 100_000
    MAX_LOG_ENTRIES = 100_000

    def __init__(self, root: str | Path, host: str = "127.0.0.1", port: int = 0) -> None:
        """Prepare a server for files under ``root``; ``port=0`` picks a free port at start()."""
        if not ipaddress.IPv4Address(host).is_loopback:
            raise ValueError(f"FixtureServer only binds IPv4 loopback addresses, not {host!r}")
        self.root = Path(root).resolve()
        self.host = host
        self.port = port
        self._stats = _Stats(self.MAX_TRACKED_PATHS, self.MAX_LOG_ENTRIES)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("FixtureServer is not running; call start() first")
        return self._server.base_url

    def url(self, relpath: str | PurePath, mode: str | None = None, **params: object) -> str:
        """Return the URL of ``relpath``, served with failure ``mode`` and its ``params`` (see MODES)."""
        path = _quote_relpath(relpath)
        if mode is None:
            if params:
                raise TypeError(f"parameters {sorted(params)} need a mode")
            return f"{self.base_url}/{path}"
        segments = [MODE_PREFIX, mode, *_mode_segments(mode, params), path]
        return f"{self.base_url}/" + "/".join(segments)

    def hits(self, path_or_url: str) -> int:
        """How many requests a path received; takes a URL or a raw path (``/a.jpg``, ``a.jpg?x=1``)."""
        return self._stats.hits(_hit_key(path_or_url))

    @property
    def access_log(self) -> list[Access]:
        """A copy of the recent ``(method, path, status)`` entries, oldest first."""
        return self._stats.log()

    def reset(self) -> None:
        """Forget all hit counters (so 429/flaky modes fail again) and the access log."""
        self._stats.clear()

    def start(self) -> FixtureServer:
        """Bind the socket and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("FixtureServer is already running")
        self._server = _Server((self.host, self.port), self.root, self._stats)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FixtureServer-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, abort in-flight requests, close all connections and free the port."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        thread.join()

    def __enter__(self) -> FixtureServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _mode_segments(mode: str, params: dict[str, object]) -> list[str]:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known modes: {', '.join(MODES)}")
    spec = MODES[mode].params
    unknown = set(params) - {param.name for param in spec}
    if unknown:
        raise TypeError(f"mode {mode!r} takes {[p.name for p in spec]}, not {sorted(unknown)}")
    segments = []
    for param in spec:
        text = str(params.get(param.name, param.default))
        param.parse(text)  # fail here rather than with a 400 later
        segments.append(quote(text, safe=""))
    return segments


def _hit_key(path_or_url: str) -> str:
    if "://" in path_or_url:
        parts = urlsplit(path_or_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return path_or_url if path_or_url.startswith("/") else "/" + path_or_url
