"""Leases on samples under review: who is working on what, shared by every process on one workspace.

A lease says that review session `holder` (of `reviewer`) has a sample on its screen until `expires_us`.
A sample is granted to at most `reviews` holders at a time (1 for ordinary queues; 2 for the samples that
are deliberately double-reviewed), never to two sessions of the same reviewer. Leases live in
`<workspace>/reviews/leases.sqlite` (SQLite, rollback journal: every claim is one write transaction, so
several `gristmill review` processes on one workspace exclude each other), survive restarts, and are renewed
by every claim of their holder. A lease whose holder died simply expires (default LEASE_S). Leases are not
decisions: the review log stays the only record of work done, so losing this file loses no work.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from curation.reviews import REVIEWS
from curation.workspace import Workspace

LEASE_FILE = "leases.sqlite"
LEASE_S = 300.0
_BUSY_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    sample_id TEXT NOT NULL,
    holder TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    granted_us INTEGER NOT NULL,
    expires_us INTEGER NOT NULL,
    PRIMARY KEY (sample_id, holder)
);
CREATE INDEX IF NOT EXISTS leases_by_holder ON leases (holder);
CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (expires_us);
"""


@dataclass(frozen=True)
class Lease:
    """One active lease; times in integer µs since the epoch."""

    sample_id: str
    holder: str
    reviewer: str
    granted_us: int
    expires_us: int


class Leases:
    """The workspace's lease table. `lease_s` is how long a claim lasts without renewal (seconds).

    Every method takes `now_us` (default: the wall clock) so that callers and tests can say when.
    """

    def __init__(self, workspace: Workspace, lease_s: float = LEASE_S):
        self.path: Path = workspace.path(REVIEWS, LEASE_FILE)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lease_us = int(lease_s * 1e6)
        self._con = sqlite3.connect(self.path, timeout=_BUSY_MS / 1000, isolation_level=None,
                                    check_same_thread=False)
        self._con.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
        self._con.executescript(_SCHEMA)

    def claim(self, holder: str, reviewer: str, wanted: list[tuple[str, int]],
              now_us: int | None = None) -> dict[str, list[str]]:
        """Grant or renew `holder` a lease on each (sample_id, reviews) it can have.

        A sample is grantable while fewer than `reviews` other holders have it and none of them is a
        session of `reviewer`. Returns, in the order asked, each granted sample with the reviewers of the
        other sessions that held it at that moment (so a caller can count them with those who decided it).
        """
        now = _now(now_us)
        granted = {}
        with self._write(now) as con:
            for sample_id, reviews in wanted:
                others = [r for (r,) in con.execute("SELECT reviewer FROM leases WHERE sample_id = ? AND holder <> ?",
                                                    [sample_id, holder]).fetchall()]
                if len(others) >= reviews or reviewer in others:
                    continue
                con.execute("INSERT INTO leases VALUES (?, ?, ?, ?, ?) ON CONFLICT (sample_id, holder) "
                            "DO UPDATE SET expires_us = excluded.expires_us",
                            [sample_id, holder, reviewer, now, now + self.lease_us])
                granted[sample_id] = others
        return granted

    def keep_only(self, holder: str, sample_ids: list[str], now_us: int | None = None) -> None:
        """Release `holder`'s leases on every sample not in `sample_ids` and renew the rest."""
        now = _now(now_us)
        with self._write(now) as con:
            listed = json.dumps(list(sample_ids))
            con.execute("DELETE FROM leases WHERE holder = ? AND sample_id NOT IN (SELECT value FROM json_each(?))",
                        [holder, listed])
            con.execute("UPDATE leases SET expires_us = ? WHERE holder = ?", [now + self.lease_us, holder])

    def release(self, holder: str, sample_ids: list[str] | None = None) -> int:
        """Release `holder`'s leases on `sample_ids` (all of them when None); how many were released."""
        with self._write(None) as con:
            if sample_ids is None:
                return con.execute("DELETE FROM leases WHERE holder = ?", [holder]).rowcount
            listed = json.dumps(list(sample_ids))
            return con.execute("DELETE FROM leases WHERE holder = ? AND sample_id IN (SELECT value FROM json_each(?))",
                               [holder, listed]).rowcount

    def active(self, now_us: int | None = None) -> list[Lease]:
        """Every lease that has not expired at `now_us`, by sample_id then holder."""
        rows = self._con.execute("SELECT * FROM leases WHERE expires_us > ? ORDER BY sample_id, holder",
                                 [_now(now_us)]).fetchall()
        return [Lease(*row) for row in rows]

    def held(self, holder: str, now_us: int | None = None) -> list[str]:
        """The samples `holder` has active leases on, sorted."""
        rows = self._con.execute("SELECT sample_id FROM leases WHERE holder = ? AND expires_us > ? ORDER BY 1",
                                 [holder, _now(now_us)]).fetchall()
        return [sid for (sid,) in rows]

    def held_by_others(self, holder: str, now_us: int | None = None) -> dict[str, int]:
        """Samples with active leases of holders other than `holder`, and how many such holders each has."""
        rows = self._con.execute("SELECT sample_id, count(*) FROM leases WHERE holder <> ? AND expires_us > ? "
                                 "GROUP BY sample_id", [holder, _now(now_us)]).fetchall()
        return dict(rows)

    def close(self) -> None:
        """Close the connection (the leases stay in the file)."""
        self._con.close()

    @contextmanager
    def _write(self, now: int | None) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: it waits for other writers), dropping leases expired at `now`."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            if now is not None:
                self._con.execute("DELETE FROM leases WHERE expires_us <= ?", [now])
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")


def _now(now_us: int | None) -> int:
    return time.time_ns() // 1000 if now_us is None else int(now_us)
