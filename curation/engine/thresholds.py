"""Thresholds that meet a target precision, estimated on held-out human decisions, with confidence intervals.

The reviewed samples are not a random sample of the corpus: the engine sends humans its most uncertain
samples, so held-out decisions crowd the middle of the probability range. Precision is therefore
post-stratified: probabilities are cut into up to `bins` bins at quantiles of the samples to route
(1/2 is always an edge), and bins are merged, from the outside in, until each holds `per_bin` held-out
decisions; in each bin the held-out human accept
rate is measured on the decisions that fall in it (out-of-fold probabilities) and weighted by how many
samples still to route fall in it (the final model's probabilities). Within a bin, what the engine picked
for review depended on the probability, not on the answer, so each bin's rate is unbiased.

The target is met by the LOWER end of the confidence interval, not by the estimate: a side takes the
largest region (p >= edge for accept, p < edge for reject) whose interval lies at or above the target.
Choosing where the point estimate merely reaches the target puts the true precision below the target
about half the time, and more often still since the largest of many noisy estimates is picked (the
winner's curse); the regions are nested, so their intervals move together and the bound keeps the true
precision above the target in repeated trials (tests/engine/test_thresholds.py). The search does not stop
at the first region that fails: near the extreme a region rests on few decisions, and one disagreement
there would otherwise end the search at an absurdly high threshold.

- p_hi: the lowest bin edge such that humans accept the samples routed at p >= p_hi at a rate of at least
  the target, with the configured confidence: auto-accept above it.
- p_lo: the highest bin edge such that the samples at p < p_lo are rejected at that rate: auto-reject below.
A side must rest on at least `min_support` held-out decisions and on at least one in every bin it covers
that holds samples to route; auto-accept needs p >= 1/2 and auto-reject p < 1/2. A side whose target
cannot be met has no threshold, and nothing is decided automatically on that side. The interval is a
Wilson interval at the stratified estimate's effective sample size (Kish).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

BINS = 40      # bins at quantiles of the samples to route, before merging
PER_BIN = 5    # held-out decisions a bin needs


def wilson(successes: float, n: float, confidence: float) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion; (0, 1) when n is 0."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class Side:
    """One threshold and the estimated precision of the decisions it makes automatically."""

    threshold: float
    precision: float
    ci_low: float
    ci_high: float
    support: int


@dataclass
class Thresholds:
    """Auto-accept at p >= accept.threshold, auto-reject at p < reject.threshold; None: that side is manual."""

    accept: Side | None
    reject: Side | None
    target: float


def bin_of(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Index of the bin [edges[i], edges[i+1]) holding each value of x; values outside go to the end bins."""
    return np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)


def _estimate(n: np.ndarray, hits: np.ndarray, weight: np.ndarray, confidence: float) -> tuple[float, float, float]:
    """Post-stratified hit rate over bins (held-out n and hits, population weight) and its interval."""
    share = weight / weight.sum()
    rate = np.divide(hits, n, out=np.zeros(len(n)), where=n > 0)
    estimate = float(np.sum(share * rate))
    # effective sample size (Kish): binomial variance of the smoothed rate over the stratified variance;
    # smoothed so that a bin of all accepts is not certain (and one bin of n decisions counts n)
    smoothed = np.divide(hits + 0.5, n + 1)
    overall = float(np.sum(share * smoothed))
    variance = float(np.sum(np.divide(share**2 * smoothed * (1 - smoothed), n, out=np.zeros(len(n)), where=n > 0)))
    n_eff = min(max(overall * (1 - overall) / variance, 1.0), float(n.sum()))
    low, high = wilson(estimate * n_eff, n_eff, confidence)
    return estimate, low, high


def _edges(p: np.ndarray, population: np.ndarray, bins: int, per_bin: int) -> np.ndarray:
    """Bin edges: population quantiles plus 0, 1/2, 1, merged outside-in until bins hold `per_bin` of p."""
    fine = np.unique(np.concatenate([[0.0, 0.5, 1.0], np.quantile(population, np.arange(1, bins) / bins)]))
    kept = [0.0, 0.5, 1.0]
    for side in (fine[fine <= 0.5], fine[fine >= 0.5][::-1]):  # bottom half upwards, top half downwards
        start = side[0]
        for edge in side[1:-1]:
            lo, hi = sorted((start, edge))
            if np.sum((p >= lo) & (p < hi)) >= per_bin:
                kept.append(edge)
                start = edge
    return np.unique(kept)


def choose(p: np.ndarray, labels: np.ndarray, population: np.ndarray, target: float, min_support: int,
           confidence: float, bins: int = BINS, per_bin: int = PER_BIN) -> Thresholds:
    """Thresholds whose precision's `confidence` interval lies at or above `target`: held-out probabilities
    `p` with human `labels` (True: accept), `population` the probabilities of the samples to route."""
    edges = _edges(p, population, bins, per_bin)
    bins = len(edges) - 1
    held, pop = bin_of(edges, p), bin_of(edges, population)
    n = np.bincount(held, minlength=bins).astype(float)
    accepts = np.bincount(held, weights=labels.astype(float), minlength=bins)
    count = np.bincount(pop, minlength=bins).astype(float)
    half = int(np.flatnonzero(edges == 0.5)[0])  # bins below 1/2 come first

    def best(order: list[int], hits: np.ndarray) -> tuple[int, tuple[float, float, float]] | None:
        found = None
        for i in range(1, len(order) + 1):
            region = order[:i]
            if np.any((count[region] > 0) & (n[region] == 0)):
                break  # a bin with samples to route but no human decision: cannot estimate beyond it
            if n[region].sum() < min_support or count[region].sum() == 0:
                continue
            estimate = _estimate(n[region], hits[region], count[region], confidence)
            if estimate[1] >= target:  # the interval's lower end
                found = (i, estimate)
        return found

    top = list(range(bins - 1, half - 1, -1))
    bottom = list(range(0, half))
    accept = best(top, accepts)
    reject = best(bottom, n - accepts)
    return Thresholds(
        None if accept is None else Side(float(edges[top[accept[0] - 1]]), *accept[1],
                                         int(n[top[: accept[0]]].sum())),
        None if reject is None else Side(float(edges[bottom[reject[0] - 1] + 1]), *reject[1],
                                         int(n[bottom[: reject[0]]].sum())),
        target)
