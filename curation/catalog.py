"""The catalog: DuckDB views over a workspace's Parquet, joined by sample_id — gristmill's one query surface.

Views (stable names; README "Catalog" lists every column):
    samples      every item stages score, curate, review and export: crawled images and videos and the clips
                 cut from videos, one table with `kind` and `parent_id` (curation.sample_sources)
    clips        the clip-specific columns of clips (clips/*.parquet): detector, shot, frames, keyframes
    <scorer>     one view per scorer, e.g. basic, text, clip (scores/<scorer>/*.parquet)
    embeddings   image/text embeddings of the workspace's embedding model (`Catalog.embedding_model`)
    embeddings_all  image/text embeddings of every model (embeddings/<model>/*.parquet), with model_id
    decisions    the current curation decisions (the file named in decisions/CURRENT)
    reviews      the human review event log: compacted reviews/*.parquet plus the live journals
    review_state the current review state of every reviewed sample (curation.review_views: kept incrementally)
    label_proposals  label proposals of every field and source (labels/proposals/*.parquet, curation.labels)
A view whose files do not exist yet is empty, with its full set of columns, never missing. `Catalog.session`
gives another user (a browser session of the review app) the same views and review state over its own
connection, with a private database for the tables it makes. Every view that is
not in NON_SCORE_VIEWS is a scorer's (`Catalog.score_views`).
"""
import itertools
import os
import threading
import weakref
from pathlib import Path

import duckdb
import pyarrow as pa

from curation.errors import GristmillError
from curation.review_views import ReviewViews
from curation.sample_sources import SOURCES
from curation.sql import empty_select, glob_select, quote_identifier, quote_literal
from curation.workspace import CONFIG_NAME, Workspace
from schemas import (CLIPS, DECISIONS, LABEL_PROPOSALS, REVIEW_EVENTS, SAMPLES_VIEW, SCORERS, embedding_schema,
                     score_schema)

CURRENT_DECISIONS = "CURRENT"

TABLE_VIEWS: dict[str, pa.Schema] = {
    "samples": SAMPLES_VIEW,
    "clips": CLIPS,
    "embeddings": embedding_schema(1),
    "decisions": DECISIONS,
    "reviews": REVIEW_EVENTS,
    "label_proposals": LABEL_PROPOSALS,
}
"""The catalog's views that are not scores, with the schema each has (review_state is derived from reviews)."""
NON_SCORE_VIEWS = frozenset(TABLE_VIEWS) | {"review_state", "embeddings_all"}


MEMORY_LIMIT_ENV = "GRISTMILL_MEMORY_LIMIT"
"""Environment variable: DuckDB's memory_limit for the catalog (e.g. `6GB`); unset, DuckDB's default (80% of RAM)."""
SPILL_FOLDER = ".duckdb-spill"
"""Where DuckDB spills what does not fit in memory (sorts, joins, curate's `_base` at 10^8 rows), under the workspace
root, so it lands on the corpus's disk rather than the current directory; DuckDB removes its files when done."""


def duckdb_settings(workspace: Workspace) -> dict[str, str]:
    """The settings of a catalog connection: a spill folder in the workspace, and GRISTMILL_MEMORY_LIMIT if set."""
    settings = {"temp_directory": str(workspace.root / SPILL_FOLDER)}
    limit = os.environ.get(MEMORY_LIMIT_ENV)
    if limit:
        settings["memory_limit"] = limit
    return settings


class Catalog:
    """DuckDB views over one workspace. Views are built from the files present when opened or refreshed."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        settings = duckdb_settings(workspace)
        try:
            self.con = duckdb.connect(config=settings)
        except duckdb.Error as exc:
            raise GristmillError(f"DuckDB refused the catalog settings {settings} ({MEMORY_LIMIT_ENV} is read from "
                                 f"the environment): {exc}") from None
        self._lock = threading.RLock()  # refreshes from several sessions' threads (`session`) take turns
        self._ended_sessions: list[str] = []  # private databases of sessions gone, to drop (`_drop_ended`)
        self._database = self.con.execute("SELECT current_database()").fetchone()[0]
        self.refresh()

    def session(self) -> "SessionCatalog":
        """A catalog for one more user of this one (e.g. a browser session of the review app), in any thread:
        its own connection to this catalog's DuckDB database, so it reads the same views and the same review
        tables, which only this catalog keeps (one review state per process, not one per user); its refreshes
        refresh this catalog. What it creates (e.g. `ui.queue`) lives in a private in-memory database. The views
        are built again first, so a new session sees folders that appeared since (new scores)."""
        with self._lock:
            self._drop_ended()
            self._refresh_views()
            return SessionCatalog(self)

    def _drop_ended(self) -> None:
        """Drop the private databases of sessions that ended (closed or garbage collected) since last time."""
        while self._ended_sessions:
            self.con.execute(f"DETACH DATABASE IF EXISTS {self._ended_sessions.pop()}")

    def refresh(self) -> None:
        """(Re)create every view over the workspace's folders.

        Table views read their folder's files through a glob when a query runs, so opening the catalog costs the
        same over 10 files as over 10,000; a folder with no file yet gives an empty view until the next refresh.
        """
        with self._lock:
            self._refresh_views()
            self.refresh_reviews()

    def _refresh_views(self) -> None:
        ws = self.workspace
        self._samples_view()
        self._view("clips", ws.parquet_glob("clips"), CLIPS)
        for scorer in sorted(set(SCORERS) | set(ws.subfolders("scores"))):
            if scorer.isidentifier() and scorer not in NON_SCORE_VIEWS:
                schema = score_schema(scorer) if scorer in SCORERS else None
                self._view(scorer, ws.parquet_glob("scores", scorer), schema)
        self._embeddings_view()
        decisions = self._current_decisions()
        self._view("decisions", str(decisions) if decisions else None, DECISIONS)
        self._view("label_proposals", ws.parquet_glob("labels", "proposals"), LABEL_PROPOSALS)

    def refresh_reviews(self) -> None:
        """Bring `reviews` and `review_state` up to date with the review log, reading only what changed since
        the previous refresh (curation.review_views); the first one reads the whole log.

        Lines the journals' readers skipped (torn by a crash, corrupt) are listed in `review_problems`.
        """
        with self._lock:
            if getattr(self, "review_views", None) is None:
                self.review_views = ReviewViews(self.workspace, self.con)
            self._drop_ended()
            self.con.begin()  # sessions reading meanwhile see the state before or after, never half of it
            try:
                self.review_problems = self.review_views.refresh()
            except BaseException:
                self.con.rollback()
                raise
            self.con.commit()

    def score_views(self) -> dict[str, list[tuple[str, str]]]:
        """Each scorer view's (column, DuckDB type) pairs, by view name (every view but NON_SCORE_VIEWS)."""
        return {view: cols for view, cols in self.column_types().items() if view not in NON_SCORE_VIEWS}

    def _samples_view(self) -> None:
        parts = [select for source in SOURCES if (select := source.select_sql(self.workspace))]
        select = " UNION ALL ".join(parts) if parts else empty_select(SAMPLES_VIEW)
        self.con.execute(f"CREATE OR REPLACE VIEW samples AS {select}")

    def _embeddings_view(self) -> None:
        """`embeddings_all`: every model's embeddings, one glob per model folder (models of several vector lengths
        give FLOAT[] vectors, one model FLOAT[dim]). `embeddings`: those of the workspace's embedding model only
        (`embedding_model`); over several models and no default it raises, naming them, when queried."""
        ws = self.workspace
        self.embedding_globs = {}
        for folder in ws.subfolders("embeddings"):
            pattern = ws.parquet_glob("embeddings", folder)
            first = self.con.execute(f"SELECT model_id FROM ({glob_select(pattern)}) LIMIT 1").fetchall() if pattern \
                else []
            if first and first[0][0] is not None:  # a folder holds one model: the clip scorer names it after it
                self.embedding_globs[first[0][0]] = pattern
        every = " UNION ALL BY NAME ".join(map(glob_select, self.embedding_globs.values()))
        every = every or empty_select(TABLE_VIEWS["embeddings"])
        self.con.execute(f"CREATE OR REPLACE VIEW embeddings_all AS {every}")
        try:
            select = self.embeddings_sql(self.embedding_model()) if self.embedding_globs else every
        except GristmillError as exc:
            select = f"SELECT * FROM ({every}) WHERE error({quote_literal(str(exc))}) IS NULL"
        self.con.execute(f"CREATE OR REPLACE VIEW embeddings AS {select}")

    def embedding_model(self, wanted: str | None = None, choose: str = "") -> str:
        """The model_id of the embeddings to use: `wanted`, else the workspace's `embedding_model` (gristmill.yaml),
        else the only model present. GristmillError, naming the models present, when there is none or several
        (`choose` says how the caller picks one, e.g. "set embedding_model in engine/config.yaml")."""
        models = sorted(self.embedding_globs)
        if not models:
            raise GristmillError("this workspace has no embeddings; score with clip first")
        wanted = wanted or self.workspace.config.embedding_model
        if wanted is not None:
            if wanted not in self.embedding_globs:
                raise GristmillError(f"no embeddings of model {wanted!r}; models present: {', '.join(models)}")
            return wanted
        if len(models) > 1:
            ways = [w for w in (choose, f"set embedding_model in {self.workspace.root / CONFIG_NAME}") if w]
            raise GristmillError(f"several embedding models in this workspace ({', '.join(models)}), and their "
                                 f"vectors do not mix; {' or '.join(ways)}")
        return models[0]

    def embeddings_sql(self, model: str) -> str:
        """SELECT * of one model's embeddings (reads only that model's files); `model` is an `embedding_model`."""
        return glob_select(self.embedding_globs[model])

    def _current_decisions(self) -> Path | None:
        pointer = self.workspace.path("decisions", CURRENT_DECISIONS)
        if not pointer.is_file():
            return None
        target = self.workspace.path("decisions", pointer.read_text().strip())
        return target if target.is_file() else None

    def _view(self, name: str, pattern: str | None, schema: pa.Schema | None) -> None:
        """A view over the files matching `pattern`, or an empty one with `schema`'s columns when it is None."""
        if pattern is not None:
            select = glob_select(pattern)
        elif schema is not None:
            select = empty_select(schema)
        else:
            select = "SELECT CAST(NULL AS VARCHAR) AS sample_id WHERE false"
        self.con.execute(f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS {select}")

    def query(self, sql: str, params: list | dict | None = None) -> pa.Table:
        """Run SQL (with optional `?`/`$name` parameters) and return the result as an Arrow table."""
        relation = self.con.sql(sql, params=params)
        return relation.to_arrow_table() if relation is not None else pa.table({})

    def views(self) -> dict[str, list[str]]:
        """Every view's column names, by view name."""
        return {view: [c for c, _ in cols] for view, cols in self.column_types().items()}

    def column_types(self) -> dict[str, list[tuple[str, str]]]:
        """Every view's (column, DuckDB type) pairs in column order, by view name (sorted)."""
        rows = self.con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = 'main' ORDER BY table_name, ordinal_position",
            [self._database]).fetchall()
        out: dict[str, list[tuple[str, str]]] = {}
        for table, column, type_ in rows:
            out.setdefault(table, []).append((column, type_))
        return out

    def close(self) -> None:
        self.con.close()


_SESSION_NUMBERS = itertools.count(1)


class SessionCatalog(Catalog):
    """A user of a shared Catalog (see `Catalog.session`): its own DuckDB connection to the shared database and
    a private in-memory database that is its default, searched before the shared one. Views and review tables
    are the shared catalog's; `refresh` and `refresh_reviews` refresh them there. `close` (or garbage
    collection) drops the private database."""

    def __init__(self, shared: Catalog):
        self.workspace, self.shared = shared.workspace, shared
        self._database = shared._database
        self.con = shared.con.cursor()
        name = f"gm_session_{next(_SESSION_NUMBERS)}"
        self.con.execute(f"ATTACH ':memory:' AS {name}")
        self.con.execute(f"USE {name}")
        self.con.execute(f"SET search_path = '{name}.main,{self._database}.main'")
        # garbage collection only notes the name (no DuckDB work in a finaliser); the shared catalog drops it
        self._finalizer = weakref.finalize(self, shared._ended_sessions.append, name)

    @property
    def review_views(self) -> ReviewViews:
        return self.shared.review_views

    @property
    def review_problems(self) -> list[str]:
        return self.shared.review_problems

    @property
    def embedding_globs(self) -> dict[str, str]:
        return self.shared.embedding_globs

    def refresh(self) -> None:
        self.shared.refresh()

    def refresh_reviews(self) -> None:
        self.shared.refresh_reviews()

    def close(self) -> None:
        self.con.close()
        self._finalizer()
        with self.shared._lock:
            self.shared._drop_ended()
