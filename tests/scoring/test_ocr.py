"""`ocr` against the generator's ground truth: overlays are found and read, clean photos have no text."""
import re

import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.scorers.base import Sample
from curation.scorers.ocr import MAX_TEXT_CHARS, OcrScorer, frame_text, ocr_input, ocr_values
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, write_shards

OVERLAY_MIN_RATIO = 0.03  # the generator's 2-3 line overlays cover 6-8% of the picture in text boxes
CLEAN_MAX_RATIO = 0.002


def _is_clean(item) -> bool:
    return (item.media_type == "image" and not item.text_overlay and not item.watermark
            and item.category != "text_document" and not item.blank and not item.tiny)


@pytest.fixture(scope="module")
def ocr_rows(corpus, tmp_path_factory):
    """item_id -> `ocr` row for 6 overlay images, 6 clean images and 1 video of the corpus."""
    overlays = [i for i in corpus.items if i.text_overlay][:6]
    clean = [i for i in corpus.items if _is_clean(i)][:6]
    video = [i for i in corpus.items if i.media_type == "video"][:1]
    chosen = {i.item_id for i in overlays + clean + video}
    assert len(overlays) == 6 and len(clean) == 6 and len(video) == 1
    items = [(pair, item) for pair, item in zip(corpus_items(corpus), corpus.items) if item.item_id in chosen]
    ws = Workspace.init(tmp_path_factory.mktemp("ocr-ws") / "ws")
    write_shards(ws, [pair for pair, _ in items], shard_size=8)
    report = score(ws, ScoreConfig(scorers=["ocr"], num_workers=1, batch_size=4))
    assert report.scorers[0].errors == 0
    item_of = {row["sample_id"]: item.item_id for (row, _, _), item in items}
    rows = {item_of[r["sample_id"]]: r for r in pq.read_table(ws.path("scores", "ocr")).to_pylist()}
    assert set(rows) == chosen
    return corpus, overlays, clean, video, rows


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def test_overlays_have_text_area_and_their_words(ocr_rows):
    _, overlays, _, _, rows = ocr_rows
    read, total = 0, 0
    for item in overlays:
        row = rows[item.item_id]
        assert row["text_area_ratio"] > OVERLAY_MIN_RATIO, item.item_id
        assert row["n_boxes"] >= 2 and 0.85 <= row["mean_confidence"] <= 1
        found = _letters(row["text"])  # PP-OCRv4 drops spaces between words: compare letters only
        words = re.findall(r"\w+", item.rendered_text.lower())
        hits = sum(_letters(w) in found for w in words)
        assert hits >= len(words) / 2, (item.rendered_text, row["text"])
        read, total = read + hits, total + len(words)
    assert read >= 0.85 * total  # real OCR misreads a letter now and then ("EREE SHIPPING")


def test_clean_photos_have_no_text(ocr_rows):
    _, _, clean, _, rows = ocr_rows
    for item in clean:
        row = rows[item.item_id]
        assert row["text_area_ratio"] <= CLEAN_MAX_RATIO, (item.item_id, row)
        assert row["error"] is None


def test_rows_carry_the_bundled_model(ocr_rows):
    _, _, _, video, rows = ocr_rows
    assert all(r["model_id"].startswith("PP-OCRv4/rapidocr-onnxruntime-") for r in rows.values())
    assert all(r["scorer_version"] == "2" and 0 <= r["text_area_ratio"] <= 1 for r in rows.values())
    assert len(rows[video[0].item_id]["text"]) <= MAX_TEXT_CHARS  # a video is scored from its keyframes


def test_a_video_takes_its_wordiest_keyframe(ocr_rows):
    corpus, overlays, clean, _, _ = ocr_rows
    photo = Image.open(corpus.path(clean[0].item_id)).convert("RGB")
    overlay = Image.open(corpus.path(overlays[0].item_id)).convert("RGB")
    scorer = OcrScorer()
    scorer.load()
    frames = ocr_input(Sample(sample_id="v", caption=None, media_type="video", frames=[photo, overlay, photo]))
    assert ocr_values(scorer.engine, frames) == frame_text(scorer.engine, frames[1])
