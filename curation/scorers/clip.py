"""`clip`: image-caption cosine similarity and L2-normalised embeddings from an open_clip model.

The image side is the model's shared embedding stage (`curation.scorers.embedding`: the eval transform in the
decode workers, one `encode_image` per sample for every scorer of the model); captions are encoded here, in
the main process under `torch.inference_mode` and, on CUDA, autocast (fp16 by default). An image has one
frame; a video or clip has a few keyframes: `clip_score` is the mean of the keyframe cosines and
`clip_score_min` the smallest, and its image embedding is the re-normalised mean of the keyframe embeddings.
Embeddings are written as float16 to `embeddings/<model-slug>/`; the model and weights in use are `model_id`
(PLACEHOLDER for random weights).

Text encoding never changes the shared model: `encode_text_trimmed` runs the text tower on slices of its
tensors passed as arguments, so threads sharing one model (Beam) can encode at once.
"""
import re

import numpy as np
import torch

from curation.models import ClipModelSpec, LoadedClip
from curation.scorers.base import Output, Sample, Scorer
from curation.scorers.embedding import ImageEmbedder, image_embedder, mean_embedding
from schemas import embedding_schema

TEXT_CHUNK = 32  # captions encoded together; sorted by length so each chunk is cut to a similar length


def model_slug(model_id: str) -> str:
    """A folder name for a model id: 'ViT-B-32/laion2b_s34b_b79k' -> 'ViT-B-32__laion2b_s34b_b79k'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model_id.replace("/", "__"))


def trimmable(model: torch.nn.Module) -> bool:
    """True for open_clip's `CLIP` with a causal text mask and argmax (end-of-text) pooling: positions after
    the end-of-text token cannot change its output, so the context may be cut after it."""
    import open_clip

    return (isinstance(model, open_clip.CLIP) and getattr(model, "text_pool_type", None) == "argmax"
            and model.attn_mask is not None and getattr(model, "cls_emb", None) is None)


def encode_text_trimmed(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """`model.encode_text(tokens)` with the context cut after the batch's last end-of-text token; `tokens` on
    the CPU (cut there, then moved to the model's device).

    The same operations as open_clip's `CLIP.encode_text`, on the first `length` positions of the tokens,
    the positional embedding and the causal mask, so a short caption costs a fraction of the 77-token
    context. Nothing of the model is changed. Models that cannot be trimmed get `model.encode_text`.
    """
    from open_clip.transformer import text_global_pool

    device = next(model.parameters()).device
    if not trimmable(model):
        return model.encode_text(tokens.to(device, non_blocking=True))
    length = int(tokens.argmax(dim=-1).max()) + 1
    tokens = tokens[:, :length].to(device, non_blocking=True)
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = text_global_pool(x, tokens, model.text_pool_type, eos_token_id=getattr(model, "text_eos_id", None))
    if model.text_projection is None:
        return x
    return model.text_projection(x) if isinstance(model.text_projection, torch.nn.Linear) else x @ model.text_projection


class OpenClipScorer(Scorer):
    """Base of the scorers that read a CLIP model's image embeddings (clip, zeroshot, aesthetic).

    The scorer holds its model's shared `ImageEmbedder` (`embedder`): its preparer and its `input_key` are
    the embedder's, so the transform and the image forward run once per sample for all of them. `load()`
    loads the model once, then calls `_loaded()`.
    """

    needs_frames = True
    runs_on_device = True

    def __init__(self, spec: ClipModelSpec = ClipModelSpec(), precision: str = "auto"):
        self.spec = spec
        self.precision = precision
        self.embedder: ImageEmbedder = image_embedder(spec, precision)
        self.clip: LoadedClip | None = None

    def check(self) -> None:
        self.embedder.check()

    def load(self) -> None:
        """Load the model once (raises GristmillError for a bad device, model or missing weights)."""
        if self.clip is None:
            self.clip = self.embedder.load()
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

    @property
    def input_key(self) -> str:
        return self.embedder.key

    def preparer(self):
        self._require_loaded()
        return self.embedder.preparer()

    def picture_need(self):
        return self.embedder.picture_need()

    def _require_loaded(self) -> None:
        if self.clip is None:
            raise RuntimeError(f"{type(self).__name__}.load() must run before the scorer is used")

    def _autocast(self):
        """The autocast context of the scorer's precision on the model's device (none for fp32)."""
        return self.embedder.autocast()


class ClipScorer(OpenClipScorer):
    """open_clip similarity and embeddings; see the module docstring."""

    name = "clip"
    version = "1"

    def outputs(self) -> list[Output]:
        self._require_loaded()
        folder = ("embeddings", model_slug(self.clip.model_id))
        return super().outputs() + [Output(folder, embedding_schema(self.clip.embed_dim), keep_failed=False)]

    def _score(self, samples: list[Sample]) -> list[dict]:
        frame_emb = self.embedder.frame_embeddings(samples)
        text_emb = self.encode_captions([s.caption or "" for s in samples])
        rows = []
        for i, frames in enumerate(frame_emb):
            cosines = frames @ text_emb[i]
            rows.append(
                {
                    "clip_score": float(cosines.mean()),
                    "clip_score_min": float(cosines.min()),
                    "image_embedding": mean_embedding(frames).numpy().astype(np.float16),
                    "text_embedding": text_emb[i].numpy().astype(np.float16),
                }
            )
        return rows

    def encode(self, images: torch.Tensor, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """L2-normalised float32 CPU embeddings of preprocessed images (N, 3, H, W) and of captions."""
        self._require_loaded()
        return self.embedder.encode_images(images), self.encode_captions(captions)

    def encode_captions(self, captions: list[str]) -> torch.Tensor:
        """L2-normalised float32 CPU embeddings of captions, in order (thread-safe)."""
        self._require_loaded()
        with torch.inference_mode(), self._autocast():
            text = self._encode_text(self.clip.tokenizer(captions))
        return torch.nn.functional.normalize(text, dim=-1).cpu()

    def _encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Text features in input order, encoded in chunks of similar length, each cut to its longest caption."""
        order = torch.argsort(tokens.argmax(dim=-1))  # the end-of-text token has the largest id
        chunks = [encode_text_trimmed(self.clip.model, tokens[chunk]).float() for chunk in order.split(TEXT_CHUNK)]
        return torch.cat(chunks)[torch.argsort(order)]
