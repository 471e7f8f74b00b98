"""Scorers by name. Adding a scorer is adding one entry here (and its columns in `schemas.tables.SCORERS`)."""
from typing import Callable

from pydantic import BaseModel, ConfigDict

from curation.errors import GristmillError
from curation.models import ClipModelSpec
from curation.scorers.aesthetic import AestheticScorer
from curation.scorers.base import Scorer
from curation.scorers.basic import BasicScorer
from curation.scorers.clip import ClipScorer
from curation.scorers.ocr import OcrScorer
from curation.scorers.text import TextScorer
from curation.scorers.zeroshot import ZeroShotScorer


class ScorerOptions(BaseModel):
    """Settings of single scorers: `zeroshot_prompts` (label -> (yes, no) prompts; None = the defaults) and
    `aesthetic_checkpoint` (path of the LAION aesthetic head)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    zeroshot_prompts: dict[str, list[str]] | None = None  # checked by the zeroshot scorer
    aesthetic_checkpoint: str | None = None


# name -> factory(model spec, precision, options); scorers ignore what they do not use.
FACTORIES: dict[str, Callable[[ClipModelSpec, str, ScorerOptions], Scorer]] = {
    "basic": lambda model, precision, options: BasicScorer(),
    "text": lambda model, precision, options: TextScorer(),
    "clip": lambda model, precision, options: ClipScorer(model, precision),
    "ocr": lambda model, precision, options: OcrScorer(),
    "zeroshot": lambda model, precision, options: ZeroShotScorer(model, precision, options.zeroshot_prompts),
    "aesthetic": lambda model, precision, options: AestheticScorer(model, precision, options.aesthetic_checkpoint),
}


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
