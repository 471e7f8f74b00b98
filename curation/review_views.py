"""The catalog's `reviews` and `review_state`, kept up to date incrementally on one DuckDB connection.

Tables in the connection's `review_log` schema:
    journal   events read from the journals (curation.reviews.JournalTail: only appended bytes are read) that
              no compacted file listed by the view holds yet, as far as this connection knows
    state     `review_state`: one row per reviewed sample (curation.reviews.review_state_sql)
`reviews` is a view over the compacted files listed at the last refresh and `journal`, each event once.

The first refresh reads the whole log once. After that a refresh reads the journals' new bytes, the
event_ids of compacted files that appeared since (a background compaction), and the events of the samples
that changed, whose state rows it recomputes: its cost follows what changed, not the log's history. A
sample reviewed for the first time (no state row yet) has no event but those in `journal`, so its row is
rebuilt from `journal` alone, before the events of newly listed compacted files leave `journal` (the same
refresh may read an event from a journal and find it compacted); only a sample reviewed before, or one
with compacted events this connection never read from a journal, reads the compacted files (one row group
per compacted file).
Journals are read before compacted files are listed, as everywhere (curation.reviews).
"""
from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from curation.reviews import JournalTail, compacted_files, review_state_sql, reviews_sql
from curation.sql import empty_select, files_select, literal_list
from curation.workspace import Workspace
from schemas import REVIEW_EVENTS


class ReviewViews:
    """Maintains `reviews` and `review_state` on `con` for `workspace`; `refresh` brings them up to date.

    Counters for tests and benchmarks: `tail.bytes_read` (journal bytes read), `samples_recomputed` and
    `events_recomputed` (state rows rebuilt and the events they were rebuilt from, over all refreshes), and
    `compacted_lookups` (samples whose rebuild read the compacted files: those reviewed before).
    """

    def __init__(self, workspace: Workspace, con: duckdb.DuckDBPyConnection):
        self.workspace, self.con = workspace, con
        self.tail = JournalTail(workspace)
        self.files: list[Path] = []
        self.samples_recomputed = 0
        self.events_recomputed = 0
        self.compacted_lookups = 0
        self._started = False

    def refresh(self) -> list[str]:
        """Bring both up to date with the log now; return the problems the journals' readers found."""
        read = self.tail.read()  # journals first, then the compacted files: see curation.reviews
        files = compacted_files(self.workspace)
        known = set(self.files)
        added = [f for f in files if f not in known]
        self.files = files
        if not self._started:
            self._start(read.table)
            return read.problems
        self._insert(read.table)
        changed = set(read.table["sample_id"].to_pylist())
        known = self._with_state(changed)
        # before `journal` loses the events that the added files hold, some of them perhaps just read
        self._recompute(sorted(changed - known), "review_log.journal")
        unseen = self._take_compacted(added) if added else set()
        self._recompute(sorted(known | unseen), "reviews")
        return read.problems

    def _start(self, journal: pa.Table) -> None:
        con = self.con
        con.execute("SET parquet_metadata_cache = true")  # a lookup in the compacted files reads no footer again
        con.execute("CREATE SCHEMA IF NOT EXISTS review_log")
        con.register("_review_new", journal)
        con.execute("CREATE OR REPLACE TABLE review_log.journal AS SELECT * FROM _review_new")
        con.unregister("_review_new")
        self._create_view()
        con.execute(f"CREATE OR REPLACE TABLE review_log.state AS {review_state_sql('reviews')}")
        con.execute("CREATE INDEX IF NOT EXISTS review_state_sample ON review_log.state (sample_id)")
        con.execute("CREATE OR REPLACE VIEW review_state AS SELECT * FROM review_log.state")
        self._started = True

    def _create_view(self) -> None:
        compacted = empty_select(REVIEW_EVENTS)  # files of review events version 1 have no `role`: null
        if self.files:
            compacted = f"{compacted} UNION ALL BY NAME {files_select(self.files)}"
        self.con.execute(f"CREATE OR REPLACE VIEW reviews AS {reviews_sql(compacted, 'review_log.journal')}")

    def _insert(self, events: pa.Table) -> None:
        if events.num_rows:
            self.con.register("_review_new", events)
            self.con.execute("INSERT INTO review_log.journal SELECT * FROM _review_new")
            self.con.unregister("_review_new")

    def _take_compacted(self, added: list[Path]) -> set[str]:
        """List the `added` compacted files in the view and drop their events from `journal`; return the
        samples of events there that this connection had not read from a journal (state to recompute)."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE _review_added AS SELECT event_id, sample_id FROM "
                    f"read_parquet([{literal_list(added)}])")
        unseen = con.execute("SELECT DISTINCT sample_id FROM _review_added WHERE event_id NOT IN "
                             "(SELECT event_id FROM review_log.journal)").fetchall()
        self._create_view()
        con.execute("DELETE FROM review_log.journal WHERE event_id IN (SELECT event_id FROM _review_added)")
        con.execute("DROP TABLE _review_added")
        return {sid for (sid,) in unseen}

    def _with_state(self, samples: set[str]) -> set[str]:
        """Those of `samples` that have a state row already (their earlier events may be compacted)."""
        if not samples:
            return set()
        rows = self.con.execute(f"SELECT sample_id FROM review_log.state WHERE sample_id IN "
                                f"({literal_list(sorted(samples))})").fetchall()
        return {sid for (sid,) in rows}

    def _recompute(self, samples: list[str], source: str) -> None:
        """Rebuild the state rows of `samples` from their events in `source`: `reviews`, or for samples that had
        no state row (so no event but those just read from the journals) only `review_log.journal`."""
        if not samples:
            return
        listing = literal_list(samples)  # a literal list reaches the Parquet scans
        events = (f"(SELECT * FROM {source} WHERE sample_id IN ({listing}) "
                  "QUALIFY row_number() OVER (PARTITION BY sample_id, event_id) = 1)")
        self.con.execute(f"DELETE FROM review_log.state WHERE sample_id IN ({listing})")
        rebuilt = self.con.execute(f"INSERT INTO review_log.state {review_state_sql(events)} RETURNING n_events")
        self.events_recomputed += sum(n for (n,) in rebuilt.fetchall())
        self.samples_recomputed += len(samples)
        if source == "reviews":
            self.compacted_lookups += len(samples)
