"""`basic` and `text` flag exactly the generator's defects; language detection on its non-English captions."""
import pyarrow.parquet as pq
import pytest

from curation.scorers.text import junk_kind, repetition, words
from curation.scoring import ScoreConfig, score


@pytest.fixture(scope="module")
def scored(corpus, corpus_ws):
    """Per item_id: the basic and text rows of the scored corpus workspace."""
    ws, item_of = corpus_ws
    report = score(ws, ScoreConfig(scorers=["basic", "text"], num_workers=1))
    assert {s.name: s.errors for s in report.scorers} == {"basic": 0, "text": 0}
    rows = {}
    for scorer in ("basic", "text"):
        for row in pq.read_table(ws.path("scores", scorer)).to_pylist():
            rows.setdefault(item_of[row["sample_id"]], {})[scorer] = row
    assert len(rows) == len(corpus.items)
    return rows


def _flagged(scored, scorer, column):
    return {item for item, r in scored.items() if r[scorer][column]}


@pytest.mark.parametrize("column, truth", [("is_blank", "blank"), ("is_tiny", "tiny"),
                                           ("is_extreme_aspect", "extreme_aspect")])
def test_basic_flags_exactly_the_generated_defects(corpus, scored, column, truth):
    expected = {item.item_id for item in corpus.items if getattr(item, truth)}
    assert expected, f"the corpus has no {truth} items"
    assert _flagged(scored, "basic", column) == expected


def test_basic_sizes_match_the_media(corpus, scored):
    for item in corpus.items:
        row = scored[item.item_id]["basic"]
        assert (row["width"], row["height"]) == (item.width, item.height), item.item_id
        assert row["aspect_ratio"] == pytest.approx(item.width / item.height)
        if item.media_type == "image":
            assert row["file_bytes"] == item.n_bytes


def test_phash_is_hex_and_shared_by_exact_duplicates(corpus, scored):
    hashes = {item: r["basic"]["phash"] for item, r in scored.items()}
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in hashes.values())
    duplicates = [i for i in corpus.items if i.exact_duplicate_of]
    assert duplicates
    assert all(hashes[d.item_id] == hashes[d.exact_duplicate_of] for d in duplicates)


def test_text_flags_exactly_the_junk_captions(corpus, scored):
    expected = {item.item_id for item in corpus.items if item.junk_caption}
    assert expected
    assert _flagged(scored, "text", "is_junk") == expected
    assert all(scored[i]["text"]["junk_kind"] for i in expected)


def test_language_of_non_english_captions(corpus, scored):
    non_english = [item for item in corpus.items if item.non_english]
    assert {item.language for item in non_english} == {"de", "fr", "es", "it", "zh"}
    assert {i.item_id: scored[i.item_id]["text"]["language"] for i in non_english} == {
        i.item_id: i.language for i in non_english
    }
    english = [item for item in corpus.items if item.language == "en"]
    right = sum(scored[i.item_id]["text"]["language"] == "en" for i in english)
    assert right >= 0.95 * len(english)  # langid misreads a few 4-word captions such as "a plain blue image"


@pytest.mark.parametrize("caption, kind", [
    ("", "empty"), ("  ...  ", "empty"), (None, "empty"),
    ("https://cdn.example.com/a/b.jpg", "url"), ("www.example.org", "url"), ("example.com/page", "url"),
    ("IMG_1234.jpg", "filename"), ("DSC01234", "filename"), ("photo.png", "filename"), ("PXL_20230101_123456", "filename"),
    ("Screenshot 2023-01-01 at 10.00.00", "filename"),
    ("image", "boilerplate"), ("Untitled", "boilerplate"), ("No image available.", "boilerplate"),
    ("buy now buy now buy now", "repetitive"),
    ("a red circle on a blue background", None), ("Ein Bild mit einem Kreis", None), ("一张包含一个三角形的图片", None),
    ("image of a dog on the beach", None), ("the cat and the dog", None),
])
def test_junk_rules(caption, kind):
    assert junk_kind(caption or "", words(caption or "")) == kind


def test_words_and_repetition():
    assert words("A cat, a CAT!") == ["a", "cat", "a", "cat"]
    assert repetition(words("A cat, a CAT!")) == 0.5
    assert len(words("一张图片")) == 4
    assert repetition([]) == 0.0


def test_basic_sizes_describe_the_source_not_the_resized_copy():
    from PIL import Image

    from curation.scorers.base import Sample
    from curation.scorers.basic import basic_values

    stored = Image.new("RGB", (256, 256), (120, 40, 200))  # what a 'border' resize stores
    banner = basic_values(Sample("b", "a banner", "image", original_size=(600, 100), frames=[stored]))
    assert (banner["width"], banner["height"], banner["pixels"]) == (600, 100, 60000)
    assert banner["aspect_ratio"] == 6.0 and banner["is_extreme_aspect"] and not banner["is_tiny"]
    unknown = basic_values(Sample("u", "no source size", "image", frames=[stored]))
    assert (unknown["width"], unknown["height"]) == (256, 256)
