"""From an input row to a crawl candidate: URL normalisation, caption repair, identity, duplicates, shards.

Identity: `sample_id(normalised URL, repaired caption)`, so a re-crawl maps every pair to the same id.
Duplicates: rows with the same id collapse into one sample (`copies` counts them). Rows with the same URL but
different captions are different training pairs and each is a sample; the shard fetches the URL once and the
pairs share its bytes (`pipeline.CrawlShard`). With `one_sample_per_url` (the old behaviour) only the first in
input order is fetched and the others are recorded as `duplicate_url`. A sample's shard is a range of the hash
of its URL (`url_shard_key`), so all rows of one URL meet in one shard, and assignment depends only on the list,
never on the runner.
"""
import hashlib
import html
import json
import math
import re
from dataclasses import dataclass, replace
from posixpath import splitext
from json.encoder import encode_basestring
from urllib.parse import urlsplit

import ftfy
import pyarrow as pa
import pyarrow.compute as pc

from curation.identity import sample_id
from pipelines.crawl import status
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import normalise_url

_SPACES = re.compile(r"\s+")
_dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode


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


def extra_json(extra: dict) -> str | None:
    """A row's carried columns as the sample's `extra` JSON (None when it has none)."""
    return _dumps(extra) if extra else None


def extra_json_column(columns: dict[str, pa.Array]) -> list[str | None]:
    """`extra_json` of every row of equally long carried columns, one column at a time instead of row by row.

    json.dumps of a dict is its sorted keys and values, each encoded on its own, so each column is encoded once
    (integers cast by Arrow, finite floats by repr, strings by json's own string encoder, anything else by the
    same json.dumps) and every row's text is assembled from them with one format string.
    """
    names = sorted(columns)
    template = "{" + ", ".join(_dumps(n).replace("%", "%%") + ": %s" for n in names) + "}"
    encoded = [_json_values(columns[n]) for n in names]
    return [template % values for values in zip(*encoded)]


def _json_values(column: pa.Array) -> list[str]:
    kind = column.type
    if pa.types.is_integer(kind):
        return pc.fill_null(column.cast(pa.string()), "null").to_pylist()
    values = column.to_pylist()
    if column.null_count == 0:
        if (pa.types.is_float32(kind) or pa.types.is_float64(kind)) and all(map(math.isfinite, values)):
            return list(map(float.__repr__, values))
        if pa.types.is_string(kind) or pa.types.is_large_string(kind):
            return list(map(encode_basestring, values))
    return list(map(_dumps, values))


def to_candidate(row: RawRow, video_extensions: list[str]) -> Candidate:
    """Normalise, repair and identify one input row."""
    extra = extra_json(row.extra)
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


def resolve_duplicates(candidates: list[Candidate], one_sample_per_url: bool = False) -> list[Candidate]:
    """One URL's candidates -> unique samples in input order: the same id collapses; with `one_sample_per_url`
    the other captions become duplicate_url."""
    by_id: dict[str, Candidate] = {}
    for cand in sorted(candidates, key=lambda c: c.position):
        kept = by_id.get(cand.sample_id)
        by_id[cand.sample_id] = cand if kept is None else replace(kept, copies=kept.copies + cand.copies)
    ordered = sorted(by_id.values(), key=lambda c: c.position)
    if not one_sample_per_url:
        return ordered
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
