"""How a job holds its models: weights in bf16 (fp16 on CUDA), channels_last, torch.compile; the scores stay
those of the fp32 model within the dtype's rounding, and a layout the device cannot run is refused at start."""
import shutil

import pyarrow.parquet as pq
import pytest
import torch

from curation.errors import GristmillError
from curation.models import ClipModelSpec, check_clip_spec, load_clip
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, write_shards


@pytest.fixture(scope="module")
def images_ws(corpus, tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("layouts") / "ws")
    write_shards(ws, [i for i in corpus_items(corpus) if i[0]["media_type"] == "image"][:8], shard_size=8)
    return ws


def _clip_scores(ws: Workspace, tmp_path, name: str, **layout) -> list[float]:
    copy = Workspace.open(shutil.copytree(ws.root, tmp_path / name))
    score(copy, ScoreConfig(scorers=["clip"], model=layout.pop("model"), pretrained=layout.pop("pretrained"),
                            num_workers=0, batch_size=4, precision="fp32", **layout))
    return pq.read_table(copy.path("scores", "clip")).column("clip_score").to_pylist()


def test_bf16_weights_and_channels_last_score_like_fp32(images_ws, tmp_path, tiny_model, tiny_checkpoint):
    weights = dict(model=tiny_model, pretrained=str(tiny_checkpoint))
    bf16 = load_clip(ClipModelSpec(weights="bf16", **weights))
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16} and bf16.input_dtype == torch.bfloat16
    reference = _clip_scores(images_ws, tmp_path, "fp32", **weights)
    assert _clip_scores(images_ws, tmp_path, "bf16", weights="bf16", **weights) == pytest.approx(reference, abs=0.02)
    assert _clip_scores(images_ws, tmp_path, "cl", channels_last=True, **weights) == pytest.approx(reference, abs=1e-5)


def test_fp16_weights_on_a_cpu_are_refused_before_loading(tiny_model):
    with pytest.raises(GristmillError, match="fp16 weights need a CUDA device"):
        check_clip_spec(ClipModelSpec(model=tiny_model, pretrained=None, allow_random_weights=True, weights="fp16"))


@pytest.mark.slow
def test_a_compiled_image_tower_scores_like_the_eager_one(images_ws, tmp_path, tiny_model, tiny_checkpoint):
    if shutil.which("cc") is None and shutil.which("gcc") is None:
        pytest.skip("torch.compile's CPU backend needs a C compiler")
    weights = dict(model=tiny_model, pretrained=str(tiny_checkpoint))
    reference = _clip_scores(images_ws, tmp_path, "eager", **weights)
    assert _clip_scores(images_ws, tmp_path, "compiled", compile=True, **weights) == pytest.approx(reference, abs=1e-4)
