"""Per-browser-session state of the review app: who signed in, the workspace, its catalog, the log and leases.

`gristmill review` passes the workspace, the default reviewer, the lease length and the sign-in mode in the
environment (labeling_ui.ENV_*, labeling_ui.auth). Every browser session gets its own session of the process's
Catalog (its own DuckDB connection and queue tables over one shared review state: labeling_ui.shared_catalog),
its own ReviewLog session (its own journal file, named for the signed-in reviewer) and its own connection to
the workspace's leases. The data engine is shared by every session of the process (labeling_ui.shared_engine),
and so is the review log's background compaction (labeling_ui.compactor).
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import streamlit as st

from curation.catalog import Catalog
from curation.errors import GristmillError
from curation.leases import LEASE_S, Leases
from curation.reviews import ReviewLog
from curation.shards import read_media
from curation.workspace import Workspace
from labeling_ui import ENV_COMPACT_S, ENV_LEASE_S, ENV_REVIEWER, ENV_WORKSPACE, auth, compactor, shared_engine
from labeling_ui.shared_catalog import session_catalog
from labeling_ui.auth import AuthConfig, Identity

_KEY = "gristmill"
_IDENTITY = "gristmill_identity"
_SIGNIN_ERROR = "gristmill_signin_error"


@dataclass
class Session:
    """What one browser session works with; `undo_stack` holds the event_ids it may undo, newest last."""

    workspace: Workspace
    catalog: Catalog
    log: ReviewLog
    leases: Leases
    identity: Identity
    undo_stack: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)


def _workspace_root() -> Path:
    root = os.environ.get(ENV_WORKSPACE)
    if not root:
        raise GristmillError(f"{ENV_WORKSPACE} is not set; start the app with: gristmill review WORKSPACE")
    return Path(root)


def auth_config() -> AuthConfig:
    """The sign-in mode `gristmill review` chose (the token file is read once per browser session)."""
    if "gristmill_auth" not in st.session_state:
        st.session_state.gristmill_auth = AuthConfig.from_env(os.environ)
    return st.session_state.gristmill_auth


def signed_in() -> Identity | None:
    """Who this browser session is signed in as, signing in from the proxy header or `?token=` if it can."""
    if _IDENTITY not in st.session_state:
        config = auth_config()
        who = None
        if config.mode == "none":
            who = Identity(os.environ.get(ENV_REVIEWER) or "reviewer", auth.ADMIN)
        elif config.mode == "header":
            who = auth.header_identity(st.context.headers, config.header, config.admins)
        elif "token" in st.query_params:
            who = auth.check_token(config.tokens, st.query_params["token"])
            del st.query_params["token"]  # keep the secret out of the address bar and the history
            if who is None:
                st.session_state[_SIGNIN_ERROR] = "That token is not valid."
        if who is None:
            return None
        st.session_state[_IDENTITY] = who
    return st.session_state[_IDENTITY]


def sign_in() -> Identity:
    """This session's reviewer; when nobody is signed in, draw the sign-in and stop the script."""
    who = signed_in()
    if who is not None:
        return who
    config = auth_config()
    st.title("Sign in")
    if config.mode == "header":
        st.error(f"The signing-in proxy did not name a reviewer in the {config.header} header: open the app "
                 "through the proxy.")
        st.stop()
    with st.form("signin"):
        st.text_input("token", type="password", key="signin_token", help="the token your admin gave you")
        st.form_submit_button("Sign in", on_click=_submit_token)
    if _SIGNIN_ERROR in st.session_state:
        st.error(st.session_state[_SIGNIN_ERROR])
    st.stop()


def _submit_token() -> None:
    who = auth.check_token(auth_config().tokens, st.session_state.get("signin_token") or "")
    st.session_state.signin_token = ""
    if who is None:
        st.session_state[_SIGNIN_ERROR] = "That token is not valid."
    else:
        st.session_state.pop(_SIGNIN_ERROR, None)
        st.session_state[_IDENTITY] = who


def sign_out() -> None:
    """Release this session's leases, close its log and forget everything it held (the log keeps its events)."""
    s = st.session_state.get(_KEY)
    if s is not None:
        s.leases.release(s.log.session)
        s.log.close()
    for key in list(st.session_state):
        del st.session_state[key]


def session() -> Session:
    """This browser session's state, created on first use (after sign-in: see `sign_in`)."""
    if _KEY not in st.session_state:
        who = signed_in()
        if who is None:
            raise auth.AuthError("not signed in")
        workspace = Workspace.open(_workspace_root())
        compactor.ensure_running(workspace, float(os.environ.get(ENV_COMPACT_S) or compactor.INTERVAL_S))
        leases = Leases(workspace, float(os.environ.get(ENV_LEASE_S) or LEASE_S))
        log = ReviewLog(workspace, who.name, role=_recorded_role(who))
        st.session_state[_KEY] = Session(workspace, session_catalog(workspace), log, leases, who)
    return st.session_state[_KEY]


def _recorded_role(who: Identity) -> str | None:
    """The role the log records: the signed-in one; none without sign-in, where everyone acts as an admin
    but nobody's decision should outrank another's (or a FiftyOne edit's) by role."""
    return None if auth_config().mode == "none" else who.role


def require_admin(action: str) -> None:
    """Raise auth.AuthError unless this session's reviewer is an admin (`action` from auth.ADMIN_ACTIONS)."""
    auth.require_admin(session().identity, action)


def switch_reviewer(name: str) -> None:
    """Without sign-in only: continue as another reviewer (a new log session; the old one's leases go)."""
    s = session()
    s.leases.release(s.log.session)
    s.log.close()
    s.identity = st.session_state[_IDENTITY] = Identity(name, s.identity.role)
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


def undo_last() -> None:
    """Undo this session's latest action that is not undone yet (an undo event; nothing when there is none)."""
    s = session()
    if s.undo_stack:
        record(s.log.undo(s.undo_stack[-1]))


def cached(key: str, compute):
    """A per-session memo for catalog summaries that do not change while the app runs (decisions, scores)."""
    s = session()
    if key not in s.cache:
        s.cache[key] = compute()
    return s.cache[key]


@contextmanager
def engine() -> Iterator:
    """The process's data engine (curation.engine.Engine) for this workspace, held for the `with` block."""
    with shared_engine.shared(session().workspace).use() as shared:
        yield shared


def media_bytes(row: dict) -> bytes | None:
    """The stored media of a sample row (None when it has none)."""
    if not row.get("media_path"):
        return None
    return read_media(session().workspace.root, row["media_path"], row["media_offset"], row["media_size"])


def sidebar() -> None:
    """Workspace name, who is reviewing (editable only without sign-in) and problems found in the review log."""
    s = session()
    st.sidebar.caption(f"workspace **{s.workspace.config.name}**")
    if auth_config().mode == "none":
        name = st.sidebar.text_input("reviewer", value=s.log.reviewer, key="reviewer_name")
        if name.strip() and name.strip() != s.log.reviewer:
            switch_reviewer(name.strip())
    else:
        st.sidebar.markdown(f"signed in as **{s.identity.name}** ({s.identity.role})")
        st.sidebar.button("Sign out", key="sign_out", on_click=sign_out)
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
