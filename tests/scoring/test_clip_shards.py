"""Clips cut from videos (clips/NNNNN.*) are scored too: from their stored keyframes, or their mp4."""
import io

import open_clip
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image

from curation.catalog import Catalog
from curation.scorers.media import decode_frames
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, write_clip_shard


def _clip_row(sample_id, caption, status="success"):
    return {"sample_id": sample_id, "parent_id": "p" * 32, "start_s": 0.0, "end_s": 1.0, "caption": caption,
            "media_type": "clip", "status": status}


def _jpeg(image):
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def test_clip_shards_score_from_keyframes_or_mp4(corpus, tmp_path, tiny_model, tiny_checkpoint):
    video = next(data for row, data, _ in corpus_items(corpus) if row["media_type"] == "video")
    keyframes = [_jpeg(f) for f in decode_frames(video, "video", 3)]
    ws = Workspace.init(tmp_path / "ws")
    write_clip_shard(ws, "00000", [
        (_clip_row("a" * 32, "a clip with stored keyframes"), video, keyframes),
        (_clip_row("b" * 32, "a clip without keyframes"), video, []),
        (_clip_row("c" * 32, "dropped", status="too_short"), None, []),
    ])
    report = score(ws, ScoreConfig(scorers=["basic", "clip"], model=tiny_model, pretrained=str(tiny_checkpoint),
                                   precision="fp32", num_workers=0))
    assert [(s.shards_scored, s.samples, s.errors) for s in report.scorers] == [(1, 2, 0)] * 2
    basic = pq.read_table(ws.path("scores", "basic", "clips-00000.parquet")).to_pylist()
    assert [r["sample_id"] for r in basic] == ["a" * 32, "b" * 32]
    assert basic[0]["file_bytes"] == len(video) and (basic[0]["width"], basic[0]["height"]) == corpus.spec.video_size

    model, _, preprocess = open_clip.create_model_and_transforms(tiny_model, pretrained=str(tiny_checkpoint))
    model.eval()
    frames = [Image.open(io.BytesIO(k)).convert("RGB") for k in keyframes]
    with torch.no_grad():
        image = torch.nn.functional.normalize(model.encode_image(torch.stack([preprocess(f) for f in frames])), dim=-1)
        text = open_clip.get_tokenizer(tiny_model)(["a clip with stored keyframes"])
        text = torch.nn.functional.normalize(model.encode_text(text), dim=-1)[0]
    clip = pq.read_table(ws.path("scores", "clip", "clips-00000.parquet")).to_pylist()
    assert clip[0]["clip_score"] == pytest.approx(float((image @ text).mean()), abs=1e-4)
    assert clip[0]["clip_score_min"] == pytest.approx(float((image @ text).min()), abs=1e-4)
    catalog = Catalog(ws)
    assert catalog.query("SELECT count(*) AS n FROM clip").column("n")[0].as_py() == 2
