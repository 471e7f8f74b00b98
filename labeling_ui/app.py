"""The gristmill review app (Streamlit, multipage). Start it with `gristmill review WORKSPACE`."""
from pathlib import Path

import streamlit as st

from curation.errors import GristmillError
from labeling_ui import state

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="gristmill review", layout="wide")
navigation = st.navigation([
    st.Page(VIEWS / "overview.py", title="Overview", url_path="overview", default=True),
    st.Page(VIEWS / "review_queue.py", title="Review queue", url_path="review_queue"),
    st.Page(VIEWS / "threshold_tuner.py", title="Threshold tuner", url_path="threshold_tuner"),
    st.Page(VIEWS / "search.py", title="Search", url_path="search"),
    st.Page(VIEWS / "engine.py", title="Data engine", url_path="engine"),
    st.Page(VIEWS / "reviewer_stats.py", title="Reviewer stats", url_path="reviewer_stats"),
])
try:
    state.sidebar()
except GristmillError as exc:
    st.error(str(exc))
    st.stop()
navigation.run()
