"""Reviewer stats: decisions per hour, and agreement between reviewers on the samples they both decided
(the random audit queue's double-reviewed share, queues.AGREEMENT_SHARE, plus any other overlap)."""
import pandas as pd
import streamlit as st

from labeling_ui import queues, state, summaries


def main() -> None:
    s = state.session()
    st.title("Reviewer stats")
    reviewers = summaries.per_reviewer(s.catalog)
    if not reviewers:
        st.info("No review events yet.")
        return
    st.dataframe(pd.DataFrame(reviewers), hide_index=True)
    st.subheader("Decisions per hour (UTC)")
    hourly = pd.DataFrame(summaries.decisions_by_hour(s.catalog))
    if not hourly.empty:
        st.bar_chart(hourly, x="hour", y="decisions", color="reviewer")
    st.subheader("Agreement on overlapping samples")
    st.caption(f"Queues hand each sample to one reviewer, except 1 in {queues.AGREEMENT_SHARE} samples of the "
               "random audit queue, which go to two different reviewers so that their agreement can be measured.")
    pairs = summaries.agreement(s.catalog)
    if pairs:
        overlap, agreed = sum(p["overlap"] for p in pairs), sum(p["agreed"] for p in pairs)
        st.metric("agreement, all pairs", f"{agreed / overlap:.1%}", help=f"{agreed:,} of {overlap:,} shared decisions")
        st.dataframe(pd.DataFrame(pairs), hide_index=True)
        st.caption("each reviewer's latest decision per sample; kappa corrects agreement for chance")
    else:
        st.caption("No sample has decisions from two reviewers yet.")


main()
