"""The catalog: DuckDB views over a workspace's Parquet, joined by sample_id — gristmill's one query surface.

Views (stable names; README "Catalog" lists every column):
    samples      every crawled sample (shards/*.parquet)
    clips        clips cut from videos (clips/*.parquet)
    <scorer>     one view per scorer, e.g. basic, text, clip (scores/<scorer>/*.parquet)
    embeddings   image/text embeddings of every model (embeddings/<model>/*.parquet)
    decisions    the current curation decisions (the file named in decisions/CURRENT)
    reviews      the human review event log: compacted reviews/*.parquet plus the live journals
    review_state the current review state of every reviewed sample (curation.reviews.REVIEW_STATE_SQL)
A view whose files do not exist yet is empty, with its full set of columns, never missing.
"""
from pathlib import Path

import duckdb
import pyarrow as pa

from curation.reviews import REVIEW_STATE_SQL, compacted_files, read_journals, reviews_sql
from curation.workspace import Workspace
from schemas import CLIPS, DECISIONS, REVIEW_EVENTS, SAMPLES, SCORERS, embedding_schema, score_schema

CURRENT_DECISIONS = "CURRENT"


def duckdb_type(t: pa.DataType) -> str:
    """The DuckDB type that reading an Arrow/Parquet column of type `t` produces."""
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "VARCHAR"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int32(t):
        return "INTEGER"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_list(t) or pa.types.is_fixed_size_list(t):
        return duckdb_type(t.value_type) + "[]"
    raise TypeError(f"no DuckDB type mapping for Arrow type {t}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _empty_select(schema: pa.Schema) -> str:
    cols = ", ".join(f"CAST(NULL AS {duckdb_type(f.type)}) AS {_quote(f.name)}" for f in schema)
    return f"SELECT {cols} WHERE false"


def _files_select(files: list[Path]) -> str:
    listing = ", ".join("'" + str(p).replace("'", "''") + "'" for p in files)
    return f"SELECT * FROM read_parquet([{listing}], union_by_name = true)"


class Catalog:
    """DuckDB views over one workspace. Views are built from the files present when opened or refreshed."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self.con = duckdb.connect()
        self.refresh()

    def refresh(self) -> None:
        """(Re)create every view from the workspace's current files."""
        ws = self.workspace
        self._view("samples", ws.parquet_files("shards"), SAMPLES)
        self._view("clips", ws.parquet_files("clips"), CLIPS)
        for scorer in sorted(set(SCORERS) | set(ws.subfolders("scores"))):
            if scorer.isidentifier() and scorer not in _RESERVED:
                schema = score_schema(scorer) if scorer in SCORERS else None
                self._view(scorer, ws.parquet_files("scores", scorer), schema)
        embedding_files = [f for model in ws.subfolders("embeddings") for f in ws.parquet_files("embeddings", model)]
        self._view("embeddings", embedding_files, embedding_schema(1))
        self._view("decisions", self._current_decisions(), DECISIONS)
        self.refresh_reviews()

    def refresh_reviews(self) -> None:
        """(Re)create `reviews` and `review_state` from the review log as it is now (journals read first).

        Lines the journals' readers skipped (torn by a crash, corrupt) are listed in `review_problems`.
        """
        journal = read_journals(self.workspace)
        self.review_problems = journal.problems
        files = compacted_files(self.workspace)
        compacted = _files_select(files) if files else _empty_select(REVIEW_EVENTS)
        self.con.execute("CREATE SCHEMA IF NOT EXISTS review_log")
        self.con.register("_review_journal", journal.table)
        self.con.execute("CREATE OR REPLACE TABLE review_log.journal AS SELECT * FROM _review_journal")
        self.con.unregister("_review_journal")
        self.con.execute(f"CREATE OR REPLACE VIEW reviews AS {reviews_sql(compacted, 'review_log.journal')}")
        self.con.execute(f"CREATE OR REPLACE VIEW review_state AS {REVIEW_STATE_SQL}")

    def _current_decisions(self) -> list[Path]:
        pointer = self.workspace.path("decisions", CURRENT_DECISIONS)
        if not pointer.is_file():
            return []
        target = self.workspace.path("decisions", pointer.read_text().strip())
        return [target] if target.is_file() else []

    def _view(self, name: str, files: list[Path], schema: pa.Schema | None) -> None:
        if files:
            select = _files_select(files)
        elif schema is not None:
            select = _empty_select(schema)
        else:
            select = "SELECT CAST(NULL AS VARCHAR) AS sample_id WHERE false"
        self.con.execute(f"CREATE OR REPLACE VIEW {_quote(name)} AS {select}")

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        """Run SQL (with optional `?`/`$name` parameters) and return the result as an Arrow table."""
        relation = self.con.sql(sql, params=params)
        return relation.to_arrow_table() if relation is not None else pa.table({})

    def views(self) -> dict[str, list[str]]:
        """Every view's column names, by view name."""
        rows = self.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
        ).fetchall()
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(table, []).append(column)
        return out

    def close(self) -> None:
        self.con.close()


_RESERVED = {"samples", "clips", "embeddings", "decisions", "reviews", "review_state"}
