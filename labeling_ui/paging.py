"""Leased pages of the session's queue and the focused sample on one, shared by the Review queue and Labels pages.

A session has one built queue at a time (`st.session_state.queue`, whose members are the catalog's ui.queue):
the page that builds another queue calls `reset`. `claim` leases the page on screen (labeling_ui.work),
which renews its leases and releases the session's others. Keys: J / K next / previous sample, Left / Right
previous / next page; actions move the focus on with `move_focus`, past a page's end onto the next page.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import streamlit as st

from curation.errors import GristmillError
from curation.reviews import now_us
from labeling_ui import queues, state, work
from labeling_ui.queues import Queue

PAGE_SIZES = [6, 12, 24, 48]


@dataclass(frozen=True)
class Shown:
    """The page on screen: its leased members, its index (from 0), whether one follows, and its size."""

    claim: work.Page
    index: int
    has_next: bool
    n_pages: int
    size: int


def reset() -> None:
    """Start a newly built queue at its first page, focused on its first sample."""
    st.session_state.page_starts = [1]
    st.session_state.page_index = 0
    st.session_state.focus = 0


def built(key: str, spec, build: Callable):
    """The session's built queue `key` (an object with `spec` and `queue`), built again by `build(spec)`, with
    `spec.since_us` now, when the spec changed or another page built another queue since; a GristmillError
    while building is shown and stops the page."""
    made = st.session_state.get(key)
    if made is None or made.spec != spec or st.session_state.get("queue") is not made.queue:
        with st.spinner("Building the queue…"):
            try:
                made = build(replace(spec, since_us=now_us()))
            except GristmillError as exc:  # e.g. no proposals yet
                st.info(str(exc))
                st.stop()
        st.session_state[key] = made
        st.session_state.queue = made.queue  # the session's one built queue
        reset()
    return made


def page_size() -> int:
    """The sidebar's "samples per page" (kept across pages)."""
    state.keep("page_size", 12, PAGE_SIZES)
    return st.sidebar.selectbox("samples per page", PAGE_SIZES, key="page_size")


def claim(s: state.Session, queue: Queue, size: int) -> Shown:
    """Lease the current page of `queue` (`size` samples) to this session, and remember where the next starts."""
    starts = st.session_state.page_starts
    index = st.session_state.page_index = min(st.session_state.page_index, len(starts) - 1)
    page = work.claim_page(s.catalog, queue, s.leases, s.log.session, s.log.reviewer, starts[index], size)
    del starts[index + 1:]
    starts.append(page.next_rank)
    n_pages = index + 1 + -(-max(0, queue.size - page.next_rank + 1) // size)
    return Shown(page, index, not page.last(queue), n_pages, size)


def show(s: state.Session, queue: Queue, size: int, title: str, decided: str) -> tuple[Shown, list[dict]]:
    """Lease the page on screen and load its rows, under a line with `title` and the page buttons; an empty
    page gets a note (`decided`: what takes a sample out of the queue, e.g. "labelled")."""
    shown = claim(s, queue, size)
    rows = queues.rows(s.catalog, queue, shown.claim.ranks)
    st.caption(f"{title} · {summary(queue, shown)}")
    page_buttons(shown)
    if not rows:
        st.info("This queue is empty." if queue.size == 0 else
                f"Every sample left in this queue is on another reviewer's screen or {decided}.")
    return shown, rows


def summary(queue: Queue, shown: Shown) -> str:
    """"N samples · page i of n"."""
    return f"{queue.size:,} samples · page {shown.index + 1:,} of {shown.n_pages:,}"


def page_buttons(shown: Shown) -> None:
    """The previous / next page buttons (Left / Right)."""
    nav = st.columns([1, 1, 4])
    nav[0].button("◀ Page", key="prev_page", shortcut="Left", on_click=turn_page, args=(-1, shown.has_next),
                  disabled=shown.index == 0)
    nav[1].button("Page ▶", key="next_page", shortcut="Right", on_click=turn_page, args=(1, shown.has_next),
                  disabled=not shown.has_next)


def sample_buttons(next_col, prev_col, n_rows: int, has_next: bool) -> None:
    """The next / previous sample buttons (J / K) in the given columns."""
    next_col.button("Next", key="next_sample", shortcut="J", on_click=move_focus, args=(1, n_rows, has_next))
    prev_col.button("Previous", key="prev_sample", shortcut="K", on_click=move_focus, args=(-1, n_rows, has_next))


def focused(n_rows: int) -> int:
    """The focused row of a page of `n_rows` (kept within it)."""
    st.session_state.focus = min(st.session_state.focus, n_rows - 1)
    return st.session_state.focus


def prefetch(s: state.Session, queue: Queue, shown: Shown) -> None:
    """Load the details of the pages after this one when they are near (queues.prefetch_after)."""
    queues.prefetch_after(s.catalog, queue, shown.claim.next_rank - 1, shown.size)


# -- button callbacks (they run before the page is drawn again) ---------------------------------------------
def move_focus(step: int, n_rows: int, has_next: bool) -> None:
    """Focus the sample `step` rows on, across page ends."""
    focus, page_index = st.session_state.focus + step, st.session_state.page_index
    if focus >= n_rows:
        focus, page_index = (0, page_index + 1) if has_next else (n_rows - 1, page_index)
    elif focus < 0:
        focus, page_index = (st.session_state.page_size - 1, page_index - 1) if page_index > 0 else (0, 0)
    st.session_state.focus, st.session_state.page_index = focus, page_index


def turn_page(step: int, has_next: bool) -> None:
    """Go `step` pages on (not past the last), focused on the first sample."""
    if step < 0 or has_next:
        st.session_state.page_index = max(0, st.session_state.page_index + step)
    st.session_state.focus = 0


def set_focus(index: int) -> None:
    """Focus row `index` of the page."""
    st.session_state.focus = index
