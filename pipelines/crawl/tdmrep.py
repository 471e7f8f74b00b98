"""TDM-Rep (W3C TDM Reservation Protocol), for `--respect-tdmrep`: rights holders reserving text-and-data-mining.

Two of its techniques are read:

* the `tdm-reservation` response header: `1` reserves the resource (with an optional `tdm-policy` URL). It is
  read before the body is downloaded;
* `/.well-known/tdmrep.json` per origin: a JSON array of rules `{"location": PATTERN, "tdm-reservation": 0|1,
  "tdm-policy": URL}`; the first rule whose location matches the URL's path (and query) decides. Locations are
  path patterns as in robots.txt: `*` matches any characters, a final `$` anchors the end, otherwise a prefix.

A missing, unreadable or malformed tdmrep.json reserves nothing (the protocol only counts explicit reservations).
"""
import json
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

PATH = "/.well-known/tdmrep.json"
MAX_BYTES = 512 * 1024
FOUND_TTL = 24 * 3600.0
UNREACHABLE_TTL = 600.0


@dataclass(frozen=True)
class Rule:
    """One tdmrep.json rule: the location it applies to (compiled), whether it reserves, and its policy."""

    location: str
    pattern: re.Pattern
    reserved: bool
    policy: str | None


def header_reservation(headers) -> str | None:
    """Why a response's headers reserve TDM rights (`tdm-reservation: 1`), None when they do not."""
    if (headers.get("tdm-reservation") or "").strip() != "1":
        return None
    policy = headers.get("tdm-policy")
    return "tdm-reservation: 1" + (f" (tdm-policy: {policy})" if policy else "")


def file_reservation(rules: list[Rule], url: str) -> str | None:
    """Why a tdmrep.json reserves `url` (its first matching rule), None when it does not."""
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    for rule in rules:
        if rule.pattern.match(target):
            if not rule.reserved:
                return None
            policy = f", tdm-policy: {rule.policy}" if rule.policy else ""
            return f"{PATH} rule for {rule.location!r} reserves TDM rights{policy}"
    return None


def parse(code: int | None, body: bytes) -> tuple[list[Rule], float]:
    """(rules, seconds to keep them) from the answer to a tdmrep.json request (`code` None: no answer)."""
    if code is None or code >= 500 or code == 429:
        return [], UNREACHABLE_TTL
    if not 200 <= code < 300:
        return [], FOUND_TTL
    try:
        entries = json.loads(body[:MAX_BYTES])
    except ValueError:
        return [], FOUND_TTL
    rules = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("location"), str):
            policy = entry.get("tdm-policy")
            rules.append(Rule(entry["location"], _compile(entry["location"]), entry.get("tdm-reservation") in (1, "1"),
                              policy if isinstance(policy, str) else None))
    return rules, FOUND_TTL


def _compile(location: str) -> re.Pattern:
    anchored = location.endswith("$")
    body = location[:-1] if anchored else location
    if not body.startswith("/"):
        body = "/" + body
    return re.compile(".*".join(re.escape(piece) for piece in body.split("*")) + ("$" if anchored else ""))
