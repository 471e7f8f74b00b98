"""URL normalisation, address safety, caption repair, identity, duplicates, shard ranges, pixel caps."""
import datetime
import math

import pyarrow as pa
import pytest

from curation.identity import sample_id
from pipelines.crawl.images import check_pixels
from pipelines.crawl.pipeline import dedupe, fetch_once_per_url
from pipelines.crawl.records import (RawRow, extra_json, extra_json_column, repair_caption, resolve_duplicates,
                                     shard_count, shard_of, to_candidate, url_shard_key)
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import AddressPolicy, normalise_url

VIDEO_EXTS = [".mp4", ".webm"]


@pytest.mark.parametrize("raw, expected", [
    ("  HTTP://Example.COM:80/a b.jpg?x=1&y=é#frag ", "http://example.com/a%20b.jpg?x=1&y=%C3%A9"),
    ("https://bücher.de", "https://xn--bcher-kva.de/"),
    ("https://h.com:443/p%20q", "https://h.com/p%20q"),
    ("http://[::1]:8080/x", "http://[::1]:8080/x"),
])
def test_normalise_url(raw, expected):
    assert normalise_url(raw) == expected


@pytest.mark.parametrize("raw, kind", [("", "bad_url"), ("example.com/a.jpg", "bad_url"),
                                       ("http://h:99999/", "bad_url"), ("http://u:p@h/", "bad_url"),
                                       ("ftp://h/a.jpg", "bad_scheme"), ("javascript:alert(1)", "bad_scheme"),
                                       ("data:image/png;base64,AAAA", "bad_scheme")])
def test_unusable_urls(raw, kind):
    with pytest.raises(Failure) as info:
        normalise_url(raw)
    assert info.value.status == kind


@pytest.mark.parametrize("address, public, private_allowed", [
    ("8.8.8.8", True, True), ("127.0.0.1", False, True), ("10.1.2.3", False, True), ("192.168.0.1", False, True),
    ("::1", False, True), ("::ffff:127.0.0.1", False, True), ("100.64.0.1", False, True), ("0.0.0.0", False, True),
    ("169.254.169.254", False, False), ("169.254.1.1", False, False), ("fe80::1", False, False),
    ("fd00:ec2::254", False, False), ("100.100.100.200", False, False), ("224.0.0.1", False, True),
])
def test_address_policy(address, public, private_allowed):
    assert (AddressPolicy(False).refusal(address) is None) == public
    assert (AddressPolicy(True).refusal(address) is None) == private_allowed


@pytest.mark.parametrize("raw, expected", [
    ("Tom &amp; Jerry", "Tom & Jerry"), ("double &amp;amp; escaped", "double & escaped"),
    ("caf\u00c3\u00a9 mojibake", "caf\u00e9 mojibake"), ("  line\nbreaks\tand   spaces ", "line breaks and spaces"),
    (None, None), (42, "42"),
])
def test_repair_caption(raw, expected):
    assert repair_caption(raw) == expected


def test_sample_id_is_stable_hash_of_normalised_url_and_repaired_caption():
    a = to_candidate(RawRow((0, 0, 0), "HTTP://H.com/a.jpg#x", "Tom &amp; Jerry", {"k": 1}), VIDEO_EXTS)
    b = to_candidate(RawRow((5, 0, 9), "http://h.com/a.jpg", "Tom & Jerry", {}), VIDEO_EXTS)
    assert a.sample_id == b.sample_id == sample_id("http://h.com/a.jpg", "Tom & Jerry")
    assert a.extra == '{"k": 1}' and a.media_type == "image"
    assert to_candidate(RawRow((0, 0, 1), "http://h.com/v.MP4", None, {}), VIDEO_EXTS).media_type == "video"


def test_duplicates_collapse_and_other_captions_are_kept_or_marked():
    rows = [RawRow((0, 0, i), "http://h/a.jpg", cap, {}) for i, cap in enumerate(["x", "y", "x", "y", "z"])]
    cands = [to_candidate(r, VIDEO_EXTS) for r in reversed(rows)]
    assert [(c.caption, c.status, c.copies) for c in resolve_duplicates(cands)] == [
        ("x", None, 2), ("y", None, 2), ("z", None, 1)]
    out = resolve_duplicates(cands, one_sample_per_url=True)
    assert [(c.caption, c.status, c.copies) for c in out] == [("x", None, 2), ("y", "duplicate_url", 2),
                                                              ("z", "duplicate_url", 1)]
    assert out[0].sample_id in out[1].error


def test_shards_are_sample_id_ranges():
    assert shard_of("0" * 32, 7) == 0 and shard_of("f" * 32, 7) == 6
    ids = [sample_id(f"http://h/{i}", None) for i in range(2000)]
    shards = [shard_of(i, 4) for i in ids]
    assert sorted(zip(ids, shards)) == sorted(zip(ids, shards), key=lambda t: (t[1], t[0]))
    assert all(400 < shards.count(s) < 600 for s in range(4))


def test_rows_of_one_url_share_a_shard_and_are_deduplicated_there():
    assert shard_count(17, 8) == 3 and shard_count(16, 8) == 2 and shard_count(0, 8) == 1
    rows = [RawRow((0, 0, i), url, cap, {}) for i, (url, cap) in enumerate(
        [("http://h/a.jpg", "x"), ("http://h/b.jpg", "x"), ("http://h/a.jpg", "y"), ("http://h/a.jpg", "x")])]
    cands = [to_candidate(r, VIDEO_EXTS) for r in rows]
    assert len({shard_of(url_shard_key(c.url), 5) for c in cands if c.url == "http://h/a.jpg"}) == 1
    out = dedupe(reversed(cands), one_sample_per_url=True)
    assert out == sorted(out, key=lambda c: c.sample_id)
    assert sorted((c.url, c.caption, c.status, c.copies) for c in out) == [
        ("http://h/a.jpg", "x", None, 2), ("http://h/a.jpg", "y", "duplicate_url", 1), ("http://h/b.jpg", "x", None, 1)]
    to_fetch, sharing = fetch_once_per_url(dedupe(cands))
    first_a = next(c for c in cands if c.caption == "x" and c.url == "http://h/a.jpg")
    assert sorted((c.url, c.caption) for c in to_fetch) == [("http://h/a.jpg", "x"), ("http://h/b.jpg", "x")]
    assert [(c.url, c.caption) for c in sharing[first_a.sample_id]] == [("http://h/a.jpg", "y")]
    keys = [url_shard_key(f"http://h/{i}") for i in range(2000)]
    assert all(400 < [shard_of(k, 4) for k in keys].count(s) < 600 for s in range(4))


def test_pixel_cap_and_bomb():
    check_pixels(1000, 1000, 10_000, max_pixels=1_000_000)
    with pytest.raises(Failure, match="exceeds the 1000000 px cap") as info:
        check_pixels(2000, 1000, 500_000, max_pixels=1_000_000)
    assert info.value.status == "too_many_pixels"
    with pytest.raises(Failure) as info:
        check_pixels(20_000, 20_000, 100_000, max_pixels=1_000_000)
    assert info.value.status == "decompression_bomb"


def test_extra_json_of_whole_columns_is_the_json_of_each_row():
    columns = {
        "w": pa.array([1, None, -3, 2**62], pa.int64()), "u": pa.array([0, 1, 2, 2**64 - 1], pa.uint64()),
        "f": pa.array([0.1, 1e16, 1e-05, -0.0]), "f32": pa.array([0.3, 1.5, 2.0, 1e-8], pa.float32()),
        "nan": pa.array([math.nan, math.inf, -math.inf, None]), "s": pa.array(['a"b', "caf\u00e9\n", "\x00\\", "%s"]),
        "sn": pa.array(["x", None, "", "\u2028"]), "b": pa.array([True, False, None, True]),
        "t": pa.array([datetime.datetime(2024, 1, 2, 3, 4, 5)] * 4), "l": pa.array([[1, 2], [], None, [3]]),
        "st": pa.array([{"z": 1, "a": "q"}] * 4), "bin": pa.array([b"\x00\xff", None, b"", b"a"]),
        'k%"ey': pa.array([1, 2, 3, 4]), "h": pa.array([1.0, 2.0, 3.0, 4.0], pa.float16()),
    }
    rows = [{name: col[i].as_py() for name, col in columns.items()} for i in range(4)]
    assert extra_json_column(columns) == [extra_json(row) for row in rows]
