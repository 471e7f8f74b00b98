"""Loading open_clip models under gristmill's weights policy.

Weights come from, in this order:
    1. a local checkpoint file (`pretrained` is a path),
    2. an open_clip pretrained tag whose file is already in the Hugging Face hub cache (or ~/.cache/clip),
    3. an open_clip pretrained tag downloaded through open_clip's normal path, tried only when the hub answers.
A cached tag's file is loaded with the tag's own settings (QuickGELU for the OpenAI weights, its
normalisation mean/std, interpolation and resize mode), as open_clip does when it downloads the tag itself.
Without any of these, `allow_random_weights=True` gives a randomly initialised model whose `model_id` says
PLACEHOLDER (every summary then warns); without the flag loading stops with a GristmillError saying how to
provide weights. The flag is per model (`ClipModelSpec` is one model): allowing random weights for one never
makes another random. Nothing falls back silently, and an offline machine fails in seconds instead of
retrying downloads for minutes.

Loaded models are shared: scorers that ask for the same spec and weights in one process (clip, zeroshot and
aesthetic on one model) get one `LoadedClip`, held while any of them holds it. Precision is not part of the
model: scorers run it under autocast (`autocast_dtype`). How the model is held is part of the spec: its weights
in fp16 or bf16 (`weights`; fp16 on CUDA only), `channels_last` memory format for its convolutions and inputs,
and `compile` (the image tower through `torch.compile`); `LoadedClip.image_input` casts inputs to match.
torch and open_clip are imported where they are used, so the CLI can read the defaults here without loading
them.
"""
from __future__ import annotations

import hashlib
import json
import os
import pickle
import socket
import threading
import weakref
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, get_args
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict

from curation.errors import GristmillError

if TYPE_CHECKING:
    import torch

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
PLACEHOLDER_WEIGHTS = "random-init-PLACEHOLDER"
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt")
HUB_PROBE_TIMEOUT_S = 3.0
RANDOM_INIT_SEED = 0
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
WeightDtype = Literal["fp32", "fp16", "bf16"]  # how a model's weights are held (ClipModelSpec.weights)
WEIGHT_DTYPES = get_args(WeightDtype)

TINY_MODEL = "gristmill-tiny-vit"
TINY_CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TINY_COCA_MODEL = "gristmill-tiny-coca"
TINY_COCA_CONFIG = {  # coca_ViT-B-32.json shrunk (text, decoder and embed widths equal, as there), 32 px
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 16, "head_width": 32,
                   "attentional_pool": True, "attn_pooler_queries": 8, "attn_pooler_heads": 2, "output_tokens": True},
    "text_cfg": {"context_length": 76, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1,
                 "embed_cls": True, "output_tokens": True},
    "multimodal_cfg": {"context_length": 76, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1,
                       "attn_pooler_heads": 2},
    "custom_text": True,
}


class ClipModelSpec(BaseModel):
    """Which open_clip model to load, from where, and on which device.

    `pretrained` is an open_clip pretrained tag (e.g. "laion2b_s34b_b79k") or a local checkpoint path;
    None means no weights at all, which needs `allow_random_weights`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str = DEFAULT_MODEL
    pretrained: str | None = DEFAULT_PRETRAINED
    device: str = "cpu"
    allow_random_weights: bool = False
    cache_dir: str | None = None
    weights: WeightDtype = "fp32"
    channels_last: bool = False
    compile: bool = False
    decode_on_device: bool = False  # JPEGs decoded and transformed on the device (curation.scorers.device_decode)


@dataclass
class LoadedClip:
    """A ready model: eval mode, on its device, with its eval transform and tokenizer; `input_side` is the
    image tower's input size (px, the larger side), None when the model does not say."""

    model: torch.nn.Module
    preprocess: Callable
    tokenizer: Callable
    model_id: str
    embed_dim: int
    device: torch.device
    placeholder: bool
    input_side: int | None = None
    input_dtype: torch.dtype | None = None  # the image tower's parameter dtype (None: float32)
    channels_last: bool = False

    def image_input(self, images: torch.Tensor) -> torch.Tensor:
        """Preprocessed images moved (without blocking) to the model's device, dtype and memory format."""
        import torch

        fmt = torch.channels_last if self.channels_last else torch.preserve_format
        return images.to(self.device, dtype=self.input_dtype or images.dtype, memory_format=fmt, non_blocking=True)


_LOADED: "weakref.WeakValueDictionary[tuple, LoadedClip]" = weakref.WeakValueDictionary()
_LOADING = threading.Lock()


def load_clip(spec: ClipModelSpec) -> LoadedClip:
    """The model named by `spec`, or a GristmillError listing what is available.

    Shared: while a LoadedClip of the same spec and weights (a checkpoint file by its content) is alive in
    this process, it is returned instead of loading again. Callers must not change the model's weights.
    """
    device = check_device(spec.device)
    _check_weights_dtype(spec, device)
    check_model_name(spec.model)
    checkpoint, tag_cfg, weights_name = _resolve_weights(spec)
    key = (spec, checkpoint, weights_name)
    with _LOADING:
        loaded = _LOADED.get(key)
        if loaded is None:
            loaded = _load(spec, device, checkpoint, tag_cfg, weights_name)
            _LOADED[key] = loaded
    return loaded


def _load(spec: ClipModelSpec, device: torch.device, checkpoint: str | None, tag_cfg: dict,
          weights_name: str) -> LoadedClip:
    import open_clip
    import torch

    kwargs = tag_settings(tag_cfg) if tag_cfg else {}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)  # placeholder scores are the same in every run
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                spec.model, pretrained=checkpoint, device=device, cache_dir=spec.cache_dir, **kwargs
            )
        except (RuntimeError, OSError, ValueError, pickle.UnpicklingError) as exc:
            if checkpoint is None:
                raise
            raise GristmillError(f"could not load weights {checkpoint} into {spec.model}: {_first_line(exc)}") from exc
        if checkpoint is None and hasattr(model, "text_decoder"):  # CoCa leaves this one torch.empty (garbage):
            decoder = model.text_decoder  # the std of open_clip's (unreachable) MultimodalTransformer init
            torch.nn.init.normal_(decoder.text_projection, std=decoder.width ** -0.5)
    model.eval()
    dtype = torch_dtype(spec.weights)
    if dtype is not None:
        model.to(dtype)
    if spec.channels_last:
        model.to(memory_format=torch.channels_last)
    if spec.compile:
        model.visual = torch.compile(model.visual)
    return LoadedClip(
        model=model,
        preprocess=preprocess,
        tokenizer=open_clip.get_tokenizer(spec.model),
        model_id=f"{spec.model}/{weights_name}",
        embed_dim=_embed_dim(model),
        device=device,
        placeholder=weights_name == PLACEHOLDER_WEIGHTS,
        input_side=_input_side(model),
        input_dtype=dtype,
        channels_last=spec.channels_last,
    )


def tag_settings(tag_cfg: dict) -> dict:
    """open_clip.create_model_and_transforms arguments that give a tag's file, loaded as a path, the model and
    preprocessing of the tag: open_clip applies them by itself only when it resolves the tag."""
    return dict(force_quick_gelu=bool(tag_cfg.get("quick_gelu", False)), image_mean=tag_cfg.get("mean"),
                image_std=tag_cfg.get("std"), image_interpolation=tag_cfg.get("interpolation"),
                image_resize_mode=tag_cfg.get("resize_mode"))


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a precision name (one of PRECISIONS) on a device (None: plain fp32), checked at start.

    "auto" is fp16 on CUDA, bf16 on a CPU with AMX tiles (cosines within ~2e-3 of fp32) and fp32 elsewhere:
    on an AVX512-BF16 CPU without AMX (AMD EPYC, 2026-11-23) bf16 autocast ran ViT-B-32 8-10% slower than fp32.
    """
    import torch

    if precision not in PRECISIONS:
        raise GristmillError(f"unknown precision {precision!r}; available: {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_amx() else None
    if precision == "fp16" and device.type != "cuda":
        raise GristmillError(f"precision fp16 needs a CUDA device, not {device}; use fp32 or bf16")
    return torch_dtype(precision)


def torch_dtype(name: str) -> torch.dtype | None:
    """The torch dtype of "fp16" or "bf16"; None for "fp32" (plain float32, no cast)."""
    import torch

    return {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[name]


def cpu_has_amx() -> bool:
    """True when this CPU has AMX tiles, where bf16 matrix products are much faster than fp32."""
    import torch

    return bool(torch.cpu._is_amx_tile_supported())


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:500] if text else type(exc).__name__


def check_clip_spec(spec: ClipModelSpec) -> None:
    """Check device, model name and weights exactly as `load_clip` would, without building the model."""
    _check_weights_dtype(spec, check_device(spec.device))
    check_model_name(spec.model)
    _resolve_weights(spec)


def _check_weights_dtype(spec: ClipModelSpec, device: torch.device) -> None:
    if spec.weights == "fp16" and device.type != "cuda":
        raise GristmillError(f"fp16 weights need a CUDA device, not {device}; use fp32 or bf16 weights")


def check_device(name: str) -> torch.device:
    """Parse a device name and check it exists here, listing the available devices otherwise."""
    import torch

    available = available_devices()
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise GristmillError(f"invalid device {name!r}: {exc}; available: {', '.join(available)}") from exc
    wanted = str(device) if device.index is not None or device.type == "cpu" else f"{device.type}:0"
    if wanted not in available:
        raise GristmillError(f"device {name!r} is not available on this machine; available: {', '.join(available)}")
    return device


def available_devices() -> list[str]:
    """Device names usable here: cpu, then cuda:N for every visible GPU, then mps when present."""
    import torch

    devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        devices.append("mps:0")
    return devices


def check_model_name(model: str) -> None:
    """Raise a GristmillError listing open_clip's model configs when `model` is not one of them."""
    import open_clip

    if model not in open_clip.list_models():
        raise GristmillError(
            f"unknown open_clip model {model!r}; available models: {', '.join(open_clip.list_models())}"
        )


def _resolve_weights(spec: ClipModelSpec) -> tuple[str | None, dict, str]:
    """(checkpoint path or tag for open_clip, the tag's config, a short weights name for model_id)."""
    import open_clip

    if spec.pretrained and _looks_like_path(spec.pretrained):
        path = Path(spec.pretrained).expanduser()
        if not path.is_file():
            raise GristmillError(
                f"checkpoint {path} not found; give an existing checkpoint file or one of the pretrained tags "
                f"for {spec.model}: {_tags_text(spec.model)}"
            )
        stat = path.stat()
        return str(path), {}, f"{path.name}@{_digest_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)[:12]}"
    if spec.pretrained:
        tag_cfg = open_clip.get_pretrained_cfg(spec.model, spec.pretrained)
        if not tag_cfg:
            raise GristmillError(
                f"unknown pretrained tag {spec.pretrained!r} for {spec.model}; available tags: "
                f"{_tags_text(spec.model)}; or give a local checkpoint path"
            )
        cached = cached_weights(tag_cfg, spec.cache_dir)
        if cached:
            return cached, tag_cfg, spec.pretrained
        if hub_reachable():
            return spec.pretrained, {}, spec.pretrained
    if spec.allow_random_weights:
        return None, {}, PLACEHOLDER_WEIGHTS
    raise GristmillError(_no_weights_message(spec))


def _no_weights_message(spec: ClipModelSpec) -> str:
    if spec.pretrained:
        what = f"no pretrained weights {spec.model}/{spec.pretrained} on this machine and the model hub cannot be reached"
    else:
        what = f"no weights given for {spec.model} (pretrained tags: {_tags_text(spec.model)})"
    return (
        f"{what}. Provide weights in one of three ways: "
        f"(1) a local checkpoint: --pretrained /path/to/checkpoint.pt, or a tag whose weights are cached; "
        f"(2) the Hugging Face cache: copy a cache holding the weights into {_hub_cache_dir(spec.cache_dir)} "
        f"(or set HF_HOME); (3) --allow-random-weights {_random_weights_name(spec.model)} for placeholder scores "
        f"that carry no meaning"
    )


def _random_weights_name(model: str) -> str:
    """The `--allow-random-weights` name of a model: caption for a CoCa model, else clip."""
    import open_clip

    return "caption" if "multimodal_cfg" in (open_clip.get_model_config(model) or {}) else "clip"


def _looks_like_path(value: str) -> bool:
    return os.sep in value or value.endswith(CHECKPOINT_SUFFIXES) or Path(value).expanduser().is_file()


def _tags_text(model: str) -> str:
    import open_clip

    return ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"


def cached_weights(tag_cfg: dict, cache_dir: str | None = None) -> str | None:
    """Path of a pretrained tag's weights file when it is already cached locally, else None (no network)."""
    from huggingface_hub import try_to_load_from_cache
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if tag_cfg.get("file"):
        return tag_cfg["file"] if Path(tag_cfg["file"]).is_file() else None
    if tag_cfg.get("hf_hub"):
        repo_id, filename = os.path.split(tag_cfg["hf_hub"])  # open_clip's 'org/repo/' or 'org/repo/file.bin'
        filename = filename or HF_WEIGHTS_NAME
        names = [HF_SAFE_WEIGHTS_NAME if filename == HF_WEIGHTS_NAME else str(Path(filename).with_suffix(".safetensors")),
                 filename]
        for name in names:
            found = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir)
            if isinstance(found, str):
                return found
    if tag_cfg.get("url"):
        path = Path(cache_dir or Path.home() / ".cache" / "clip") / os.path.basename(tag_cfg["url"])
        return str(path) if path.is_file() else None
    return None


def hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """True when downloads may be tried: HF_HUB_OFFLINE is unset and the hub host accepts a connection."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _hub_cache_dir(cache_dir: str | None) -> str:
    from huggingface_hub import constants

    return cache_dir or constants.HF_HUB_CACHE


def _input_side(model: torch.nn.Module) -> int | None:
    size = getattr(getattr(model, "visual", None), "image_size", None)
    if isinstance(size, (tuple, list)):
        return int(max(size))
    return int(size) if size else None


def _embed_dim(model: torch.nn.Module) -> int:
    import torch

    projection = getattr(model, "text_projection", None)
    if isinstance(projection, torch.Tensor):
        return int(projection.shape[-1])
    return int(model.visual.output_dim)


@lru_cache(maxsize=32)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    """file_digest, computed once per file version (size and mtime): checkpoints can be gigabytes."""
    return file_digest(Path(path))


def file_digest(path: Path) -> str:
    """sha256 of a file (hex), read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def register_tiny_config(folder: Path, name: str = TINY_MODEL, config: dict | None = None) -> str:
    """Write a tiny ViT config JSON into `folder` and register it with open_clip; return the model name.

    For tests and benchmarks of the plumbing: a 32 px, 2-layer model that encodes hundreds of images/s on CPU.
    """
    import open_clip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(config or TINY_CONFIG, indent=2))
    open_clip.add_model_config(path)
    return name


def save_checkpoint(model: torch.nn.Module, path: Path) -> Path:
    """Save a model's state dict where `ClipModelSpec(pretrained=str(path))` can load it."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path
