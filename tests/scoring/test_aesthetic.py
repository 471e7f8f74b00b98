"""`aesthetic`: the LAION head's checkpoint format loads and scores as a direct torch computation does."""
from pathlib import Path

import open_clip
import pyarrow.parquet as pq
import pytest
import torch

from curation.errors import GristmillError
from curation.scorers.aesthetic import AestheticHead
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, decoded_like_the_job, write_shards

# The published sac+logos+ava1-l14-linearMSE.pth: Linear layers at these indices, (out, in) sizes.
LAYERS = {0: (1024, 768), 2: (128, 1024), 4: (64, 128), 6: (16, 64), 7: (1, 16)}


def laion_state_dict(input_dim: int, seed: int = 7) -> dict[str, torch.Tensor]:
    """A random state dict in the published key format, the first layer reading `input_dim` values."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for index, (out, inp) in LAYERS.items():
        inp = input_dim if index == 0 else inp
        state[f"layers.{index}.weight"] = torch.randn(out, inp, generator=gen) / inp ** 0.5
        state[f"layers.{index}.bias"] = torch.randn(out, generator=gen) * 0.1 + (5.0 if index == 7 else 0.0)
    return state


def test_the_published_key_format_loads_strictly():
    AestheticHead(768).load_state_dict(laion_state_dict(768), strict=True)


@pytest.fixture(scope="module")
def small_ws(corpus, tmp_path_factory):
    """(workspace root, sample_id -> image path) of 5 images of the corpus."""
    picked = {i.item_id for i in [i for i in corpus.items if i.media_type == "image"][:5]}
    pairs = [(p, i) for p, i in zip(corpus_items(corpus), corpus.items) if i.item_id in picked]
    ws = Workspace.init(tmp_path_factory.mktemp("aesthetic") / "ws")
    write_shards(ws, [p for p, _ in pairs], shard_size=8)
    return ws.root, {row["sample_id"]: Path(corpus.path(i.item_id)) for (row, _, _), i in pairs}


def _run(root: Path, **config) -> list[dict]:
    score(root, ScoreConfig(scorers=["aesthetic"], num_workers=0, precision="fp32", force=True, **config))
    return pq.read_table(Path(root) / "scores" / "aesthetic").to_pylist()


def test_scores_match_a_direct_computation(small_ws, tiny_model, tiny_checkpoint, tmp_path):
    root, media = small_ws
    state = laion_state_dict(32)  # the tiny model's embeddings have 32 values
    head_path = tmp_path / "sac+logos+ava1-l14-linearMSE.pth"
    torch.save(state, head_path)
    rows = _run(root, model=tiny_model, pretrained=str(tiny_checkpoint), aesthetic_checkpoint=str(head_path))
    assert all(r["error"] is None for r in rows) and len(rows) == 5
    assert all("sac+logos+ava1-l14-linearMSE.pth@" in r["model_id"] and "PLACEHOLDER" not in r["model_id"]
               for r in rows)

    model, _, preprocess = open_clip.create_model_and_transforms(tiny_model, pretrained=str(tiny_checkpoint))
    with torch.no_grad():
        pixels = torch.stack([preprocess(decoded_like_the_job(media[r["sample_id"]].read_bytes(), max(model.visual.image_size))) for r in rows])
        x = torch.nn.functional.normalize(model.eval().encode_image(pixels), dim=-1)
        for index in LAYERS:  # the published MLP has no activations; dropout is off in eval
            x = x @ state[f"layers.{index}.weight"].T + state[f"layers.{index}.bias"]
    assert torch.allclose(torch.tensor([r["aesthetic_score"] for r in rows]), x.squeeze(-1), atol=1e-4)


def test_missing_checkpoint_path_is_a_clear_error(small_ws, tiny_model, tmp_path):
    root, _ = small_ws
    with pytest.raises(GristmillError, match="aesthetic checkpoint .*nope.pth not found"):
        _run(root, model=tiny_model, pretrained=None, allow_random_weights=True,
             aesthetic_checkpoint=str(tmp_path / "nope.pth"))


def test_no_checkpoint_refuses_unless_random_weights(small_ws, tiny_model, tiny_checkpoint):
    root, _ = small_ws
    with pytest.raises(GristmillError, match="--aesthetic-checkpoint"):
        _run(root, model=tiny_model, pretrained=str(tiny_checkpoint))
    rows = _run(root, model=tiny_model, pretrained=str(tiny_checkpoint), allow_random_weights=True)
    assert all("PLACEHOLDER" in r["model_id"] and r["aesthetic_score"] is not None for r in rows)


def test_a_head_of_the_wrong_size_is_refused(small_ws, tiny_model, tiny_checkpoint, tmp_path):
    root, _ = small_ws
    torch.save(laion_state_dict(768), tmp_path / "l14.pth")  # a ViT-L/14 head on a 32-dim model
    with pytest.raises(GristmillError, match="could not load aesthetic head"):
        _run(root, model=tiny_model, pretrained=str(tiny_checkpoint), aesthetic_checkpoint=str(tmp_path / "l14.pth"))
