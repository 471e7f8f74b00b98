"""Scorers by name. Adding a scorer is adding one entry here (and its columns in `schemas.tables.SCORERS`).

Each factory imports its scorer when called, so the names and options here load without torch (the CLI
builds `gristmill score --help` from them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from pydantic import BaseModel, ConfigDict

from curation.errors import GristmillError

if TYPE_CHECKING:
    from curation.models import ClipModelSpec
    from curation.scorers.base import Scorer

DEFAULT_CAPTION_MODEL = "coca_ViT-L-14"
DEFAULT_CAPTION_PRETRAINED = "mscoco_finetuned_laion2b_s13b_b90k"
AESTHETIC_CLIP_MODEL = "ViT-L-14"  # the CLIP model under the published aesthetic head,
AESTHETIC_CLIP_PRETRAINED = "openai"  # and its weights

# The models of a job that may be allowed random weights, one by one (`--allow-random-weights NAME,...`).
RANDOM_WEIGHT_MODELS = {
    "clip": "the CLIP models of the clip and zeroshot scorers and under the aesthetic head (its own one too)",
    "aesthetic": "the aesthetic scorer's head (the MLP on CLIP embeddings)",
    "caption": "the caption scorer's CoCa model",
}


def random_weight_models(value: bool | str | Iterable[str] | None) -> tuple[str, ...]:
    """The sorted model names allowed random weights: True or "all" = every model, False/None = none, a
    comma-separated string or a list = those names (each a key of RANDOM_WEIGHT_MODELS, or "all")."""
    if value is None or value is False:
        return ()
    if value is True:
        return tuple(sorted(RANDOM_WEIGHT_MODELS))
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value) if n.strip()]
    unknown = [n for n in names if n != "all" and n not in RANDOM_WEIGHT_MODELS]
    if unknown or not names:
        raise GristmillError(
            f"--allow-random-weights takes model names, not {', '.join(map(repr, unknown)) or 'nothing'}; "
            f"choose from all, {', '.join(RANDOM_WEIGHT_MODELS)} (comma-separated) or give the flag alone for all")
    return tuple(sorted(RANDOM_WEIGHT_MODELS)) if "all" in names else tuple(sorted(set(names)))


class ScorerOptions(BaseModel):
    """Settings of single scorers: `zeroshot_prompts` (label -> (yes, no) prompts; None = the defaults),
    `aesthetic_checkpoint` (path of the LAION aesthetic head), the CLIP model under that head:
    `aesthetic_model` with `aesthetic_pretrained` (None = the job's model and weights), the caption scorer's CoCa model:
    `caption_model` with `caption_pretrained` (a pretrained tag or a local checkpoint path; None = no weights),
    and `random_weights`, the models of RANDOM_WEIGHT_MODELS besides "clip" that may run with random weights
    ("clip" itself travels in the CLIP model's spec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zeroshot_prompts: dict[str, list[str]] | None = None  # checked by the zeroshot scorer
    aesthetic_checkpoint: str | None = None
    aesthetic_model: str | None = None
    aesthetic_pretrained: str | None = None
    caption_model: str = DEFAULT_CAPTION_MODEL
    caption_pretrained: str | None = DEFAULT_CAPTION_PRETRAINED
    random_weights: tuple[str, ...] = ()


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

    return AestheticScorer(aesthetic_spec(model, options), precision, options.aesthetic_checkpoint,
                           "aesthetic" in options.random_weights)


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


def aesthetic_spec(model: ClipModelSpec, options: ScorerOptions) -> ClipModelSpec:
    """The CLIP model under the aesthetic head: `model`, or the options' `aesthetic_model` with
    `aesthetic_pretrained` on `model`'s device (random weights as for `model`: the "clip" name)."""
    if options.aesthetic_model is None:
        return model
    return model.model_copy(update={"model": options.aesthetic_model, "pretrained": options.aesthetic_pretrained})


def caption_spec(model: ClipModelSpec, options: ScorerOptions) -> ClipModelSpec:
    """The captioner's model: the caption options' model and weights on `model`'s device, random weights only
    when "caption" is in the options' `random_weights`."""
    return model.model_copy(update={"model": options.caption_model, "pretrained": options.caption_pretrained,
                                    "allow_random_weights": "caption" in options.random_weights})


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
