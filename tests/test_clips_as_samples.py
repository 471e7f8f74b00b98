"""Clips are samples: a workspace of photos + videos + clips goes through score, curate, review and export as one table.

The images are non-square photo-like JPEGs; the videos are the synthetic corpus's (real h264, scene cuts), cut
into clips by the real clips stage. A clip is reviewed in the real app (AppTest) and exported with its parent.
"""
import io
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageFilter
from streamlit.testing.v1 import AppTest

from curation.catalog import Catalog
from curation.clips import make_clips
from curation.identity import sample_id
from curation.shards import ShardWriter
from curation.video.config import ClipsConfig
from curation.workspace import Workspace
from gristmill.cli import main
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE
from tests.video.media import corpus_videos, video_row

APP = str(Path(__file__).parents[1] / "labeling_ui" / "app.py")


def _photo(seed: int, size=(320, 200)) -> bytes:
    """A smooth, noisy, non-square picture (gradients + blurred noise), as a JPEG."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    base = np.stack([x * 255 / size[0], y * 255 / size[1], (x + y) * 127 / sum(size)], axis=-1)
    noisy = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
    image = Image.fromarray(noisy).filter(ImageFilter.GaussianBlur(2))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips_as_samples")
    videos = corpus_videos(root / "corpus", n_videos=2)
    ws = Workspace.init(root / "ws")
    writer = ShardWriter(ws.root, "00000")
    for i in range(3):
        url, caption = f"http://127.0.0.1/photo{i}.jpg", f"a photo of a landscape number {i}"
        writer.add(dict(sample_id=sample_id(url, caption), url=url, caption=caption, media_type="image",
                        status="success", width=320, height=200), media=_photo(i), ext="jpg")
    for video in videos:
        writer.add(video_row(video["item_id"] + ".mp4", video["caption"]), media=video["data"], ext="mp4")
    writer.commit()
    make_clips(ws, ClipsConfig(cut_mode="reencode"))
    assert main(["score", str(ws.root), "--scorers", "basic,text", "--num-workers", "0"]) == 0
    assert main(["curate", str(ws.root), "no-filter"]) == 0
    return ws


def _clips(ws) -> list[dict]:
    return Catalog(ws).query("SELECT * FROM samples WHERE kind = 'clip' AND status = 'success' "
                             "ORDER BY sample_id").to_pylist()


def test_every_stage_sees_clips_in_the_samples_view(workspace):
    catalog = Catalog(workspace)
    kinds = {r["k"]: r["n"] for r in catalog.query(
        "SELECT kind || '/' || media_type AS k, count(*) AS n FROM samples GROUP BY 1").to_pylist()}
    assert kinds["crawled/image"] == 3 and kinds["crawled/video"] == 2 and kinds["clip/video"] >= 2
    clips = _clips(workspace)
    scored = catalog.query("SELECT s.sample_id, b.error, b.width, t.n_words FROM samples s "
                           "JOIN basic b USING (sample_id) JOIN text t USING (sample_id) "
                           "WHERE s.kind = 'clip' AND s.status = 'success' ORDER BY 1").to_pylist()
    assert [r["sample_id"] for r in scored] == [c["sample_id"] for c in clips], "every stored clip is scored"
    assert all(r["error"] is None and r["width"] > 0 and r["n_words"] > 0 for r in scored)
    decided = catalog.query("SELECT count(*) AS n FROM decisions d JOIN samples s USING (sample_id) "
                            "WHERE s.kind = 'clip'").column("n")[0].as_py()
    assert decided == catalog.query("SELECT count(*) AS n FROM samples WHERE kind = 'clip'").column("n")[0].as_py()


def test_a_clip_reviewed_in_the_app_is_exported_with_its_parent_link(workspace, monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_WORKSPACE, str(workspace.root))
    monkeypatch.setenv(ENV_REVIEWER, "video-team")
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page("views/review_queue.py").run()
    at.radio(key="q_sample_kind").set_value("clip").run()
    assert not at.exception, at.exception
    assert any("of `" in c.value and " s" in c.value for c in at.caption), "a clip card names its parent video"
    clips = {c["sample_id"]: c for c in _clips(workspace)}
    rejected = next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]
    assert rejected in clips, "the kind filter shows clips only"
    at.button(key="reject").click().run()
    edited = next(m.value for m in at.markdown if m.value.startswith("**Focused:**")).split("`")[1]
    at.text_area(key=f"caption_{edited}").input("a shot of bouncing balls, edited")
    at.button(key=f"FormSubmitter:caption_form_{edited}-Save caption").click().run()
    at.button(key="accept").click().run()
    assert not at.exception, at.exception
    state = {r["sample_id"]: r for r in Catalog(workspace).query("SELECT * FROM review_state").to_pylist()}
    assert state[rejected]["decision"] == "reject" and state[edited]["decision"] == "accept"

    out = tmp_path / "release"
    assert main(["export", str(workspace.root), "--out", str(out)]) == 0
    rows = {r["sample_id"]: r for r in pq.read_table(out / "data").drop(["media"]).to_pylist()}
    assert rejected not in rows
    row = rows[edited]
    clip = clips[edited]
    assert (row["kind"], row["media_type"], row["parent_id"]) == ("clip", "video", clip["parent_id"])
    assert (row["clip_start_s"], row["clip_end_s"]) == (clip["start_s"], clip["end_s"])
    assert row["caption"] == "a shot of bouncing balls, edited" and row["caption_source"] == "human"
    assert rows[row["parent_id"]]["kind"] == "crawled", "the parent video is in the release too"
    assert {r["kind"] for r in rows.values()} == {"crawled", "clip"}
