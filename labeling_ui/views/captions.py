"""Captions: judge generated captions, most likely edit first, by keyboard.

Keys: G accept the generated caption (an `edit_caption` event setting it), O keep the original alt-text (the
tag `caption_ok`), E open the edit box for a new caption (Save, or Ctrl+Enter in the box: an `edit_caption`
event), J / K next / previous sample, U undo, Left / Right previous / next page. Pages are leased as on the
other queue pages. The generated caption is shown as the model's proposal and is never the human caption
until a reviewer accepts it. The queue's order (labeling_ui.captioning) comes from the caption attention
model once there are enough human caption decisions, from a heuristic before.
"""
import streamlit as st

from curation.labels.caption_attention import CAPTION_OK
from labeling_ui import captioning, paging, state, widgets
from labeling_ui.captioning import CaptionQueue, CaptionQueueSpec

COLUMNS = 3
EDITING = "caption_editing"  # session key: the sample whose edit box is open


def _forget_queue() -> None:
    st.session_state.pop("caption_queue", None)


# -- actions (button callbacks: they run before the page is drawn again) -------------------------------------
def _human(row: dict) -> str:
    """The caption a reviewer sees as the sample's: the latest human edit, else the alt-text."""
    return row["final_caption"] if row["final_caption"] is not None else row["caption"]


def _set_caption(row: dict, new: str | None, n_rows: int, has_next: bool) -> None:
    """Record `new` as the sample's caption (nothing when empty or unchanged), then focus the next sample."""
    new = (new or "").strip()
    if new and new != _human(row):
        state.record(state.session().log.edit_caption(row["sample_id"], new, _human(row)))
    st.session_state.pop(EDITING, None)
    paging.move_focus(1, n_rows, has_next)


def _keep_alt_text(row: dict, n_rows: int, has_next: bool) -> None:
    state.record(state.session().log.tag(row["sample_id"], CAPTION_OK))
    paging.move_focus(1, n_rows, has_next)


def _save(row: dict, n_rows: int, has_next: bool) -> None:
    _set_caption(row, st.session_state[f"new_caption_{row['sample_id']}"], n_rows, has_next)


def _open_editor(sample_id: str) -> None:
    st.session_state[EDITING] = sample_id


# -- drawing -----------------------------------------------------------------------------------------------
def _lines(built: CaptionQueue, row: dict) -> list[str]:
    sid = row["sample_id"]
    model = built.model_ids.get(sid) or "unknown model"
    generated = row["generated_caption"]
    human = (f"**human caption:** {row['final_caption']}" if row["final_caption"] is not None
             else f"**human:** alt-text kept (`{CAPTION_OK}`)" if CAPTION_OK in (row["tags"] or [])
             else ":grey[no human caption decision yet]")
    return [f"**alt-text:** {row['caption'] or '*(none)*'}",
            f":blue[proposed caption:] {generated or '*(none)*'} ({model})", human]


def _card(built: CaptionQueue, row: dict, index: int, focused: bool) -> None:
    with st.container(border=True):
        widgets.sample_head(row, focused)
        for line in _lines(built, row):
            st.markdown(line)
        widgets.focus_button(row, index, focused)


def _toolbar(built: CaptionQueue, row: dict, n_rows: int, has_next: bool) -> None:
    sid = row["sample_id"]
    st.markdown(f"**Focused:** `{sid}`")
    how = "heuristic score" if built.by == "heuristic" else f"p(edit) by caption model {built.by}"
    st.caption(f"in this queue: {how} {built.p.get(sid, 0.0):.2f}")
    cols = st.columns([3, 3, 2, 2, 2, 2])
    generated = row["generated_caption"]
    cols[0].button("G · accept generated", key="accept_generated", shortcut="G", type="primary",
                   on_click=_set_caption, args=(row, generated, n_rows, has_next),
                   disabled=not generated or generated == _human(row))
    cols[1].button("O · keep alt-text", key="keep_alt_text", shortcut="O", on_click=_keep_alt_text,
                   args=(row, n_rows, has_next), disabled=not row["caption"])
    cols[2].button("E · edit", key="edit_caption", shortcut="E", on_click=_open_editor, args=(sid,))
    paging.sample_buttons(cols[3], cols[4], n_rows, has_next)
    widgets.undo_button(cols[5])
    if st.session_state.get(EDITING) == sid:
        with st.form(f"caption_form_{sid}", border=False):
            st.text_area("new caption", value=generated or _human(row) or "", key=f"new_caption_{sid}", height=80)
            st.form_submit_button("Save caption", on_click=_save, args=(row, n_rows, has_next))


def main() -> None:
    s = state.session()
    st.title("Captions")
    st.sidebar.subheader("Caption queue")
    st.sidebar.button("Build the queue again", key="c_rebuild", on_click=_forget_queue,
                      help="for the next samples, or to re-rank with a model trained on the latest decisions")
    size = paging.page_size()
    built = paging.built("caption_queue", CaptionQueueSpec(), lambda spec: captioning.build(s.catalog, spec))
    by = "ordered by a heuristic (too few caption decisions for a model)" if built.by == "heuristic" \
        else f"ordered by caption model {built.by}"
    shown, rows = paging.show(s, built.queue, size, f"{built.spec.describe()}, {by}", "decided")
    if not rows:
        return
    focus = paging.focused(len(rows))
    _toolbar(built, rows[focus], len(rows), shown.has_next)
    widgets.grid(rows, COLUMNS, lambda row, i: _card(built, row, i, i == focus))
    paging.prefetch(s, built.queue, shown)


main()
