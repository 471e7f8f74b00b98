"""Stages of a workspace and the metric that matters: human decisions per 1,000 curated samples.

Stage rules (evaluated at every routing run):
- assisted-manual: no model yet, audits stopped automatic decisions, or neither threshold meets the
  target; humans decide everything (the model, when there is one, orders the queue).
- fully-automatic: at most `full_auto_max_flagged` of the undecided samples are flagged; humans only audit.
- semi-automatic: otherwise; confident samples are decided automatically, the rest are reviewed.

The metric, per stage: human decisions made while the stage's routing was in effect, per 1,000 samples
curated in it (those human decisions plus the automatic decisions its routing runs added; a run that
withdraws automatic decisions, e.g. after stricter thresholds or an audit stop, adds none).
`over_time` is the cumulative value at each routing run: all human decisions per 1,000 samples decided
(by a human or automatically) at that run.
`caption_edits`: human caption edits per 1,000 reviewed samples, per stage, events attributed by time.
"""
from __future__ import annotations

MANUAL, SEMI, FULL = "assisted-manual", "semi-automatic", "fully-automatic"
STAGES = (MANUAL, SEMI, FULL)


def stage(automatic: bool, n_flagged: int, n_undecided: int, full_auto_max_flagged: float) -> str:
    """The stage of a routing: `automatic` is False without a usable model, thresholds or after an audit stop."""
    if not automatic:
        return MANUAL
    if n_flagged <= full_auto_max_flagged * max(n_undecided, 1):
        return FULL
    return SEMI


def per_thousand(human: int, curated: int) -> float | None:
    """Human decisions per 1,000 curated samples, None when nothing is curated."""
    return 1000.0 * human / curated if curated else None


def history(snapshots: list[dict]) -> dict:
    """The metric per stage and over time from routing-run snapshots (stage, n_human, n_curated, at), oldest
    first; the humans' work before the first run counts as assisted-manual."""
    totals = {s: {"human": 0, "curated": 0} for s in STAGES}
    previous = {"stage": MANUAL, "n_human": 0, "n_curated": 0}
    over_time = []
    for snap in snapshots:
        human = snap["n_human"] - previous["n_human"]  # made under the previous routing
        auto = max(0, (snap["n_curated"] - snap["n_human"]) - (previous["n_curated"] - previous["n_human"]))
        totals[previous["stage"]]["human"] += human
        totals[previous["stage"]]["curated"] += human
        totals[snap["stage"]]["curated"] += auto  # made by this run's routing
        over_time.append({"at": snap["at"], "stage": snap["stage"], "human": snap["n_human"],
                          "curated": snap["n_curated"], "per_1000": per_thousand(snap["n_human"], snap["n_curated"])})
        previous = snap
    per_stage = {s: dict(t, per_1000=per_thousand(t["human"], t["curated"])) for s, t in totals.items()}
    return {"per_stage": per_stage, "over_time": over_time}


def caption_edits(counted: list[dict]) -> dict[str, dict]:
    """Human caption edits per 1,000 reviewed samples, for every stage.

    `counted`: rows of stage, edits (edit_caption events in the stage) and reviewed (distinct samples with an
    event in it); an event counts in the stage of the latest routing run at or before it (assisted-manual
    before the first run), and an accepted generated caption counts as an edit: a human changed the caption.
    """
    by_stage = {row["stage"]: row for row in counted}
    out = {}
    for stage in STAGES:
        row = by_stage.get(stage, {"edits": 0, "reviewed": 0})
        out[stage] = {"edits": int(row["edits"]), "reviewed": int(row["reviewed"]),
                      "per_1000": per_thousand(int(row["edits"]), int(row["reviewed"]))}
    return out
