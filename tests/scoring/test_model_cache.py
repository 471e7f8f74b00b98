"""Scorers on the same model share one loaded copy; a changed checkpoint file or a dropped model loads anew."""
import gc
import weakref

import open_clip
import pytest
import torch

from curation.models import ClipModelSpec, load_clip, save_checkpoint
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, write_shards


@pytest.fixture
def count_loads(monkeypatch):
    """The model names open_clip is asked to build, in order."""
    built = []
    original = open_clip.create_model_and_transforms

    def counting(model_name, *args, **kwargs):
        built.append(model_name)
        return original(model_name, *args, **kwargs)

    monkeypatch.setattr(open_clip, "create_model_and_transforms", counting)
    return built


def _checkpoint(model_name: str, path, seed: int):
    torch.manual_seed(seed)
    return save_checkpoint(open_clip.create_model(model_name), path)


def test_clip_zeroshot_and_aesthetic_in_one_job_load_the_model_once(corpus, tiny_model, tmp_path, count_loads):
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, corpus_items(corpus)[:4], shard_size=4)
    checkpoint = _checkpoint(tiny_model, tmp_path / "own.pt", seed=3)  # a path no other test has loaded
    report = score(ws, ScoreConfig(scorers=["clip", "zeroshot", "aesthetic"], model=tiny_model,
                                   pretrained=str(checkpoint), allow_random_weights=True, precision="fp32",
                                   num_workers=0))
    assert count_loads == [tiny_model]
    assert [(s.samples, s.errors) for s in report.scorers] == [(4, 0)] * 3


def test_one_copy_per_spec_and_weights_while_held(tiny_model, tmp_path, count_loads):
    checkpoint = _checkpoint(tiny_model, tmp_path / "m.pt", seed=1)
    spec = ClipModelSpec(model=tiny_model, pretrained=str(checkpoint))
    first = load_clip(spec)
    assert load_clip(spec) is first and len(count_loads) == 1

    _checkpoint(tiny_model, checkpoint, seed=2)  # the same path, other weights
    changed = load_clip(spec)
    assert changed is not first and changed.model_id != first.model_id and len(count_loads) == 2

    released = weakref.ref(first)
    del first
    gc.collect()
    assert released() is None
    assert load_clip(spec) is changed and len(count_loads) == 2
