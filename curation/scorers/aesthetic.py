"""`aesthetic`: the LAION improved aesthetic predictor, an MLP on CLIP ViT-L/14 image embeddings (1-10 scale).

The head is the published one (`sac+logos+ava1-l14-linearMSE.pth`): Linear 768->1024, Dropout 0.2, Linear
1024->128, Dropout 0.2, Linear 128->64, Dropout 0.1, Linear 64->16, Linear 16->1, with state-dict keys
`layers.0/2/4/6/7.weight|bias`. It reads the L2-normalised image embedding of the CLIP model
(`--model ViT-L-14 --pretrained openai` for the published head, or `--aesthetic-model ViT-L-14` for a model of
its own beside the clip scorer's), loaded through `curation.models.load_clip`, from that model's shared
embedding stage (`curation.scorers.embedding`); the head's input size must match the model's embedding size. A video's or clip's embedding is the
re-normalised mean of its keyframe embeddings, as in `clip`.

The head comes from a local file (`ScoreConfig.aesthetic_checkpoint`, `--aesthetic-checkpoint PATH`). Without
one, scoring refuses unless random weights are allowed for the head (`--allow-random-weights aesthetic`), which
gives a seeded random head whose `model_id` says PLACEHOLDER. That permission is the head's alone: the CLIP
model under it needs real weights unless "clip" is allowed too. `model_id` is
`<clip model id>+<head file>@<sha256[:12]>`.
"""
from pathlib import Path

import torch
from torch import nn

from curation.errors import GristmillError
from curation.models import PLACEHOLDER_WEIGHTS, RANDOM_INIT_SEED, ClipModelSpec, file_digest
from curation.scorers.base import Sample
from curation.scorers.clip import OpenClipScorer


class AestheticHead(nn.Module):
    """The predictor's MLP; `layers.N` matches the published state dict's key names."""

    def __init__(self, input_dim: int = 768):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
            nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
        )

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.layers(embedding)


def head_file(path: str | None, allow_random_head: bool) -> Path | None:
    """The checked head checkpoint path; None (placeholder head) only with `allow_random_head`."""
    if path is None:
        if not allow_random_head:
            raise GristmillError(
                "the aesthetic scorer needs the LAION aesthetic predictor head: give --aesthetic-checkpoint "
                "/path/to/sac+logos+ava1-l14-linearMSE.pth (or --allow-random-weights aesthetic for a random head "
                "and placeholder scores)")
        return None
    file = Path(path).expanduser()
    if not file.is_file():
        raise GristmillError(f"aesthetic checkpoint {file} not found; give the path of the predictor's .pth file")
    return file


def load_head(file: Path | None, input_dim: int) -> tuple[AestheticHead, str]:
    """The head in eval mode and its weights name for `model_id`; a seeded random head for `file=None`."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        head = AestheticHead(input_dim)
    if file is None:
        return head.eval(), PLACEHOLDER_WEIGHTS
    try:
        head.load_state_dict(torch.load(file, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, ValueError) as exc:
        raise GristmillError(f"could not load aesthetic head {file} (expects keys layers.0..7 for input size "
                             f"{input_dim}): {str(exc).strip().splitlines()[0][:300]}") from exc
    return head.eval(), f"{file.name}@{file_digest(file)[:12]}"


class AestheticScorer(OpenClipScorer):
    """LAION aesthetic predictor; see the module docstring."""

    name = "aesthetic"
    version = "1"

    def __init__(self, spec: ClipModelSpec = ClipModelSpec(), precision: str = "auto", checkpoint: str | None = None,
                 allow_random_head: bool = False):
        super().__init__(spec, precision)
        self.checkpoint = checkpoint
        self.allow_random_head = allow_random_head
        self.head: AestheticHead | None = None
        self._head_name = ""

    def check(self) -> None:
        head_file(self.checkpoint, self.allow_random_head)
        super().check()

    def load(self) -> None:
        """Load the CLIP model and the head once (GristmillError for missing or mismatched weights)."""
        if self.clip is None:
            head_file(self.checkpoint, self.allow_random_head)  # fails before CLIP loads
            super().load()

    def _loaded(self) -> None:
        self.head, self._head_name = load_head(head_file(self.checkpoint, self.allow_random_head),
                                               self.clip.embed_dim)

    @property
    def model_id(self) -> str | None:
        return f"{self.clip.model_id}+{self._head_name}" if self.clip else None

    def _score(self, samples: list[Sample]) -> list[dict]:
        means = self.embedder.sample_embeddings(samples)
        with torch.inference_mode():
            scores = self.head(means).squeeze(-1)
        return [{"aesthetic_score": float(v)} for v in scores]
