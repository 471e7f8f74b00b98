"""Background compaction of the review log while the app is up: one daemon thread per workspace and process.

Every `interval_s` seconds the thread compacts the log (curation.reviews.compact) once the journals hold at
least `min_bytes` not yet compacted, so readers find most events in a few sorted Parquet files instead of
long journals, and each compacted file holds a useful share of events. Compaction is safe next to live
writers and other `gristmill review` processes on the workspace (it takes the log's compaction lock, and
keeps the journals of live sessions); a failed round is logged and retried at the next interval.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from curation.reviews import CompactReport, compact, pending_bytes
from curation.workspace import Workspace

log = logging.getLogger(__name__)

INTERVAL_S = 60.0
MIN_BYTES = 16 << 20  # about 65,000 events: few, large compacted files (a lookup costs a little per file)
_RUNNING: dict[Path, "Compactor"] = {}
_RUNNING_LOCK = threading.Lock()


class Compactor:
    """Compacts one workspace's review log in a daemon thread until `stop()`."""

    def __init__(self, workspace: Workspace, interval_s: float = INTERVAL_S, min_bytes: int = MIN_BYTES):
        self.workspace, self.interval_s, self.min_bytes = workspace, interval_s, min_bytes
        self.rounds: list[CompactReport] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"compact {workspace.root}", daemon=True)

    def start(self) -> "Compactor":
        """Start the thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the round in progress, if any."""
        self._stop.set()
        self._thread.join()

    def run_once(self) -> CompactReport | None:
        """Compact if enough journal bytes are pending; the report, or None when it waited."""
        if pending_bytes(self.workspace) < self.min_bytes:
            return None
        report = compact(self.workspace)
        self.rounds.append(report)
        return report

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.run_once()
            except Exception:  # noqa: BLE001 - the thread must outlive one failed round (disk full, NFS hiccup)
                log.exception("background compaction of %s failed; retrying in %.0f s",
                              self.workspace.root, self.interval_s)


def ensure_running(workspace: Workspace, interval_s: float = INTERVAL_S) -> Compactor | None:
    """The process's compactor of `workspace`, started on first call; None when `interval_s` is 0 (off)."""
    if interval_s <= 0:
        return None
    root = workspace.root.resolve()
    with _RUNNING_LOCK:
        if root not in _RUNNING:
            _RUNNING[root] = Compactor(workspace, interval_s, MIN_BYTES).start()
        return _RUNNING[root]
