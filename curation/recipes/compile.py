"""Compile recipe steps to DuckDB SQL over the catalog.

The engine works on one temporary table in the catalog's connection:
    _base(sample_id, status, shard, ok, c0, ..., mask, duplicate_of, human)
        one row per sample (curate.py deletes the rows of a sample crawled twice that do not count, see
        `curation.sample_rows`): `ok` is a successful crawl, c<i> the recipe's columns (of the score rows
        its `versions` picks), `mask` has bit i set when reason id i applies, `duplicate_of` the
        representative the first dedup step that flags the row kept, `human` the review decision that
        overrides the recipe (set by curate.py)
Its `rowid` is the row key of the engine's small helper tables (rows never move; the order means nothing).
Reasons are small integer ids (`Reasons`) numbered in step order, so the lowest bit is the first reason.
`base_sql` creates `_base` with one pass over the catalog, judging every row-local condition at once:
filter and caption steps and the `missing:<column>` of every step except semantic dedup. Steps that rank
or group (top_fraction, top_k, dedup) then run in order, each reading which rows are alive before it from
`mask` and OR-ing its bit into the rows it drops (`UPDATE _base`). Failed crawls keep mask 0.
`check_versions` refuses, before anything runs, scorer views that mix versions or come from another model
than the recipe declares.

Column names reach SQL only after they were checked against the catalog, and then quoted; every value
from a recipe (thresholds, lists, regexes, reason strings, JSON keys) is a bound `$p<n>` parameter.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.placeholders import PLACEHOLDER_MARK
from curation.recipes.model import (
    CaptionStep,
    DedupStep,
    MODEL_SCORES,
    FilterStep,
    PerceptualDedup,
    Recipe,
    RecipeError,
    SemanticDedup,
    TopFractionStep,
    TopKStep,
    VersionPick,
)
from curation.sql import quote_identifier

EXTRA = "extra"
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL", "REAL")


@dataclass(frozen=True)
class Column:
    """A recipe column reference resolved against the catalog."""

    ref: str  # as written in the recipe, e.g. "clip.clip_score"
    view: str  # "clip", "samples", "extra" or "embeddings"
    name: str  # column in the view, or the JSON key for extra.<key>
    sql_type: str  # DuckDB type, e.g. "DOUBLE"
    alias: str  # its column in _base, e.g. "c2"

    @property
    def numeric(self) -> bool:
        return self.sql_type.startswith(_NUMERIC)


class Params:
    """Collects bound parameters; calling it with a value returns the placeholder to put in the SQL."""

    def __init__(self):
        self.values: dict[str, object] = {}

    def __call__(self, value) -> str:
        name = f"p{len(self.values)}"
        self.values[name] = value
        return f"${name}"


class Reasons:
    """The reason strings a recipe can emit, by integer id in step order (so sorting ids sorts by step).

    A reason used by several steps (`missing:<column>`) keeps the id of its first step. Ids are bits of
    `_base.mask`, a 64-bit integer, hence at most 64 reasons.
    """

    def __init__(self, recipe: Recipe):
        self.names: list[str] = []
        self.steps: list[int] = []
        for i, step in enumerate(recipe.steps, 1):
            for reason in (f"missing:{step.column}", step.reason):
                if reason not in self.names:
                    self.names.append(reason)
                    self.steps.append(i)
        if len(self.names) > 64:
            raise RecipeError(f"recipe {recipe.name!r} has {len(self.names)} distinct reasons; at most 64 are "
                              "supported (split it into two recipes)")

    def id(self, reason: str) -> int:
        return self.names.index(reason)

    def bit(self, reason: str) -> int:
        """The mask bit of a reason."""
        return 1 << self.id(reason)

    def of(self, step) -> tuple[int, int]:
        """(drop bit, missing-value bit) of a step."""
        return self.bit(step.reason), self.bit(f"missing:{step.column}")

    def before(self, step_number: int) -> int:
        """The bits of every reason of the steps before step `step_number` (1-based): alive rows have none."""
        return sum(1 << b for b, s in enumerate(self.steps) if s < step_number)


def resolve(recipe: Recipe, catalog: Catalog) -> dict[str, Column]:
    """Check every column of the recipe against the catalog; raise RecipeError listing all problems."""
    types = recipe_columns(catalog)
    columns: dict[str, Column] = {}
    problems: list[str] = []
    for ref in recipe.columns():
        col = _resolve_ref(ref, types, len(columns), problems)
        if col:
            columns[ref] = col
    if not problems:
        for i, step in enumerate(recipe.steps, 1):
            problems += [f"step {i} ({step.reason}): {p}" for p in _check_step(step, columns, catalog)]
    if problems:
        raise _unfit(recipe, problems)
    return columns


def _unfit(recipe: Recipe, problems: list[str]) -> RecipeError:
    return RecipeError(f"recipe {recipe.name!r} does not fit this workspace:\n  - " + "\n  - ".join(problems))


def check_versions(recipe: Recipe, catalog: Catalog) -> dict[str, list[dict]]:
    """The (scorer_version, model_id) pairs the recipe reads of each scorer view, with their row counts.

    Raise RecipeError listing every view that mixes several (after the recipe's `versions` pick), a pick that
    matches no row, and a view whose model is not the one the recipe's `models` declares for it.
    """
    chosen: dict[str, list[dict]] = {}
    problems: list[str] = []
    for view in recipe.score_views():
        found = [{"scorer_version": v, "model_id": m, "rows": n} for v, m, n in catalog.con.execute(
            f"SELECT scorer_version, model_id, count(*) FROM {quote_identifier(view)} GROUP BY ALL ORDER BY ALL"
        ).fetchall()]
        pick = recipe.versions.get(view)
        chosen[view] = [f for f in found if pick is None or pick.matches(f["scorer_version"], f["model_id"])]
        problems += _version_problems(view, pick, found, chosen[view], recipe.models.get(view))
    if problems:
        raise _unfit(recipe, problems)
    return chosen


def _version_problems(view: str, pick: VersionPick | None, found: list[dict], chosen: list[dict],
                      model: str | None) -> list[str]:
    held = "; ".join(f"scorer_version {f['scorer_version']!r}, model_id {f['model_id']!r} ({f['rows']:,} rows)"
                     for f in found)
    if pick is not None and not chosen:
        return [f"versions: {view} has no rows of {pick.model_dump(exclude_none=True)}; it holds {held or 'none'}"]
    if len(chosen) > 1:
        return [f"{view} holds scores of {len(chosen)} scorer versions or models: {held}; re-score so that one "
                f"remains, or pick one with versions: {{{view}: {{scorer_version: ..., model_id: ...}}}}"]
    if model is not None and chosen and chosen[0]["model_id"] != model:
        actual = chosen[0]["model_id"]
        weights = " (random weights: its scores mean nothing)" if PLACEHOLDER_MARK in str(actual) else ""
        return [f"the recipe's thresholds on {view} were set on model {model!r} (models: {view}), but this "
                f"workspace's {view} scores come from {actual!r}{weights}; score with {model}, or set thresholds "
                f"for {actual} and declare it, or rank with top_fraction/top_k instead"]
    return []


def declared_models(catalog: Catalog, refs: list[str]) -> dict[str, str]:
    """The `models` a recipe with thresholds on the columns `refs`, set on this catalog's scores, declares: the
    one model_id of each view of a model score (MODEL_SCORES) among them. RecipeError when a view has several
    or none."""
    declared = {}
    for view in sorted({ref.partition(".")[0] for ref in refs if ref in MODEL_SCORES}):
        models = [m for (m,) in catalog.con.execute(
            f"SELECT DISTINCT model_id FROM {quote_identifier(view)} WHERE model_id IS NOT NULL ORDER BY 1").fetchall()]
        if len(models) != 1:
            raise RecipeError(f"thresholds on {view} scores hold for the model they were set on, and this workspace's "
                              f"{view} scores come from {', '.join(models) or 'no model'}; re-score so that one "
                              "remains, or write the recipe by hand with versions: and models:")
        declared[view] = models[0]
    return declared


def score_rows_sql(recipe: Recipe, view: str, names: str, params: Params) -> str:
    """SELECT sample_id and `names` (quoted, comma-separated) of the rows of scorer `view` the recipe reads."""
    pick = recipe.versions.get(view)
    where = [f"{quote_identifier(key)} = {params(value)}"
             for key, value in (pick.model_dump(exclude_none=True) if pick else {}).items()]
    return (f"SELECT sample_id, {names} FROM {quote_identifier(view)}"
            + (f" WHERE {' AND '.join(where)}" if where else ""))


def recipe_columns(catalog: Catalog) -> dict[str, dict[str, str]]:
    """column -> DuckDB type of every view a recipe may name: samples, the scorer views, and embeddings (for
    semantic dedup only). Decisions, reviews and review_state are outcomes, not inputs of a recipe."""
    views = catalog.column_types()
    usable = ["samples", "embeddings", *catalog.score_views()]
    return {view: dict(views[view]) for view in usable}


def _resolve_ref(ref: str, types: dict[str, dict[str, str]], index: int, problems: list[str]) -> Column | None:
    alias = f"c{index}"
    view, dot, name = ref.partition(".")
    if not dot or not name:
        owners = [f"{v}.{ref}" for v in sorted(types) if ref in types[v]]
        hint = f"did you mean {' or '.join(owners)}?" if owners else "write it as view.column, e.g. clip.clip_score"
        problems.append(f"column {ref!r} has no view; {hint}")
        return None
    if view == EXTRA:
        return Column(ref, EXTRA, name, "VARCHAR", alias)
    valid_views = sorted(v for v in types if v != "embeddings") + [f"{EXTRA}.<key>"]
    if view not in types:
        problems.append(f"unknown scorer or view {view!r} in {ref!r}; valid: {', '.join(valid_views)}")
        return None
    if name not in types[view]:
        problems.append(f"{view} has no column {name!r} (in {ref!r}); valid columns: {', '.join(types[view])}")
        return None
    return Column(ref, view, name, types[view][name], alias)


def _check_step(step, columns: dict[str, Column], catalog: Catalog) -> list[str]:
    """Type checks of one step against the resolved columns."""
    problems = []
    col = columns[step.column]
    if col.view == "embeddings" and not isinstance(step, SemanticDedup):
        return [f"{col.ref} can only be used by semantic dedup"]
    if isinstance(step, FilterStep):
        problems += _check_filter(step, col)
    elif isinstance(step, CaptionStep):
        if col.sql_type != "VARCHAR":
            problems.append(f"caption column {col.ref} is {col.sql_type}, not text")
        for regex in (step.matches, step.not_matches):
            if regex is not None:
                try:
                    catalog.con.execute("SELECT regexp_matches('', $p)", {"p": regex})
                except duckdb.Error as exc:
                    problems.append(f"invalid regular expression {regex!r}: {exc}")
    elif isinstance(step, (TopFractionStep, TopKStep)):
        if not col.numeric:
            problems.append(f"{col.ref} is {col.sql_type}; ranking needs a numeric column")
    elif isinstance(step, SemanticDedup):
        if col.view != "embeddings" or not col.name.endswith("_embedding"):
            problems.append(f"semantic dedup needs embeddings.image_embedding or embeddings.text_embedding, "
                            f"not {col.ref}")
        try:
            embedding_model(step, catalog)
        except RecipeError as exc:
            problems.append(str(exc))
    elif isinstance(step, PerceptualDedup) and col.sql_type != "VARCHAR":
        problems.append(f"perceptual dedup needs a hex hash column, {col.ref} is {col.sql_type}")
    keep = getattr(step, "keep", None)
    if keep and not (columns[keep.column].numeric or columns[keep.column].sql_type == "BOOLEAN"):
        problems.append(f"keep column {keep.column} is {columns[keep.column].sql_type}; it must be numeric")
    return problems


def _check_filter(step: FilterStep, col: Column) -> list[str]:
    problems = []
    if (step.min is not None or step.max is not None) and not col.numeric:
        problems.append(f"min/max need a numeric column; {col.ref} is {col.sql_type}"
                        + (" (use equals: true/false)" if col.sql_type == "BOOLEAN" else ""))
    values = [step.equals] if step.equals is not None else (step.in_ or []) + (step.not_in or [])
    for value in values:
        if col.sql_type == "BOOLEAN":
            ok = isinstance(value, bool)
        elif col.numeric:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        else:
            ok = isinstance(value, str)
        if not ok:
            problems.append(f"value {value!r} does not fit {col.ref} ({col.sql_type})")
    return problems


def base_sql(recipe: Recipe, columns: dict[str, Column], reasons: Reasons, params: Params) -> str:
    """CREATE `_base`: every row of `samples` with the recipe's columns joined by sample_id and its row-local
    mask."""
    selects = ["s.sample_id", "s.status", "s.shard", "coalesce(s.status = 'success', false) AS ok"]
    joins = []
    views: dict[str, str] = {}
    for col in columns.values():
        if col.view == "embeddings":
            continue
        if col.view == EXTRA:
            path = '$."' + col.name.replace("\\", "\\\\").replace('"', '\\"') + '"'
            expr = f"json_extract_string(s.extra, {params(path)})"
        elif col.view == "samples":
            expr = f"s.{quote_identifier(col.name)}"
        else:
            views.setdefault(col.view, f"j{len(views)}")
            expr = f"{views[col.view]}.{quote_identifier(col.name)}"
        selects.append(f"{expr} AS {col.alias}")
    for view, j in views.items():
        names = ", ".join(quote_identifier(c.name) for c in columns.values() if c.view == view)
        joins.append(f"LEFT JOIN ({score_rows_sql(recipe, view, names, params)}) AS {j} ON {j}.sample_id = s.sample_id")
    bits = [_local_bits(step, reasons, columns[step.column], params) for step in recipe.steps
            if columns[step.column].view != "embeddings"]
    mask = f"CASE WHEN ok THEN {' | '.join(bits)} ELSE {_bits(0)} END" if bits else _bits(0)
    return (f"CREATE OR REPLACE TEMP TABLE _base AS SELECT *, {mask} AS mask, CAST(NULL AS VARCHAR) AS duplicate_of, "
            f"CAST(NULL AS VARCHAR) AS human "
            f"FROM (SELECT {', '.join(selects)} FROM samples AS s {' '.join(joins)})")


def _bits(value: int) -> str:
    return f"CAST({value} AS UBIGINT)"


def _local_bits(step, reasons: Reasons, col: Column, params: Params) -> str:
    """The bits a step sets on its own row: missing value, and for filter/caption steps a failed condition."""
    drop, missing = reasons.of(step)
    if isinstance(step, CaptionStep):
        failed = f"WHEN NOT ({_caption_condition(step, col.alias, params)}) THEN {_bits(drop)} "
    elif isinstance(step, FilterStep):
        failed = f"WHEN NOT ({_filter_condition(step, col.alias, params)}) THEN {_bits(drop)} "
    else:
        failed = ""
    return f"(CASE WHEN {col.alias} IS NULL THEN {_bits(missing)} {failed}ELSE {_bits(0)} END)"


def _filter_condition(step: FilterStep, c: str, p: Params) -> str:
    conds = []
    if step.min is not None:
        conds.append(f"{c} >= {p(step.min)}")
    if step.max is not None:
        conds.append(f"{c} <= {p(step.max)}")
    if step.equals is not None:
        conds.append(f"{c} = {p(step.equals)}")
    if step.in_ is not None:
        conds.append(f"{c} IN ({', '.join(p(v) for v in step.in_)})")
    if step.not_in is not None:
        conds.append(f"{c} NOT IN ({', '.join(p(v) for v in step.not_in)})")
    return " AND ".join(conds) or "TRUE"


def _caption_condition(step: CaptionStep, c: str, p: Params) -> str:
    words = f"len(regexp_extract_all({c}, '\\S+'))"
    conds = []
    for bound, op, expr in ((step.min_words, ">=", words), (step.max_words, "<=", words),
                            (step.min_chars, ">=", f"length({c})"), (step.max_chars, "<=", f"length({c})")):
        if bound is not None:
            conds.append(f"{expr} {op} {p(bound)}")
    if step.matches is not None:
        conds.append(f"regexp_matches({c}, {p(step.matches)})")
    if step.not_matches is not None:
        conds.append(f"NOT regexp_matches({c}, {p(step.not_matches)})")
    return " AND ".join(conds)


def alive(before: int) -> str:
    """SQL condition on `_base`: crawled and dropped by none of the reasons in `before` (a bit mask)."""
    return f"ok AND (mask & {_bits(before)}) = 0"


def mark_sql(bit: int, where: str) -> str:
    """OR `bit` into the mask of the `_base` rows matching `where`."""
    return f"UPDATE _base SET mask = mask | {_bits(bit)} WHERE {where}"


def _n_keep(step: TopFractionStep | TopKStep, params: Params) -> str:
    """SQL of how many of `n` ranked rows a top_fraction / top_k step keeps."""
    if isinstance(step, TopFractionStep):
        return f"CAST(ceil(round({params(step.fraction)} * n, 9)) AS BIGINT)"
    return f"least({params(step.k)}, n)"


def top_keep_sql(step: TopFractionStep | TopKStep, before: int, col: Column, params: Params) -> str:
    """SELECT how many rows a top step without `by` keeps of those alive before it with a value."""
    return (f"SELECT {_n_keep(step, params)} FROM "
            f"(SELECT count(*) AS n FROM _base WHERE {alive(before)} AND {col.alias} IS NOT NULL)")


def top_cutoff_sql(step: TopFractionStep | TopKStep, before: int, col: Column, by: Column | None,
                   params: Params, keep: int | None = None) -> str:
    """CREATE `_cutoff(g, cut_v, cut_id)`: per group, the last row a top_fraction / top_k step keeps.

    Among rows alive before the step with a value, rank by (value, sample_id) per `by` group and keep the
    first ceil(fraction * n) (or k). Without `by`, `keep` is that count (from `top_keep_sql`, at least 1)
    and one sort finds the cutoff; with `by`, a window ranks every group, and a group that keeps no row
    has no cutoff (everyone in it is kept).
    """
    v = col.alias
    direction = "DESC" if step.order == "desc" else "ASC"
    alive_rows = f"FROM _base WHERE {alive(before)} AND {v} IS NOT NULL"
    if by is None:
        return (f"CREATE OR REPLACE TEMP TABLE _cutoff AS SELECT NULL AS g, {v} AS cut_v, sample_id AS cut_id "
                f"{alive_rows} ORDER BY {v} {direction}, sample_id LIMIT 1 OFFSET {params(keep - 1)}")
    return f"""
        CREATE OR REPLACE TEMP TABLE _cutoff AS
        SELECT g, v AS cut_v, sample_id AS cut_id FROM (
            SELECT {by.alias} AS g, {v} AS v, sample_id,
                   row_number() OVER (PARTITION BY {by.alias} ORDER BY {v} {direction}, sample_id) AS rank,
                   count(*) OVER (PARTITION BY {by.alias}) AS n
            {alive_rows})
        WHERE rank = {_n_keep(step, params)}"""


def top_drop_sql(step: TopFractionStep | TopKStep, bit: int, col: Column, by: Column | None) -> str:
    """Mark every crawled row ranked after its group's cutoff (rows dropped earlier are judged too)."""
    v = col.alias
    worse = "<" if step.order == "desc" else ">"
    same_group = f"{by.alias} IS NOT DISTINCT FROM c.g" if by else "TRUE"
    return (f"UPDATE _base SET mask = mask | {_bits(bit)} FROM _cutoff AS c WHERE ok AND {same_group} AND "
            f"({v} {worse} c.cut_v OR ({v} = c.cut_v AND sample_id > c.cut_id))")


def representative_order(step: DedupStep, before: int, keep: Column | None, prefix: str = "") -> str:
    """ORDER BY of a dedup step's candidate representatives, best first: alive before the step, best `keep`
    value (nulls last), smallest sample_id. `prefix` qualifies `_base`'s columns (e.g. "b.")."""
    order = [f"(({prefix}mask & {_bits(before)}) = 0) DESC"]
    if keep is not None:
        order.append(f"{prefix}{keep.alias} {'DESC' if step.keep.order == 'desc' else 'ASC'} NULLS LAST")
    order.append(f"{prefix}sample_id")
    return ", ".join(order)


def exact_dedup_sql(step: DedupStep, bit: int, before: int, col: Column, keep: Column | None) -> str:
    """Mark every crawled row whose `col` value a representative has, and record the representative.

    The representative of a value is its first row in `representative_order`, when that row is alive before
    the step; a value that only dropped rows have has none, and drops nothing.
    """
    c = col.alias
    values = (f"SELECT {c} FROM _base WHERE ok AND {c} IS NOT NULL GROUP BY {c} "
              f"HAVING count(*) > 1 AND bool_or((mask & {_bits(before)}) = 0)")
    duplicates = f"""
        SELECT rid, rep FROM (
            SELECT rowid AS rid, first_value(sample_id) OVER w AS rep, row_number() OVER w AS rank
            FROM _base WHERE ok AND {c} IN ({values})
            WINDOW w AS (PARTITION BY {c} ORDER BY {representative_order(step, before, keep)}))
        WHERE rank > 1"""
    return mark_duplicates_sql(bit, duplicates)


def dedup_rows_sql(step: DedupStep, before: int, keep: Column | None, value: str, join: str = "") -> str:
    """SELECT rid, sample_id, alive and `value` AS v of the crawled rows (`_base AS b`, plus `join`) with a
    value, in `representative_order`: the rows alive before the step come first."""
    return (f"SELECT b.rowid AS rid, b.sample_id, (b.mask & {_bits(before)}) = 0 AS alive, {value} AS v "
            f"FROM _base AS b {join} WHERE b.ok AND {value} IS NOT NULL "
            f"ORDER BY {representative_order(step, before, keep, 'b.')}")


def mark_duplicates_sql(bit: int, duplicates: str) -> str:
    """OR `bit` into the rows of the relation `duplicates` (rid, rep) and record `rep` (a sample_id) as their
    duplicate_of, unless an earlier dedup step recorded one."""
    return (f"UPDATE _base SET mask = mask | {_bits(bit)}, duplicate_of = coalesce(_base.duplicate_of, d.rep) "
            f"FROM ({duplicates}) AS d WHERE _base.rowid = d.rid")


def embedding_model(step: SemanticDedup, catalog: Catalog) -> str:
    """The embeddings model_id a semantic dedup step uses: its `model`, else the workspace's
    (`Catalog.embedding_model`)."""
    try:
        return catalog.embedding_model(step.model, choose="pick one with the step's model:")
    except GristmillError as exc:
        raise RecipeError(f"semantic dedup: {exc}") from None
