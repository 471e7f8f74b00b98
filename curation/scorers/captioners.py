"""Captioners: models that write a caption for an image, behind one small interface.

`Captioner` is what the `caption` scorer calls: `check()` and `load()` at start, `preparer()` (a picklable
image transform for the decode workers), `caption(images)` for a batch of prepared images, and `model_id`.
`CocaCaptioner` is the one implementation today (open_clip CoCa models, loaded under the weights policy of
`curation.models`); a VLM captioner is another subclass with its own preprocessing.

Why `CoCa.generate` is not called: open_clip 3.3.0's `generate` imports its logits processors and
`BeamSearchScorer` from `transformers`; transformers 5.x removed `BeamSearchScorer`, and transformers < 5
cannot be installed beside the huggingface_hub that `datasets` needs, so gristmill does not depend on
transformers. `greedy_tokens` writes out generate's `top_k=1` path over the model's own forward: the image
is encoded once, then one decoder pass per token from the start token (49406); the end token (49407) is
barred while the sequence is shorter than `min_tokens` and forced at `max_tokens` (both count the start
token, like generate's `min_seq_len` and `seq_len`); a row ends at the end token or the pad token, and the
loop stops when every row has ended. Greedy decoding has no randomness: the same model, images and
precision give the same captions in every run.

One change of cost, not of result: generate projects every position onto the 49,408-token vocabulary at
every step and keeps the last; here `next_token_logits` runs the decoder's layers itself and projects only
the last position. It reads the model and never changes it (no hooks, no swapped tensors), so threads that
share one model, as Beam's do, can caption at once.
"""
from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable

import torch
from PIL import Image

from curation.errors import GristmillError
from curation.models import ClipModelSpec, LoadedClip, autocast_dtype, check_clip_spec, check_model_name, load_clip
from curation.scorers.base import PictureNeed

START_TOKEN = 49406
END_TOKEN = 49407
MAX_TOKENS = 30  # generate's default seq_len: the longest sequence, start and end tokens included
MIN_TOKENS = 5  # generate's default min_seq_len: no end token while the sequence is shorter than this


@dataclass(frozen=True)
class GeneratedCaption:
    """A caption and how it ended: `n_tokens` excludes start and end tokens; `truncated` means the length
    limit ended it, not the model."""

    text: str
    n_tokens: int
    truncated: bool


class Captioner(ABC):
    """Writes captions for batches of prepared images; see the module docstring."""

    @abstractmethod
    def check(self) -> None:
        """Raise a GristmillError now, without loading, when the model or its weights cannot be loaded."""

    @abstractmethod
    def load(self) -> None:
        """Load the model once (GristmillError for a bad device, model or weights)."""

    @property
    @abstractmethod
    def model_id(self) -> str | None:
        """Model and weights in use ('PLACEHOLDER' for random weights); None before `load()`."""

    @abstractmethod
    def preparer(self) -> Callable[[Image.Image], Any]:
        """A picklable function from an RGB image to this captioner's model input (runs in decode workers)."""

    @abstractmethod
    def caption(self, images: list[Any]) -> list[GeneratedCaption]:
        """One caption per prepared image, in order."""

    def picture_need(self) -> PictureNeed | None:
        """The smallest picture `preparer()` works from (see `curation.scorers.base`); None: full resolution."""
        return None


def check_coca_model(model: str) -> None:
    """Raise a GristmillError when `model` is not an open_clip CoCa config, listing the CoCa models."""
    import open_clip

    check_model_name(model)
    if "multimodal_cfg" not in (open_clip.get_model_config(model) or {}):
        coca = [m for m in open_clip.list_models() if "multimodal_cfg" in (open_clip.get_model_config(m) or {})]
        raise GristmillError(f"caption model {model!r} is not an open_clip CoCa model; CoCa models: {', '.join(coca)}")


class CocaCaptioner(Captioner):
    """Greedy captions from an open_clip CoCa model (`spec` as for CLIP models; autocast as the clip scorer)."""

    def __init__(self, spec: ClipModelSpec, precision: str = "auto"):
        self.spec = spec
        self.precision = precision
        self.coca: LoadedClip | None = None
        self._dtype: torch.dtype | None = None

    def check(self) -> None:
        check_coca_model(self.spec.model)
        check_clip_spec(self.spec)

    def load(self) -> None:
        if self.coca is None:
            check_coca_model(self.spec.model)
            coca = load_clip(self.spec)
            self._dtype = autocast_dtype(self.precision, coca.device)
            self.coca = coca

    @property
    def model_id(self) -> str | None:
        return self.coca.model_id if self.coca else None

    def preparer(self) -> Callable[[Image.Image], Any]:
        self._require_loaded()
        return self.coca.preprocess

    def picture_need(self) -> PictureNeed | None:
        self._require_loaded()
        return PictureNeed(short=self.coca.input_side) if self.coca.input_side else None

    def caption(self, images: list[torch.Tensor]) -> list[GeneratedCaption]:
        self._require_loaded()
        device = self.coca.device
        autocast = torch.autocast(device.type, dtype=self._dtype) if self._dtype else nullcontext()
        with torch.inference_mode(), autocast:
            tokens, truncated = greedy_tokens(self.coca.model, self.coca.image_input(torch.stack(images)))
        return [GeneratedCaption(self.coca.tokenizer.decode(ids).strip(), len(ids), cut)
                for ids, cut in zip(tokens, truncated)]

    def _require_loaded(self) -> None:
        if self.coca is None:
            raise RuntimeError("CocaCaptioner.load() must run before the captioner is used")


def greedy_tokens(model: torch.nn.Module, images: torch.Tensor, max_tokens: int = MAX_TOKENS,
                  min_tokens: int = MIN_TOKENS) -> tuple[list[list[int]], list[bool]]:
    """Greedy caption token ids of each image (without start and end tokens) and whether the length limit
    ended it; `images` are preprocessed (N, 3, H, W) on the model's device. See the module docstring."""
    if not 1 < min_tokens < max_tokens <= model.context_length:
        raise ValueError(f"need 1 < min_tokens ({min_tokens}) < max_tokens ({max_tokens}) <= the model's context "
                         f"length ({model.context_length})")
    n, pad = images.shape[0], model.pad_id
    _, image_embs = model._encode_image(images)
    out = torch.full((n, 1), START_TOKEN, dtype=torch.long, device=images.device)
    truncated = torch.zeros(n, dtype=torch.bool, device=images.device)
    while out.shape[1] < max_tokens:
        active = (out[:, -1] != END_TOKEN) & (out[:, -1] != pad)
        if not active.any():
            break
        logits = next_token_logits(model, out[active], image_embs[active])
        if out.shape[1] < min_tokens:
            logits[:, END_TOKEN] = float("-inf")
        chosen = logits.argmax(dim=-1)
        if out.shape[1] + 1 == max_tokens:  # the last place: the end token, whatever the model chose
            truncated[active] = chosen != END_TOKEN
            chosen = torch.full_like(chosen, END_TOKEN)
        step = torch.full((n,), pad, dtype=torch.long, device=images.device)
        step[active] = chosen
        out = torch.cat([out, step[:, None]], dim=1)
    return [_caption_ids(row, pad) for row in out.tolist()], truncated.tolist()


def next_token_logits(model: torch.nn.Module, tokens: torch.Tensor, image_embs: torch.Tensor) -> torch.Tensor:
    """(N, vocab) logits of the token after `tokens`: `model(images, tokens, image_embs=image_embs,
    output_labels=False)["logits"][:, -1]`, with only the last position projected onto the vocabulary.

    The steps of open_clip's `MultimodalTransformer.forward` (self-attention under the causal mask, then
    cross-attention to the image tokens, per layer; the final norm), read from the model without changing it.
    """
    _, text_embs = model._encode_text(tokens)
    decoder = model.text_decoder
    length = text_embs.shape[1]
    if not decoder.batch_first:
        image_embs, text_embs = image_embs.permute(1, 0, 2), text_embs.permute(1, 0, 2)
    for resblock, cross_attn in zip(decoder.resblocks, decoder.cross_attn):
        text_embs = resblock(text_embs, attn_mask=decoder.attn_mask[:length, :length])
        text_embs = cross_attn(text_embs, k_x=image_embs, v_x=image_embs)
    if not decoder.batch_first:
        text_embs = text_embs.permute(1, 0, 2)
    last = decoder.ln_final(text_embs)[:, -1:]
    return (last if decoder.text_projection is None else last @ decoder.text_projection)[:, 0]


def _caption_ids(row: list[int], pad: int) -> list[int]:
    """The ids after the start token, up to the first end or pad token."""
    ids = []
    for token in row[1:]:
        if token in (END_TOKEN, pad):
            break
        ids.append(token)
    return ids
