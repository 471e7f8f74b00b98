"""Review queue: a page of samples from one queue; accept, reject, fix captions and tag, by keyboard.

Keys: A accept, X reject (with the chosen reason), J / K next / previous sample, U undo, Left / Right
previous / next page. Actions apply to the focused sample (marked ▶) and move the focus on.
Pages are handed out under leases (labeling_ui.work): two reviewers on one queue see disjoint samples,
apart from the random audit queue's double-reviewed share (queues.AGREEMENT_SHARE).
The "conflicting decisions" queue holds the samples whose reviewers disagree, with each one's decision.
The "flagged by the model" queue is the data engine's: each card shows the model's probability of
acceptance and why the engine asks; decisions go to the review log like any other, and the model learns
from them when it retrains ("Next samples from the engine" retrains when enough new decisions arrived).
"""
import streamlit as st

from curation.errors import GristmillError
from curation.sql import quote_identifier
from labeling_ui import paging, queues, state, widgets
from labeling_ui.queues import QueueSpec
from schemas import SAMPLE_KINDS

COLUMNS = 3
CONFLICT_RULE = ("Which decision counts: an admin's outranks a reviewer's; among equals the latest by when it was "
                 "made (in the app, or in FiftyOne) wins. A conflict leaves this queue once the reviewers agree "
                 "or an admin decides after them.")


def _spec(s: state.Session) -> QueueSpec:
    sb = st.sidebar
    sb.subheader("Queue")
    kinds = list(queues.QUEUE_KINDS)
    state.keep("q_kind", "audit", kinds)
    kind = sb.selectbox("queue", kinds, key="q_kind", format_func=queues.QUEUE_KINDS.get)
    spec = {"kind": kind}
    if kind == "margin":
        columns = state.cached("score_columns", lambda: queues.score_columns(s.catalog))
        if not columns:
            sb.info("No score columns in this workspace yet: run `gristmill score` first.")
            st.stop()
        state.keep("q_column", queues.default_column(columns), columns)
        spec["column"] = sb.selectbox("score", columns, key="q_column")
        state.keep("q_threshold", _median(s, spec["column"]))
        spec["threshold"] = sb.number_input("threshold", key="q_threshold", format="%.4f")
    elif kind == "audit":
        state.keep("q_subset", "kept", list(queues.AUDIT_SUBSETS))
        spec["subset"] = sb.radio("samples", queues.AUDIT_SUBSETS, key="q_subset", horizontal=True)
        state.keep("q_seed", 0)
        spec["seed"] = int(sb.number_input("seed", key="q_seed", step=1, min_value=0))
    elif kind == "flagged":
        sb.button("Next samples from the engine", key="engine_next", on_click=_engine_next,
                  help="retrains the model when enough new decisions arrived, then asks it for the next samples")
        if "engine_message" in st.session_state:
            sb.caption(st.session_state.engine_message)
    elif kind == "conflicts":
        sb.caption(CONFLICT_RULE)
    elif kind == "dropped":
        reasons = state.cached("drop_reasons", lambda: queues.drop_reasons(s.catalog))
        if not reasons:
            sb.info("No sample was dropped by the current decisions (run `gristmill curate`).")
            st.stop()
        counts = dict(reasons)
        state.keep("q_reason", reasons[0][0], list(counts))
        spec["reason"] = sb.selectbox("filter", list(counts), key="q_reason",
                                      format_func=lambda r: f"{r} ({counts[r]:,})")
    else:
        state.keep("q_text", "")
        label = "caption contains" if kind == "search" else "neighbours of sample_id"
        spec["text"] = sb.text_input(label, key="q_text").strip()
        if not spec["text"]:
            st.info(f"Enter what to look for ({label}) in the sidebar.")
            st.stop()
    kinds = ["any", *SAMPLE_KINDS]
    state.keep("q_sample_kind", "any", kinds)
    sample_kind = sb.radio("kind", kinds, key="q_sample_kind", horizontal=True,
                           help="crawled: images and videos of the URL list; clip: shots cut from the videos")
    spec["sample_kind"] = None if sample_kind == "any" else sample_kind
    if kind != "conflicts":  # every conflicting sample is decided
        state.keep("q_hide", True)
        spec["hide_reviewed"] = sb.checkbox("unreviewed only", key="q_hide")
    else:
        spec["hide_reviewed"] = False
    return QueueSpec(**spec)


def _median(s: state.Session, column: str) -> float:
    def compute() -> float:
        col = queues.column_sql(column, queues.score_columns(s.catalog))
        value = s.catalog.query(f"SELECT median({col}) AS m FROM {quote_identifier(column.split('.')[0])}")
        return float(value.column("m")[0].as_py() or 0.0)

    return state.cached(f"median:{column}", compute)


def _engine_next() -> None:
    admin = state.session().identity.is_admin
    try:
        with state.engine() as engine:
            report = engine.maybe_retrain() if admin else None
        done = f"trained {report.version}" if report else "no retraining due yet" if admin else "only admins retrain"
        st.session_state.engine_message = f"{done}: showing the engine's next samples"
    except GristmillError as exc:
        st.session_state.engine_message = str(exc)
    st.session_state.pop("queue", None)


def _queue(s: state.Session, spec: QueueSpec) -> queues.Queue:
    queue = st.session_state.get("queue")
    if queue is None or queue.spec != spec:
        with st.spinner("Building the queue…"):
            try:
                if spec.kind == "flagged":
                    with state.engine() as engine:
                        queue = queues.build(s.catalog, spec, engine, s.log.reviewer)
                else:
                    queue = queues.build(s.catalog, spec, reviewer=s.log.reviewer)
            except GristmillError as exc:  # e.g. the engine without embeddings
                st.info(str(exc))
                st.stop()
        st.session_state.queue = queue
        paging.reset()
    return queue


# -- actions (button callbacks: they run before the page is drawn again) -------------------------------------
def _decide(sample_id: str, action: str, n_rows: int, has_next: bool) -> None:
    log = state.session().log
    event = log.accept(sample_id) if action == "accept" else log.reject(sample_id, st.session_state.reject_reason)
    state.record(event)
    paging.move_focus(1, n_rows, has_next)


def _edit_caption(sample_id: str, old: str | None) -> None:
    new = st.session_state[f"caption_{sample_id}"].strip()
    if new and new != old:
        state.record(state.session().log.edit_caption(sample_id, new, old))


def _tag(sample_id: str, add: bool, tag: str | None = None) -> None:
    log = state.session().log
    if add:
        tag = st.session_state[f"tag_{sample_id}"].strip()
        st.session_state[f"tag_{sample_id}"] = ""
        if not tag:
            return
    state.record(log.tag(sample_id, tag) if add else log.untag(sample_id, tag))


# -- drawing -----------------------------------------------------------------------------------------------
def _review_line(row: dict) -> str:
    parts = []
    by = f"{row['decision_reviewer']}{' (admin)' if row['decision_role'] == 'admin' else ''}"
    if row["decision"] == "accept":
        parts.append(f":green[accepted] by {by}")
    elif row["decision"] == "reject":
        parts.append(f":red[rejected: {row['reject_reason']}] by {by}")
    if row["conflicting"]:
        parts.append(f":orange[reviewers disagree: {', '.join(row['reviewer_decisions'])}]")
    if row["tags"]:
        parts.append(" ".join(f"`{t}`" for t in row["tags"]))
    return " · ".join(parts) or "not reviewed"


def _model_line(row: dict) -> str:
    if row["model_kind"] == "cold_start":
        return "engine: no model yet, a diverse first pick"
    why = {"audit": f"audit of an automatic {row['model_suggestion']}",
           "flagged": f"flagged, leans {row['model_suggestion']}",
           "calibration": f"a random check for the thresholds, leans {row['model_suggestion']}"}[row["model_kind"]]
    return f"engine: p(accept) {row['model_p']:.3f} · {why}"


def _card(row: dict, index: int, focused: bool, scores: list[str]) -> None:
    with st.container(border=True):
        widgets.sample_head(row, focused)
        if row["final_caption"] is not None:
            st.markdown(f"~~{row['caption'] or ''}~~  \n**{row['final_caption']}**")
        else:
            st.markdown(row["caption"] or "*(no caption)*")
        if row["generated_caption"] is not None:
            st.markdown(f":grey[generated:] {row['generated_caption']}")
        if row["model_kind"] is not None:
            st.caption(_model_line(row))
        values = [f"{c.split('.', 1)[1]} {row[c]:.3g}" for c in scores if row.get(c) is not None]
        st.caption(" · ".join(values))
        outcomes = {True: "kept", False: f"dropped: {row['drop_reason']}", None: "no decision"}
        st.caption(f"filters: {outcomes[row['kept']]}")
        st.markdown(_review_line(row))
        widgets.focus_button(row, index, focused)


def _toolbar(row: dict, n_rows: int, has_next: bool, reasons: list[str]) -> None:
    sid = row["sample_id"]
    st.markdown(f"**Focused:** `{sid}`")
    cols = st.columns([2, 3, 2, 2, 2, 2])
    cols[0].button("Accept", key="accept", shortcut="A", type="primary", on_click=_decide,
                   args=(sid, "accept", n_rows, has_next))
    cols[1].selectbox("reason", reasons, key="reject_reason", label_visibility="collapsed")
    cols[2].button("Reject", key="reject", shortcut="X", on_click=_decide, args=(sid, "reject", n_rows, has_next))
    paging.sample_buttons(cols[3], cols[4], n_rows, has_next)
    widgets.undo_button(cols[5])
    left, right = st.columns(2)
    shown = row["final_caption"] if row["final_caption"] is not None else row["caption"]
    with left.form(f"caption_form_{sid}", border=False):
        st.text_area("caption", value=shown or "", key=f"caption_{sid}", height=80)
        st.form_submit_button("Save caption", on_click=_edit_caption, args=(sid, shown))
    with right:
        st.text_input("add tag", key=f"tag_{sid}", placeholder="tag, then Enter", on_change=_tag, args=(sid, True))
        for tag in row["tags"] or []:
            st.button(f"remove `{tag}`", key=f"untag_{sid}_{tag}", on_click=_tag, args=(sid, False, tag))


def main() -> None:
    s = state.session()
    st.title("Review queue")
    spec = _spec(s)
    size = paging.page_size()
    queue = _queue(s, spec)
    shown = paging.claim(s, queue, size)
    rows = queues.rows(s.catalog, queue, shown.claim.ranks)
    st.caption(f"{spec.describe()} · {paging.summary(queue, shown)}")
    paging.page_buttons(shown)
    if not rows:
        st.info("This queue is empty." if queue.size == 0 else
                "Every sample left in this queue is on another reviewer's screen or decided.")
        return
    focus = paging.focused(len(rows))
    _toolbar(rows[focus], len(rows), shown.has_next, s.log.config.reject_reasons)
    scores = state.cached("score_columns", lambda: queues.score_columns(s.catalog))
    widgets.grid(rows, COLUMNS, lambda row, i: _card(row, i, i == focus, scores))
    paging.prefetch(s, queue, shown)


main()
