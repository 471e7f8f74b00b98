"""Pieces the review app's queue pages draw alike: a card's head (id, rank, clip span, media), the focus and
undo buttons, and a grid of cards."""
from __future__ import annotations

from typing import Callable

import streamlit as st

from labeling_ui import paging, state


def sample_head(row: dict, focused: bool) -> None:
    """A card's first lines: the sample id and rank (▶ when focused), a clip's span, and its image or video."""
    st.markdown(("**▶ focused** · " if focused else "") + f"`{row['sample_id'][:12]}` · #{row['rank']:,}")
    if row["parent_id"] is not None:
        st.caption(f"{row['kind']} of `{row['parent_id'][:12]}` · {row['start_s']:.2f}–{row['end_s']:.2f} s")
    media = state.media_bytes(row)
    if media is None:
        st.caption(f"(no media: {row['media_type']})")
    elif row["media_type"] == "video":
        st.video(media)
    else:
        st.image(media, width="stretch")


def focus_button(row: dict, index: int, focused: bool) -> None:
    """"Focus" on a card that is not focused (row `index` of the page)."""
    if not focused:
        st.button("Focus", key=f"focus_{row['sample_id']}", on_click=paging.set_focus, args=(index,))


def undo_button(col) -> None:
    """Undo (U): the session's latest action not undone yet, on whichever page it was taken."""
    col.button("Undo", key="undo", shortcut="U", on_click=state.undo_last, disabled=not state.session().undo_stack)


def grid(rows: list[dict], columns: int, card: Callable[[dict, int], None]) -> None:
    """Draw `card(row, index)` for every row, `columns` to a line."""
    for start in range(0, len(rows), columns):
        for col, (i, row) in zip(st.columns(columns), enumerate(rows[start:start + columns], start)):
            with col:
                card(row, i)
