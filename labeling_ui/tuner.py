"""Threshold tuning: live kept/dropped counts for score filters, and saving them as a recipe.

`build` copies the chosen score columns of every crawled sample into the in-memory table `ui.tuner`
once; a slider move then only counts over that table (tens of ms on 1M samples). A sample whose value is
null fails its filter, as in a recipe's `filter` step.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from curation.atomic import write_bytes
from curation.catalog import Catalog
from curation.recipes.compile import declared_models
from curation.recipes.model import parse_recipe
from curation.sql import quote_identifier
from curation.workspace import Workspace
from labeling_ui.queues import column_sql, score_columns

RECIPES = "recipes"


@dataclass(frozen=True)
class Threshold:
    """Keep samples whose `column` is at least (`op` "min") or at most (`op` "max") `value`."""

    column: str
    op: str
    value: float

    def passes(self) -> str:
        """SQL condition over ui.tuner."""
        return f"{quote_identifier(self.column)} {'>=' if self.op == 'min' else '<='} {float(self.value)!r}"


def build(catalog: Catalog, columns: list[str]) -> None:
    """Materialise sample_id and `columns` ("view.column") of every crawled sample into ui.tuner."""
    known = score_columns(catalog)
    select = ", ".join(f"{column_sql(c, known)} AS {quote_identifier(c)}" for c in columns)
    views = sorted({c.split('.')[0] for c in columns})
    joins = "".join(f" LEFT JOIN {quote_identifier(v)} USING (sample_id)" for v in views)
    catalog.con.execute("CREATE SCHEMA IF NOT EXISTS ui").fetchall()
    catalog.con.execute(f"CREATE OR REPLACE TABLE ui.tuner AS SELECT sample_id, {select} FROM samples{joins} "
                        "WHERE samples.status = 'success'").fetchall()


def ranges(catalog: Catalog, columns: list[str]) -> dict[str, tuple[float, float]]:
    """(min, max) of each column in ui.tuner; (0, 0) for a column without values."""
    parts = ", ".join(f"min({quote_identifier(c)}) AS {quote_identifier(c + ':lo')}, "
                      f"max({quote_identifier(c)}) AS {quote_identifier(c + ':hi')}" for c in columns)
    row = catalog.query(f"SELECT {parts} FROM ui.tuner").to_pylist()[0]
    return {c: (float(row[c + ":lo"] or 0), float(row[c + ":hi"] or 0)) for c in columns}


def counts(catalog: Catalog, thresholds: list[Threshold]) -> dict:
    """Samples in total, kept by all thresholds, and per threshold: failing it, and failing only it."""
    parts = ["count(*) AS total"]
    if thresholds:
        parts.append(f"count(*) FILTER (WHERE {' AND '.join(t.passes() for t in thresholds)}) AS kept")
    for i, t in enumerate(thresholds):
        others = [o.passes() for j, o in enumerate(thresholds) if j != i]
        parts.append(f"count(*) FILTER (WHERE ({t.passes()}) IS NOT TRUE) AS fail_{i}")
        only = " AND ".join(others) or "true"
        parts.append(f"count(*) FILTER (WHERE ({t.passes()}) IS NOT TRUE AND {only}) AS only_{i}")
    row = catalog.query(f"SELECT {', '.join(parts)} FROM ui.tuner").to_pylist()[0]
    return {"total": row["total"], "kept": row.get("kept", row["total"]),
            "filters": [{"column": t.column, "op": t.op, "value": t.value, "dropped": row[f"fail_{i}"],
                         "dropped_only_by_this": row[f"only_{i}"]} for i, t in enumerate(thresholds)]}


def near(catalog: Catalog, t: Threshold, k: int = 4) -> tuple[list[dict], list[dict]]:
    """The `k` samples just passing and just failing `t` (closest to the threshold first), with media columns."""
    col = quote_identifier(t.column)
    passing, failing = (">=", "<") if t.op == "min" else ("<=", ">")
    out = []
    for cmp in (passing, failing):
        out.append(catalog.query(
            f"WITH n AS (SELECT sample_id, {col} AS value FROM ui.tuner WHERE {col} {cmp} ? "
            f"ORDER BY abs({col} - ?), sample_id LIMIT {int(k)}) "
            "SELECT n.value, s.sample_id, s.caption, s.media_type, s.media_path, s.media_offset, s.media_size "
            "FROM n JOIN samples s USING (sample_id) ORDER BY abs(n.value - ?), s.sample_id",
            [t.value, t.value, t.value]).to_pylist())
    return out[0], out[1]


def recipe_mapping(name: str, thresholds: list[Threshold], models: dict[str, str]) -> dict:
    """A recipe (as its YAML mapping) with one `filter` step per threshold, declaring the `models` the thresholds
    were set on (see curation/recipes/model.py), validated by the recipe parser."""
    raw = {"name": name, "description": "thresholds set in the threshold tuner of `gristmill review`",
           **({"models": models} if models else {}),
           "steps": [{"filter": {"column": t.column, t.op: float(t.value)}} for t in thresholds]}
    parse_recipe(raw, f"recipe {name!r}")
    return raw


def save_recipe(workspace: Workspace, name: str, thresholds: list[Threshold]) -> Path:
    """Write the thresholds as `<workspace>/recipes/<name>.yaml` (run it with `gristmill curate`); thresholds on
    model scores declare the model of this workspace's scores."""
    catalog = Catalog(workspace)
    try:
        models = declared_models(catalog, [t.column for t in thresholds])
    finally:
        catalog.close()
    raw = recipe_mapping(name, thresholds, models)
    path = workspace.path(RECIPES, f"{name}.yaml")
    write_bytes(yaml.safe_dump(raw, sort_keys=False, allow_unicode=True).encode(), path)
    return path
