"""Scorers by name. Adding a scorer is adding one entry here (and its columns in `schemas.tables.SCORERS`)."""
from typing import Callable

from curation.errors import GristmillError
from curation.models import ClipModelSpec
from curation.scorers.base import Scorer
from curation.scorers.basic import BasicScorer
from curation.scorers.clip import ClipScorer
from curation.scorers.text import TextScorer

# name -> factory(model spec, precision); model-free scorers ignore both.
FACTORIES: dict[str, Callable[[ClipModelSpec, str], Scorer]] = {
    "basic": lambda model, precision: BasicScorer(),
    "text": lambda model, precision: TextScorer(),
    "clip": lambda model, precision: ClipScorer(model, precision),
}


def available_scorers() -> list[str]:
    """Names of the registered scorers."""
    return sorted(FACTORIES)


def build_scorers(names: list[str], model: ClipModelSpec, precision: str = "auto") -> list[Scorer]:
    """Scorer objects for `names` (not loaded yet), refusing unknown and duplicate names."""
    unknown = [n for n in names if n not in FACTORIES]
    if unknown:
        raise GristmillError(
            f"unknown scorer(s) {', '.join(map(repr, unknown))}; available: {', '.join(available_scorers())}"
        )
    if len(set(names)) != len(names) or not names:
        raise GristmillError(f"give each scorer once (got {names!r}); available: {', '.join(available_scorers())}")
    return [FACTORIES[n](model, precision) for n in names]
