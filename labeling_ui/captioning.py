"""The caption queue of the review app: samples whose generated caption a human should judge, most likely
edit first (curation.labels.caption_attention), handed out under leases like any queue (labeling_ui.work).

A generated caption is a proposal: it reaches the review log only when a reviewer accepts it, as an
`edit_caption` event setting the caption to it. Keeping the alt-text writes the tag CAPTION_OK; writing a
caption is an `edit_caption` too. A member that someone decided so since the queue was built leaves it for
other reviewers (`CaptionQueueSpec.done_sql`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from curation.catalog import Catalog
from curation.labels import caption_attention
from curation.labels.caption_attention import CAPTION_OK
from curation.sql import literal_list
from labeling_ui.queues import Queue, build_listed

LIMIT = 500  # samples a caption queue holds (build it again for the next ones)


@dataclass(frozen=True)
class CaptionQueueSpec:
    """The caption queue, built at `since_us` (µs since the epoch; not compared)."""

    since_us: int = dataclasses.field(default=0, compare=False)
    hide_reviewed: bool = True

    def describe(self) -> str:
        """A one-line title for the queue."""
        return "captions: most likely to need a human edit first"

    def done_sql(self, where: str) -> str:
        """SELECT sample_id, n, reviewers of the members (`where`) whose caption a reviewer decided (edited or
        kept) since the queue was built (undone events do not count)."""
        undone = f"SELECT undo_of FROM reviews WHERE {where} AND action = 'undo' AND undo_of IS NOT NULL"
        return ("SELECT sample_id, count(DISTINCT reviewer) AS n, list(DISTINCT reviewer) AS reviewers FROM reviews "
                f"WHERE {where} AND (action = 'edit_caption' OR (action = 'tag_add' AND tag = '{CAPTION_OK}')) "
                f"AND epoch_us(ts) >= {int(self.since_us)} AND event_id NOT IN ({undone}) GROUP BY sample_id")


@dataclass
class CaptionQueue:
    """A built caption queue: its ranked members, each one's p (probability of an edit, or the heuristic
    score), what ranked them (`by`: 'heuristic' or a model version) and the captioner's model per member."""

    spec: CaptionQueueSpec
    queue: Queue
    p: dict[str, float]
    by: str
    model_ids: dict[str, str | None]


def build(catalog: Catalog, spec: CaptionQueueSpec) -> CaptionQueue:
    """Train the attention model if due, then rank its LIMIT most likely edits into the catalog's ui.queue."""
    ranked = caption_attention.rank(catalog, LIMIT)
    queue = build_listed(catalog, spec, ranked.ids)
    models = catalog.query("SELECT sample_id, any_value(model_id) AS model_id FROM caption WHERE sample_id IN "
                           f"({literal_list(ranked.ids) if ranked.ids else 'NULL'}) GROUP BY sample_id").to_pylist()
    return CaptionQueue(spec, queue, dict(zip(ranked.ids, ranked.p.tolist())), ranked.by,
                        {r["sample_id"]: r["model_id"] for r in models})
