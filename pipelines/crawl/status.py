"""The crawl's status vocabulary: every sample row carries `status` = 'success' or one of these kinds.

The strings are stable: reports count them, curation filters on them and tests assert them. The exact HTTP code
is always in `http_status`; `error` holds the human-readable detail.

Input and URL
    bad_row                  the input line could not be parsed (malformed JSON or CSV); `url` holds the raw line
    bad_url                  empty or unparseable URL (no host, bad port, bad characters)
    bad_scheme               a scheme other than http/https, in the list or in a redirect
    duplicate_url            with --one-sample-per-url only: the same normalised URL appeared earlier with another
                             caption; not fetched again (by default each caption is its own sample sharing the bytes)
Network
    blocked_private_network  the host (or a redirect hop) resolves to a private, loopback, link-local or cloud-metadata
                             address, or an IPv6 form embedding one (mapped, NAT64, 6to4); metadata and link-local
                             addresses are refused even with --allow-private-network
    dns_error                the host name does not resolve
    connection_error         refused, reset or otherwise failed connection
    tls_error                TLS handshake or certificate failure
    timeout                  a connect/read timeout, the whole download took longer than its deadline, or the
                             video probe ran past its time limit
    too_many_redirects       more redirects than allowed, or a redirect loop
HTTP
    http_401, http_403, http_404, http_410, http_429
                             these answers (429 only once its retries are exhausted)
    http_3xx                 a redirect without a Location header (or another unusable non-2xx answer)
    http_4xx                 any other 4xx answer
    http_5xx                 any 5xx answer, once its retries are exhausted
Politeness and opt-outs (docs/crawling-politely.md)
    host_unavailable         not requested: the host's circuit breaker is open after repeated host-level failures
                             (connection errors, timeouts, 5xx, 429) in this worker process
    robots_disallowed        not requested: robots.txt disallows the URL for our user agent token, or answered 5xx
                             or 429, which RFC 9309 treats as disallow-all (only with --respect-robots-txt)
    tdm_reserved             text-and-data-mining rights reserved under TDM-Rep: by the `tdm-reservation: 1` response
                             header (body not downloaded) or a matching rule of /.well-known/tdmrep.json (not
                             requested) (only with --respect-tdmrep)
    opted_out                an X-Robots-Tag directive disallows use (default: noai, noimageai, noml); read from the
                             response headers, the body is not downloaded
Payload
    wrong_content_type       the server declared a non-media Content-Type (text/html, application/json, ...)
    too_large                the payload exceeds the byte cap (declared Content-Length or bytes received)
    truncated                the payload ends early (missing end marker, short body)
    corrupt                  the payload is an image whose data is damaged (bad CRC, stray JPEG markers)
    not_an_image             the payload is not a decodable image (HTML, text, unknown format)
    too_many_pixels          the declared width x height exceeds the pixel cap
    decompression_bomb       a tiny payload declaring a huge image (over the pixel cap at more than
                             BOMB_PIXELS_PER_BYTE pixels per byte, or refused by Pillow's own bomb check)
    resize_error             img2dataset's resizer failed on an image that passed verification
Video
    not_a_video              a video URL whose payload is not a video container
    undecodable_video        a video container without decodable video frames (damaged, truncated, unknown codec)
Crawler
    internal_error           an unexpected exception while fetching, probing or resizing this sample (a library
                             bug, memory exhaustion); `error` holds the exception type and message
"""
from dataclasses import dataclass

SUCCESS = "success"
BAD_ROW = "bad_row"
BAD_URL = "bad_url"
BAD_SCHEME = "bad_scheme"
DUPLICATE_URL = "duplicate_url"
BLOCKED_PRIVATE_NETWORK = "blocked_private_network"
DNS_ERROR = "dns_error"
CONNECTION_ERROR = "connection_error"
TLS_ERROR = "tls_error"
TIMEOUT = "timeout"
TOO_MANY_REDIRECTS = "too_many_redirects"
OPTED_OUT = "opted_out"
HOST_UNAVAILABLE = "host_unavailable"
ROBOTS_DISALLOWED = "robots_disallowed"
TDM_RESERVED = "tdm_reserved"
WRONG_CONTENT_TYPE = "wrong_content_type"
TOO_LARGE = "too_large"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
NOT_AN_IMAGE = "not_an_image"
TOO_MANY_PIXELS = "too_many_pixels"
DECOMPRESSION_BOMB = "decompression_bomb"
RESIZE_ERROR = "resize_error"
NOT_A_VIDEO = "not_a_video"
UNDECODABLE_VIDEO = "undecodable_video"
INTERNAL_ERROR = "internal_error"

HTTP_3XX = "http_3xx"
HTTP_4XX = "http_4xx"
HTTP_5XX = "http_5xx"
HTTP_429 = "http_429"
NAMED_HTTP_CODES = (401, 403, 404, 410, 429)
BOMB_PIXELS_PER_BYTE = 1000

FAILURE_KINDS = frozenset({
    BAD_ROW, BAD_URL, BAD_SCHEME, DUPLICATE_URL, BLOCKED_PRIVATE_NETWORK, DNS_ERROR, CONNECTION_ERROR, TLS_ERROR,
    TIMEOUT, TOO_MANY_REDIRECTS, OPTED_OUT, HOST_UNAVAILABLE, ROBOTS_DISALLOWED, TDM_RESERVED, WRONG_CONTENT_TYPE,
    TOO_LARGE, TRUNCATED, CORRUPT, NOT_AN_IMAGE, TOO_MANY_PIXELS, DECOMPRESSION_BOMB, RESIZE_ERROR, NOT_A_VIDEO,
    UNDECODABLE_VIDEO, INTERNAL_ERROR, HTTP_3XX, HTTP_4XX, HTTP_5XX, *(f"http_{c}" for c in NAMED_HTTP_CODES),
})
"""Every failure kind above (`status` of a sample that is not 'success')."""
TRANSIENT_KINDS = (TIMEOUT, CONNECTION_ERROR, DNS_ERROR, HTTP_5XX, HTTP_429, HOST_UNAVAILABLE)
"""The failures that may pass with time, which `--retry-failed` fetches again by default: the server or network was
busy or down (a DNS failure is often a resolver overloaded by the crawl itself). Permanent answers (http_404, opt-outs,
bad URLs, payload defects) are retried only when named."""


def http_status_kind(code: int) -> str:
    """The status for an HTTP error answer: http_404 for named codes, else http_4xx / http_5xx."""
    if code in NAMED_HTTP_CODES:
        return f"http_{code}"
    return HTTP_5XX if code >= 500 else HTTP_4XX


@dataclass
class Failure(Exception):
    """A sample failed: `status` from the vocabulary above, a readable `error`, and what the fetch learned.

    `transient` failures are retried (with `retry_after` seconds advised by the server, when it said so).
    """

    status: str
    error: str
    http_status: int | None = None
    transient: bool = False
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.status}: {self.error}"

    def __reduce__(self):
        return (Failure, (self.status, self.error, self.http_status, self.transient, self.retry_after))
