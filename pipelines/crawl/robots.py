"""robots.txt (RFC 9309), read with the standard library's `urllib.robotparser`, for `--respect-robots-txt`.

How an answer for `/robots.txt` is read (RFC 9309 section 2.3.1):

* 2xx: the rules, for the group naming our user agent token (else `*`); the first 512 KiB are parsed;
* 4xx other than 429: no robots.txt, everything allowed;
* 429 or 5xx: unreachable, everything disallowed (`robots_disallowed`) until it is fetched again (after
  `UNREACHABLE_TTL`);
* no answer (connection refused, timeout, DNS, the host's open circuit breaker): everything disallowed too, each URL
  recorded with the failure that kept robots.txt from being read (`connection_error`, `host_unavailable`, ...),
  as it would be without robots.txt.

`urllib.robotparser` matches rule paths as prefixes in file order: `*` and `$` inside a path are not wildcards,
and a group applies when its user-agent value is part of the token.
"""
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

from pipelines.crawl import status
from pipelines.crawl.status import Failure

PATH = "/robots.txt"
MAX_BYTES = 512 * 1024
FOUND_TTL = 24 * 3600.0  # RFC 9309: a cached robots.txt should not be used for more than 24 hours
UNREACHABLE_TTL = 600.0


@dataclass(frozen=True)
class Robots:
    """One origin's robots.txt: its parsed rules, None when it has none, or why everything is refused."""

    rules: RobotFileParser | None = None
    unreachable: Failure | None = None

    def check(self, url: str, token: str) -> None:
        """Raise Failure(robots_disallowed, or why robots.txt could not be read) when `url` may not be fetched."""
        if self.unreachable is not None:
            kind = status.ROBOTS_DISALLOWED if self.unreachable.http_status else self.unreachable.status
            raise Failure(kind, f"robots.txt unreachable ({self.unreachable}): everything disallowed until it can be "
                                "read (RFC 9309); not requested", self.unreachable.http_status)
        if self.rules is not None and not self.rules.can_fetch(token, url):
            parts = urlsplit(url)
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            raise Failure(status.ROBOTS_DISALLOWED, f"robots.txt disallows {path} for user agent {token!r}")


def parse(code: int | None, body: bytes, failure: Failure | None) -> tuple[Robots, float]:
    """(Robots, seconds to keep it) from the answer to a robots.txt request: its HTTP status (None: no answer),
    its body, and the failure of an error answer or of no answer."""
    if code is not None and 200 <= code < 300:
        rules = RobotFileParser()
        rules.parse(body[:MAX_BYTES].decode("utf-8", "replace").splitlines())
        return Robots(rules), FOUND_TTL
    if code is not None and 400 <= code < 500 and code != 429:
        return Robots(), FOUND_TTL
    return Robots(unreachable=failure or Failure(status.CONNECTION_ERROR, f"HTTP {code}", code)), UNREACHABLE_TTL
