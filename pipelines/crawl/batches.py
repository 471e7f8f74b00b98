"""Candidates of a batch of input rows at once, with the values `records.to_candidate` gives row by row.

Most rows of real lists take a fast path decided by regular expressions over whole Arrow columns: a URL already
in normal form (lower-case http(s) scheme and host name of LDH labels, no port, user, fragment or empty query,
only characters `normalise_url` leaves alone) is its own normal form, and a caption of printable ASCII (tab and
line breaks allowed) without '&' is repaired by collapsing white space. Every other row goes through
`to_candidate`. tests/crawl/test_batches.py holds both paths equal on tricky URLs and captions.
"""
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.identity import sample_id
from pipelines.crawl.inputs import RowBatch, text_value
from pipelines.crawl.records import RawRow, media_type_of, to_candidate, url_shard_key

_LABEL = r"[a-z0-9-]{1,63}"
_PATH = r"[A-Za-z0-9/%:@!$&'()*+,;=._~-]"
FAST_URL = rf"^https?://(?:{_LABEL}\.)*{_LABEL}\.?/{_PATH}*(?:\?(?:{_PATH}|\?)+)?$"
FAST_CAPTION = r"^[\t\n\r\x20-\x25\x27-\x7e]*$"  # printable ASCII but '&' (HTML entities need ftfy/html)

PLAN_SCHEMA = pa.schema([
    ("file_index", pa.int32()), ("part_index", pa.int32()), ("row_index", pa.int64()),
    ("sample_id", pa.string()), ("url", pa.string()), ("caption", pa.string()), ("extra", pa.string()),
    ("media_type", pa.string()), ("status", pa.string()), ("error", pa.string()),
])
HASH_FIELD = pa.field("url_hash", pa.uint32())  # top 32 bits of url_shard_key: shard_of's input


def candidate_batch(batch: RowBatch, video_extensions: list[str]) -> pa.Table:
    """PLAN_SCHEMA columns plus `url_hash` for the rows of `batch`, in its order."""
    n = len(batch.urls)
    fast = _fast_mask(batch)
    url_out = batch.urls.to_pylist() if fast.any() else [None] * n
    caption_out = _collapsed(batch.captions).to_pylist() if batch.captions is not None and fast.any() else [None] * n
    media = _video_candidates(batch.urls, fast, video_extensions)
    status: list[str | None] = [None] * n
    error: list[str | None] = [None] * n
    slow = np.flatnonzero(~fast)
    slow_rows = [batch.rows[i] for i in slow] if batch.rows is not None else _raw_rows(batch, slow)
    for i, row in zip(slow, slow_rows):
        cand = to_candidate(row, video_extensions)
        url_out[i], caption_out[i], media[i], status[i], error[i] = (cand.url, cand.caption, cand.media_type,
                                                                      cand.status, cand.error)
    for i in np.flatnonzero(fast & (media == "video")):
        media[i] = media_type_of(url_out[i], video_extensions)
    ids = [sample_id(u, c) for u, c in zip(url_out, caption_out)]
    hashes = [int(url_shard_key(u)[:8], 16) for u in url_out]
    part = batch.part
    columns = [pa.array(np.full(n, part.file_index, np.int32)), pa.array(np.full(n, part.part_index, np.int32)),
               pa.array(np.arange(batch.row_start, batch.row_start + n, dtype=np.int64)), ids, url_out, caption_out,
               batch.extras, media.tolist(), status, error, pa.array(hashes, pa.uint32())]
    return pa.Table.from_arrays(columns, schema=PLAN_SCHEMA.append(HASH_FIELD))


def _raw_rows(batch: RowBatch, indices: np.ndarray) -> list[RawRow]:
    """Rows `indices` of the batch as to_candidate takes them (extras are already JSON in `batch.extras`)."""
    take = pa.array(indices, pa.int64())
    urls = batch.urls.take(take).to_pylist()
    captions = batch.captions.take(take).to_pylist() if batch.captions is not None else [None] * len(urls)
    key = (batch.part.file_index, batch.part.part_index)
    return [RawRow((*key, batch.row_start + int(i)), text_value(u), text_value(c), {})
            for i, u, c in zip(indices, urls, captions)]


def _fast_mask(batch: RowBatch) -> np.ndarray:
    urls, captions = batch.urls, batch.captions
    if not pa.types.is_string(urls.type) or captions is not None and not pa.types.is_string(captions.type):
        return np.zeros(len(urls), bool)
    fast = pc.fill_null(pc.match_substring_regex(urls, FAST_URL), False)
    if captions is not None:
        fast = pc.and_(fast, pc.fill_null(pc.match_substring_regex(captions, FAST_CAPTION), True))
    mask = fast.to_numpy(zero_copy_only=False).copy()
    if batch.rows is not None:  # text rows: only well-formed rows of text cells take the fast path
        mask &= np.array([r.bad is None and isinstance(r.caption, (str, type(None))) for r in batch.rows], bool)
    return mask


def _collapsed(captions: pa.Array) -> pa.Array:
    """Whitespace runs to one space, ends trimmed: repair_caption on a fast-path caption (others replaced later)."""
    return pc.utf8_trim(pc.replace_substring_regex(captions, r"\s+", " "), " ")


def _video_candidates(urls: pa.Array, fast: np.ndarray, video_extensions: list[str]) -> np.ndarray:
    """'image' per row, 'video' where a fast-path URL contains a video extension (media_type_of decides those)."""
    media = np.full(len(urls), "image", dtype=object)
    if not video_extensions or not fast.any():
        return media
    pattern = "(?i)\\.(" + "|".join(re.escape(e.lstrip(".")) for e in video_extensions) + ")"
    maybe = pc.fill_null(pc.match_substring_regex(urls, pattern), False).to_numpy(zero_copy_only=False)
    media[maybe & fast] = "video"
    return media
