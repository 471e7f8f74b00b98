"""`clip` matches a direct open_clip computation; weights policy: checkpoints, cache, placeholders, start errors."""
import time

import numpy as np
import open_clip
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.models import (ClipModelSpec, cached_weights, check_clip_spec, hub_reachable, load_clip,
                             save_checkpoint)
from curation.placeholders import placeholder_scorers
from curation.scorers.clip import TEXT_CHUNK, ClipScorer, model_slug
from curation.scorers.media import decode_frames
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, decoded_like_the_job, write_shards


@pytest.fixture
def clip_ws(corpus, tmp_path):
    """12 images and 2 videos of the corpus in shards of 5: (workspace, the items)."""
    items = corpus_items(corpus)
    chosen = [i for i in items if i[0]["media_type"] == "image"][:12] + [i for i in items if i[0]["media_type"] == "video"][:2]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, chosen, shard_size=5)
    return ws, chosen


def _config(model, **kwargs):
    return ScoreConfig(scorers=["clip"], model=model, precision="fp32", num_workers=0, batch_size=4, **kwargs)


def _rows(ws, folder):
    return {r["sample_id"]: r for r in pq.read_table(ws.path(*folder)).to_pylist()}


def test_clip_score_equals_direct_open_clip(clip_ws, tiny_model, tiny_checkpoint):
    ws, items = clip_ws
    report = score(ws, _config(tiny_model, pretrained=str(tiny_checkpoint)))
    assert report.scorers[0].errors == 0 and report.scorers[0].samples == len(items)
    model_id = report.scorers[0].model_id
    assert model_id.startswith(f"{tiny_model}/tiny.pt@") and "PLACEHOLDER" not in model_id
    scores = _rows(ws, ("scores", "clip"))
    embeddings = _rows(ws, ("embeddings", model_slug(model_id)))

    model, _, preprocess = open_clip.create_model_and_transforms(tiny_model, pretrained=str(tiny_checkpoint))
    model.eval()
    tokenizer = open_clip.get_tokenizer(tiny_model)
    for row, data, _ in items:
        frames = ([decoded_like_the_job(data, max(model.visual.image_size))] if row["media_type"] == "image"
                  else decode_frames(data, "video", 3))
        with torch.no_grad():
            image = torch.nn.functional.normalize(model.encode_image(torch.stack([preprocess(f) for f in frames])), dim=-1)
            text = torch.nn.functional.normalize(model.encode_text(tokenizer([row["caption"]])), dim=-1)[0]
        cosines = (image @ text).numpy()
        got = scores[row["sample_id"]]
        assert got["clip_score"] == pytest.approx(float(cosines.mean()), abs=1e-4)
        assert got["clip_score_min"] == pytest.approx(float(cosines.min()), abs=1e-4)
        stored = embeddings[row["sample_id"]]
        mean_image = torch.nn.functional.normalize(image.mean(dim=0), dim=-1).numpy()
        np.testing.assert_allclose(stored["image_embedding"], mean_image, atol=2e-3)  # float16 storage
        np.testing.assert_allclose(stored["text_embedding"], text.numpy(), atol=2e-3)


def test_embeddings_are_normalised_float16_lists(clip_ws, tiny_model):
    ws, items = clip_ws
    report = score(ws, _config(tiny_model, pretrained=None, allow_random_weights=True))
    table = pq.read_table(ws.path("embeddings", model_slug(report.scorers[0].model_id)))
    assert table.schema.field("image_embedding").type == pa.list_(pa.float16(), 32)
    assert table.num_rows == len(items)
    for column in ("image_embedding", "text_embedding"):
        vectors = np.array(table.column(column).to_pylist(), dtype=np.float32)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=2e-3)


def test_saved_checkpoint_reproduces_placeholder_scores(clip_ws, tiny_model, tmp_path):
    ws, items = clip_ws
    first = score(ws, _config(tiny_model, pretrained=None, allow_random_weights=True))
    assert first.scorers[0].model_id == f"{tiny_model}/random-init-PLACEHOLDER"
    assert placeholder_scorers(Catalog(ws)) == ["clip"]
    placeholder = _rows(ws, ("scores", "clip"))

    loaded = load_clip(ClipModelSpec(model=tiny_model, pretrained=None, allow_random_weights=True))
    checkpoint = save_checkpoint(loaded.model, tmp_path / "saved.pt")
    second = score(ws, _config(tiny_model, pretrained=str(checkpoint)))
    assert second.scorers[0].shards_scored == first.scorers[0].shards_scored  # new model id: rescored
    assert placeholder_scorers(Catalog(ws)) == []
    reloaded = _rows(ws, ("scores", "clip"))
    for sample_id, row in placeholder.items():
        assert reloaded[sample_id]["clip_score"] == pytest.approx(row["clip_score"], abs=1e-6)


def test_no_weights_without_flag_is_a_clear_and_quick_error(clip_ws, tiny_model, tmp_path):
    ws, _ = clip_ws
    with pytest.raises(GristmillError, match="--allow-random-weights") as exc:
        score(ws, _config(tiny_model, pretrained=None))
    assert "checkpoint" in str(exc.value) and "cache" in str(exc.value)
    started = time.perf_counter()
    with pytest.raises(GristmillError, match="cannot be reached") as exc:
        check_clip_spec(ClipModelSpec(cache_dir=str(tmp_path / "empty-cache")))  # ViT-B-32 laion2b, not cached
    assert time.perf_counter() - started < 10
    assert not list(ws.path("scores").rglob("*.parquet"))


@pytest.mark.parametrize("overrides, message", [
    ({"model": "ViT-Nope-99"}, r"unknown open_clip model 'ViT-Nope-99'; available models: .*ViT-B-32"),
    ({"pretrained": "/no/such/checkpoint.pt"}, r"checkpoint /no/such/checkpoint.pt not found.*tags for"),
    ({"pretrained": "no_such_tag"}, r"unknown pretrained tag 'no_such_tag'.*available tags: "),
    ({"device": "cuda:7"}, r"device 'cuda:7' is not available on this machine; available: cpu"),
    ({"device": "toaster"}, r"invalid device 'toaster'.*available: cpu"),
    ({"precision": "fp16"}, r"precision fp16 needs a CUDA device"),
    ({"scorers": ["clip", "nope"]}, r"unknown scorer\(s\) 'nope'; available: aesthetic, basic, caption, clip, ocr, text, zeroshot"),
])
def test_bad_setup_fails_at_start_listing_what_is_available(clip_ws, tiny_model, overrides, message):
    ws, _ = clip_ws
    config = _config(tiny_model, pretrained=None, allow_random_weights=True).model_copy(update=overrides)
    if "model" in overrides or "pretrained" in overrides:
        config = config.model_copy(update={"model": overrides.get("model", "ViT-B-32")})
    with pytest.raises(GristmillError, match=message):
        score(ws, config)
    assert not list(ws.path("scores").rglob("*.parquet"))


def test_cached_pretrained_weights_are_found_without_network(tmp_path):
    snapshot = tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "open_clip_model.safetensors").write_bytes(b"weights")
    (tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" / "refs").mkdir()
    (tmp_path / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K" / "refs" / "main").write_text("abc123")
    tag = open_clip.get_pretrained_cfg("ViT-B-32", "laion2b_s34b_b79k")
    assert cached_weights(tag, str(tmp_path)) == str(snapshot / "open_clip_model.safetensors")
    check_clip_spec(ClipModelSpec(cache_dir=str(tmp_path)))  # weights found: no flag needed
    assert cached_weights(tag, str(tmp_path / "elsewhere")) is None


def test_offline_hub_is_not_probed(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert hub_reachable() is False


@pytest.mark.parametrize("content", [b"not a checkpoint", "other-model"])
def test_checkpoint_that_does_not_load_is_a_clear_error(tiny_model, tmp_path, content):
    path = tmp_path / "bad.pt"
    if content == "other-model":
        torch.save({"visual.proj": torch.zeros(3, 3)}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(GristmillError, match=rf"could not load weights {path} into {tiny_model}: "):
        load_clip(ClipModelSpec(model=tiny_model, pretrained=str(path)))


def test_text_chunks_sorted_by_length_give_the_direct_embeddings(tiny_model):
    scorer = ClipScorer(ClipModelSpec(model=tiny_model, pretrained=None, allow_random_weights=True), "fp32")
    scorer.load()
    captions = [" ".join(["word"] * (i * 7 % 40)) or "" for i in range(TEXT_CHUNK + 9)]  # shuffled lengths 0..39
    _, text = scorer.encode(torch.zeros(1, 3, 32, 32), captions)
    with torch.no_grad():
        direct = scorer.clip.model.encode_text(open_clip.get_tokenizer(tiny_model)(captions))
    np.testing.assert_allclose(text.numpy(), torch.nn.functional.normalize(direct, dim=-1).numpy(), atol=1e-5)
