"""Threshold tuner: a slider per score filter, live kept/dropped counts, the samples at each threshold."""
import pandas as pd
import streamlit as st

from curation.errors import GristmillError
from labeling_ui import queues, state, tuner
from labeling_ui.tuner import Threshold

REVIEW_PAGE = "views/review_queue.py"


def _examples(rows: list[dict], title: str) -> None:
    st.caption(title)
    cols = st.columns(max(1, len(rows)))
    for col, row in zip(cols, rows):
        with col:
            media = state.media_bytes(row)
            if media is not None and row["media_type"] == "image":
                st.image(media, width="stretch")
            st.caption(f"{row['value']:.4g} · {row['caption'] or ''}")


def _threshold(column: str, lo: float, hi: float) -> Threshold:
    st.markdown(f"**{column}**")
    op_col, value_col = st.columns([1, 4])
    state.keep(f"op_{column}", "min", ["min", "max"])
    op = op_col.radio("keep", ["min", "max"], key=f"op_{column}", horizontal=True,
                      format_func={"min": "≥", "max": "≤"}.get)
    step = (hi - lo) / 200 or 1.0
    state.keep(f"t_{column}", lo + (hi - lo) / 2)
    if not lo <= st.session_state[f"t_{column}"] <= hi:
        st.session_state[f"t_{column}"] = lo
    value = value_col.slider("threshold", min_value=lo, max_value=max(hi, lo + step), step=step,
                             key=f"t_{column}", label_visibility="collapsed")
    return Threshold(column, op, value)


def main() -> None:
    s = state.session()
    st.title("Threshold tuner")
    columns = state.cached("score_columns", lambda: queues.score_columns(s.catalog))
    if not columns:
        st.info("No scores yet: run `gristmill score`.")
        return
    state.keep("tuner_columns", [queues.default_column(columns)])
    chosen = st.multiselect("filters", columns, key="tuner_columns")
    if not chosen:
        return
    key = tuple(chosen)
    if st.session_state.get("tuner_built") != key:
        with st.spinner("Loading scores…"):
            tuner.build(s.catalog, chosen)
            st.session_state.tuner_ranges = tuner.ranges(s.catalog, chosen)
        st.session_state.tuner_built = key
    thresholds = [_threshold(c, *st.session_state.tuner_ranges[c]) for c in chosen]
    st.session_state.thresholds = {t.column: {"op": t.op, "value": t.value} for t in thresholds}

    result = tuner.counts(s.catalog, thresholds)
    total, kept = result["total"], result["kept"]
    a, b, c = st.columns(3)
    a.metric("crawled samples", f"{total:,}")
    b.metric("kept", f"{kept:,}" + (f" ({kept / total:.1%})" if total else ""))
    c.metric("dropped", f"{total - kept:,}")
    st.dataframe(pd.DataFrame(result["filters"]), hide_index=True)

    for t in thresholds:
        with st.expander(f"{t.column} around {t.value:.4g}", expanded=len(thresholds) == 1):
            above, below = tuner.near(s.catalog, t)
            _examples(above, "just kept")
            _examples(below, "just dropped")
            if st.button("Review this margin in the queue", key=f"margin_{t.column}"):
                state.preset(q_kind="margin", q_column=t.column, q_threshold=float(t.value))
                st.switch_page(REVIEW_PAGE)

    st.subheader("Save as recipe")
    name = st.text_input("recipe name", key="recipe_name", placeholder="e.g. clip-0.28")
    if st.button("Save recipe", key="save_recipe", disabled=not name.strip()):
        try:
            path = tuner.save_recipe(s.workspace, name.strip(), thresholds)
        except GristmillError as exc:
            st.error(str(exc))
        else:
            st.success(f"Wrote {path}; apply it with `gristmill curate {s.workspace.root} {path}`")


main()
