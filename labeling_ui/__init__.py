"""The human review app (Streamlit) over the append-only review log; `gristmill review WS` starts it.

The CLI hands the app its workspace and default reviewer in these environment variables.
"""
ENV_WORKSPACE = "GRISTMILL_WORKSPACE"
ENV_REVIEWER = "GRISTMILL_REVIEWER"
