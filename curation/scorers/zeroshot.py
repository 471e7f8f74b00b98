"""`zeroshot`: watermark, NSFW and mostly-text probabilities from CLIP prompt pairs.

Each label has a pair of prompts (yes, no). Its probability is the softmax, at the model's own logit scale,
of the image's cosine with the two prompt embeddings: p = exp(s*cos_yes) / (exp(s*cos_yes) + exp(s*cos_no)).
The model loads through `curation.models.load_clip` (same weights policy as `clip`; PLACEHOLDER for random
weights) and the clip scorer's precision rules. The image embeddings come from the model's shared embedding
stage (`curation.scorers.embedding`: one image forward per sample for clip, zeroshot and aesthetic); a video's
or clip's image embedding is the re-normalised mean of its keyframe embeddings, as in `clip`.

The prompt set is configurable (`ScoreConfig.zeroshot_prompts`, `--zeroshot-prompts FILE.json`) and is
stored with every row: the `prompts` column holds it as JSON, and `model_id` ends in `#prompts-<sha256[:12]>`,
so a changed prompt set counts as a different model and resume rescores.
"""
import hashlib
import json

import torch

from curation.errors import GristmillError
from curation.models import ClipModelSpec
from curation.scorers.base import Sample
from curation.scorers.clip import OpenClipScorer

# label -> (prompt for yes, prompt for no); the labels are the `p_<label>` columns.
DEFAULT_PROMPTS: dict[str, tuple[str, str]] = {
    "watermark": ("a photo with a watermark", "a photo without a watermark"),
    "nsfw": ("an explicit nude photo, not safe for work", "a safe for work photo"),
    "text": ("an image that is mostly text", "a photo with little or no text"),
}


def check_prompts(prompts: dict[str, list[str] | tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The prompt set with exactly the labels of DEFAULT_PROMPTS, each a pair of non-empty prompts."""
    if set(prompts) != set(DEFAULT_PROMPTS):
        raise GristmillError(
            f"zeroshot prompts need exactly the labels {sorted(DEFAULT_PROMPTS)}, got {sorted(prompts)}")
    for label, pair in prompts.items():
        well_formed = isinstance(pair, (list, tuple)) and len(pair) == 2
        if not well_formed or not all(isinstance(p, str) and p.strip() for p in pair):
            raise GristmillError(
                f"zeroshot prompts for {label!r} must be two non-empty strings (yes, no), got {pair!r}")
    return {label: (prompts[label][0], prompts[label][1]) for label in DEFAULT_PROMPTS}


def prompts_json(prompts: dict[str, tuple[str, str]]) -> str:
    """The canonical JSON of a prompt set (sorted keys), as stored in the `prompts` column."""
    return json.dumps({label: list(pair) for label, pair in prompts.items()}, sort_keys=True)


class ZeroShotScorer(OpenClipScorer):
    """CLIP prompt-pair probabilities; see the module docstring."""

    name = "zeroshot"
    version = "1"

    def __init__(self, spec: ClipModelSpec = ClipModelSpec(), precision: str = "auto",
                 prompts: dict[str, list[str] | tuple[str, str]] | None = None):
        super().__init__(spec, precision)
        self.prompts = check_prompts(prompts or DEFAULT_PROMPTS)
        self.prompts_json = prompts_json(self.prompts)
        self._prompt_emb: torch.Tensor | None = None  # (labels, 2, dim), L2-normalised

    def _loaded(self) -> None:
        """Embed the prompts once."""
        texts = [p for pair in self.prompts.values() for p in pair]
        with torch.inference_mode(), self._autocast():
            emb = self.clip.model.encode_text(self.clip.tokenizer(texts).to(self.clip.device)).float()
        self._prompt_emb = torch.nn.functional.normalize(emb, dim=-1).cpu().reshape(len(self.prompts), 2, -1)

    @property
    def model_id(self) -> str | None:
        if self.clip is None:
            return None
        return f"{self.clip.model_id}#prompts-{hashlib.sha256(self.prompts_json.encode()).hexdigest()[:12]}"

    def _score(self, samples: list[Sample]) -> list[dict]:
        scale = float(self.clip.model.logit_scale.detach().exp())
        probs = label_probabilities(self.embedder.sample_embeddings(samples), self._prompt_emb, scale)
        return [dict({f"p_{label}": float(probs[i, j]) for j, label in enumerate(self.prompts)},
                     prompts=self.prompts_json) for i in range(len(samples))]


def label_probabilities(image_emb: torch.Tensor, prompt_emb: torch.Tensor, scale: float) -> torch.Tensor:
    """P(yes) per image and label: softmax over each prompt pair of scale * cosine; (images, labels) in 0..1."""
    logits = scale * torch.einsum("nd,lkd->nlk", image_emb, prompt_emb)
    return logits.softmax(dim=-1)[..., 0]
