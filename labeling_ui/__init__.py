"""The human review app (Streamlit) over the append-only review log; `gristmill review WS` starts it.

The CLI hands the app its workspace, default reviewer, lease length and background compaction interval in
these environment variables (and the sign-in mode in those of labeling_ui.auth).
"""
ENV_WORKSPACE = "GRISTMILL_WORKSPACE"
ENV_REVIEWER = "GRISTMILL_REVIEWER"
ENV_LEASE_S = "GRISTMILL_LEASE_S"
ENV_COMPACT_S = "GRISTMILL_COMPACT_S"
