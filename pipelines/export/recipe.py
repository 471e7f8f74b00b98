"""`export --recipe`: curate with a recipe now and export exactly its decisions.

The recipe runs through the curation engine as `gristmill curate` runs it, so it writes
decisions/<recipe>-<hash12>.parquet and reports/funnel/<same stem>/ into the workspace: the release can be
rebuilt later with `--decisions`, and lineage and `export diff` see an ordinary decisions file.
decisions/CURRENT (what the review app, `stats` and a plain `export` follow) is left pointing where it was.
The curation engine (and its plotting and dedup dependencies) is imported only when a recipe is used.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from curation.workspace import Workspace

if TYPE_CHECKING:
    from curation.recipes.model import Recipe


@dataclass(frozen=True)
class RecipeSource:
    """A validated recipe and the YAML text it was read from."""

    recipe: Recipe
    text: str

    def describe(self) -> dict:
        """What the manifest records: name, hash (of the recipe's behaviour) and the YAML text."""
        return {"name": self.recipe.name, "hash": self.recipe.hash, "text": self.text}


def load(name_or_path: str) -> RecipeSource:
    """Load and validate a recipe as `gristmill curate` does (built-in name or YAML file); RecipeError if bad."""
    from curation.curate import load_recipe, recipe_path

    return RecipeSource(load_recipe(name_or_path), recipe_path(name_or_path).read_text())


def decide(workspace: Workspace, source: RecipeSource) -> Path:
    """Run the recipe over the workspace and return the decisions file it wrote; decisions/CURRENT is kept."""
    from curation.curate import curate

    return curate(workspace, source.recipe, point_current=False).decisions_path
