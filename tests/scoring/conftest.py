"""Fixtures for scoring tests: one small generated corpus, a workspace of it, tiny registered CLIP and CoCa models."""
import pytest
import torch

from curation.models import TINY_COCA_CONFIG, TINY_COCA_MODEL, register_tiny_config, save_checkpoint
from curation.synthetic.corpus import CorpusSpec, generate_corpus
from tests.scoring.helpers import workspace_from_corpus

# 150 images give 2 blank, 2 tiny, 2 extreme-aspect, 6 junk and 6 non-English captions (all five languages).
SPEC = CorpusSpec(seed=0, n_images=150, n_videos=3)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("corpus"), SPEC)


@pytest.fixture(scope="session")
def corpus_ws(corpus, tmp_path_factory):
    """(workspace, sample_id -> item_id) of the whole corpus in shards of 64; tests must not modify it."""
    return workspace_from_corpus(tmp_path_factory.mktemp("corpus-ws") / "ws", corpus)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> str:
    """Name of a tiny ViT config registered with open_clip (32 px input, 32-dim embeddings)."""
    return register_tiny_config(tmp_path_factory.mktemp("model-configs"))


@pytest.fixture(scope="session")
def tiny_coca(tmp_path_factory) -> str:
    """Name of a tiny CoCa config registered with open_clip (32 px input, one layer per tower)."""
    return register_tiny_config(tmp_path_factory.mktemp("coca-configs"), TINY_COCA_MODEL, TINY_COCA_CONFIG)


@pytest.fixture(scope="session")
def tiny_checkpoint(tiny_model, tmp_path_factory):
    """A checkpoint of the tiny model with seeded random weights, written by the test itself."""
    import open_clip

    torch.manual_seed(1234)
    model = open_clip.create_model(tiny_model)
    return save_checkpoint(model, tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="session")
def tiny_model_b(tmp_path_factory) -> str:
    """A second tiny ViT config (48-dim embeddings, 3 layers): another CLIP model in the same job."""
    from curation.models import TINY_CONFIG

    config = dict(TINY_CONFIG, embed_dim=48, vision_cfg=dict(TINY_CONFIG["vision_cfg"], layers=3))
    return register_tiny_config(tmp_path_factory.mktemp("model-b-configs"), "gristmill-tiny-vit-b", config)


@pytest.fixture(scope="session")
def tiny_checkpoint_b(tiny_model_b, tmp_path_factory):
    """A checkpoint of the second tiny model, written by the test itself."""
    import open_clip

    torch.manual_seed(4321)
    return save_checkpoint(open_clip.create_model(tiny_model_b), tmp_path_factory.mktemp("ckpt-b") / "tiny-b.pt")
