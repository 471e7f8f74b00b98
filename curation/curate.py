"""Run a recipe over a workspace: decisions (kept, first reason, all reasons), human overrides, funnel.

    result = curate("ws/", "datacomp-basic")        # a built-in name or a path to a YAML file
    result.decisions_path, result.funnel["kept"]

Semantics, in order:
0. Every sample gets exactly one decision. A sample the `samples` view lists twice (crawled in two shards)
   is judged by the row that counts (`curation.sample_rows`: a successful crawl, then the latest shard),
   the same row export ships. Before anything runs, every scorer view the recipe reads must hold one
   scorer version and model (or the recipe's `versions` picks one), and the model its `models` declares
   for absolute thresholds (see curation/recipes/model.py).
1. A sample whose crawl failed (`samples.status != 'success'`) is dropped with `crawl:<status>` and no
   later step looks at it (it has no media and no scores).
2. Every step judges every crawled sample, including those an earlier step dropped, so `reasons` lists
   every step that would drop a sample and `reason` is the first. Steps that rank or group decide
   relative to the samples still alive before them: top_fraction/top_k keep a fraction/count of the
   alive samples (dropped samples are judged against the same cutoff), and dedup keeps alive
   representatives in `keep` order and drops every sample within the threshold of one
   (curation/recipes/dedup.py); `duplicate_of` names the representative of the first dedup step that
   lists the sample.
3. A sample lacking a value a step needs is dropped by that step with `missing:<column>`.
4. The latest accept/reject in the review log (not undone) overrides the recipe: `source` is 'human',
   an accept keeps the sample (reasons still list what the recipe objected to), a reject drops it with
   `human:reject` first.
Decisions are written sorted by sample_id to `decisions/<recipe>-<hash12>.parquet` (byte-identical on a
re-run) and `decisions/CURRENT` is pointed at them; the funnel goes to `reports/funnel/<same stem>/`.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from curation import __version__
from curation import funnel as funnel_mod
from curation.atomic import atomic_path, write_bytes
from curation.catalog import CURRENT_DECISIONS, Catalog
from curation.recipes import compile as sql
from curation.recipes.dedup import perceptual_duplicates, semantic_duplicates
from curation.recipes.model import (
    ExactDedup,
    PerceptualDedup,
    Recipe,
    RecipeError,
    SemanticDedup,
    TopFractionStep,
    TopKStep,
    parse_recipe,
)
from curation.sample_rows import uncounted_rows_sql
from curation.sql import quote_identifier
from curation.workspace import Workspace
from schemas import DECISIONS, conform

BUILTIN_DIR = Path(__file__).parent / "recipes" / "builtin"
ROW_GROUP = 1 << 20  # decisions rows per Parquet row group


@dataclass
class CurateResult:
    """What a curate run produced; `funnel` is what funnel_dir/funnel.json holds."""

    recipe: Recipe
    decisions_path: Path
    funnel_dir: Path
    funnel: funnel_mod.Funnel
    versions: dict  # gristmill, scorer and embedding-model versions, as stored in each decision row
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per phase and step

    @property
    def kept(self) -> int:
        """Samples kept after human overrides."""
        return self.funnel.kept


def builtin_recipes() -> dict[str, Path]:
    """Built-in recipe names and their YAML files."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.yaml"))}


def recipe_path(name_or_path: str | Path) -> Path:
    """The YAML file of a recipe given as a built-in name (see `builtin_recipes`) or a file path."""
    path = Path(name_or_path)
    builtins = builtin_recipes()
    if str(name_or_path) in builtins and not path.exists():
        return builtins[str(name_or_path)]
    if not path.is_file():
        raise RecipeError(f"recipe {str(name_or_path)!r} is neither a file nor a built-in recipe; "
                          f"built-ins: {', '.join(builtins)}")
    return path


def load_recipe(name_or_path: str | Path) -> Recipe:
    """Load and validate a recipe: a built-in name (see `builtin_recipes`) or a YAML file path."""
    path = recipe_path(name_or_path)
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path} is not valid YAML: {exc}") from None
    return parse_recipe(raw, origin=str(path), name=path.stem)


def curate(workspace: Workspace | str | Path, recipe: Recipe | str | Path, point_current: bool = True) -> CurateResult:
    """Apply `recipe` to the workspace, write decisions and the funnel, and (unless `point_current` is False)
    point decisions/CURRENT at them."""
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(Path(workspace))
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    catalog = Catalog(ws)
    try:
        return _run(ws, catalog, recipe, point_current)
    finally:
        catalog.close()


def _run(ws: Workspace, catalog: Catalog, recipe: Recipe, point_current: bool) -> CurateResult:
    columns = sql.resolve(recipe, catalog)
    read = sql.check_versions(recipe, catalog)
    reasons = sql.Reasons(recipe)
    con = catalog.con
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    _execute(con, sql.base_sql, recipe, columns, reasons)
    _one_row_per_sample(con, recipe)
    seconds["load"] = time.perf_counter() - clock
    for i, step in enumerate(recipe.steps, 1):
        clock = time.perf_counter()
        _run_step(catalog, step, reasons.of(step), reasons.before(i), columns)
        seconds[f"{i}:{step.reason}"] = time.perf_counter() - clock
    clock = time.perf_counter()
    con.execute(f"UPDATE _base SET human = h.action FROM ({HUMAN_SQL}) AS h WHERE _base.sample_id = h.sample_id")
    results = outcomes(con, reasons)
    seconds["outcomes"] = time.perf_counter() - clock
    clock = time.perf_counter()
    versions = _versions(catalog, recipe, read)
    stem = f"{recipe.name}-{recipe.hash[:12]}"
    decisions_path = _write_decisions(ws, con, recipe, versions, results, stem)
    if point_current:
        write_bytes(f"{decisions_path.name}\n".encode(), ws.path("decisions", CURRENT_DECISIONS))
    seconds["decisions"] = time.perf_counter() - clock
    clock = time.perf_counter()
    funnel_dir = ws.path("reports", "funnel", stem)
    funnel = funnel_mod.build(con, recipe, columns, reasons, results)
    funnel_mod.save(funnel, funnel_dir)
    seconds["funnel"] = time.perf_counter() - clock
    return CurateResult(recipe, decisions_path, funnel_dir, funnel, versions, seconds)


def _execute(con, build, *args, **kwargs) -> None:
    """Run the SQL that `build(*args, params, **kwargs)` returns with its own bound parameters."""
    params = sql.Params()
    con.execute(build(*args, params, **kwargs), params.values)


def _one_row_per_sample(con, recipe: Recipe) -> None:
    """Leave one `_base` row per sample: the row that counts of a sample crawled twice (`curation.sample_rows`).

    Raise RecipeError naming the scorer view and sample when a view's rows repeat a sample: scored in two
    shards, its score rows do not say which crawl they belong to.
    """
    rows, hashes = con.execute("SELECT count(*), count(DISTINCT hash(sample_id)) FROM _base").fetchall()[0]
    if rows == hashes:  # no repeats (a 64-bit hash collision only sends a corpus down the exact path below)
        return
    for view in recipe.score_views():
        params = sql.Params()
        repeated = con.execute(f"SELECT sample_id, count(*) FROM ({sql.score_rows_sql(recipe, view, 'NULL', params)}) "
                               "GROUP BY 1 HAVING count(*) > 1 ORDER BY 1 LIMIT 1", params.values).fetchall()
        if repeated:
            (sample, n), = repeated
            raise RecipeError(f"scorer view {view!r} has {n} rows for sample {sample}: it was crawled and scored in "
                              "more than one shard, and score rows do not say which shard they belong to; "
                              f"delete the score files of the shards whose crawl does not count (scores/{view}/) "
                              "and curate again")
    con.execute(f"DELETE FROM _base WHERE rowid IN ({uncounted_rows_sql('_base')})")


def _run_step(catalog: Catalog, step, bits: tuple[int, int], before: int, columns: dict[str, sql.Column]) -> None:
    """Mark the drops of a step that ranks or groups; row-local conditions are already in `_base.mask`."""
    con = catalog.con
    col = columns[step.column]
    if isinstance(step, (TopFractionStep, TopKStep)):
        by = columns.get(step.by)
        keep = None
        if by is None:
            params = sql.Params()
            keep = con.execute(sql.top_keep_sql(step, before, col, params), params.values).fetchall()[0][0]
            if keep == 0:
                return  # no alive row with a value: nothing to rank against, everyone is kept
        _execute(con, sql.top_cutoff_sql, step, before, col, by, keep=keep)
        con.execute(sql.top_drop_sql(step, bits[0], col, by))
    elif isinstance(step, (ExactDedup, PerceptualDedup, SemanticDedup)):
        keep = columns[step.keep.column] if step.keep else None
        if isinstance(step, ExactDedup):
            con.execute(sql.exact_dedup_sql(step, bits[0], before, col, keep))
            return
        if isinstance(step, SemanticDedup):
            rows, duplicates = _semantic_duplicates(catalog, step, bits[1], before, col, keep)
        else:
            rows, duplicates = _perceptual_duplicates(con, step, before, col, keep)
        _mark_duplicates(con, bits[0], rows, duplicates)


def _perceptual_duplicates(con, step: PerceptualDedup, before: int, col: sql.Column,
                           keep: sql.Column | None) -> tuple[pa.Table, np.ndarray]:
    """The rows perceptual dedup compares (see `sql.dedup_rows_sql`) and the row each duplicates (-1: none)."""
    rows = con.sql(sql.dedup_rows_sql(step, before, keep, f"b.{col.alias}")).to_arrow_table()
    try:
        return rows, perceptual_duplicates(rows.column("v"), step.max_distance, _alive(rows))
    except ValueError as exc:
        raise RecipeError(f"{step.reason}: {col.ref}: {exc}") from None


def _semantic_duplicates(catalog: Catalog, step: SemanticDedup, missing: int, before: int, col: sql.Column,
                         keep: sql.Column | None) -> tuple[pa.Table, np.ndarray]:
    """Mark crawled rows without an embedding (missing:); the rows with one and the row each duplicates."""
    con = catalog.con
    embeddings = catalog.embeddings_sql(sql.embedding_model(step, catalog))
    rows = con.sql(sql.dedup_rows_sql(step, before, keep, f"e.{quote_identifier(col.name)}",
                                      join=f"JOIN ({embeddings}) AS e ON e.sample_id = b.sample_id")).to_arrow_table()
    con.register("_have", rows.select(["rid"]))
    con.execute(sql.mark_sql(missing, "ok AND rowid NOT IN (SELECT rid FROM _have)"))
    con.unregister("_have")
    vectors = _matrix(rows.column("v"))
    return rows, semantic_duplicates(vectors, step.min_similarity, step.clusters, step.probes, _alive(rows))


def _alive(rows: pa.Table) -> int:
    """How many of a dedup step's rows (alive ones first) are alive before it."""
    return pc.sum(rows.column("alive")).as_py() or 0


def _mark_duplicates(con, bit: int, rows: pa.Table, duplicates: np.ndarray) -> None:
    """Drop every row with a representative (`duplicates[i]` >= 0, an index into `rows`) and record it."""
    found = np.flatnonzero(duplicates >= 0)
    con.register("_duplicates", pa.table({"rid": rows.column("rid").take(found),
                                          "rep": rows.column("sample_id").take(duplicates[found])}))
    con.execute(sql.mark_duplicates_sql(bit, "SELECT * FROM _duplicates"))
    con.unregister("_duplicates")


def _matrix(column: pa.ChunkedArray) -> np.ndarray:
    """An Arrow column of equal-length float lists as an (n, dim) float16/float32 array."""
    arr = column.combine_chunks()
    if len(arr) == 0:
        return np.zeros((0, 1), np.float32)
    lengths = pc.list_value_length(arr).to_numpy()
    if (lengths != lengths[0]).any():
        raise RecipeError("embeddings of one model must all have the same length")
    return arr.flatten().to_numpy(zero_copy_only=False).reshape(len(arr), int(lengths[0]))


def _versions(catalog: Catalog, recipe: Recipe, read: dict[str, list[dict]]) -> dict:
    """gristmill's version and the scorer versions and models the recipe read of every view (`read`, as
    `sql.check_versions` returns it)."""
    out: dict = {"gristmill": __version__, "scorers": {
        view: [{"scorer_version": v["scorer_version"], "model_id": v["model_id"]} for v in versions]
        for view, versions in read.items()}}
    semantic = [s for s in recipe.steps if isinstance(s, SemanticDedup)]
    if semantic:
        out["embeddings"] = sorted({sql.embedding_model(s, catalog) for s in semantic})
    return out


HUMAN_SQL = """
    SELECT r.sample_id, r.action FROM reviews AS r
    WHERE r.action IN ('accept', 'reject') AND r.event_id NOT IN (
        SELECT undo_of FROM reviews WHERE action = 'undo' AND undo_of IS NOT NULL)
    QUALIFY row_number() OVER (PARTITION BY r.sample_id ORDER BY r.ts DESC, r.seq DESC, r.event_id DESC) = 1"""
"""The latest accept/reject of each reviewed sample in the review log, not undone."""


def outcomes(con, reasons: sql.Reasons) -> pa.Table:
    """Every distinct (status, mask, human) of `_base`, its row count and its decision, in one aggregate.

    Columns: status, mask, human, rows, then the decision columns kept, reason, reasons, source.
    """
    groups = con.execute("SELECT status, mask, human, count(*) FROM _base GROUP BY ALL ORDER BY ALL").fetchall()
    decided = [decide(status, mask, human, reasons.names) for status, mask, human, _ in groups]
    status, mask, human, rows = zip(*groups) if groups else ((), (), (), ())
    kept, reason, listed, source = zip(*decided) if decided else ((), (), (), ())
    return pa.table({
        "status": pa.array(status, pa.string()), "mask": pa.array(mask, pa.uint64()),
        "human": pa.array(human, pa.string()), "rows": pa.array(rows, pa.int64()),
        "kept": pa.array(kept, pa.bool_()), "reason": pa.array(reason, pa.string()),
        "reasons": pa.array(listed, pa.list_(pa.string())), "source": pa.array(source, pa.string()),
    })


def decide(status: str, mask: int, human: str | None, names: list[str]) -> tuple[bool, str | None, list[str], str]:
    """(kept, first reason, all reasons, source) of a sample: crawl status, recipe reasons (mask bits of
    `names`), then the human decision, which wins (an accept keeps the reasons the recipe had)."""
    listed = [f"crawl:{status}"] if status != "success" else [n for bit, n in enumerate(names) if mask >> bit & 1]
    if human == "reject":
        listed = ["human:reject", *listed]
    kept = human == "accept" or (human is None and not listed)
    reason = None if human == "accept" or not listed else listed[0]
    return kept, reason, listed, "recipe" if human is None else "human"


def _write_decisions(ws: Workspace, con, recipe: Recipe, versions: dict, results: pa.Table, stem: str) -> Path:
    """Stream the decisions, in sample_id order, into fixed-size row groups (byte-identical on re-runs).

    DuckDB sorts only (sample_id, outcome index); each row's decision columns are taken from `results`.
    """
    total = pc.sum(results.column("rows")).as_py() or 0
    constants = {name: _repeat(value, min(ROW_GROUP, total)) for name, value in (  # built once, sliced per group
        ("recipe_name", recipe.name), ("recipe_hash", recipe.hash), ("versions", json.dumps(versions, sort_keys=True)))}
    keys = results.select(["status", "mask", "human"]).append_column("id", pa.array(range(len(results)), pa.int64()))
    con.register("_outcome_keys", keys)
    reader = con.sql("""
        SELECT b.sample_id, b.duplicate_of, o.id FROM _base AS b JOIN _outcome_keys AS o ON o.status IS NOT DISTINCT FROM b.status
            AND o.mask = b.mask AND o.human IS NOT DISTINCT FROM b.human
        ORDER BY b.sample_id""").to_arrow_reader(ROW_GROUP)
    decided = results.select(["kept", "reason", "reasons", "source"])

    def row_groups():
        for chunk in _rechunk(reader, ROW_GROUP):
            table = decided.take(chunk.column("id")).add_column(0, "sample_id", chunk.column("sample_id"))
            table = table.append_column("duplicate_of", chunk.column("duplicate_of"))
            for name, column in constants.items():
                table = table.append_column(name, column.slice(0, table.num_rows))
            yield conform(table, DECISIONS, "decisions")

    path = ws.path("decisions", f"{stem}.parquet")
    written = 0
    with atomic_path(path) as tmp, pq.ParquetWriter(tmp, DECISIONS, compression="zstd") as writer:
        for table in _prefetched(row_groups()):
            writer.write_table(table, row_group_size=ROW_GROUP)
            written += table.num_rows
        if written != total:
            raise RecipeError(f"internal error: {written} decisions written for {total} samples")
    con.unregister("_outcome_keys")
    return path


def _prefetched(items: Iterator):
    """Yield from `items`, computing the next item in a background thread while the caller uses this one."""
    with ThreadPoolExecutor(1) as pool:
        upcoming = pool.submit(next, items, None)
        while (item := upcoming.result()) is not None:
            upcoming = pool.submit(next, items, None)
            yield item


def _repeat(value: str, n: int) -> pa.Array:
    """A string column of `n` copies of `value`, built with one buffer copy instead of n Python strings."""
    data = value.encode()
    if n * len(data) >= 2**31:
        raise RecipeError(f"decision metadata of {len(data)} bytes is too large to repeat in {n} rows")
    offsets = np.arange(0, (n + 1) * len(data), len(data), dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data * n))


def _rechunk(reader: pa.RecordBatchReader, rows: int):
    """Tables of exactly `rows` rows (the last may be shorter), whatever batch sizes the reader yields."""
    pending: list[pa.RecordBatch] = []
    size, yielded = 0, False
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        while size >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows)
            yielded = True
            rest = table.slice(rows)
            pending, size = rest.to_batches(), rest.num_rows
    if size or not yielded:
        yield pa.Table.from_batches(pending, schema=reader.schema)
