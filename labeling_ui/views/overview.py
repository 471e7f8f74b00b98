"""Overview: counts, the curation funnel, score histograms with thresholds, review progress."""
import altair as alt
import pandas as pd
import streamlit as st

from labeling_ui import queues, state, summaries


def _histogram(s: state.Session, column: str, threshold: float | None) -> None:
    data = pd.DataFrame(state.cached(f"hist:{column}", lambda: summaries.histogram(s.catalog, column)))
    if data.empty:
        st.caption(f"{column}: no values")
        return
    bars = alt.Chart(data).mark_bar().encode(
        x=alt.X("bin_start:Q", bin="binned", title=column), x2="bin_end:Q", y=alt.Y("samples:Q"))
    if threshold is not None:
        rule = alt.Chart(pd.DataFrame({"t": [threshold]})).mark_rule(color="red", strokeWidth=2).encode(x="t:Q")
        bars = bars + rule
    st.altair_chart(bars, width="stretch")


def main() -> None:
    s = state.session()
    st.title("Overview")
    funnel = state.cached("funnel", lambda: summaries.funnel(s.catalog))
    progress = summaries.review_progress(s.catalog)
    cols = st.columns(len(funnel) + 3)
    for col, (label, n) in zip(cols, funnel):
        col.metric(label, f"{n:,}")
    cols[-3].metric("reviewed", f"{progress['touched']:,}")
    cols[-2].metric("accepted / rejected", f"{progress['accepted']:,} / {progress['rejected']:,}")
    cols[-1].metric("conflicts", f"{progress['conflicting']:,}")

    left, right = st.columns(2)
    with left:
        st.subheader("Curation funnel")
        st.dataframe(pd.DataFrame(funnel, columns=["step", "samples"]), hide_index=True)
        drops = state.cached("drops", lambda: summaries.drop_counts(s.catalog))
        if drops:
            st.caption("dropped, by the first filter that dropped them")
            st.dataframe(pd.DataFrame(drops), hide_index=True)
        st.caption("crawl status")
        st.dataframe(pd.DataFrame(state.cached("status", lambda: summaries.status_counts(s.catalog))),
                     hide_index=True)
    with right:
        st.subheader("Review progress")
        crawled = dict(funnel).get("crawled", 0)
        st.progress(min(1.0, progress["touched"] / crawled) if crawled else 0.0,
                    text=f"{progress['touched']:,} of {crawled:,} crawled samples reviewed")
        st.write(f"{progress['events']:,} events · {progress['captions_edited']:,} captions edited · "
                 f"{progress['tagged']:,} samples tagged")
        reviewers = summaries.per_reviewer(s.catalog)
        if reviewers:
            st.dataframe(pd.DataFrame(reviewers)[["reviewer", "events", "samples", "decisions"]], hide_index=True)

    st.subheader("Score histograms")
    columns = state.cached("score_columns", lambda: queues.score_columns(s.catalog))
    if not columns:
        st.info("No scores yet: run `gristmill score`.")
        return
    state.keep("overview_columns", [queues.default_column(columns)])
    chosen = st.multiselect("scores", columns, key="overview_columns")
    thresholds = st.session_state.get("thresholds", {})
    st.caption("red line: the threshold set in the Threshold tuner" if thresholds else
               "set thresholds in the Threshold tuner to see them here")
    for col, column in zip(st.columns(2) * len(chosen), chosen):
        with col:
            _histogram(s, column, thresholds.get(column, {}).get("value"))


main()
