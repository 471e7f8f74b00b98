"""`clip`: image-caption cosine similarity and L2-normalised embeddings from an open_clip model.

The model's eval transform runs in the decode workers; encoding runs in the main process under
`torch.inference_mode` and, on CUDA, autocast (fp16 by default). An image has one frame; a video or clip has
a few keyframes: `clip_score` is the mean of the keyframe cosines and `clip_score_min` the smallest, and its
image embedding is the re-normalised mean of the keyframe embeddings. Embeddings are written as float16 to
`embeddings/<model-slug>/`; the model and weights in use are `model_id` (PLACEHOLDER for random weights).
"""
import re
from contextlib import contextmanager, nullcontext
from functools import partial
from typing import Iterator

import numpy as np
import torch

from curation.models import ClipModelSpec, LoadedClip, autocast_dtype, check_clip_spec, load_clip
from curation.scorers.base import Output, Sample, Scorer
from schemas import embedding_schema

TEXT_CHUNK = 32  # captions encoded together; sorted by length so each chunk is cut to a similar length


def frames_to_tensor(sample: Sample, transform) -> torch.Tensor:
    """The model's eval transform over a sample's frames: a (n_frames, 3, H, W) float tensor."""
    return torch.stack([transform(frame) for frame in sample.frames])


def model_slug(model_id: str) -> str:
    """A folder name for a model id: 'ViT-B-32/laion2b_s34b_b79k' -> 'ViT-B-32__laion2b_s34b_b79k'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.replace("/", "__"))


@contextmanager
def trimmed_text_context(model: torch.nn.Module, tokens: torch.Tensor) -> Iterator[torch.Tensor]:
    """Yield `tokens` cut after the batch's last end-of-text token, with the model's text context cut to match.

    For open_clip's `CLIP` with a causal text mask and argmax (end-of-text) pooling, positions after the
    end-of-text token cannot change its output, so the embeddings are the same while a short caption costs a
    fraction of the 77-token context. Other models get the tokens unchanged.
    """
    import open_clip

    trimmable = (
        isinstance(model, open_clip.CLIP) and getattr(model, "text_pool_type", None) == "argmax"
        and model.attn_mask is not None and getattr(model, "cls_emb", None) is None
    )
    if not trimmable:
        yield tokens
        return
    length = int(tokens.argmax(dim=-1).max()) + 1
    positional, mask = model.positional_embedding, model.attn_mask
    model.positional_embedding = torch.nn.Parameter(positional[:length], requires_grad=False)
    model.attn_mask = mask[:length, :length]
    try:
        yield tokens[:, :length]
    finally:
        model.positional_embedding, model.attn_mask = positional, mask


class OpenClipScorer(Scorer):
    """Base of the scorers that run an open_clip model on keyframes (clip, zeroshot, aesthetic).

    `load()` gets the model once (shared per spec by `load_clip`) with the autocast dtype its precision gives
    on the model's device, then calls `_loaded()`; frames go through the model's eval transform in the workers.
    """

    needs_frames = True

    def __init__(self, spec: ClipModelSpec = ClipModelSpec(), precision: str = "auto"):
        self.spec = spec
        self.precision = precision
        self.clip: LoadedClip | None = None
        self._dtype: torch.dtype | None = None

    def check(self) -> None:
        check_clip_spec(self.spec)

    def load(self) -> None:
        """Load the model once (raises GristmillError for a bad device, model or missing weights)."""
        if self.clip is None:
            clip = load_clip(self.spec)
            self._dtype = autocast_dtype(self.precision, clip.device)
            self.clip = clip
            try:
                self._loaded()
            except BaseException:
                self.clip = None  # not loaded: a later load() starts again
                raise

    def _loaded(self) -> None:
        """Work that needs the model, done once after it loads (nothing by default)."""

    @property
    def model_id(self) -> str | None:
        return self.clip.model_id if self.clip else None

    def preparer(self):
        self._require_loaded()
        return partial(frames_to_tensor, transform=self.clip.preprocess)

    def _require_loaded(self) -> None:
        if self.clip is None:
            raise RuntimeError(f"{type(self).__name__}.load() must run before the scorer is used")

    def _autocast(self):
        """The autocast context of the scorer's precision on the model's device (none for fp32)."""
        return torch.autocast(self.clip.device.type, dtype=self._dtype) if self._dtype else nullcontext()

    def _image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 CPU embeddings of preprocessed images (N, 3, H, W)."""
        with torch.inference_mode(), self._autocast():
            emb = self.clip.model.encode_image(images.to(self.clip.device, non_blocking=True)).float()
        return torch.nn.functional.normalize(emb, dim=-1).cpu()


class ClipScorer(OpenClipScorer):
    """open_clip similarity and embeddings; see the module docstring."""

    name = "clip"
    version = "1"

    def outputs(self) -> list[Output]:
        self._require_loaded()
        folder = ("embeddings", model_slug(self.clip.model_id))
        return super().outputs() + [Output(folder, embedding_schema(self.clip.embed_dim), keep_failed=False)]

    def _score(self, samples: list[Sample]) -> list[dict]:
        image_emb, text_emb = self.encode(
            torch.cat([s.prepared[self.name] for s in samples]), [s.caption or "" for s in samples]
        )
        counts = [s.prepared[self.name].shape[0] for s in samples]
        rows = []
        for i, frames in enumerate(torch.split(image_emb, counts)):
            cosines = frames @ text_emb[i]
            mean_emb = torch.nn.functional.normalize(frames.mean(dim=0), dim=-1)
            rows.append(
                {
                    "clip_score": float(cosines.mean()),
                    "clip_score_min": float(cosines.min()),
                    "image_embedding": mean_emb.numpy().astype(np.float16),
                    "text_embedding": text_emb[i].numpy().astype(np.float16),
                }
            )
        return rows

    def encode(self, images: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised float32 CPU embeddings of preprocessed images (N, 3, H, W) and of captions."""
        self._require_loaded()
        with torch.inference_mode(), self._autocast():
            text = self._encode_text(self.clip.tokenizer(captions))
        return self._image_embeddings(images), torch.nn.functional.normalize(text, dim=-1).cpu()

    def _encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text features in input order, encoded in chunks of similar length, each cut to its longest caption."""
        order = torch.argsort(tokens.argmax(dim=-1))  # the end-of-text token has the largest id
        chunks = []
        for chunk in order.split(TEXT_CHUNK):
            with trimmed_text_context(self.clip.model, tokens[chunk]) as trimmed:
                chunks.append(self.clip.model.encode_text(trimmed.to(self.clip.device, non_blocking=True)).float())
        return torch.cat(chunks)[torch.argsort(order)]
