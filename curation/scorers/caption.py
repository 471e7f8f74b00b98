"""`caption`: a generated caption for every image, stored beside the original alt-text, never replacing it.

The caption comes from a `Captioner` (`curation.scorers.captioners`): by default open_clip's CoCa
`coca_ViT-L-14` with `mscoco_finetuned_laion2b_s13b_b90k` weights, decoded greedily so that a rerun writes
the same captions. A video or clip is captioned from its middle keyframe. The row holds the caption, its
length in tokens and whether the length limit cut it; `model_id` names the captioner's model and weights
(PLACEHOLDER for random weights). The sample's own `caption` is not touched: review and export show the
generated one next to it.
"""
from functools import partial
from typing import Any, Callable

from PIL import Image

from curation.scorers.base import Sample, Scorer
from curation.scorers.captioners import Captioner


def middle_frame(sample: Sample, prepare: Callable[[Image.Image], Any]) -> Any:
    """`prepare` applied to the sample's middle frame (the image itself for an image)."""
    return prepare(sample.frames[len(sample.frames) // 2])


class CaptionScorer(Scorer):
    """Captions from a captioner; see the module docstring."""

    name = "caption"
    version = "1"
    needs_frames = True
    runs_on_device = True

    def __init__(self, captioner: Captioner):
        self.captioner = captioner

    def check(self) -> None:
        self.captioner.check()

    def load(self) -> None:
        self.captioner.load()

    @property
    def model_id(self) -> str | None:
        return self.captioner.model_id

    def preparer(self):
        return partial(middle_frame, prepare=self.captioner.preparer())

    def picture_need(self):
        return self.captioner.picture_need()

    def _score(self, samples: list[Sample]) -> list[dict]:
        captions = self.captioner.caption([s.prepared[self.name] for s in samples])
        return [{"generated_caption": c.text, "n_tokens": c.n_tokens, "truncated": c.truncated} for c in captions]
