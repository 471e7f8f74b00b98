"""Real-weights paths: a cached pretrained tag loads through `load_clip` with the tag's QuickGELU and
preprocessing, from a checkpoint the test writes; random weights are allowed model by model."""
import shutil
from pathlib import Path

import open_clip
import pytest
import torch
from open_clip.constants import HF_SAFE_WEIGHTS_NAME
from safetensors.torch import save_file
from torchvision import transforms

from curation.errors import GristmillError
from curation.models import ClipModelSpec, load_clip
from curation.scorers.registry import random_weight_models
from curation.scoring import ScoreConfig, score
from curation.workspace import Workspace
from gristmill.cli import main
from tests.scoring.helpers import corpus_items, write_shards


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


@pytest.fixture
def hub_cache(tmp_path):
    """An empty Hugging Face hub cache folder, removed after the test (a ViT-B-32 checkpoint is 300 MB)."""
    yield tmp_path / "hub"
    shutil.rmtree(tmp_path / "hub", ignore_errors=True)


def write_hub_cache(cache: Path, hf_hub: str, state: dict[str, torch.Tensor]) -> Path:
    """Put `state` where the Hugging Face hub cache keeps the weights of open_clip tag `hf_hub` ('org/repo/')."""
    repo = cache / f"models--{hf_hub.strip('/').replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    save_file({k: v.contiguous() for k, v in state.items()}, snapshot / HF_SAFE_WEIGHTS_NAME)
    return snapshot / HF_SAFE_WEIGHTS_NAME


def _activations(model: torch.nn.Module) -> set[type]:
    return {type(block.mlp.gelu) for block in model.visual.transformer.resblocks}


def _normalize_and_resize(preprocess) -> tuple[transforms.Normalize, transforms.Resize]:
    steps = preprocess.transforms
    return (next(t for t in steps if isinstance(t, transforms.Normalize)),
            next(t for t in steps if isinstance(t, transforms.Resize)))


def _same_weights(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> bool:
    loaded = model.state_dict()
    return set(loaded) == set(state) and all(torch.equal(loaded[k], state[k].to(loaded[k].dtype)) for k in state)


def test_cached_openai_tag_loads_its_file_with_quick_gelu(hub_cache):
    tag = open_clip.get_pretrained_cfg("ViT-B-32", "openai")
    assert tag["quick_gelu"]
    torch.manual_seed(5)
    state = {k: v.half() for k, v in open_clip.create_model("ViT-B-32").state_dict().items()}  # half: a smaller file
    write_hub_cache(hub_cache, tag["hf_hub"], state)

    loaded = load_clip(ClipModelSpec(model="ViT-B-32", pretrained="openai", cache_dir=str(hub_cache)))
    assert loaded.model_id == "ViT-B-32/openai" and not loaded.placeholder
    assert _activations(loaded.model) == {open_clip.transformer.QuickGELU}
    assert _same_weights(loaded.model, state)
    normalize, resize = _normalize_and_resize(loaded.preprocess)
    assert (tuple(normalize.mean), tuple(normalize.std)) == (tuple(tag["mean"]), tuple(tag["std"]))
    assert resize.interpolation == transforms.InterpolationMode.BICUBIC


def test_cached_tag_brings_its_own_preprocessing(tiny_model, hub_cache, monkeypatch):
    """A tag whose mean, std and resize mode differ from open_clip's defaults (as SigLIP's do)."""
    tag = dict(open_clip.get_pretrained_cfg("ViT-B-16-SigLIP", "webli"), hf_hub="test-org/tiny-siglip-like/",
               quick_gelu=True)
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, tiny_model, {"siglip_like": tag})
    torch.manual_seed(6)
    state = open_clip.create_model(tiny_model).state_dict()
    write_hub_cache(hub_cache, tag["hf_hub"], state)

    loaded = load_clip(ClipModelSpec(model=tiny_model, pretrained="siglip_like", cache_dir=str(hub_cache)))
    normalize, resize = _normalize_and_resize(loaded.preprocess)
    assert tuple(normalize.mean) == tuple(normalize.std) == (0.5, 0.5, 0.5) == tuple(tag["mean"])
    assert resize.size == (32, 32)  # squash: both sides to the input size, no centre crop
    assert not any(isinstance(t, transforms.CenterCrop) for t in loaded.preprocess.transforms)
    assert _activations(loaded.model) == {open_clip.transformer.QuickGELU}
    assert _same_weights(loaded.model, state)


@pytest.mark.parametrize("value, names", [
    (True, ("aesthetic", "caption", "clip")), ("all", ("aesthetic", "caption", "clip")), (False, ()), (None, ()),
    ("aesthetic", ("aesthetic",)), ("clip, caption", ("caption", "clip")),
    (["aesthetic", "all"], ("aesthetic", "caption", "clip")),
])
def test_random_weight_model_names(value, names):
    assert random_weight_models(value) == names


@pytest.mark.parametrize("value", ["zeroshot", "", "clip,nope"])
def test_unknown_random_weight_names_are_refused(value):
    with pytest.raises(GristmillError, match="choose from all, clip, aesthetic, caption"):
        ScoreConfig(allow_random_weights=value)


@pytest.fixture
def two_images(corpus, tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, [i for i in corpus_items(corpus) if i[0]["media_type"] == "image"][:2], shard_size=2)
    return ws


def _aesthetic(ws, model, pretrained, allow):
    return score(ws, ScoreConfig(scorers=["aesthetic"], model=model, pretrained=pretrained, allow_random_weights=allow,
                                 precision="fp32", num_workers=0, force=True))


def test_a_random_aesthetic_head_does_not_make_an_uncached_clip_tag_random(two_images, tiny_model, tiny_checkpoint,
                                                                           monkeypatch):
    tag = dict(open_clip.get_pretrained_cfg("ViT-B-32", "openai"), hf_hub="test-org/never-cached/")
    monkeypatch.setitem(open_clip.pretrained._PRETRAINED, tiny_model, {"uncached": tag})
    with pytest.raises(GristmillError, match=r"no pretrained weights .*/uncached.*--allow-random-weights clip"):
        _aesthetic(two_images, tiny_model, "uncached", "aesthetic")

    report = _aesthetic(two_images, tiny_model, str(tiny_checkpoint), "aesthetic")
    clip_id, head_id = report.scorers[0].model_id.split("+")
    assert clip_id.startswith(f"{tiny_model}/tiny.pt@") and head_id == "random-init-PLACEHOLDER"

    with pytest.raises(GristmillError, match="--aesthetic-checkpoint"):
        _aesthetic(two_images, tiny_model, str(tiny_checkpoint), "clip")  # a random CLIP does not free the head
    both = _aesthetic(two_images, tiny_model, "uncached", True)
    assert both.scorers[0].model_id == f"{tiny_model}/random-init-PLACEHOLDER+random-init-PLACEHOLDER"


def test_cli_names_the_models_that_may_be_random(two_images, tiny_model, tiny_checkpoint, capsys):
    base = ["score", str(two_images.root), "--scorers", "aesthetic", "--model", tiny_model, "--num-workers", "0",
            "--precision", "fp32"]
    assert main(base + ["--pretrained", str(tiny_checkpoint), "--allow-random-weights", "aesthetic"]) == 0
    assert main(base + ["--allow-random-weights=clip,aesthetic", "--force"]) == 0
    assert main(base + ["--allow-random-weights", "--force"]) == 0  # alone: every model
    capsys.readouterr()
    assert main(base + ["--allow-random-weights", "zeroshot"]) == 2
    assert "choose from all, clip, aesthetic, caption" in capsys.readouterr().err
