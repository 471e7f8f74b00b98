"""Which samples a release holds, with their final caption, scores and provenance: one DuckDB query.

A sample is exported when it is kept and has media:
- kept: a human verdict (the catalog's `review_state.decision`: the latest accept/reject not undone)
  overrides the decision file (accept → kept, reject → dropped); without one, the decision's `kept`.
- final caption: `review_state.final_caption` (the latest caption edit not undone), else the original.
- has media: crawl status 'success' (and, with media bytes, a media_path). Kept samples left out are
  counted by reason ('not_in_samples', 'crawl_failed', 'no_media').
Each label field of the workspace adds its final label, source and model (pipelines.export.labels).
Human verdicts are applied here as well as by curate, so reviews made after the last curate count.
A sample crawled twice counts once: the row `curation.sample_rows.COUNTED_SAMPLES` picks, as curate does.
Rows come sorted by sample_id.
"""
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from curation.catalog import CURRENT_DECISIONS, Catalog
from curation.errors import GristmillError
from curation.sample_rows import COUNTED_SAMPLES
from curation.sql import quote_identifier
from curation.workspace import Workspace
from pipelines.export.labels import LabelColumns, prepare_labels
from pipelines.export.schema import GENERATED_PREFIX, SCORES

PLAN_BYTES = "_plan_bytes"
"""Selection column (dropped before writing): the bytes a row counts for when sizing shards."""
ROW_OVERHEAD_BYTES = 256


def resolve_decisions(workspace: Workspace, name: str | None) -> Path:
    """The decisions file to export: `decisions/<name>`, or the one `decisions/CURRENT` names."""
    folder = workspace.path("decisions").resolve()
    if name is None:
        pointer = folder / CURRENT_DECISIONS
        if not pointer.is_file():
            raise GristmillError(
                f"{workspace.root} has no curation decisions (no decisions/{CURRENT_DECISIONS}): curate first, "
                f"e.g. gristmill curate {workspace.root} RECIPE"
            )
        name = pointer.read_text().strip()
    path = (folder / name).resolve()
    if path.parent != folder:
        raise GristmillError(f"decisions name {name!r} must be a file name under {folder}, not a path")
    if not path.is_file():
        known = sorted(p.name for p in folder.glob("*.parquet") if not p.name.startswith("."))
        raise GristmillError(f"no decisions file {path}; known: {', '.join(known) or 'none (curate first)'}")
    return path


@dataclass(frozen=True)
class Selection:
    """The SQL of one export (CTEs shared with the count queries), the scorer views and label fields it joins."""

    ctes: str
    params: dict
    columns: str
    scorers: dict[str, list[str]]
    labels: list[LabelColumns]

    def sql(self) -> str:
        joins = " ".join([self._score_joins(), *(columns.join() for columns in self.labels)])
        return f"{self.ctes} SELECT {self.columns} FROM chosen s {joins} ORDER BY s.sample_id"

    def _score_joins(self) -> str:
        return " ".join(
            f"LEFT JOIN {quote_identifier(view)} AS {_alias(view)} ON {_alias(view)}.sample_id = s.sample_id"
            for view in self.scorers
        )


def _alias(view: str) -> str:
    """The quoted alias a scorer view is joined under."""
    return quote_identifier("sc_" + view)


def score_columns(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    """Each scorer view's (column, DuckDB type) pairs except sample_id, by view name (views with a scorer_version)."""
    return {
        view: [c for c in cols if c[0] != "sample_id"]
        for view, cols in catalog.score_views().items()
        if {"sample_id", "scorer_version"} <= {c[0] for c in cols}
    }


def generated_name(view: str, column: str) -> str:
    """The release column of a scorer's caption column: generated_<scorer>_<column>, or generated_<scorer>
    when the column is already called that (the caption scorer's `generated_caption`)."""
    own = GENERATED_PREFIX + view
    return own if column == own else f"{own}_{column}"


def build_selection(catalog: Catalog, decisions: Path, media: str) -> Selection:
    """The export query for `decisions` (a Parquet file) and media mode 'bytes' or 'references'; the label fields'
    tables are built in the catalog's connection (pipelines.export.labels)."""
    _check_unique(catalog, decisions)
    scorers = score_columns(catalog)
    labels = prepare_labels(catalog)
    generated = [
        (view, col) for view, cols in scorers.items() for col, type_ in cols if type_ == "VARCHAR" and "caption" in col
    ]
    structs = ", ".join(
        f"{quote_identifier(view)} := CASE WHEN {_alias(view)}.sample_id IS NULL THEN NULL ELSE struct_pack("
        + ", ".join(f"{quote_identifier(col)} := {_alias(view)}.{quote_identifier(col)}" for col, _ in cols)
        + ") END"
        for view, cols in scorers.items()
    )
    media_bytes = "coalesce(s.media_size, 0) + " if media == "bytes" else ""
    columns = ", ".join(
        [
            "s.sample_id", "CAST(NULL AS VARCHAR) AS split", "CAST(NULL AS BLOB) AS media", "s.media_type", "s.kind",
            "s.mime_type", "s.width", "s.height", "s.duration_s", "s.fps", "s.frame_count",
            "coalesce(s.edited_caption, s.caption) AS caption",
            "CASE WHEN s.edited_caption IS NULL THEN 'original' ELSE 'human' END AS caption_source",
            "s.caption AS original_caption",
            *(f"{_alias(view)}.{quote_identifier(col)} AS {quote_identifier(generated_name(view, col))}"
              for view, col in generated),
            "s.url", "s.sha256", "s.media_path", "s.media_offset", "s.media_size", "s.shard AS source_shard",
            "s.parent_id", "s.start_s AS clip_start_s", "s.end_s AS clip_end_s", "s.decision_source",
            "s.recipe_name", "s.recipe_hash", "s.decision_versions", "s.extra",
            *([f"struct_pack({structs}) AS {SCORES}"] if scorers else []),
            *(expression for columns in labels for expression in columns.select()),
            f"{media_bytes}{ROW_OVERHEAD_BYTES} + strlen(coalesce(s.edited_caption, s.caption, '')) + strlen(s.url) "
            f"+ strlen(coalesce(s.extra, '')) AS {PLAN_BYTES}",
        ]
    )
    return Selection(
        ctes=_CTES,
        params={"decisions": str(decisions), "need_media_path": media == "bytes"},
        columns=columns,
        scorers={view: [c for c, _ in cols] for view, cols in scorers.items()},
        labels=labels,
    )


def stream(catalog: Catalog, selection: Selection, batch_rows: int = 8192) -> pa.RecordBatchReader:
    """The selected rows, sorted by sample_id, as Arrow record batches."""
    return catalog.con.sql(selection.sql(), params=selection.params).to_arrow_reader(batch_rows)


def left_out(catalog: Catalog, selection: Selection) -> dict[str, int]:
    """Kept samples that the release cannot hold, counted by reason."""
    rows = catalog.query(
        f"{selection.ctes} SELECT reason, count(*) AS n FROM left_out GROUP BY reason ORDER BY reason",
        selection.params,
    ).to_pylist()
    return {row["reason"]: row["n"] for row in rows}


def review_counts(catalog: Catalog, selection: Selection) -> dict[str, int]:
    """How many samples a human accepted, rejected or re-captioned (effective events only)."""
    row = catalog.query(
        f"{selection.ctes} SELECT (SELECT count(*) FROM verdict WHERE action = 'accept') AS accepted, "
        "(SELECT count(*) FROM verdict WHERE action = 'reject') AS rejected, "
        "(SELECT count(*) FROM edit) AS captions_edited",
        selection.params,
    ).to_pylist()[0]
    return dict(row)


def _check_unique(catalog: Catalog, decisions: Path) -> None:
    dup = catalog.query(
        "SELECT sample_id, count(*) AS n FROM read_parquet($p) GROUP BY 1 HAVING n > 1 ORDER BY 1 LIMIT 1",
        {"p": str(decisions)},
    ).to_pylist()
    if dup:
        raise GristmillError(
            f"{decisions} decides sample {dup[0]['sample_id']} {dup[0]['n']} times, and gristmill curate writes one "
            "decision per sample: the file is corrupt or was not written by curate; export another one (--decisions)"
        )


_CTES = f"""
WITH decided AS (SELECT * FROM read_parquet($decisions)),
verdict AS (SELECT sample_id, decision AS action FROM review_state WHERE decision IS NOT NULL),
edit AS (SELECT sample_id, final_caption AS new_caption FROM review_state WHERE final_caption IS NOT NULL),
crawled AS ({COUNTED_SAMPLES}),
wanted AS (
    SELECT sample_id, d.recipe_name, d.recipe_hash, d.versions,
           CASE WHEN v.action IS NOT NULL THEN 'human' ELSE d.source END AS decision_source
    FROM decided d FULL OUTER JOIN verdict v USING (sample_id)
    WHERE CASE v.action WHEN 'accept' THEN true WHEN 'reject' THEN false ELSE d.kept END
),
left_out AS (
    SELECT w.sample_id,
           CASE WHEN c.sample_id IS NULL THEN 'not_in_samples'
                WHEN c.status <> 'success' THEN 'crawl_failed'
                ELSE 'no_media' END AS reason
    FROM wanted w LEFT JOIN crawled c USING (sample_id)
    WHERE c.sample_id IS NULL OR c.status <> 'success' OR ($need_media_path AND c.media_path IS NULL)
),
chosen AS (
    SELECT c.*, e.new_caption AS edited_caption, w.decision_source, w.recipe_name, w.recipe_hash,
           w.versions AS decision_versions
    FROM wanted w
    JOIN crawled c USING (sample_id)
    LEFT JOIN edit e USING (sample_id)
    WHERE c.status = 'success' AND NOT ($need_media_path AND c.media_path IS NULL)
)
"""
