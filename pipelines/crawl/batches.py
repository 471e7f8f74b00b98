"""Candidates of a batch of input rows at once, with the values `records.to_candidate` gives row by row.

Most rows of real lists take a fast path decided by regular expressions over whole Arrow columns: a URL already
in normal form (lower-case http(s) scheme and host name of LDH labels, no port, user, fragment or empty query,
only characters `normalise_url` leaves alone) is its own normal form, and a caption of printable ASCII (tab and
line breaks allowed) without '&' is repaired by collapsing white space. A URL that is such a URL but for upper
case in its scheme or host name (never its path) is lower-cased there, column-wise, which is all `normalise_url`
does to it (urlsplit lower-cases scheme and host; IDNA leaves an ASCII host as it is). A row whose URL takes the
fast path but whose caption does not has only its caption repaired row by row (`repair_caption`); every other
row goes through `to_candidate`. Sample ids and URL hashes are BLAKE2b digests of the final columns' UTF-8 bytes,
the same bytes `sample_id` and `url_shard_key` hash. tests/crawl/test_batches.py holds both paths equal on
tricky and random URLs and captions.
"""
import hashlib
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.crawl.inputs import RowBatch, text_value
from pipelines.crawl.records import RawRow, media_type_of, repair_caption, to_candidate

_LABEL = r"[a-z0-9-]{1,63}"
_CASED_LABEL = r"[A-Za-z0-9-]{1,63}"  # explicit ASCII letters: RE2's (?i) would also fold K (Kelvin) and ſ
_PATH = r"[A-Za-z0-9/%:@!$&'()*+,;=._~-]"
_AFTER_HOST = rf"/{_PATH}*(?:\?(?:{_PATH}|\?)+)?$"
FAST_URL = rf"^https?://(?:{_LABEL}\.)*{_LABEL}\.?{_AFTER_HOST}"
CASED_URL = rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_CASED_LABEL}\.)*{_CASED_LABEL}\.?{_AFTER_HOST}"  # FAST_URL but case
_HEAD_AND_PATH = r"^(?P<head>[^/]*//[^/]*)(?P<path>/.*)$"  # of a CASED_URL: scheme://host, then the rest
FAST_CAPTION = r"^[\t\n\r\x20-\x25\x27-\x7e]*$"  # printable ASCII but '&' (HTML entities need ftfy/html)
# what repair_caption's whitespace collapse changes in a FAST_CAPTION: runs of 2+ and single non-space ones
_SPACE_RUN = r"[\t\n\r ][\t\n\r ]+|[\t\n\r]"

PLAN_SCHEMA = pa.schema([
    ("file_index", pa.int32()), ("part_index", pa.int32()), ("row_index", pa.int64()),
    ("sample_id", pa.string()), ("url", pa.string()), ("caption", pa.string()), ("extra", pa.string()),
    ("media_type", pa.string()), ("status", pa.string()), ("error", pa.string()),
])
HASH_FIELD = pa.field("url_hash", pa.uint32())  # top 32 bits of url_shard_key: shard_of's input


def candidate_batch(batch: RowBatch, video_extensions: list[str]) -> pa.Table:
    """PLAN_SCHEMA columns plus `url_hash` for the rows of `batch`, in its order."""
    n = len(batch.urls)
    urls, url_fast, caption_fast = _fast_masks(batch)
    slow = np.flatnonzero(~url_fast)  # whole rows through to_candidate
    repaired = np.flatnonzero(url_fast & ~caption_fast)  # fast URL, caption through repair_caption
    media = _video_candidates(urls, url_fast, video_extensions)
    videos = np.flatnonzero(url_fast & (media == "video"))
    if len(videos):
        media[videos] = [media_type_of(u, video_extensions) for u in urls.take(pa.array(videos)).to_pylist()]
    status = np.full(n, None, dtype=object)
    error = np.full(n, None, dtype=object)
    slow_rows = [batch.rows[i] for i in slow] if batch.rows is not None else _raw_rows(batch, slow)
    cands = [to_candidate(row, video_extensions) for row in slow_rows]
    if cands:
        media[slow] = [c.media_type for c in cands]
        status[slow] = [c.status for c in cands]
        error[slow] = [c.error for c in cands]
    url_out = _replaced(urls, slow, [c.url for c in cands])
    captions = (pa.nulls(n, pa.string()) if batch.captions is None or not url_fast.any()
                else _collapsed(batch.captions))
    to_repair = batch.captions.take(pa.array(repaired)).to_pylist() if len(repaired) else []
    repairs = {c: repair_caption(c) for c in set(to_repair)}  # a pure function: each distinct caption once
    new_captions = [repairs[c] for c in to_repair]
    caption_out = _replaced(captions, np.concatenate([slow, repaired]), [c.caption for c in cands] + new_captions)
    ids, hashes = _digests(url_out, caption_out)
    part = batch.part
    columns = [pa.array(np.full(n, part.file_index, np.int32)), pa.array(np.full(n, part.part_index, np.int32)),
               pa.array(np.arange(batch.row_start, batch.row_start + n, dtype=np.int64)), ids, url_out, caption_out,
               pa.array(batch.extras, pa.string()), pa.array(media, pa.string()), pa.array(status, pa.string()),
               pa.array(error, pa.string()), pa.array(hashes, pa.uint32())]
    return pa.Table.from_arrays(columns, schema=PLAN_SCHEMA.append(HASH_FIELD))


def _digests(urls: pa.Array, captions: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """sample_id of every (url, caption) row as a string column, and the top 32 bits of url_shard_key(url)."""
    n = len(urls)
    url_bytes = urls.cast(pa.binary()).to_pylist()
    caption_bytes = pc.fill_null(captions, "").cast(pa.binary()).to_pylist()
    blake2b = hashlib.blake2b
    keys = [blake2b(u, digest_size=8).digest() for u in url_bytes]
    ids = [blake2b(b"%s\0%s" % pair, digest_size=16).digest() for pair in zip(url_bytes, caption_bytes)]
    hashes = np.frombuffer(b"".join(keys), ">u4")[::2].astype(np.uint32)  # first 4 of 8 bytes, big-endian
    hex_ids = b"".join(ids).hex().encode("ascii")
    if len(hex_ids) >= 2**31:  # offsets of pa.string() are int32
        return pa.array([hex_ids[i:i + 32].decode("ascii") for i in range(0, len(hex_ids), 32)], pa.string()), hashes
    offsets = np.arange(0, 32 * n + 1, 32, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(hex_ids)), hashes


def _replaced(column: pa.Array, positions: np.ndarray, values: list) -> pa.Array:
    """`column` (a string array) with the rows at `positions` replaced by `values`, in that order."""
    n = len(column)
    if len(positions) == n:
        order = np.empty(n, np.int64)
        order[positions] = np.arange(n)
        return pa.array(values, pa.string()).take(pa.array(order))
    if not len(positions):
        return column
    order = np.arange(n, dtype=np.int64)
    order[positions] = n + np.arange(len(positions))
    new = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    return pa.concat_arrays([column, new]).take(pa.array(order))


def _raw_rows(batch: RowBatch, indices: np.ndarray) -> list[RawRow]:
    """Rows `indices` of the batch as to_candidate takes them (extras are already JSON in `batch.extras`)."""
    take = pa.array(indices, pa.int64())
    urls = batch.urls.take(take).to_pylist()
    captions = batch.captions.take(take).to_pylist() if batch.captions is not None else [None] * len(urls)
    key = (batch.part.file_index, batch.part.part_index)
    return [RawRow((*key, batch.row_start + i), text_value(u), text_value(c), {})
            for i, u, c in zip(indices.tolist(), urls, captions)]


def _fast_masks(batch: RowBatch) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """(URL column with CASED_URL rows lower-cased in scheme and host, rows whose URL takes the fast path, rows
    whose caption does). A row that must go whole through to_candidate has a False URL mask."""
    urls, captions = batch.urls, batch.captions
    n = len(urls)
    if not pa.types.is_string(urls.type) or captions is not None and not pa.types.is_string(captions.type):
        return urls, np.zeros(n, bool), np.ones(n, bool)
    url_fast = _mask(pc.fill_null(pc.match_substring_regex(urls, FAST_URL), False))
    urls, url_fast = _lowered_hosts(urls, url_fast)
    if batch.rows is not None:  # text rows: only well-formed rows of text cells take the fast path
        url_fast &= np.array([r.bad is None and isinstance(r.caption, (str, type(None))) for r in batch.rows], bool)
    caption_fast = (np.ones(n, bool) if captions is None
                    else _mask(pc.fill_null(pc.match_substring_regex(captions, FAST_CAPTION), True)))
    return urls, url_fast, caption_fast


def _lowered_hosts(urls: pa.Array, fast: np.ndarray) -> tuple[pa.Array, np.ndarray]:
    """URLs that fail FAST_URL only for upper case in scheme or host, lower-cased there (path untouched)."""
    if fast.all():
        return urls, fast
    others = np.flatnonzero(~fast)
    candidates = urls.take(pa.array(others))
    matched = _mask(pc.fill_null(pc.match_substring_regex(candidates, CASED_URL), False))
    if not matched.any():
        return urls, fast
    cased = others[matched]
    parts = pc.extract_regex(candidates.filter(pa.array(matched)), _HEAD_AND_PATH)
    lowered = pc.binary_join_element_wise(pc.ascii_lower(parts.field("head")), parts.field("path"), "")
    ok = _mask(pc.fill_null(pc.match_substring_regex(lowered, FAST_URL), False))  # true of all, by construction
    fast = fast.copy()
    fast[cased[ok]] = True
    return _replaced(urls, cased[ok], lowered.filter(pa.array(ok))), fast


def _mask(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False).astype(bool, copy=True)


def _collapsed(captions: pa.Array) -> pa.Array:
    """Whitespace runs to one space, ends trimmed: repair_caption on a fast-path caption (others replaced later)."""
    return pc.utf8_trim(pc.replace_substring_regex(captions, _SPACE_RUN, " "), " ")


def _video_candidates(urls: pa.Array, fast: np.ndarray, video_extensions: list[str]) -> np.ndarray:
    """'image' per row, 'video' where a fast-path URL contains a video extension (media_type_of decides those)."""
    media = np.full(len(urls), "image", dtype=object)
    if not video_extensions or not fast.any():
        return media
    pattern = "(?i)\\.(" + "|".join(re.escape(e.lstrip(".")) for e in video_extensions) + ")"
    maybe = pc.fill_null(pc.match_substring_regex(urls, pattern), False).to_numpy(zero_copy_only=False)
    media[maybe & fast] = "video"
    return media
