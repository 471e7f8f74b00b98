"""Which scores came from random (placeholder) weights: any score row whose `model_id` holds PLACEHOLDER_MARK.

Scorers loaded with `allow_random_weights` and no real weights put the mark in `model_id`
(`curation.models.PLACEHOLDER_WEIGHTS`); the CLI warns about such views and export records them in the manifest.
"""
from curation.sql import quote_identifier

PLACEHOLDER_MARK = "PLACEHOLDER"


def placeholder_scorers(catalog) -> list[str]:
    """Scorer views of `catalog` holding any score computed with random (placeholder) weights."""
    found = []
    for view, columns in catalog.score_views().items():
        if "model_id" in dict(columns):
            n = catalog.query(f"SELECT count(*) AS n FROM {quote_identifier(view)} WHERE model_id LIKE ?",
                              [f"%{PLACEHOLDER_MARK}%"])
            if n.column("n")[0].as_py():
                found.append(view)
    return found
