"""From an input row to a crawl candidate: URL normalisation, caption repair, identity, duplicates, shards.

Identity: `sample_id(normalised URL, repaired caption)`, so a re-crawl maps every pair to the same id.
Duplicates: rows with the same id collapse into one sample (`copies` counts them). Among rows with the same
URL but different captions, the first in input order is fetched and the others are recorded as
`duplicate_url`. A sample's shard is a range of the hash of its URL (`url_shard_key`), so all rows of one URL
meet in one shard, and assignment depends only on the list, never on the runner.
"""
import hashlib
import html
import json
import math
import re
from dataclasses import dataclass, replace
from posixpath import splitext
from urllib.parse import urlsplit

import ftfy

from curation.identity import sample_id
from pipelines.crawl import status
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import normalise_url

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class RawRow:
    """One row as read from a list: URL and caption as found, other columns, or why the row is unreadable."""

    position: tuple[int, int, int]  # (file index, part index, row index): input order
    url: object
    caption: object
    extra: dict
    bad: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A sample to crawl, or one already decided (`status` set: bad input, duplicate)."""

    position: tuple[int, int, int]
    sample_id: str
    url: str
    caption: str | None
    extra: str | None
    media_type: str
    status: str | None = None
    error: str | None = None
    copies: int = 1


def repair_caption(raw: object) -> str | None:
    """Caption text repaired with ftfy, HTML entities decoded (also double-escaped ones), whitespace collapsed."""
    if raw is None:
        return None
    text = raw if isinstance(raw, str) else str(raw)
    text = ftfy.fix_text(text, unescape_html=False)
    for _ in range(3):
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return _SPACES.sub(" ", ftfy.fix_text(text, unescape_html=False)).strip()


def media_type_of(url: str, video_extensions: list[str]) -> str:
    """'video' when the URL path ends with a video extension, else 'image' (the server's type may still say video)."""
    return "video" if url_extension(url) in {e.lstrip(".").lower() for e in video_extensions} else "image"


def url_extension(url: str) -> str | None:
    """Lower-case extension of the URL's path without the dot, None when it has none."""
    ext = splitext(urlsplit(url).path)[1].lower().lstrip(".")
    return ext or None


def to_candidate(row: RawRow, video_extensions: list[str]) -> Candidate:
    """Normalise, repair and identify one input row."""
    extra = json.dumps(row.extra, sort_keys=True, ensure_ascii=False, default=str) if row.extra else None
    caption = repair_caption(row.caption)
    if row.bad is not None:
        raw = str(row.url)[:2048]
        return Candidate(row.position, sample_id(raw, caption), raw, caption, extra, "image", status.BAD_ROW, row.bad)
    raw_url = "" if row.url is None else str(row.url)
    try:
        url = normalise_url(raw_url)
    except Failure as failure:
        raw = raw_url.strip()
        return Candidate(row.position, sample_id(raw, caption), raw, caption, extra, "image", failure.status,
                         failure.error)
    return Candidate(row.position, sample_id(url, caption), url, caption, extra, media_type_of(url, video_extensions))


def resolve_duplicates(candidates: list[Candidate]) -> list[Candidate]:
    """One URL's candidates -> unique samples: same id collapses, other captions become duplicate_url."""
    by_id: dict[str, Candidate] = {}
    for cand in sorted(candidates, key=lambda c: c.position):
        kept = by_id.get(cand.sample_id)
        by_id[cand.sample_id] = cand if kept is None else replace(kept, copies=kept.copies + cand.copies)
    ordered = sorted(by_id.values(), key=lambda c: c.position)
    first = ordered[0]
    out = [first]
    for cand in ordered[1:]:
        if cand.status is None:
            cand = replace(cand, status=status.DUPLICATE_URL,
                           error=f"same URL as sample {first.sample_id} (input row {first.position}), other caption")
        out.append(cand)
    return out


def url_shard_key(url: str) -> str:
    """Hex hash of a candidate's URL: every candidate of one URL lands in the same shard (de-duplicated there)."""
    return hashlib.blake2b(url.encode("utf-8"), digest_size=8).hexdigest()


def shard_count(input_rows: int, shard_size: int) -> int:
    """Number of shards of a list of `input_rows` rows (computed by the driver, before anything is read)."""
    return max(1, math.ceil(input_rows / shard_size))


def shard_of(sample_id_hex: str, n_shards: int) -> int:
    """Shard index of a sample: shard i holds the i-th of `n_shards` equal ranges of sample_id."""
    return (int(sample_id_hex[:8], 16) * n_shards) >> 32
