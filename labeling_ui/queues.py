"""Review queues as SQL over the catalog, materialised once and paged by rank ranges (O(page)).

Building a queue runs one query that ranks its members into `ui.queue(rank, sample_id)`. A page is the
rank range [first, last] of that table. The display columns of its samples (caption, media, scores, the
filter decision) come from joins that scan every view's sample_id column (~1.3 s on a 1M-sample
catalog on 2 cores), so they are loaded in chunks of CHUNK_ROWS ranks into `ui.details`: the first
chunk while building, the next one by `prefetch` after a page near a chunk's end has been shown. A page
move then reads only in-memory rows. The review state (a table the catalog keeps up to date incrementally)
is joined per page, so a decision shows at once.

The `flagged` queue is the engine's (curation.engine): `Engine.queue` orders it (pending audits of
automatic decisions first, then the samples between the thresholds by uncertainty with diversity, with a
few random calibration picks), and each row carries the model's probability of acceptance (`model_p`), why
the engine asks (`model_kind`: audit, flagged, calibration or cold_start) and its suggestion
(`model_suggestion`); other queues have nulls there.
Every row carries `generated_caption`, the captioning scorer's caption (view `caption`), null when the
workspace has no such view or the sample no generated caption.

`ui.queue` also says how many different reviewers should decide each member (`reviews_wanted`): 2 for the
AGREEMENT_SHARE of the random audit queue that is deliberately double-reviewed, 1 for everything else.
`labeling_ui.work` hands out pages of a queue under leases according to it. `build_listed` ranks members that
another module chose (the Labels page's label queues, labeling_ui.labelling) into the same tables.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from curation.catalog import Catalog
from curation.sql import literal_list, quote_identifier

QUEUE_KINDS = {
    "margin": "at the threshold margin",
    "audit": "random audit",
    "dropped": "dropped by filter",
    "search": "search results",
    "similar": "nearest neighbours",
    "flagged": "flagged by the model",
    "conflicts": "conflicting decisions",
}
AUDIT_SUBSETS = ("kept", "dropped", "all")
CHUNK_ROWS = 2400
PREFETCH_ROWS = 240  # load the next chunk once a page ends this close to the loaded end
SIMILAR_LIMIT = 500
FLAGGED_LIMIT = 500  # samples the engine picks for a flagged queue (rebuild the queue for the next ones)
AGREEMENT_SHARE = 10  # 1 in 10 random-audit samples (by a hash of sample_id) goes to two reviewers
GENERATED_CAPTION = ("caption", "generated_caption")  # (view, column) of the captioning scorer, when present
_MODEL_COLUMNS = "NULL::DOUBLE AS model_p, NULL::VARCHAR AS model_kind, NULL::VARCHAR AS model_suggestion"
_KEY_COLUMNS = {"sample_id", "error", "scorer_version", "model_id"}


@dataclass(frozen=True)
class QueueSpec:
    """Which samples a queue holds and in what order.

    margin: samples with a value of `column` ("view.column"), closest to `threshold` first.
    audit: a random sample (seeded by `seed`) of `subset` (kept, dropped or all successful samples).
    dropped: samples the current decisions dropped for `reason`, in random order.
    search: samples whose caption contains `text` (case-insensitive).
    similar: the SIMILAR_LIMIT nearest neighbours of sample `text` by image embedding.
    flagged: the engine's next FLAGGED_LIMIT samples for humans, in the engine's order.
    conflicts: samples whose reviewers' latest decisions differ and no later admin decision settled, newest
    first (curation.reviews: the rule that picks the decision meanwhile); needs hide_reviewed=False.
    `hide_reviewed` leaves out samples that already have a decision; `sample_kind` ('crawled' or 'clip', see
    the catalog's samples.kind) keeps only samples of that kind.
    """

    kind: str
    column: str | None = None
    threshold: float | None = None
    reason: str | None = None
    text: str | None = None
    subset: str = "kept"
    seed: int = 0
    hide_reviewed: bool = True
    sample_kind: str | None = None

    def describe(self) -> str:
        """A one-line title for the queue."""
        detail = {
            "margin": f"{self.column} = {self.threshold:g}" if self.threshold is not None else self.column,
            "audit": f"{self.subset} samples, seed {self.seed}",
            "dropped": self.reason,
            "search": f"caption contains {self.text!r}",
            "similar": f"sample {self.text}",
            "flagged": "audits first, then the most uncertain (spread out) and random checks",
            "conflicts": "reviewers' latest decisions differ, newest first",
        }[self.kind]
        only = f", {self.sample_kind} only" if self.sample_kind else ""
        return f"{QUEUE_KINDS[self.kind]}: {detail}{only}" + (" (unreviewed only)" if self.hide_reviewed else "")

    def done_sql(self, where: str) -> str:
        """SELECT sample_id, n, reviewers of the members (`where`) that reviewers decided (`decided_sql`)."""
        return decided_sql(where)


@dataclass
class Queue:
    """A built queue: its spec, how many samples it holds and which detail chunks are loaded."""

    spec: QueueSpec
    size: int
    loaded_chunks: set[int] = field(default_factory=set)


def score_columns(catalog: Catalog) -> list[str]:
    """Numeric score columns of every scorer view, as "view.column"."""
    out = []
    for view in catalog.score_views():
        schema = catalog.query(f"SELECT * FROM {quote_identifier(view)} LIMIT 0").schema
        out += [f"{view}.{f.name}" for f in schema
                if f.name not in _KEY_COLUMNS and (pa.types.is_integer(f.type) or pa.types.is_floating(f.type))]
    return out


def default_column(columns: list[str]) -> str | None:
    """The score column pages start with: the CLIP score when there is one."""
    return next((c for c in columns if c.startswith("clip.")), columns[0] if columns else None)


def column_sql(column: str, known: list[str]) -> str:
    """SQL of a "view.column" score column, after checking that it is one of `known`."""
    if column not in known:
        raise ValueError(f"unknown score column {column!r}; known: {', '.join(known)}")
    view, name = column.split(".", 1)
    return f"{quote_identifier(view)}.{quote_identifier(name)}"


def drop_reasons(catalog: Catalog) -> list[tuple[str, int]]:
    """(reason, samples dropped for it) of the current decisions, most frequent first."""
    rows = catalog.query("SELECT reason, count(*) AS n FROM decisions WHERE NOT kept GROUP BY 1 ORDER BY 2 DESC, 1")
    return [(r["reason"], r["n"]) for r in rows.to_pylist()]


def _members(catalog: Catalog, spec: QueueSpec) -> tuple[str, list]:
    """SELECT sample_id, key of the queue's members (ordered by key, then sample_id), and its parameters."""
    success = "SELECT sample_id FROM samples WHERE status = 'success'"
    if spec.kind == "margin":
        col = column_sql(spec.column, score_columns(catalog))
        view = quote_identifier(spec.column.split(".", 1)[0])
        return (f"SELECT sample_id, abs({col} - ?) AS key FROM {view} "
                f"WHERE {col} IS NOT NULL AND sample_id IN ({success})", [spec.threshold])
    if spec.kind == "audit":
        where = {"kept": "AND sample_id IN (SELECT sample_id FROM decisions WHERE kept)",
                 "dropped": "AND sample_id IN (SELECT sample_id FROM decisions WHERE NOT kept)", "all": ""}
        return (f"SELECT sample_id, hash(sample_id || ?) AS key FROM samples "
                f"WHERE status = 'success' {where[spec.subset]}", [str(spec.seed)])
    if spec.kind == "dropped":
        return ("SELECT sample_id, hash(sample_id) AS key FROM decisions WHERE NOT kept AND reason = ?",
                [spec.reason])
    if spec.kind == "search":
        return ("SELECT sample_id, 0 AS key FROM samples WHERE status = 'success' "
                "AND contains(lower(caption), lower(?))", [spec.text or ""])
    if spec.kind == "similar":
        return (f"SELECT sample_id, -similarity AS key FROM ({similar_sql()})", [spec.text, SIMILAR_LIMIT])
    if spec.kind == "conflicts":
        return "SELECT sample_id, -epoch_us(last_ts) AS key FROM review_state WHERE conflicting", []
    raise ValueError(f"unknown queue kind {spec.kind!r}; known: {', '.join(QUEUE_KINDS)}")


def similar_sql() -> str:
    """Nearest neighbours by image-embedding cosine (parameters: sample_id, limit); not the sample itself."""
    return ("SELECT e.sample_id, list_cosine_similarity(e.image_embedding::FLOAT[], q.v) AS similarity "
            "FROM embeddings e, (SELECT image_embedding::FLOAT[] AS v FROM embeddings WHERE sample_id = $1 "
            "LIMIT 1) q WHERE e.sample_id <> $1 AND e.image_embedding IS NOT NULL "
            "ORDER BY similarity DESC, e.sample_id LIMIT $2")


def _listed_members(catalog: Catalog, sample_ids: list[str], p=None, kind=None, suggestion=None) -> str:
    """Members chosen outside SQL, in `ui.listed` (sample_id, key: its position, the model columns, null when
    not given); its SELECT."""
    n = len(sample_ids)
    table = pa.table({"sample_id": pa.array(sample_ids, pa.string()), "key": pa.array(range(n), pa.int64()),
                      "model_p": pa.array(p or [None] * n, pa.float64()),
                      "model_kind": pa.array(kind or [None] * n, pa.string()),
                      "model_suggestion": pa.array(suggestion or [None] * n, pa.string())})
    catalog.con.register("_listed", table)
    catalog.con.execute("CREATE OR REPLACE TABLE ui.listed AS SELECT * FROM _listed").fetchall()
    catalog.con.unregister("_listed")
    return "SELECT * FROM ui.listed"


def _engine_members(catalog: Catalog, engine) -> str:
    """The engine's queue (key: its position, with the model's columns); its SELECT."""
    items = engine.queue(FLAGGED_LIMIT)
    return _listed_members(catalog, [i.sample_id for i in items], [i.p for i in items], [i.kind for i in items],
                           [i.suggestion for i in items])


def reviews_wanted_sql(spec: QueueSpec) -> str:
    """SQL of how many different reviewers should decide a member (column sample_id) of a `spec` queue."""
    if spec.kind == "audit":
        return f"CASE WHEN hash(sample_id || ':agreement') % {AGREEMENT_SHARE} = 0 THEN 2 ELSE 1 END"
    return "1"


def decided_sql(where: str = "") -> str:
    """SELECT sample_id, n (reviewers with a live decision), reviewers (their ids) of decided samples, from
    the catalog's review_state (`where`: an extra condition on it, e.g. a literal list of sample_ids)."""
    return ("SELECT sample_id, len(decided_by) AS n, decided_by AS reviewers FROM review_state "
            f"WHERE len(decided_by) > 0 {'AND ' + where if where else ''}")


def build(catalog: Catalog, spec: QueueSpec, engine=None, reviewer: str | None = None) -> Queue:
    """Rank the queue's members into ui.queue and forget previously loaded details.

    A flagged queue asks `engine` (a curation.engine.Engine over the catalog's workspace; one is made when
    None), which raises EngineError when it cannot work yet (no embeddings). With `hide_reviewed`, a member
    stays while fewer reviewers than it wants decided it, unless `reviewer` is one of them.
    """
    con = catalog.con
    con.execute("CREATE SCHEMA IF NOT EXISTS ui").fetchall()
    if spec.kind == "flagged":
        if engine is None:
            from curation.engine import Engine  # scikit-learn: imported only when a flagged queue is built

            engine = Engine(catalog.workspace)
        sql, params = _engine_members(catalog, engine), []
    else:
        sql, params = _members(catalog, spec)
        sql = f"SELECT sample_id, key, {_MODEL_COLUMNS} FROM ({sql})"
    wanted = reviews_wanted_sql(spec)
    conditions, join = [], ""
    if spec.hide_reviewed and spec.kind == "conflicts":
        raise ValueError("every sample of the conflicts queue is decided: build it with hide_reviewed=False")
    if spec.hide_reviewed:
        join = f"LEFT JOIN ({decided_sql()}) d USING (sample_id)"
        conditions.append(f"(d.n IS NULL OR (d.n < {wanted} AND NOT list_contains(d.reviewers, ?)))")
        params = [*params, reviewer or ""]
    if spec.sample_kind:
        conditions.append("sample_id IN (SELECT sample_id FROM samples WHERE kind = ?)")
        params = [*params, spec.sample_kind]
    hide = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    return _rank(catalog, spec, f"FROM ({sql}) m {join} {hide}", params, wanted)


def build_listed(catalog: Catalog, spec, sample_ids: list[str]) -> Queue:
    """Rank `sample_ids`, in their order, into ui.queue (one reviewer each), for members another module chose
    (labeling_ui.labelling). `spec` needs what `labeling_ui.work` asks of a QueueSpec: `hide_reviewed`, `done_sql`."""
    catalog.con.execute("CREATE SCHEMA IF NOT EXISTS ui").fetchall()
    return _rank(catalog, spec, f"FROM ({_listed_members(catalog, sample_ids)}) m", [], "1")


def _rank(catalog: Catalog, spec, members: str, params: list, wanted: str) -> Queue:
    """Create ui.queue from `members` (a FROM clause with sample_id, key and the model columns) ranked by key,
    then ui.details' first chunk."""
    con = catalog.con
    con.execute(f"CREATE OR REPLACE TABLE ui.queue AS SELECT row_number() OVER (ORDER BY key, sample_id) AS rank, "
                f"sample_id, model_p, model_kind, model_suggestion, {wanted} AS reviews_wanted {members}",
                params).fetchall()
    con.execute(f"CREATE OR REPLACE TABLE ui.details AS {_details_select(catalog, 1, CHUNK_ROWS)}").fetchall()
    size = con.execute("SELECT count(*) FROM ui.queue").fetchall()[0][0]
    return Queue(spec, size, {0})


def _details_select(catalog: Catalog, first: int, last: int) -> str:
    scores = score_columns(catalog)
    views = sorted({c.split(".", 1)[0] for c in scores})
    score_cols = "".join(f", {column_sql(c, scores)} AS {quote_identifier(c)}" for c in scores)
    joins = "".join(f" LEFT JOIN {quote_identifier(v)} USING (sample_id)" for v in views)
    generated = "NULL::VARCHAR"
    if GENERATED_CAPTION[1] in catalog.views().get(GENERATED_CAPTION[0], []):
        generated = "g.generated"
        view, column = (quote_identifier(n) for n in GENERATED_CAPTION)
        joins += (f" LEFT JOIN (SELECT sample_id, {column} AS generated FROM {view} WHERE {column} IS NOT NULL "
                  f"QUALIFY row_number() OVER (PARTITION BY sample_id) = 1) g USING (sample_id)")
    return (f"SELECT q.rank, s.sample_id, s.url, s.caption, {generated} AS generated_caption, s.media_type, "
            f"s.media_path, s.media_offset, s.media_size, s.width, s.height, s.kind, s.parent_id, s.start_s, s.end_s, "
            f"d.kept, d.reason AS drop_reason, "
            f"q.model_p, q.model_kind, q.model_suggestion{score_cols} "
            f"FROM ui.queue q JOIN samples s USING (sample_id) LEFT JOIN decisions d USING (sample_id){joins} "
            f"WHERE q.rank BETWEEN {int(first)} AND {int(last)}")


def _load(catalog: Catalog, queue: Queue, first: int, last: int) -> None:
    """Make sure ui.details holds ranks first..last."""
    for chunk in range((first - 1) // CHUNK_ROWS, (last - 1) // CHUNK_ROWS + 1):
        if chunk not in queue.loaded_chunks and chunk * CHUNK_ROWS < queue.size:
            select = _details_select(catalog, chunk * CHUNK_ROWS + 1, (chunk + 1) * CHUNK_ROWS)
            catalog.con.execute(f"INSERT INTO ui.details {select}").fetchall()
            queue.loaded_chunks.add(chunk)


def page(catalog: Catalog, queue: Queue, index: int, size: int) -> list[dict]:
    """Rows of page `index` (from 0) of `size` samples: display columns plus the current review state."""
    return rows(catalog, queue, list(range(index * size + 1, min((index + 1) * size, queue.size) + 1)))


def rows(catalog: Catalog, queue: Queue, ranks: list[int]) -> list[dict]:
    """Rows of the members at `ranks` (ascending): display columns plus the current review state."""
    if not ranks:
        return []
    _load(catalog, queue, ranks[0], ranks[-1])
    wanted = ", ".join(str(int(r)) for r in ranks)
    ids = catalog.con.execute(f"SELECT sample_id FROM ui.details WHERE rank IN ({wanted})").fetchall()
    listing = literal_list(sid for (sid,) in ids)  # a literal list reaches review_state's index
    return catalog.query(
        "SELECT d.*, r.decision, r.reject_reason, r.decision_reviewer, r.decision_role, r.conflicting, "
        "r.reviewer_decisions, r.final_caption, r.tags, r.labels, r.n_events FROM ui.details d "
        f"LEFT JOIN (SELECT * FROM review_state WHERE sample_id IN ({listing})) r USING (sample_id) "
        f"WHERE d.rank IN ({wanted}) ORDER BY d.rank"
    ).to_pylist()


def prefetch(catalog: Catalog, queue: Queue, index: int, size: int) -> None:
    """Load the details of the pages after page `index` when it ends within PREFETCH_ROWS of the loaded end."""
    prefetch_after(catalog, queue, (index + 1) * size, size)


def prefetch_after(catalog: Catalog, queue: Queue, last: int, size: int) -> None:
    """Load the details of the next `size` ranks after rank `last` when they are within PREFETCH_ROWS."""
    _load(catalog, queue, last + 1, min(last + PREFETCH_ROWS + size, queue.size))
