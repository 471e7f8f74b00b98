"""Audits: how often humans agree with the engine's automatic decisions, and the stop rule.

An audited sample is one a routing run decided automatically and marked for audit; once a human decides
it, the decision is compared with the route of the latest run before the human decision. Agreement is
measured on the latest `audit_window` audits of the current model version since the last resume. The stop rule: with at least
`min_audits` audits, when even the upper end of the agreement's Wilson interval is below the target, the
engine stops deciding automatically (every sample is flagged) until an operator resumes it or a new model
version (trained on the disagreements too) is judged on its own audits.
"""
from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa

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


def agreement(route_files: list, human: pa.Table, since_us: int, config: EngineConfig) -> Agreement:
    """Agreement on the audits in `route_files` that humans decided (`human`: sample_id, decision, decision_ts)."""
    if not route_files:
        return _measure(0, 0, config)
    con = duckdb.connect()
    try:
        con.register("human", human)
        listing = literal_list(route_files)
        n, agree = con.execute(f"""
            WITH audits AS (SELECT sample_id, route, routed_at FROM read_parquet([{listing}]) WHERE audit),
            judged AS (
                SELECT h.decision_ts, (a.route = 'accept') = (h.decision = 'accept') AS agrees
                FROM human AS h ASOF JOIN audits AS a
                  ON h.sample_id = a.sample_id AND h.decision_ts >= a.routed_at
                WHERE epoch_us(a.routed_at) >= ?
                ORDER BY h.decision_ts DESC LIMIT ?)
            SELECT count(*), coalesce(sum(agrees::INT), 0) FROM judged""",
                                [since_us, config.audit_window]).fetchone()
    finally:
        con.close()
    return _measure(int(n), int(agree), config)


def _measure(n: int, agree: int, config: EngineConfig) -> Agreement:
    low, high = wilson(agree, n, config.confidence)
    rate = agree / n if n else None
    stopped = n >= config.min_audits and high < config.target_precision
    if stopped:
        message = (f"automatic decisions stopped: humans agreed with {agree} of {n} audited decisions "
                   f"({rate:.1%}, {config.confidence:.0%} CI {low:.1%}-{high:.1%}), below the target "
                   f"{config.target_precision:.1%}; review the flagged queue, retrain, then `gristmill engine resume`")
    elif n < config.min_audits:
        message = f"{n} of {config.min_audits} audits needed before the stop rule applies"
    else:
        message = f"audits agree {rate:.1%} ({config.confidence:.0%} CI {low:.1%}-{high:.1%})"
    return Agreement(n, agree, rate, low, high, stopped, message)
