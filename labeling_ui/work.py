"""Work distribution: a reviewer's page of a built queue is a set of samples leased to their session.

A page starts at a rank of `ui.queue` and takes the next members, in rank order, that the session can be
granted (curation.leases: not leased to enough other sessions) and, for a queue of unreviewed samples, that
still want a decision (a label, in a label queue: labeling_ui.labelling): the reviewers who decided them plus
those holding them are fewer than `reviews_wanted`, or this reviewer decided them (their own work stays on their
pages). Samples the session already holds stay on its page whoever decided them. Showing a page renews its
leases and releases the session's others, so two reviewers on one queue see disjoint pages. Decisions are
checked after the leases are granted: a reviewer releases a sample only after its decision is on disk, so
whoever is granted it next sees that decision.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from curation.catalog import Catalog
from curation.leases import Leases
from curation.sql import literal_list
from labeling_ui.queues import Queue

MAX_WINDOW = 4096  # members looked at in one round; rounds double their window while they find few


@dataclass(frozen=True)
class Page:
    """A leased page: its members' ranks and sample_ids (rank order) and the rank the next page starts at."""

    ranks: list[int]
    sample_ids: list[str]
    next_rank: int

    def last(self, queue: Queue) -> bool:
        """Whether no member of `queue` comes after this page."""
        return self.next_rank > queue.size


def claim_page(catalog: Catalog, queue: Queue, leases: Leases, holder: str, reviewer: str, start: int,
               size: int, now_us: int | None = None) -> Page:
    """Lease to `holder` (a review session of `reviewer`) the page of up to `size` members from rank `start`."""
    mine = set(leases.held(holder, now_us))
    ranks, ids, cursor, scale = [], [], start, 1
    while len(ids) < size and cursor <= queue.size:
        n = min(MAX_WINDOW, (size - len(ids)) * scale)
        scale *= 2  # many taken or decided since the queue was built: fewer rounds (one refresh each)
        window = _window(catalog, leases.held_by_others(holder, now_us), cursor, n)
        if not window:
            cursor = queue.size + 1
            break
        granted = leases.claim(holder, reviewer, [(r["sample_id"], r["reviews_wanted"]) for r in window], now_us)
        fresh = {sid: others for sid, others in granted.items() if sid not in mine}
        if fresh and queue.spec.hide_reviewed:
            catalog.refresh_reviews()  # decisions written before their lease was released are visible now
        done = _done(catalog, queue, fresh, reviewer) if queue.spec.hide_reviewed else set()
        for row in window:
            sid = row["sample_id"]
            if sid in granted and sid not in done:
                ranks.append(row["rank"])
                ids.append(sid)
            cursor = row["rank"] + 1
            if len(ids) == size:
                break
    leases.keep_only(holder, ids, now_us)
    return Page(ranks, ids, cursor)


def _window(catalog: Catalog, others: dict[str, int], start: int, n: int) -> list[dict]:
    """The next `n` members from rank `start` that other holders do not already fill."""
    held = pa.table({"sample_id": pa.array(list(others), pa.string()),
                     "n": pa.array(list(others.values()), pa.int64())})
    catalog.con.register("_held", held)
    try:
        rows = catalog.con.execute(
            "SELECT q.rank, q.sample_id, q.reviews_wanted FROM ui.queue q LEFT JOIN _held h USING (sample_id) "
            "WHERE q.rank >= ? AND coalesce(h.n, 0) < q.reviews_wanted ORDER BY q.rank LIMIT ?", [start, n]
        ).fetchall()
        return [{"rank": rank, "sample_id": sid, "reviews_wanted": wanted} for rank, sid, wanted in rows]
    finally:
        catalog.con.unregister("_held")


def _done(catalog: Catalog, queue: Queue, fresh: dict[str, list[str]], reviewer: str) -> set[str]:
    """Of the `fresh` grants (sample → reviewers of its other holders), those that need no more reviewers.

    A sample is done when the reviewers who decided it (`queue.spec.done_sql`: in a label queue, labelled it)
    plus those holding it reach its `reviews_wanted`, unless `reviewer` decided it (their own work stays on
    their pages).
    """
    if not fresh:
        return set()
    decided_here = queue.spec.done_sql(f"sample_id IN ({literal_list(fresh)})")
    rows = catalog.con.execute(f"SELECT d.sample_id, d.reviewers, q.reviews_wanted FROM ({decided_here}) d "
                               "JOIN ui.queue q USING (sample_id)").fetchall()
    decided = {sid: (set(reviewers), wanted) for sid, reviewers, wanted in rows}
    done = set()
    for sid, holders in fresh.items():
        reviewers, wanted = decided.get(sid, (set(), None))
        if reviewers and reviewer not in reviewers and len(reviewers | set(holders)) >= wanted:
            done.add(sid)
    return done
