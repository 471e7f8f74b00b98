"""`zeroshot` with a tiny registered open_clip model: probabilities, stored prompts, PLACEHOLDER, direct check."""
import json
from pathlib import Path

import open_clip
import pyarrow.parquet as pq
import pytest
import torch

from curation.errors import GristmillError
from curation.scorers.zeroshot import DEFAULT_PROMPTS, prompts_json
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, decoded_like_the_job, write_shards

LABELS = list(DEFAULT_PROMPTS)


@pytest.fixture(scope="module")
def small_ws(corpus, tmp_path_factory):
    """(workspace root, sample_id -> media path) of 6 images and 1 video of the corpus."""
    images = [i for i in corpus.items if i.media_type == "image"][:6]
    picked = images + [i for i in corpus.items if i.media_type == "video"][:1]
    wanted = {i.item_id for i in picked}
    pairs = [(p, i) for p, i in zip(corpus_items(corpus), corpus.items) if i.item_id in wanted]
    ws = Workspace.init(tmp_path_factory.mktemp("zeroshot") / "ws")
    write_shards(ws, [p for p, _ in pairs], shard_size=8)
    return ws.root, {row["sample_id"]: (Path(corpus.path(i.item_id)), i.media_type) for (row, _, _), i in pairs}


def _run(root: Path, **config) -> list[dict]:
    """The zeroshot rows after scoring with `config` (forced: each call rewrites `scores/zeroshot/`)."""
    score(root, ScoreConfig(scorers=["zeroshot"], num_workers=0, precision="fp32", force=True, **config))
    return pq.read_table(Path(root) / "scores" / "zeroshot").to_pylist()


def test_probabilities_and_stored_prompts_with_random_weights(small_ws, tiny_model):
    root, _ = small_ws
    rows = _run(root, model=tiny_model, pretrained=None, allow_random_weights=True)
    assert len(rows) == 7 and all(r["error"] is None for r in rows)
    for row in rows:
        assert all(0.0 <= row[f"p_{label}"] <= 1.0 for label in LABELS)
        assert json.loads(row["prompts"]) == {k: list(v) for k, v in DEFAULT_PROMPTS.items()}
        assert "PLACEHOLDER" in row["model_id"] and "#prompts-" in row["model_id"]


def test_swapped_prompt_pairs_sum_to_one_and_change_the_model_id(small_ws, tiny_checkpoint, tiny_model):
    root, _ = small_ws
    base = dict(model=tiny_model, pretrained=str(tiny_checkpoint))
    rows = _run(root, **base)
    swapped = {label: (no, yes) for label, (yes, no) in DEFAULT_PROMPTS.items()}
    flipped = {r["sample_id"]: r for r in _run(root, zeroshot_prompts=swapped, **base)}
    for row in rows:
        other = flipped[row["sample_id"]]
        assert all(row[f"p_{k}"] + other[f"p_{k}"] == pytest.approx(1.0, abs=1e-6) for k in LABELS)
        assert other["prompts"] == prompts_json(swapped) and other["model_id"] != row["model_id"]
        assert "PLACEHOLDER" not in row["model_id"]


def test_matches_a_direct_open_clip_computation(small_ws, tiny_checkpoint, tiny_model):
    root, media = small_ws
    rows = _run(root, model=tiny_model, pretrained=str(tiny_checkpoint))
    model, _, preprocess = open_clip.create_model_and_transforms(tiny_model, pretrained=str(tiny_checkpoint))
    model.eval()
    tokenizer = open_clip.get_tokenizer(tiny_model)
    images = [r for r in rows if media[r["sample_id"]][1] == "image"]
    with torch.no_grad():
        pixels = torch.stack([preprocess(decoded_like_the_job(Path(media[r["sample_id"]][0]).read_bytes(), max(model.visual.image_size))) for r in images])
        image = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        for label, pair in DEFAULT_PROMPTS.items():
            text = torch.nn.functional.normalize(model.encode_text(tokenizer(list(pair))), dim=-1)
            expected = (model.logit_scale.exp() * image @ text.T).softmax(dim=-1)[:, 0]
            got = torch.tensor([r[f"p_{label}"] for r in images])
            assert torch.allclose(got, expected.float(), atol=1e-5), label


@pytest.mark.parametrize("prompts, message", [
    ({"watermark": ["a", "b"]}, "exactly the labels"),
    (dict(DEFAULT_PROMPTS, nsfw=["a", "b", "c"]), "'nsfw' must be two non-empty strings"),
    (dict(DEFAULT_PROMPTS, text=["a", " "]), "'text' must be two non-empty strings"),
])
def test_bad_prompt_sets_are_refused(small_ws, tiny_model, prompts, message):
    root, _ = small_ws
    with pytest.raises(GristmillError, match=message):
        _run(root, model=tiny_model, pretrained=None, allow_random_weights=True, zeroshot_prompts=prompts)
