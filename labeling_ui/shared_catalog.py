"""One Catalog per workspace for a server process; each browser session gets a session of it.

A Catalog keeps the review state (`review_state`, the journal table, its index) in memory: one per browser
session cost that per open tab (about 170-215 MB each at 1M samples and 1M events). Sessions of one shared
Catalog (`Catalog.session`) read one review state, refreshed for all of them by whichever session acted last,
and keep only their own queue tables.
"""
from __future__ import annotations

import threading
from pathlib import Path

from curation.catalog import Catalog, SessionCatalog
from curation.workspace import Workspace

_POOL: dict[Path, Catalog] = {}
_POOL_LOCK = threading.Lock()


def session_catalog(workspace: Workspace) -> SessionCatalog:
    """A new session of the process's Catalog of `workspace` (one per resolved workspace root)."""
    root = workspace.root.resolve()
    with _POOL_LOCK:
        if root not in _POOL:
            _POOL[root] = Catalog(workspace)
        shared = _POOL[root]
    return shared.session()
