"""Label queues in the review app: what a human should label next in one label field, handed out like decisions.

A label queue lists, in order, the samples one of curation.labels.queues' functions returns (KINDS), ranked
into the session's ui.queue (labeling_ui.queues.build_listed), so pages are leased as on the Review queue page
(labeling_ui.work). A member that someone labelled in the field since the queue was built leaves it for other
reviewers (`LabelQueueSpec.done_sql`); its labeller keeps it on their pages. With the queue come the stored
proposals of its members (both sources): proposals are never written to the review log; a reviewer's choice
is, as a `label` event (curation.labels.human). `history` is a sample's label audit trail.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone

from curation.catalog import Catalog
from curation.labels import proposals
from curation.labels import queues as label_queues
from curation.labels.human import NONE_OF_THESE, decode
from curation.labels.vocabulary import LabelError, LabelField
from curation.sql import quote_literal
from labeling_ui.queues import Queue, build_listed
from schemas import PROPOSAL_SOURCES

KINDS = {
    "uncertain": "most uncertain",
    "rare": "rare classes first",
    "disagreement": "zero-shot and probe disagree",
    "likely_wrong": "likely wrong (the probe disputes the human label)",
}
SOURCE_NAMES = {"zeroshot": "zero-shot", "probe": "probe"}
LIMIT = 500  # samples a label queue holds (build it again for the next ones)


@dataclass(frozen=True)
class LabelQueueSpec:
    """A label queue: `kind` (KINDS) of label field `field`, built at `since_us` (µs since the epoch; not compared).

    uncertain and rare rank by the proposals of `source`; disagreement compares both sources, likely_wrong
    judges by the probe. `proposer` is the source whose proposal a sample's page pre-selects.
    """

    field: str
    kind: str
    source: str = "probe"
    since_us: int = dataclasses.field(default=0, compare=False)
    hide_reviewed: bool = True

    @property
    def proposer(self) -> str:
        """The proposal source whose proposal is pre-selected."""
        return self.source if self.kind in ("uncertain", "rare") else "probe"

    def describe(self) -> str:
        """A one-line title for the queue."""
        by = f", by the {SOURCE_NAMES[self.source]} proposals" if self.kind in ("uncertain", "rare") else ""
        return f"label {self.field}: {KINDS[self.kind]}{by}"

    def done_sql(self, where: str) -> str:
        """SELECT sample_id, n, reviewers of the members (`where`) labelled in the field since the queue was built
        (undone labels do not count)."""
        undone = f"SELECT undo_of FROM reviews WHERE {where} AND action = 'undo' AND undo_of IS NOT NULL"
        return ("SELECT sample_id, count(DISTINCT reviewer) AS n, list(DISTINCT reviewer) AS reviewers FROM reviews "
                f"WHERE {where} AND action = 'label' AND label_field = {quote_literal(self.field)} "
                f"AND epoch_us(ts) >= {int(self.since_us)} AND event_id NOT IN ({undone}) GROUP BY sample_id")


@dataclass
class LabelQueue:
    """A built label queue: its ranked members (`queue`), the library's item per sample (reason, score, note)
    and the stored proposals of each member by source (rows of LABEL_PROPOSALS columns)."""

    spec: LabelQueueSpec
    queue: Queue
    items: dict[str, label_queues.QueueItem]
    proposals: dict[str, dict[str, dict]]

    def proposal(self, sample_id: str, source: str | None = None) -> dict | None:
        """The stored proposal of `source` (default: the spec's proposer) for a member, or None."""
        return self.proposals.get(source or self.spec.proposer, {}).get(sample_id)


def sources(catalog: Catalog, field_name: str) -> list[str]:
    """The proposal sources a field has stored proposals of, the probe first."""
    return [s for s in ("probe", "zeroshot") if proposals.count(catalog.workspace, field_name, s)]


def items(catalog: Catalog, spec: LabelQueueSpec, limit: int = LIMIT) -> list[label_queues.QueueItem]:
    """The members of a label queue, best first, as curation.labels.queues returns them (LabelError: it cannot)."""
    ws = catalog.workspace
    if spec.kind == "uncertain":
        return label_queues.uncertain(ws, spec.field, limit, source=spec.source)
    if spec.kind == "rare":
        return label_queues.rare_first(ws, spec.field, limit, source=spec.source)
    if spec.kind == "disagreement":
        return label_queues.disagreement(ws, spec.field, limit)
    if spec.kind == "likely_wrong":
        return label_queues.likely_wrong(ws, spec.field, limit)
    raise LabelError(f"unknown label queue {spec.kind!r}; known: {', '.join(KINDS)}")


def build(catalog: Catalog, spec: LabelQueueSpec) -> LabelQueue:
    """Build the label queue into the catalog's ui.queue, with its members' stored proposals."""
    found = items(catalog, spec)
    ids = [i.sample_id for i in found]
    queue = build_listed(catalog, spec, ids)
    stored = {}
    for source in PROPOSAL_SOURCES:
        table = proposals.read(catalog.workspace, spec.field, source, ids)
        if table is not None:
            rows = table.select(["sample_id", "proposal", "confidence", "model_version", "placeholder"]).to_pylist()
            stored[source] = {r["sample_id"]: r for r in rows}
    return LabelQueue(spec, queue, {i.sample_id: i for i in found}, stored)


def describe(label_field: LabelField, value: str | None) -> str:
    """A review-log label value in words: its classes, "none of these", "cleared", or why it is not usable."""
    if value is None:
        return "cleared"
    if value == NONE_OF_THESE and not label_field.multi:
        return "none of these"
    try:
        return ", ".join(c for c in label_field.class_names if c in decode(label_field, value)) or "none of these"
    except LabelError:
        return f"{value!r} (not a class of the field)"


def history(catalog: Catalog, label_field: LabelField, sample_id: str) -> list[dict]:
    """The sample's label events of the field, oldest first: when (UTC), who, what, and who undid it if anyone."""
    rows = catalog.query(
        "SELECT e.ts, e.reviewer, e.role, e.label_value, u.undone_by FROM reviews e LEFT JOIN ("
        "SELECT undo_of, arg_min(reviewer, ts) AS undone_by FROM reviews WHERE sample_id = $1 AND action = 'undo' "
        "GROUP BY undo_of) u ON u.undo_of = e.event_id "
        "WHERE e.sample_id = $1 AND e.action = 'label' AND e.label_field = $2 ORDER BY e.ts, e.session, e.seq",
        [sample_id, label_field.name]).to_pylist()
    return [{"when": _utc(r["ts"]), "who": r["reviewer"] + (f" ({r['role']})" if r["role"] else ""),
             "label": describe(label_field, r["label_value"]), "undone by": r["undone_by"] or ""} for r in rows]


def _utc(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
