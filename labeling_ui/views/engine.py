"""Data engine: the model in the loop's status, the same facts `gristmill engine status` prints (from
`Engine.status`), the way into its flagged queue, and the admins' actions: train a new model version, route
with the current one, compact the review log."""
import pandas as pd
import streamlit as st

from curation.engine.summary import model_summary
from curation.errors import GristmillError
from curation.reviews import compact
from labeling_ui import state
from labeling_ui.auth import ADMIN_ACTIONS

REVIEW_PAGE = "views/review_queue.py"


def _per_1000(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _thresholds(status: dict) -> None:
    st.subheader("Thresholds")
    st.caption(f"target precision {status['target_precision']:.1%} (agreement with human decisions): a side decides "
               "automatically only where the lower end of its confidence interval reaches it")
    rows = []
    for word, rule in (("accept", ">="), ("reject", "<")):
        side = status["thresholds"][word]
        if side is None:
            rows.append({"side": word, "rule": "none meets the target: stays manual"})
        else:
            rows.append({"side": word, "rule": f"p {rule} {side['threshold']:.3f}",
                         "estimated precision": side["precision"], "CI low": side["ci_low"],
                         "CI high": side["ci_high"], "held-out decisions": side["support"]})
    st.dataframe(pd.DataFrame(rows), hide_index=True,
                 column_config={c: st.column_config.NumberColumn(format="percent")
                                for c in ("estimated precision", "CI low", "CI high")})


def _history(status: dict) -> None:
    st.subheader("Human decisions per 1,000 curated samples")
    per_stage = [{"stage": stage, "human decisions": row["human"], "curated": row["curated"],
                  "per 1,000": row["per_1000"]} for stage, row in status["history"]["per_stage"].items()]
    st.dataframe(pd.DataFrame(per_stage), hide_index=True)
    st.subheader("Human caption edits per 1,000 reviewed samples")
    st.dataframe(pd.DataFrame([{"stage": stage, "caption edits": row["edits"], "reviewed samples": row["reviewed"],
                                "per 1,000": row["per_1000"]} for stage, row in status["caption_edits"].items()]),
                 hide_index=True)
    over_time = [row for row in status["history"]["over_time"] if row["per_1000"] is not None]
    if len(over_time) > 1:
        st.caption("over time: at each routing run, then now")
        st.line_chart(pd.DataFrame({"per 1,000": [row["per_1000"] for row in over_time]}))


def _train() -> str:
    with state.engine() as engine:
        report = engine.train()
    return (f"trained {report.version} on {report.quality.n} decisions: held-out AUC {report.quality.auc:.3f}; "
            f"stage {report.route.stage}")


def _route() -> str:
    with state.engine() as engine:
        report = engine.route()
    return f"routed with {report.version} (run {report.run}): stage {report.stage}, {report.counts}"


def _compact() -> str:
    report = compact(state.session().workspace)
    return f"compacted {report.events_written} event(s); {len(report.journals_live)} journal(s) in use"


ACTIONS = {"engine_train": ("Train a new model version now", ADMIN_ACTIONS[1], _train),
           "engine_route": ("Route undecided samples now", ADMIN_ACTIONS[2], _route),
           "compact_log": ("Compact the review log", ADMIN_ACTIONS[0], _compact)}


def _admin_action(key: str) -> None:
    _, action, run = ACTIONS[key]
    try:
        state.require_admin(action)
        st.session_state.engine_trained = run()
    except GristmillError as exc:
        st.session_state.engine_trained = str(exc)


def main() -> None:
    st.title("Data engine")
    try:
        with state.engine() as engine:
            status = engine.status()
    except GristmillError as exc:
        st.info(str(exc))
        st.stop()
    model = status["model"]
    cols = st.columns(4)
    cols[0].metric("stage", status["stage"])
    cols[1].metric("human decisions", f"{status['human_decisions']:,}")
    cols[2].metric("human decisions per 1,000 curated", _per_1000(status["human_per_1000_curated"]))
    cols[3].metric("model", model["version"] if model else "none yet")
    if model is None:
        st.info("No model yet: review samples (the flagged queue offers a diverse first pick), then train.")
    else:
        st.write(model_summary(model))
        _thresholds(status)
    queues = status["queues"]
    st.subheader("Queues")
    cols = st.columns(4)
    cols[0].metric("flagged for review", f"{queues['flagged']:,}")
    cols[1].metric("audits pending", f"{queues['audit']:,}")
    cols[2].metric("auto-accepted", f"{queues['auto_accept']:,}")
    cols[3].metric("auto-rejected", f"{queues['auto_reject']:,}")
    audits = status["audits"]
    show = st.error if audits["stopped"] else st.warning if audits["waiting"] else st.caption
    show(f"audits: {audits['message']}")  # waiting: a retrained version on probation until its audits pass
    _history(status)
    left, right = st.columns(2)
    if left.button("Review the flagged queue", key="open_flagged"):
        state.preset(q_kind="flagged")
        st.session_state.pop("queue", None)
        st.switch_page(REVIEW_PAGE)
    if state.session().identity.is_admin:
        for key, (label, _, _) in ACTIONS.items():
            right.button(label, key=key, on_click=_admin_action, args=(key,))
    else:
        right.caption("Training, routing and compacting the review log are for admins.")
    if "engine_trained" in st.session_state:
        right.caption(st.session_state.engine_trained)


main()
