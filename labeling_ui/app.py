"""The gristmill review app (Streamlit, multipage): sign-in, then the pages. Start it with `gristmill review WS`."""
from pathlib import Path

import streamlit as st

from curation.errors import GristmillError
from labeling_ui import state

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="gristmill review", layout="wide")
try:
    signed_in = state.signed_in() is not None
except GristmillError as exc:  # e.g. a token file that became unreadable
    st.error(str(exc))
    st.stop()
navigation = st.navigation([
    st.Page(VIEWS / "overview.py", title="Overview", url_path="overview", default=True),
    st.Page(VIEWS / "review_queue.py", title="Review queue", url_path="review_queue"),
    st.Page(VIEWS / "labels.py", title="Labels", url_path="labels"),
    st.Page(VIEWS / "captions.py", title="Captions", url_path="captions"),
    st.Page(VIEWS / "threshold_tuner.py", title="Threshold tuner", url_path="threshold_tuner"),
    st.Page(VIEWS / "search.py", title="Search", url_path="search"),
    st.Page(VIEWS / "engine.py", title="Data engine", url_path="engine"),
    st.Page(VIEWS / "reviewer_stats.py", title="Reviewer stats", url_path="reviewer_stats"),
], position="sidebar" if signed_in else "hidden")
try:
    state.sign_in()  # draws the sign-in and stops when nobody is signed in
    state.sidebar()
except GristmillError as exc:
    st.error(str(exc))
    st.stop()
navigation.run()
