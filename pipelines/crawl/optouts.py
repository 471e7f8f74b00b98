"""Opt-outs a site can express, checked before a body is downloaded; each refusal is a sample's failure.

* per URL, before the request: robots.txt (`--respect-robots-txt`, `robots.py`) and `/.well-known/tdmrep.json`
  (`--respect-tdmrep`, `tdmrep.py`), each fetched once per origin through the crawl's own vetted client and
  kept in `SiteFiles`, a per-process cache;
* per response, from its headers, before the body is read: X-Robots-Tag directives (img2dataset's
  `is_disallowed`: `noai`, `noimageai`, `noml` by default, optionally scoped to our token as `gristmill: noai`)
  and `tdm-reservation: 1` (`--respect-tdmrep`).
"""
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, TypeVar
from urllib.parse import urlsplit

from img2dataset.downloader import is_disallowed

from pipelines.crawl import robots, status, tdmrep
from pipelines.crawl.status import Failure

T = TypeVar("T")
MAX_SITE_FILES = 20_000  # cached documents per process; the least recently used are dropped first


@dataclass(frozen=True)
class Document:
    """The answer to a site-file request: HTTP status (None: no answer), the body's first bytes, or the failure."""

    code: int | None
    body: bytes = b""
    failure: Failure | None = None


class _Entry:
    def __init__(self):
        self.ready = threading.Event()
        self.ok = False
        self.value = None
        self.expires = 0.0


class SiteFiles:
    """Values computed once per key (one site file of one origin) and kept until they expire.

    Threads asking for a key being computed wait for it, so each file is fetched once per process.
    """

    def __init__(self, max_entries: int = MAX_SITE_FILES):
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, compute: Callable[[], tuple[T, float]]) -> T:
        """The value for `key`; `compute` returns (value, seconds to keep it) and runs in one thread at a time."""
        while True:
            with self._lock:
                entry = self._entries.get(key)
                if entry is None or (entry.ok and time.monotonic() >= entry.expires):
                    entry = self._entries[key] = _Entry()
                    while len(self._entries) > self.max_entries:
                        self._entries.popitem(last=False)
                    break
                self._entries.move_to_end(key)
            entry.ready.wait()
            if entry.ok:
                return entry.value
            # the computing thread raised: go round again (this thread may compute it)
        try:
            entry.value, ttl = compute()
            entry.expires, entry.ok = time.monotonic() + ttl, True
        except BaseException:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            raise
        finally:
            entry.ready.set()
        return entry.value


def origin_of(url: str) -> str:
    """`scheme://host[:port]` of a normalised URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class OptOuts:
    """The opt-outs one crawl honours; `fetch(url)` -> Document gets site files through the crawl's client."""

    def __init__(self, token: str, directives: list[str], respect_robots_txt: bool, respect_tdmrep: bool,
                 site_files: SiteFiles):
        self.token = token
        self.directives = {d.strip().lower() for d in directives if d.strip()}
        self.respect_robots_txt = respect_robots_txt
        self.respect_tdmrep = respect_tdmrep
        self.site_files = site_files

    def check_url(self, url: str, fetch: Callable[[str], Document]) -> None:
        """Raise Failure(robots_disallowed | tdm_reserved) when the site's files refuse `url` (not requested)."""
        origin = origin_of(url)
        if self.respect_robots_txt:
            def read_robots():
                answer = fetch(origin + robots.PATH)
                return robots.parse(answer.code, answer.body, answer.failure)

            self.site_files.get(origin + robots.PATH, read_robots).check(url, self.token)
        if self.respect_tdmrep:
            def read_tdmrep():
                answer = fetch(origin + tdmrep.PATH)
                return tdmrep.parse(answer.code, answer.body)

            reason = tdmrep.file_reservation(self.site_files.get(origin + tdmrep.PATH, read_tdmrep), url)
            if reason is not None:
                raise Failure(status.TDM_RESERVED, reason)

    def check_headers(self, headers, code: int) -> None:
        """Raise Failure(opted_out | tdm_reserved) when a response's headers opt it out (its body is not read)."""
        if self.directives and is_disallowed(headers, self.token, self.directives):
            raise Failure(status.OPTED_OUT, f"X-Robots-Tag: {', '.join(headers.getlist('X-Robots-Tag'))}", code)
        if self.respect_tdmrep:
            reason = tdmrep.header_reservation(headers)
            if reason is not None:
                raise Failure(status.TDM_RESERVED, reason, code)
