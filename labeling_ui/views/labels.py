"""Labels: human labels for one field of the workspace vocabulary, a label queue at a time, by keyboard.

Keys: 1-9 the class numbered so (single-label: record it; multi-label: toggle it in the selection; classes
after the ninth are buttons only), 0 none of these (recorded at once), A accept the selection (the model's
proposal until you change it), J / K next / previous sample, U undo, Left / Right previous / next page.
Queues (labeling_ui.labelling.KINDS): most uncertain, rare classes first, zero-shot and probe disagree,
likely wrong. Pages are leased as on the Review queue page: two reviewers on one queue see disjoint samples.
A proposal is shown as the model's ("proposed: …") and is never written to the review log; a reviewer's
choice is, as a label event with the signed-in reviewer, and undo appends an undo event. The focused
sample's label history (who, when, what, undone by whom) comes from the log.
"""
import streamlit as st

from curation.errors import GristmillError
from curation.labels.human import encode
from curation.labels.vocabulary import LabelField, Vocabulary, load_vocabulary
from labeling_ui import labelling, paging, state, widgets
from labeling_ui.labelling import SOURCE_NAMES, LabelQueue, LabelQueueSpec

COLUMNS = 3
KEYED = 9  # classes with a number key


def _spec(s: state.Session, vocabulary: Vocabulary) -> LabelQueueSpec:
    sb = st.sidebar
    sb.subheader("Label queue")
    names = [f.name for f in vocabulary.fields]
    state.keep("l_field", names[0], names)
    name = sb.selectbox("field", names, key="l_field")
    kinds = list(labelling.KINDS)
    state.keep("l_kind", kinds[0], kinds)
    kind = sb.selectbox("queue", kinds, key="l_kind", format_func=labelling.KINDS.get)
    source = "probe"
    if kind in ("uncertain", "rare"):
        found = labelling.sources(s.catalog, name) or [source]
        state.keep("l_source", found[0], found)
        source = sb.radio("ranked by the proposals of", found, key="l_source", horizontal=True,
                          format_func=SOURCE_NAMES.get)
    sb.button("Build the queue again", key="l_rebuild", on_click=_forget_queue,
              help="for the next samples, or after new proposals")
    return LabelQueueSpec(name, kind, source)


def _queue(s: state.Session, spec: LabelQueueSpec) -> LabelQueue:
    return paging.built("label_queue", spec, lambda spec: labelling.build(s.catalog, spec))


# -- actions (button callbacks: they run before the page is drawn again) -------------------------------------
def _forget_queue() -> None:
    st.session_state.pop("label_queue", None)


def _selection_key(label_field: LabelField, sample_id: str) -> str:
    return f"label_selection_{label_field.name}_{sample_id}"


def _label(label_field: LabelField, sample_id: str, classes: frozenset[str], n_rows: int, has_next: bool) -> None:
    """Record `classes` (empty: none of these) as the sample's human label, then focus the next sample."""
    state.record(state.session().log.label(sample_id, label_field.name, encode(label_field, classes)))
    st.session_state.pop(_selection_key(label_field, sample_id), None)
    paging.move_focus(1, n_rows, has_next)


def _toggle(label_field: LabelField, sample_id: str, name: str, selected: frozenset[str]) -> None:
    st.session_state[_selection_key(label_field, sample_id)] = selected ^ {name}


# -- drawing -----------------------------------------------------------------------------------------------
def _proposal_line(built: LabelQueue, sample_id: str, source: str) -> str | None:
    proposal = built.proposal(sample_id, source)
    if proposal is None:
        return None
    by = SOURCE_NAMES[source] + (f" {proposal['model_version']}" if source == "probe" else "")
    line = f":blue[proposed:] {', '.join(proposal['proposal']) or 'none of these'} ({proposal['confidence']:.2f}, {by})"
    return line + (" · :orange[placeholder weights: no meaning]" if proposal["placeholder"] else "")


def _human_line(label_field: LabelField, row: dict) -> str:
    value = dict(row["labels"] or {}).get(label_field.name)
    return f"**human label:** {labelling.describe(label_field, value)}" if value else ":grey[no human label yet]"


def _card(built: LabelQueue, label_field: LabelField, row: dict, index: int, focused: bool) -> None:
    with st.container(border=True):
        widgets.sample_head(row, focused)
        st.markdown(row["caption"] or "*(no caption)*")
        st.markdown(_proposal_line(built, row["sample_id"], built.spec.proposer) or ":grey[no proposal]")
        st.markdown(_human_line(label_field, row))
        widgets.focus_button(row, index, focused)


def _class_buttons(label_field: LabelField, sample_id: str, proposed: frozenset[str], selected: frozenset[str],
                   n_rows: int, has_next: bool) -> None:
    with st.container(horizontal=True):
        for k, name in enumerate(label_field.class_names, 1):
            mark = ("☑ " if name in selected else "☐ ") if label_field.multi else ""
            text = f"{f'{k} · ' if k <= KEYED else ''}{mark}{name}{' (proposed)' if name in proposed else ''}"
            if label_field.multi:
                action, args = _toggle, (label_field, sample_id, name, selected)
            else:
                action, args = _label, (label_field, sample_id, frozenset([name]), n_rows, has_next)
            st.button(text, key=f"class_{k}", shortcut=str(k) if k <= KEYED else None, on_click=action, args=args,
                      type="primary" if name in selected else "secondary")
        st.button("0 · none of these", key="none_of_these", shortcut="0", on_click=_label,
                  args=(label_field, sample_id, frozenset(), n_rows, has_next))


def _toolbar(built: LabelQueue, label_field: LabelField, row: dict, n_rows: int, has_next: bool) -> None:
    sid = row["sample_id"]
    st.markdown(f"**Focused:** `{sid}`")
    st.caption(f"in this queue: {built.items[sid].note or built.items[sid].reason}")
    proposer = built.spec.proposer
    for source in [proposer, *(other for other in SOURCE_NAMES if other != proposer)]:
        line = _proposal_line(built, sid, source)
        if line:
            st.markdown(line + (" · pre-selected" if source == proposer else ""))
    st.markdown(_human_line(label_field, row))
    proposal = built.proposal(sid)
    proposed = frozenset(proposal["proposal"]) if proposal else frozenset()
    selected = st.session_state.get(_selection_key(label_field, sid), proposed) if label_field.multi else proposed
    _class_buttons(label_field, sid, proposed, selected, n_rows, has_next)
    cols = st.columns([3, 2, 2, 2])
    changed = selected != proposed
    cols[0].button(f"Accept {'selection' if changed else 'proposal'}", key="accept_label", shortcut="A",
                   on_click=_label, args=(label_field, sid, selected, n_rows, has_next),
                   disabled=proposal is None and not changed)
    paging.sample_buttons(cols[1], cols[2], n_rows, has_next)
    widgets.undo_button(cols[3])
    st.markdown("**Label history**")
    events = labelling.history(state.session().catalog, label_field, sid)
    if events:
        st.dataframe(events, hide_index=True)
    else:
        st.caption("no label events yet")


def main() -> None:
    s = state.session()
    st.title("Labels")
    try:
        vocabulary = load_vocabulary(s.workspace)
    except GristmillError as exc:
        st.error(str(exc))
        st.stop()
    if not vocabulary.fields:
        st.info("No label fields yet: declare them with `gristmill labels define WS vocabulary.yaml`.")
        st.stop()
    spec = _spec(s, vocabulary)
    size = paging.page_size()
    built = _queue(s, spec)
    label_field = vocabulary.field(spec.field)
    shown, rows = paging.show(s, built.queue, size, built.spec.describe(), "labelled")
    if not rows:
        return
    focus = paging.focused(len(rows))
    _toolbar(built, label_field, rows[focus], len(rows), shown.has_next)
    widgets.grid(rows, COLUMNS, lambda row, i: _card(built, label_field, row, i, i == focus))
    paging.prefetch(s, built.queue, shown)


main()
