"""Routing: each undecided sample is auto-accepted, auto-rejected or flagged for a human; review batches.

A stable fraction of the automatic decisions (chosen by a hash of the sample_id, so the same samples are
audit candidates whatever the model version) is also marked `audit`: those go to humans first, and their
agreement with the engine is what the stop rule watches (curation.engine.audit). A version on probation
(a retrained one whose own audits have not passed yet) routes in shadow: every sample is flagged, the route
it would have taken is kept as `proposed`, and its audits are drawn from those proposals.

A review batch of k flagged samples takes the `pool * k` most uncertain ones (probability closest to 1/2)
and picks k of them by greedy farthest-point selection in embedding space, so a batch covers different
kinds of samples instead of 50 near-identical ones. The engine interleaves them with undecided samples
drawn at random within probability bins that human decisions cover less than their share of the
population (calibration; see `calibration_draw` and Engine.queue).
"""
from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa

from curation.engine.thresholds import Thresholds, bin_of

ACCEPT, REJECT, FLAG = "accept", "reject", "flag"
AUTOMATIC, SHADOW, MANUAL = "automatic", "shadow", "manual"
MODES = (AUTOMATIC, SHADOW, MANUAL)
ROUTES = pa.schema([
    pa.field("sample_id", pa.string(), False), pa.field("p", pa.float64(), False),
    pa.field("route", pa.string(), False), pa.field("proposed", pa.string(), False),
    pa.field("audit", pa.bool_(), False),
    pa.field("version", pa.string(), False), pa.field("routed_at", pa.timestamp("us", tz="UTC"), False),
])


def audit_draw(ids: np.ndarray, fraction: float) -> np.ndarray:
    """True for the samples whose id hashes below `fraction` (stable across runs and versions)."""
    draw = [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "big") / 2**64 for s in ids]
    return np.asarray(draw, dtype=np.float64) < fraction


def route(ids: np.ndarray, p: np.ndarray, thresholds: Thresholds, mode: str, audit_fraction: float,
          version: str, routed_at_us: int) -> pa.Table:
    """The ROUTES table of undecided samples `ids` with probabilities `p`.

    `mode` is AUTOMATIC (routes are the thresholds' proposals, audited), SHADOW (all flagged, proposals
    audited) or MANUAL (all flagged, nothing audited: an audit stop).
    """
    if mode not in MODES:
        raise ValueError(f"routing mode {mode!r} is not one of {MODES}")
    proposed = np.full(len(ids), FLAG, dtype=object)
    if thresholds.accept:
        proposed[p >= thresholds.accept.threshold] = ACCEPT
    if thresholds.reject:
        proposed[p < thresholds.reject.threshold] = REJECT
    routes = proposed if mode == AUTOMATIC else np.full(len(ids), FLAG, dtype=object)
    audit = (proposed != FLAG) & audit_draw(ids, audit_fraction) & (mode != MANUAL)
    n = len(ids)
    return pa.table({"sample_id": pa.array(ids, pa.string()), "p": pa.array(p, pa.float64()),
                     "route": pa.array(routes, pa.string()), "proposed": pa.array(proposed, pa.string()),
                     "audit": pa.array(audit, pa.bool_()),
                     "version": pa.array([version] * n, pa.string()),
                     "routed_at": pa.array(np.full(n, routed_at_us, dtype=np.int64), pa.int64())
                     .cast(pa.timestamp("us", tz="UTC"))}, schema=ROUTES)


def farthest_points(points: np.ndarray, k: int) -> np.ndarray:
    """Indices of k rows of `points` picked greedily, each the farthest from those picked, from row 0."""
    k = min(k, len(points))
    if k == 0:
        return np.zeros(0, dtype=int)
    chosen = [0]
    distance = np.linalg.norm(points - points[0], axis=1)
    distance[0] = -1.0  # never pick a row twice, even among identical points
    for _ in range(k - 1):
        nxt = int(np.argmax(distance))
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
        distance[chosen] = -1.0
    return np.asarray(chosen)


def interleave(first: list, second: list) -> list:
    """Both lists merged, `second` spread evenly through `first` (each keeps its order)."""
    keyed = [((i + 0.5) / len(first), 0, x) for i, x in enumerate(first)]
    keyed += [((j + 0.5) / len(second), 1, x) for j, x in enumerate(second)]
    return [x for *_, x in sorted(keyed, key=lambda t: t[:2])]


def calibration_draw(pool_p: np.ndarray, decided_p: np.ndarray, k: int, rng: np.random.Generator,
                     bins: int = 20) -> np.ndarray:
    """k row indices of `pool_p` drawn at random within probability bins, so that together with the samples
    already decided (`decided_p`) each bin holds its population share of human decisions.

    Uncertainty sampling over-fills the middle of the probability range; thresholds are estimated per bin
    (curation.engine.thresholds), and their confidence interval is narrowest when each bin's share of
    decisions matches its share of the samples to route. Within a bin every sample is equally likely, so
    each bin's human accept rate stays unbiased. Bins are quantiles of `pool_p`.
    """
    k = min(k, len(pool_p))
    if k == 0:
        return np.zeros(0, dtype=int)
    edges = np.unique(np.quantile(pool_p, np.linspace(0, 1, bins + 1)))
    pool_bin, n_bins = bin_of(edges, pool_p), len(edges) - 1
    population = np.bincount(pool_bin, minlength=n_bins)
    have = np.bincount(bin_of(edges, decided_p), minlength=n_bins)
    deficit = np.maximum(population / population.sum() * (len(decided_p) + k) - have, 0.0)
    want = np.minimum(_largest_remainder(deficit, k), population)
    short = k - want.sum()  # bins that ran out of samples: the rest at random from what is left
    picked = [rng.choice(np.flatnonzero(pool_bin == b), n, replace=False) for b, n in enumerate(want) if n]
    chosen = np.concatenate(picked) if picked else np.zeros(0, dtype=int)
    if short:
        rest = np.setdiff1d(np.arange(len(pool_p)), chosen)
        chosen = np.concatenate([chosen, rng.choice(rest, short, replace=False)])
    return chosen


def _largest_remainder(weights: np.ndarray, k: int) -> np.ndarray:
    """k whole units split in proportion to `weights` (all-zero weights: evenly)."""
    weights = weights if weights.sum() > 0 else np.ones(len(weights))
    exact = weights / weights.sum() * k
    whole = np.floor(exact).astype(int)
    whole[np.argsort(-(exact - whole), kind="stable")[: k - whole.sum()]] += 1
    return whole


def review_batch(candidates: np.ndarray, uncertainty: np.ndarray, points: np.ndarray, k: int, pool: int) -> np.ndarray:
    """k of `candidates` (row indices) for review: the pool*k most uncertain, spread out by farthest points.

    `uncertainty` and `points` are aligned with `candidates`; lower uncertainty means more certain.
    """
    order = np.argsort(-uncertainty, kind="stable")[: pool * k]
    return candidates[order[farthest_points(points[order], k)]]
