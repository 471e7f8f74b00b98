"""Audits: how often humans agree with the engine's automatic decisions, and the stop rule.

An audited sample is one a routing run decided automatically and marked for audit; once a human decides
it, the decision is compared with the route the latest run before the human decision proposed. Agreement
is measured on the latest `audit_window` audits of the current model version since the last resume. The stop
rule: with at least `min_audits` audits, when even the upper end of the agreement's Wilson interval is below
the target, the engine stops deciding automatically (every sample is flagged) until an operator resumes it.

Probation: a retrained version (any but the first) decides nothing automatically until its own audits pass,
that is until it has `min_audits` of them and the stop rule does not fire on them; meanwhile it routes in
shadow (curation.engine.routing), so its proposals are audited. Retraining therefore never restarts the
count at zero with automation on; an operator's resume after the version was trained lifts its probation.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from curation.engine.config import EngineConfig
from curation.engine.thresholds import wilson
from curation.sql import literal_list


@dataclass
class Agreement:
    """Measured agreement of humans with audited automatic decisions."""

    n: int
    agree: int
    rate: float | None
    ci_low: float
    ci_high: float
    stopped: bool
    message: str
    waiting: bool = False  # on probation and its own audits have not passed yet: no automatic decisions


def agreement(route_files: list, human: pa.Table, since_us: int, config: EngineConfig,
              probation: bool = False) -> Agreement:
    """Agreement on the audits in `route_files` that humans decided (`human`: sample_id, decision, decision_ts);
    `probation`: the version must pass its own audits before it decides automatically."""
    if not route_files:
        return _measure(0, 0, config, probation)
    con = duckdb.connect()
    try:
        con.register("human", human)
        listing = literal_list(route_files)
        # routing runs saved before probation existed have no `proposed` column: their route was the proposal
        proposed = ("coalesce(proposed, route)" if any("proposed" in pq.read_schema(f).names for f in route_files)
                    else "route")
        n, agree = con.execute(f"""
            WITH audits AS (SELECT sample_id, {proposed} AS proposed, routed_at
                            FROM read_parquet([{listing}], union_by_name = true) WHERE audit),
            judged AS (
                SELECT h.decision_ts, (a.proposed = 'accept') = (h.decision = 'accept') AS agrees
                FROM human AS h ASOF JOIN audits AS a
                  ON h.sample_id = a.sample_id AND h.decision_ts >= a.routed_at
                WHERE epoch_us(a.routed_at) >= ?
                ORDER BY h.decision_ts DESC LIMIT ?)
            SELECT count(*), coalesce(sum(agrees::INT), 0) FROM judged""",
                                [since_us, config.audit_window]).fetchone()
    finally:
        con.close()
    return _measure(int(n), int(agree), config, probation)


def _measure(n: int, agree: int, config: EngineConfig, probation: bool) -> Agreement:
    low, high = wilson(agree, n, config.confidence)
    rate = agree / n if n else None
    stopped = n >= config.min_audits and high < config.target_precision
    waiting = probation and n < config.min_audits
    if stopped:
        message = (f"automatic decisions stopped: humans agreed with {agree} of {n} audited decisions "
                   f"({rate:.1%}, {config.confidence:.0%} CI {low:.1%}-{high:.1%}), below the target "
                   f"{config.target_precision:.1%}; review the flagged queue, retrain, then `gristmill engine resume`")
    elif waiting:
        message = (f"new model version on probation: {n} of {config.min_audits} of its own audits decided; it "
                   "decides nothing automatically until they pass (or an operator runs `gristmill engine resume`)")
    elif n < config.min_audits:
        message = f"{n} of {config.min_audits} audits needed before the stop rule applies"
    else:
        message = f"audits agree {rate:.1%} ({config.confidence:.0%} CI {low:.1%}-{high:.1%})"
    return Agreement(n, agree, rate, low, high, stopped, message, waiting)
