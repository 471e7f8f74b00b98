"""Scorers by name. Adding a scorer is adding one entry here (and its columns in `schemas.tables.SCORERS`).

Each factory imports its scorer when called, so the names and options here load without torch (the CLI
builds `gristmill score --help` from them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pydantic import BaseModel, ConfigDict

from curation.errors import GristmillError

if TYPE_CHECKING:
    from curation.models import ClipModelSpec
    from curation.scorers.base import Scorer

DEFAULT_CAPTION_MODEL = "coca_ViT-L-14"
DEFAULT_CAPTION_PRETRAINED = "mscoco_finetuned_laion2b_s13b_b90k"


class ScorerOptions(BaseModel):
    """Settings of single scorers: `zeroshot_prompts` (label -> (yes, no) prompts; None = the defaults),
    `aesthetic_checkpoint` (path of the LAION aesthetic head), and the caption scorer's CoCa model:
    `caption_model` with `caption_pretrained` (a pretrained tag or a local checkpoint path; None = no weights)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zeroshot_prompts: dict[str, list[str]] | None = None  # checked by the zeroshot scorer
    aesthetic_checkpoint: str | None = None
    caption_model: str = DEFAULT_CAPTION_MODEL
    caption_pretrained: str | None = DEFAULT_CAPTION_PRETRAINED


def _basic(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.basic import BasicScorer

    return BasicScorer()


def _text(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.text import TextScorer

    return TextScorer()


def _clip(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.clip import ClipScorer

    return ClipScorer(model, precision)


def _ocr(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.ocr import OcrScorer

    return OcrScorer()


def _zeroshot(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.zeroshot import ZeroShotScorer

    return ZeroShotScorer(model, precision, options.zeroshot_prompts)


def _aesthetic(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.aesthetic import AestheticScorer

    return AestheticScorer(model, precision, options.aesthetic_checkpoint)


def _caption(model: ClipModelSpec, precision: str, options: ScorerOptions) -> Scorer:
    from curation.scorers.caption import CaptionScorer
    from curation.scorers.captioners import CocaCaptioner

    return CaptionScorer(CocaCaptioner(caption_spec(model, options), precision))


# name -> factory(model spec, precision, options); scorers ignore what they do not use.
FACTORIES: dict[str, Callable[[ClipModelSpec, str, ScorerOptions], Scorer]] = {
    "basic": _basic,
    "text": _text,
    "clip": _clip,
    "ocr": _ocr,
    "zeroshot": _zeroshot,
    "aesthetic": _aesthetic,
    "caption": _caption,
}


def caption_spec(model: ClipModelSpec, options: ScorerOptions) -> ClipModelSpec:
    """The captioner's model: the caption options' model and weights, on `model`'s device and weights policy."""
    return model.model_copy(update={"model": options.caption_model, "pretrained": options.caption_pretrained})


def available_scorers() -> list[str]:
    """Names of the registered scorers."""
    return sorted(FACTORIES)


def build_scorers(names: list[str], model: ClipModelSpec, precision: str = "auto",
                  options: ScorerOptions = ScorerOptions()) -> list[Scorer]:
    """Scorer objects for `names` (not loaded yet), refusing unknown and duplicate names."""
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise GristmillError(
            f"unknown scorer(s) {', '.join(map(repr, unknown))}; available: {', '.join(available_scorers())}"
        )
    if len(set(names)) != len(names) or not names:
        raise GristmillError(f"give each scorer once (got {names!r}); available: {', '.join(available_scorers())}")
    return [FACTORIES[n](model, precision, options) for n in names]
