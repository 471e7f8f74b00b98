"""One data Engine per workspace for every session of a server process, reloaded when engine/CURRENT changes.

The Engine keeps every sample's features (the embedding matrix) in memory, so one per browser session
would cost that memory per open tab. Sessions run in threads: `use()` serialises them on a lock.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from curation.workspace import Workspace

_POOL: dict[Path, "SharedEngine"] = {}
_POOL_LOCK = threading.Lock()


class SharedEngine:
    """A lazily built curation.engine.Engine over `workspace`, used by one caller at a time."""

    def __init__(self, workspace: Workspace):
        self.workspace = workspace
        self._lock = threading.RLock()
        self._engine = None
        self._stamp: tuple | None = None

    @contextmanager
    def use(self) -> Iterator:
        """The engine, after forgetting its cached samples and model if engine/CURRENT changed since last use.

        A change made inside the block (this engine trained a new version) needs no reload.
        """
        from curation.engine import Engine  # scikit-learn: imported only when a page uses the engine

        with self._lock:
            stamp = _stamp(self.workspace)
            if self._engine is None:
                self._engine = Engine(self.workspace)
            elif stamp != self._stamp:
                self._engine.refresh()
            try:
                yield self._engine
            finally:
                self._stamp = _stamp(self.workspace)


def shared(workspace: Workspace) -> SharedEngine:
    """The process's SharedEngine of `workspace` (one per resolved workspace root)."""
    root = workspace.root.resolve()
    with _POOL_LOCK:
        if root not in _POOL:
            _POOL[root] = SharedEngine(workspace)
        return _POOL[root]


def _stamp(workspace: Workspace) -> tuple | None:
    """What identifies the current engine/CURRENT: its content and file identity, None when absent."""
    from curation.engine.store import CURRENT, ENGINE

    pointer = workspace.path(ENGINE, CURRENT)
    try:
        info = pointer.stat()
        return pointer.read_text(), info.st_ino, info.st_mtime_ns
    except FileNotFoundError:
        return None
