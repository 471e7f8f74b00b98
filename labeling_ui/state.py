"""Per-browser-session state of the review app: the workspace, its catalog and the reviewer's log.

`gristmill review` passes the workspace and the default reviewer in the environment (GRISTMILL_WORKSPACE,
GRISTMILL_REVIEWER). Every browser session gets its own Catalog (a DuckDB connection is not shared across
threads) and its own ReviewLog session (its own journal file).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.reviews import ReviewLog
from curation.shards import read_media
from curation.workspace import Workspace
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE

_KEY = "gristmill"


@dataclass
class Session:
    """What one browser session works with; `undo_stack` holds the event_ids it may undo, newest last."""

    workspace: Workspace
    catalog: Catalog
    log: ReviewLog
    undo_stack: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)


def session() -> Session:
    """This browser session's state, created on first use."""
    if _KEY not in st.session_state:
        root = os.environ.get(ENV_WORKSPACE)
        if not root:
            raise GristmillError(f"{ENV_WORKSPACE} is not set; start the app with: gristmill review WORKSPACE")
        workspace = Workspace.open(Path(root))
        reviewer = os.environ.get(ENV_REVIEWER) or "reviewer"
        st.session_state[_KEY] = Session(workspace, Catalog(workspace), ReviewLog(workspace, reviewer))
    return st.session_state[_KEY]


def switch_reviewer(name: str) -> None:
    """Continue as another reviewer (a new log session)."""
    s = session()
    s.log.close()
    s.log = ReviewLog(s.workspace, name)
    s.undo_stack.clear()


def record(event: dict) -> None:
    """After an action was written: remember it for undo and refresh the catalog's review views."""
    s = session()
    if event["action"] == "undo":
        s.undo_stack.remove(event["undo_of"])
    else:
        s.undo_stack.append(event["event_id"])
    s.catalog.refresh_reviews()


def cached(key: str, compute):
    """A per-session memo for catalog summaries that do not change while the app runs (decisions, scores)."""
    s = session()
    if key not in s.cache:
        s.cache[key] = compute()
    return s.cache[key]


def engine():
    """This session's data engine (curation.engine.Engine; it keeps the samples' features between calls)."""
    from curation.engine import Engine  # scikit-learn: imported only when a page uses the engine

    return cached("engine", lambda: Engine(session().workspace))


def media_bytes(row: dict) -> bytes | None:
    """The stored media of a sample row (None when it has none)."""
    if not row.get("media_path"):
        return None
    return read_media(session().workspace.root, row["media_path"], row["media_offset"], row["media_size"])


def sidebar() -> None:
    """Workspace name, reviewer (editable) and problems found in the review log."""
    s = session()
    st.sidebar.caption(f"workspace **{s.workspace.config.name}**")
    name = st.sidebar.text_input("reviewer", value=s.log.reviewer, key="reviewer_name")
    if name.strip() and name.strip() != s.log.reviewer:
        switch_reviewer(name.strip())
    st.sidebar.caption(f"session `{s.log.session}`")
    for problem in s.catalog.review_problems:
        st.sidebar.warning(problem)


def keep(key: str, default, options: list | None = None):
    """Make the widget `key` keep its value across page switches (Streamlit drops state of unrendered widgets).

    Call before creating the widget with `key=key` and no `value`; a kept value no longer among `options`
    is replaced by `default`. Returns the value the widget will show.
    """
    shadow = f"_keep_{key}"
    value = st.session_state[key] if key in st.session_state else st.session_state.get(shadow, default)
    if options is not None and value not in options:
        value = default
    st.session_state[key] = st.session_state[shadow] = value
    return value


def preset(**values) -> None:
    """Set kept widget values from another page (e.g. Search opening its results as a review queue)."""
    for key, value in values.items():
        st.session_state[f"_keep_{key}"] = value
        st.session_state.pop(key, None)
