"""The review app's pages: Streamlit scripts that st.navigation in labeling_ui/app.py runs (never imported).

Not named `pages/`: Streamlit treats a `pages/` folder beside the entry script as a legacy multipage app
and would run a page without the entry script (no navigation, no page config, no sidebar).
"""
