"""HTTP fetching for the crawl: a urllib3 pool whose every connection is vetted, plus the retry policy.

img2dataset's `download_image_with_retry` uses `urllib.request.urlopen`, which follows redirects on its own, reads
whole bodies without a cap and reports errors as strings. The crawl keeps its behaviour where it matters
(user agent, timeouts, `is_disallowed` for X-Robots-Tag opt-outs) and adds what it lacks:

* every connection checks the address it is about to connect to (`AddressPolicy`), on every redirect hop, after
  DNS resolution (so a DNS answer that changes between lookups cannot slip through);
* redirects are followed by hand: scheme checked, loops and over-long chains are failures;
* bodies are streamed with a byte cap and a deadline (a server trickling bytes cannot hold a thread forever);
  video bodies go to a temporary file as they arrive, image bodies (capped much lower) to memory;
* every request, redirect hops and site files included, passes the per-host limiter (`politeness.py`): a cap on
  concurrent connections and request rate per host, backoff on 429/503 (Retry-After honoured, capped) and a
  circuit breaker; other transient failures back off exponentially with jitter, permanent ones are not retried;
* opt-outs (`optouts.py`): robots.txt and tdmrep.json are checked before a URL is requested, X-Robots-Tag and
  `tdm-reservation` as soon as the response headers arrive, so an opted-out body is never downloaded.
"""
import hashlib
import io
import random
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import BinaryIO, Iterator
from urllib.parse import urljoin

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

from pipelines.crawl import status
from pipelines.crawl.optouts import Document, OptOuts, SiteFiles
from pipelines.crawl.politeness import THROTTLE_CODES, HostLimiter, HostLimits, per_process
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import AddressPolicy, normalise_url

CHUNK = 64 * 1024
TRANSIENT_HTTP = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPTED_TYPES = ("image/", "video/", "application/octet-stream", "binary/octet-stream")
SITE_FILE_BYTES = 512 * 1024  # robots.txt and tdmrep.json: the first 512 KiB are read


def user_agent(token: str) -> str:
    """img2dataset's user agent string, with our token (servers may scope X-Robots-Tag to it)."""
    return (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:72.0) Gecko/20100101 Firefox/72.0"
        f" (compatible; {token}; +https://github.com/rom1504/img2dataset)"
    )


@dataclass(frozen=True)
class Caps:
    """Caps of one download: bytes, and wall time in seconds (retries included)."""

    max_bytes: int
    deadline: float


@dataclass
class Payload:
    """A downloaded body and what the server said about it.

    `body` is positioned at its start: memory for an image, a named temporary file for a video (deleted when
    closed). The caller owns it and closes it.
    """

    url: str
    kind: str  # 'image' or 'video': the declared Content-Type's kind, else the URL's
    body: BinaryIO
    size: int
    http_status: int
    content_type: str
    sha256: str


def _vetted_connection_classes(policy: AddressPolicy):
    """HTTP(S)Connection subclasses that resolve the host and refuse addresses the policy forbids."""

    def _new_conn(self) -> socket.socket:
        try:
            infos = socket.getaddrinfo(self._dns_host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        for info in infos:
            policy.check(info[4][0])
        last: OSError | None = None
        for family, socktype, proto, _, address in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                sock.settimeout(self.timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.connect(address)
                return sock
            except socket.timeout as exc:
                sock.close()
                raise ConnectTimeoutError(self, f"connection to {self.host} timed out") from exc
            except OSError as exc:
                sock.close()
                last = exc
        raise NewConnectionError(self, f"failed to connect to {self.host}: {last}")

    http_cls = type("VettedHTTPConnection", (HTTPConnection,), {"_new_conn": _new_conn})
    https_cls = type("VettedHTTPSConnection", (HTTPSConnection,), {"_new_conn": _new_conn})
    return http_cls, https_cls


class HttpClient:
    """A thread-safe keep-alive client that downloads one URL at a time under the crawl's safety rules."""

    def __init__(
        self,
        policy: AddressPolicy,
        timeout: float,
        max_redirects: int,
        retries: int,
        backoff: float,
        max_retry_after: float,
        user_agent_token: str,
        disallowed_header_directives: list[str],
        pool_size: int,
        limits: HostLimits | None = None,
        respect_robots_txt: bool = False,
        respect_tdmrep: bool = False,
    ):
        self.max_redirects = max_redirects
        self.retries = retries
        self.backoff = backoff
        limits = limits or HostLimits(backoff=backoff, max_backoff=max_retry_after)
        self.limiter = per_process(limits, lambda: HostLimiter(limits))
        self.optouts = OptOuts(user_agent_token.strip().lower(), disallowed_header_directives, respect_robots_txt,
                               respect_tdmrep, per_process(SiteFiles, SiteFiles))
        self.headers = {"User-Agent": user_agent(user_agent_token)}
        self.pool = urllib3.PoolManager(
            num_pools=64, maxsize=pool_size, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout)
        )
        http_cls, https_cls = _vetted_connection_classes(policy)
        self.pool.pool_classes_by_scheme = {
            "http": type("VettedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_cls}),
            "https": type("VettedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_cls}),
        }

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.clear()

    def fetch(self, url: str, kind: str, caps: dict[str, Caps]) -> Payload:
        """Download `url` (a `kind` of media by its URL) with retries; raise Failure when it cannot be had."""
        started = time.monotonic()
        deadline = started + caps[kind].deadline
        for attempt in range(self.retries + 1):
            try:
                return self._fetch_once(url, kind, caps, started, deadline)
            except Failure as failure:
                delay = self._retry_delay(failure, attempt, url)
                if delay is None:
                    raise
                if time.monotonic() + delay > deadline:
                    failure.error += f" (not retried: the {caps[kind].deadline:g} s deadline would pass)"
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def document(self, url: str, deadline: float) -> Document:
        """GET a site file (robots.txt, tdmrep.json): its status and first bytes; never raises for a failure."""
        try:
            with self._response(url, deadline, site_file=True) as (_, response):
                if response.status >= 400:
                    raise _http_failure(response)
                body = response.read(SITE_FILE_BYTES)
                _discard(response)  # the rest, if any, is not read: the connection cannot be reused
                return Document(response.status, body)
        except Failure as failure:
            return Document(failure.http_status, failure=failure)

    def _retry_delay(self, failure: Failure, attempt: int, url: str) -> float | None:
        """Seconds to wait before retrying, None when the failure is not retried."""
        if not failure.transient or attempt >= self.retries:
            return None
        if failure.http_status in THROTTLE_CODES:
            return self.limiter.host(url).pause_left()  # the host's backoff (Retry-After), set by the limiter
        return self.backoff * 2**attempt * random.uniform(0.5, 1.5)

    def _fetch_once(self, url: str, kind: str, caps: dict[str, Caps], started: float, deadline: float) -> Payload:
        with self._response(url, deadline) as (url, response):
            return self._read(url, response, kind, caps, started)

    @contextmanager
    def _response(self, url: str, deadline: float, site_file: bool = False
                  ) -> Iterator[tuple[str, urllib3.BaseHTTPResponse]]:
        """The final (url, response) after redirects, its host's connection slot held while the body is read.

        Each hop of a media URL is checked against the site's opt-out files first (site files are not); every hop
        waits for its host's slot.
        """
        seen = {url}
        for _ in range(self.max_redirects + 1):
            if not site_file:
                self.optouts.check_url(url, lambda path: self.document(path, deadline))
            with self.limiter.slot(url, deadline):
                response = self._request(url)
                try:
                    if response.status in REDIRECTS and response.headers.get("Location"):
                        url = self._redirect_target(url, response.headers["Location"], seen)
                        _discard(response)
                        continue
                    yield url, response
                except BaseException:
                    _discard(response)
                    raise
                response.release_conn()  # body read to the end: the connection is reused
                return
        raise Failure(status.TOO_MANY_REDIRECTS, f"more than {self.max_redirects} redirects")

    def _redirect_target(self, url: str, location: str, seen: set[str]) -> str:
        target = normalise_url(urljoin(url, location))
        if target in seen:
            raise Failure(status.TOO_MANY_REDIRECTS, f"redirect loop back to {target}")
        seen.add(target)
        return target

    def _request(self, url: str) -> urllib3.BaseHTTPResponse:
        try:
            return self.pool.request("GET", url, headers=self.headers, redirect=False, preload_content=False)
        except HTTPError as exc:
            raise _network_failure(exc) from None

    def _read(self, url: str, response, kind: str, caps: dict[str, Caps], started: float) -> Payload:
        code = response.status
        if code >= 400:
            raise _http_failure(response)
        if not 200 <= code < 300:
            raise Failure(status.HTTP_3XX, f"HTTP {code} without a Location to follow", code)
        self.optouts.check_headers(response.headers, code)
        content_type = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type and not content_type.startswith(ACCEPTED_TYPES):
            raise Failure(status.WRONG_CONTENT_TYPE, f"server declared Content-Type {content_type}", code)
        kind = content_type.split("/")[0] if content_type.startswith(("image/", "video/")) else kind
        cap = caps[kind]
        body = _body_sink(kind)
        try:
            sha256 = _read_body(response, body, cap.max_bytes, started + cap.deadline, code)
        except BaseException:
            body.close()
            raise
        size = body.tell()
        body.seek(0)
        return Payload(url, kind, body, size, code, content_type, sha256)


def _http_failure(response) -> Failure:
    """The failure for an HTTP error answer (4xx, 5xx)."""
    code = response.status
    return Failure(status.http_status_kind(code), f"HTTP {code} {response.reason or ''}".strip(), code,
                   transient=code in TRANSIENT_HTTP, retry_after=_retry_after(response.headers))


def _discard(response) -> None:
    """Drop a response whose body was not read (it may be huge): close its connection, free the pool slot."""
    response.close()
    response.release_conn()


def _body_sink(kind: str) -> BinaryIO:
    """Where a body is streamed: a named temporary file for a video (probed from disk), memory for an image."""
    return tempfile.NamedTemporaryFile(prefix="gristmill-video-") if kind == "video" else io.BytesIO()


def _read_body(response, sink: BinaryIO, max_bytes: int, deadline: float, code: int) -> str:
    """Stream the body into `sink` under the byte cap and the deadline; return its sha256 (hex)."""
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise Failure(status.TOO_LARGE, f"Content-Length {declared} exceeds the {max_bytes} byte cap", code)
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := response.read1(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                raise Failure(status.TOO_LARGE, f"more than {max_bytes} bytes received (byte cap)", code)
            if time.monotonic() > deadline:
                raise Failure(status.TIMEOUT, f"download deadline passed after {size} bytes", code, transient=True)
            digest.update(chunk)
            sink.write(chunk)
    except ProtocolError as exc:
        if declared and declared.isdigit() and size < int(declared):
            raise Failure(
                status.TRUNCATED, f"connection closed after {size} of {declared} bytes", code, transient=True
            ) from None
        raise Failure(status.CONNECTION_ERROR, f"connection broken: {exc}", code, transient=True) from None
    except ReadTimeoutError:
        raise Failure(status.TIMEOUT, f"read timed out after {size} bytes", code, transient=True) from None
    return digest.hexdigest()


def _network_failure(exc: HTTPError) -> Failure:
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return Failure(status.TIMEOUT, str(exc), transient=True)
    if isinstance(exc, NameResolutionError):
        return Failure(status.DNS_ERROR, str(exc))
    if isinstance(exc, SSLError):
        return Failure(status.TLS_ERROR, str(exc))
    if isinstance(exc, LocationValueError):
        return Failure(status.BAD_URL, str(exc))
    if isinstance(exc, (NewConnectionError, ProtocolError)):
        return Failure(status.CONNECTION_ERROR, str(exc), transient=True)
    return Failure(status.CONNECTION_ERROR, f"{type(exc).__name__}: {exc}", transient=True)


def _retry_after(headers) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or HTTP-date), None when absent or invalid."""
    value = (headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
