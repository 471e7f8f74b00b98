"""Per-host politeness: a cap on concurrent connections and on requests per second, adaptive backoff on
429/503 and a circuit breaker, shared by every download thread of one worker process.

Every request (a media download, each redirect hop, robots.txt, tdmrep.json) passes `HostLimiter.slot(url)`:

* at most `connections` requests to one host are in flight, and their starts are at least 1/`rps` s apart;
* a 429 or 503 answer pauses the host: for its Retry-After (capped at `max_backoff`, plus up to 25 % jitter), or
  without one for `backoff` x 2^(n-1) s (n: throttles in a row, jittered 0.5-1.5x); the host's request rate is
  halved too and recovers by 10 % per good answer, back up to `rps`;
* `failures` host-level failures in a row (connection errors, timeouts, DNS, TLS, 5xx, 429) open the host's
  breaker: for `cooldown` s its URLs fail at once as `host_unavailable`, without a request; afterwards one more
  failure re-opens it and one answer closes it. Any answer from the host (2xx-4xx) resets the count.

A host is a URL's lower-cased `host:port`. The state lives in the process: `per_process` gives every
client of one process with the same limits the same limiter (a Beam worker's DoFn instances share it), so the
limits hold per worker process, not across a cluster (pipelines/crawl/RUNNERS.md gives the cluster-wide rate).
"""
import random
import threading
import time
import weakref
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Hashable, Iterator, TypeVar
from urllib.parse import urlsplit

from pipelines.crawl import status
from pipelines.crawl.status import Failure

# failures that say the host, not the URL, is in trouble (they count towards the breaker)
HOST_FAILURES = frozenset({
    status.CONNECTION_ERROR, status.TIMEOUT, status.DNS_ERROR, status.TLS_ERROR, status.TRUNCATED,
    "http_5xx", "http_429",
})
NOT_CONTACTED = frozenset({status.BLOCKED_PRIVATE_NETWORK})  # refused before connecting: nothing learnt
THROTTLE_CODES = frozenset({429, 503})
MAX_HOSTS = 100_000
T = TypeVar("T")
RECOVERY = 0.9  # per good answer, a throttled host's request interval shrinks by this factor (back to 1/rps)


@dataclass(frozen=True)
class HostLimits:
    """Per-host limits of one worker process (times in seconds)."""

    connections: int = 4
    rps: float = 5.0
    failures: int = 10
    cooldown: float = 300.0
    backoff: float = 1.0
    max_backoff: float = 30.0


def host_of(url: str) -> str:
    """The politeness key of a URL: its lower-cased `host:port` (the scheme's default port when none is given)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{(parts.hostname or '').lower()}:{port}"


class Host:
    """One host's slots, pacing, backoff and breaker; every method holds its lock."""

    def __init__(self, name: str, limits: HostLimits, rng: random.Random):
        self.name = name
        self.limits = limits
        self.rng = rng
        self.cond = threading.Condition()
        self.active = 0
        self.interval = 1.0 / limits.rps  # current spacing of request starts; grows while throttled
        self.next_start = 0.0  # monotonic time the next request may start (pacing and backoff)
        self.throttles = 0  # 429/503 answers in a row
        self.failures = 0  # host-level failures in a row
        self.open_until = 0.0  # the breaker is open until this monotonic time
        self.last_failure = ""

    def acquire(self, deadline: float) -> None:
        """Wait for a connection slot and the host's next start time; raise when the breaker is open or the
        wait would pass `deadline` (monotonic)."""
        with self.cond:
            while True:
                now = time.monotonic()
                if now < self.open_until:
                    raise Failure(status.HOST_UNAVAILABLE, f"host {self.name} not contacted: {self.limits.failures} "
                                                           f"failures in a row, the last {self.last_failure}")
                free = self.active < self.limits.connections
                if free and now >= self.next_start:
                    self.active += 1
                    self.next_start = now + self.interval
                    return
                if now >= deadline or (free and self.next_start > deadline):
                    raise Failure(status.TIMEOUT, f"no request slot for host {self.name} before the download "
                                                  "deadline (per-host politeness limits)", transient=True)
                self.cond.wait((self.next_start if free else deadline) - now)  # or until a slot frees

    def release(self, failure: Failure | None, learn: bool = True) -> None:
        """Free the slot and, with `learn`, learn from the outcome: None for an answer, else the request's failure."""
        with self.cond:
            self.active -= 1
            self.cond.notify_all()
            if not learn:
                return
            if failure is not None and failure.status in NOT_CONTACTED:
                return
            now = time.monotonic()
            if failure is not None and failure.http_status in THROTTLE_CODES:
                self._throttle(now, failure.retry_after)
            elif failure is None or failure.status not in HOST_FAILURES:
                self.failures = self.throttles = 0
                self.interval = max(1.0 / self.limits.rps, self.interval * RECOVERY)
            if failure is not None and failure.status in HOST_FAILURES:
                self._count_failure(now, failure)

    def idle(self, now: float) -> bool:
        """True when forgetting this host loses little: no request in flight, no backoff, breaker closed."""
        return self.active == 0 and now >= self.next_start and now >= self.open_until

    def pause_left(self) -> float:
        """Seconds until the host may be asked again (its backoff), 0 when it may be asked now."""
        with self.cond:
            return max(0.0, self.next_start - time.monotonic())

    def _throttle(self, now: float, retry_after: float | None) -> None:
        self.throttles += 1
        if retry_after is not None:
            delay = retry_after * self.rng.uniform(1.0, 1.25)
        else:
            delay = self.limits.backoff * 2 ** (self.throttles - 1) * self.rng.uniform(0.5, 1.5)
        self.next_start = max(self.next_start, now + min(delay, self.limits.max_backoff))
        self.interval = min(self.interval * 2, max(self.limits.max_backoff, 1.0 / self.limits.rps))

    def _count_failure(self, now: float, failure: Failure) -> None:
        self.failures += 1
        self.last_failure = str(failure)
        if self.failures >= self.limits.failures:
            self.open_until = now + self.limits.cooldown
            self.failures = self.limits.failures - 1  # after the cooldown, one more failure re-opens it


class HostLimiter:
    """The per-host state of one process, created on a host's first request; beyond `max_hosts` hosts, the least
    recently used idle ones (no request in flight, no backoff, breaker closed) are forgotten."""

    def __init__(self, limits: HostLimits, rng: random.Random | None = None, max_hosts: int = MAX_HOSTS):
        self.limits = limits
        self.rng = rng or random.Random()
        self.max_hosts = max_hosts
        self._hosts: OrderedDict[str, Host] = OrderedDict()
        self._lock = threading.Lock()

    def host(self, url: str) -> Host:
        """The state of `url`'s host."""
        name = host_of(url)
        with self._lock:
            host = self._hosts.get(name)
            if host is None:
                host = self._hosts[name] = Host(name, self.limits, self.rng)
                if len(self._hosts) > self.max_hosts:
                    self._forget_idle()
            self._hosts.move_to_end(name)
            return host

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for name in [n for n, h in self._hosts.items() if h.idle(now)][: len(self._hosts) - self.max_hosts // 2]:
            del self._hosts[name]

    @contextmanager
    def slot(self, url: str, deadline: float) -> Iterator[None]:
        """Hold one of the host's connection slots for a request and the reading of its answer.

        A Failure raised inside is the request's outcome (429/503 back the host off; host-level failures count
        towards its breaker); a normal exit is an answer.
        """
        host = self.host(url)
        host.acquire(deadline)
        try:
            yield
        except Failure as failure:
            host.release(failure)
            raise
        except BaseException:
            host.release(None, learn=False)  # not the host's doing (a bug, an interrupt): nothing learnt
            raise
        host.release(None)


_SHARED: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def per_process(key: Hashable, factory: Callable[[], T]) -> T:
    """This process's object for `key` (made by `factory` on first use), shared while some client holds it."""
    with _SHARED_LOCK:
        value = _SHARED.get(key)
        if value is None:
            value = _SHARED[key] = factory()
        return value
