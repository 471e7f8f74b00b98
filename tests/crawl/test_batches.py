"""Candidates of whole batches equal records.to_candidate row by row, on tricky URLs and captions."""
import random

import pyarrow as pa
import pytest

from pipelines.crawl import batches
from pipelines.crawl.batches import candidate_batch
from pipelines.crawl.config import VIDEO_EXTENSIONS
from pipelines.crawl.inputs import InputPart, RowBatch, text_value
from pipelines.crawl.records import RawRow, shard_of, to_candidate, url_shard_key

EXTS = list(VIDEO_EXTENSIONS)
PART = InputPart("list.parquet", "parquet", 2, 3, 3)
TRICKY_URLS = [
    "http://example.com/a.jpg", "https://img.example.co.uk/x/y.png?w=1&h=2", "HTTP://Example.COM/a.jpg",
    "http://example.com", "http://example.com?x=1", "http://example.com/a?", "http://example.com/a#frag",
    "http://example.com:80/a", "http://example.com:8080/a", "https://example.com:443/a", "http://user:pw@h.com/a",
    "http://h.com/a b.jpg", " http://h.com/a.jpg ", "http://h.com/\u00e9.jpg", "http://b\u00fccher.de/a.jpg",
    "http://xn--bcher-kva.de/a", "http://a..b/c", "http://" + "a" * 64 + ".com/x", "http://" + "a" * 63 + ".com/x",
    "http://h.com./a", "http://127.0.0.1/a.jpg", "http://0127.0.0.1/a", "http://[::1]/a", "http://[::ffff:1.2.3.4]/a",
    "ftp://h.com/a", "h.com/a.jpg", "", "http:///a", "http://h.com/%zz%41", "http://h.com/a.MP4",
    "http://h.com/.mp4", "http://h.com/..mp4", "http://h.com/v.webm?x=.mp4", "http://h.com/a.mp4/b.jpg",
    "http://h.com/a?b=c?d", "http://h.com/a\tb", "http://h.com/a\nb", "http://h_o.com/a", "http://-h.com/a",
    "http://h.com/a|b^c{d}", "http://h.com/~user/'q'(x)*!$,;=:@", "https://h.com//double//slash",
    "http://h.com/a\\b", "Http://h.com/a", "javascript:alert(1)", "http://h.com/a\x00b", "http://h.com/\x7f",
    # upper case in scheme or host (lower-cased column-wise; the path keeps its case)
    "HTTPS://IMG.Example.CO.UK/Path/With/UPPER.JPG?Q=A", "http://XN--BCHER-KVA.DE/a", "http://H.COM./a",
    "http://H.com:80/a", "http://User@H.com/a", "http://H.com/a#F", "HTTP://H.COM", "HtTpS://A-B.C/D?E?F",
    "http://\u212a.com/a", "http://\u017f.com/a", "http://H_O.com/a", "http://-H.com/a", "http://" + "A" * 64 + ".com/x",
]
TRICKY_CAPTIONS = [
    None, "", "a photo", "  two  spaces \t tab\nnew\r\nline\r ", "Tom &amp; Jerry", "&lt;b&gt;", "caf\u00e9",
    "caf\u00c3\u00a9", "\u201cquoted\u201d", "ctrl\x01char", "del\x7fchar", "form\x0cfeed", "vt\x0btab", "\xa0nbsp",
    "fullwidth \uff21", "ligature \ufb01", "<b>html</b>", "a & b", "&#39;", "\u2028sep",
]


def expected(urls, captions):
    return [to_candidate(RawRow((2, 3, i), u, c, {}), EXTS) for i, (u, c) in enumerate(zip(urls, captions))]


def batch_of(urls, captions) -> RowBatch:
    return RowBatch(PART, 0, pa.array(urls, pa.string()), pa.array(captions, pa.string()), [None] * len(urls), None)


def assert_same(table: pa.Table, cands) -> None:
    got = table.to_pylist()
    assert [(r["url"], r["caption"], r["sample_id"], r["media_type"], r["status"], r["error"]) for r in got] == [
        (c.url, c.caption, c.sample_id, c.media_type, c.status, c.error) for c in cands]
    assert [(r["file_index"], r["part_index"], r["row_index"]) for r in got] == [c.position for c in cands]
    assert [shard_of(f"{r['url_hash']:08x}", 977) for r in got] == [shard_of(url_shard_key(c.url), 977) for c in cands]


def test_tricky_urls_and_captions_give_the_row_by_row_candidates():
    urls = [u for u in TRICKY_URLS for _ in TRICKY_CAPTIONS]
    captions = TRICKY_CAPTIONS * len(TRICKY_URLS)
    assert_same(candidate_batch(batch_of(urls, captions), EXTS), expected(urls, captions))


def test_random_strings_give_the_row_by_row_candidates():
    rng = random.Random(7)
    alphabet = "aZ09-._~/%:@!$&'()*+,;=?#[] \t\n\r\x00\x7f\u00e9\u00c3\uff21\u201c\\|^{}<>\""
    urls = [rng.choice(["http://", "https://", "HTTP://", "ftp://", ""]) + rng.choice(["h.com", "H.com", "h", "a.b.c"])
            + "".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000)]
    captions = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000)]
    assert_same(candidate_batch(batch_of(urls, captions), EXTS), expected(urls, captions))


def test_random_cased_hosts_give_the_row_by_row_candidates():
    rng = random.Random(11)

    def cased(text: str) -> str:
        return "".join(c.upper() if rng.random() < 0.4 else c for c in text)

    labels = ["img", "cdn-1", "example", "co", "uk", "xn--bcher-kva", "a" * 63, "h_o", "-x", "9"]
    paths = ["/", "/A.JPG", "/p/Q.png?W=1&h=2", "/a b", "/\u00e9", "/v.MP4", "/x?y?z", "/%41", ""]
    urls = [cased(rng.choice(["http://", "https://"])) + ".".join(cased(rng.choice(labels))
            for _ in range(rng.randrange(1, 4))) + rng.choice(["", ".", ":80", ":8080"]) + rng.choice(paths)
            for _ in range(3000)]
    captions = [rng.choice(TRICKY_CAPTIONS) for _ in urls]
    assert_same(candidate_batch(batch_of(urls, captions), EXTS), expected(urls, captions))


def test_plain_rows_skip_the_row_by_row_path(monkeypatch):
    calls = []
    monkeypatch.setattr(batches, "to_candidate", lambda row, exts: calls.append(row) or to_candidate(row, exts))
    urls = ["https://cdn.example.com/i/1.jpg?w=640", "http://example.com/a", "HTTP://Example.com/a"]
    captions = ["A dog  on a beach", None, "x"]
    assert_same(candidate_batch(batch_of(urls, captions), EXTS), expected(urls, captions))
    assert calls == []  # an upper-case host is lower-cased column-wise, not row by row


@pytest.mark.parametrize("urls, captions", [
    (pa.array([b"http://h.com/a", b"http://h.com/\xe9"]), pa.array(["x", "y"])),
    (pa.array([1, None]), pa.array([3, 4])),
])
def test_columns_that_are_not_text_go_row_by_row(urls, captions):
    batch = RowBatch(PART, 5, urls, captions, ['{"w": 1}', None], None)
    table = candidate_batch(batch, EXTS)
    rows = [RawRow((2, 3, 5 + i), text_value(u), c, {})
            for i, (u, c) in enumerate(zip(urls.to_pylist(), captions.to_pylist()))]
    assert [(r["url"], r["caption"], r["status"]) for r in table.to_pylist()] == [
        (c.url, c.caption, c.status) for c in (to_candidate(r, EXTS) for r in rows)]
    assert table["extra"].to_pylist() == ['{"w": 1}', None]
