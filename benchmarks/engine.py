"""The data-engine loop against reviewing in random order, on a synthetic corpus with hidden truth.

Corpus (curation.engine.simulate): `--samples` samples (default 20,000) with 512-d embeddings around 20
content categories and two scores; the hidden truth rejects 3 categories (visible only in the embeddings)
and samples that are both off-caption and washed out. A simulated reviewer knows the truth and is wrong 5%
of the time; every decision goes through the review log (curation.reviews.ReviewLog).

Three strategies:
- engine: the data engine. `Engine.queue` picks what the reviewer sees (pending audits, then flagged
  samples by uncertainty with diversity, interleaved with calibration picks drawn at random within the
  probability bins human decisions cover least; a diverse cold-start sample before the first model), the
  model (gradient-boosted trees) retrains every `--retrain-every` decisions and auto-decides where its
  thresholds allow;
- manual: reviewing in random order with no model, today's practice: the kept set is what the
  reviewer accepted. This is the issue's baseline, and the target ratio is measured against it;
- random: the same engine (model, thresholds, audits, retraining) but the reviewer takes undecided samples
  in random order (passive learning). Printed beside, to show what the engine's queue adds over the model
  alone; no target.
For engine and random, after each retraining the kept set (human accepts plus the engine's automatic
accepts; human decisions win) is scored against the truth; for manual, after every `--batch` decisions. Measure: human decisions until precision and recall of the kept set are
both >= 0.95 and stay there for the next `--confirm` decisions (default 1,000: a lucky retraining that
crosses the line once does not count). A strategy that has not reached the goal after `--cap` decisions
(default 10,000; manual: the whole corpus) is counted at the cap, which makes the ratio an upper bound.
Target: the engine needs at most a fifth of the decisions manual review in random order needs.

The engine is configured with target_precision 0.905 (`--target-precision`): agreement with (noisy) human
decisions, which the LOWER end of the 95% interval of each side's precision must reach. A reviewer wrong
5% of the time agrees with automatic decisions of true precision q at 0.05 + 0.9 q, so an agreement of
0.905 is a true precision of 0.95: the automatic decisions meet the goal with 95% confidence.
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.engine import Engine, EngineConfig  # noqa: E402
from curation.engine.simulate import CorpusSpec, Reviewer, build, precision_recall  # noqa: E402
from curation.reviews import ReviewLog  # noqa: E402

GOAL = 0.95
TARGET_RATIO = 0.2
ERROR_RATE = 0.05


def run_strategy(root: Path, strategy: str, spec: CorpusSpec, config: EngineConfig, batch: int, confirm: int,
                 cap: int) -> dict:
    """Review until the kept set reaches GOAL precision and recall and stays there for `confirm` more
    decisions, or until nothing is left to review (or `cap` decisions are made); `decisions` is where that
    streak began (None: never)."""
    corpus = build(root, spec)
    engine = Engine(corpus.workspace, config)
    reviewer = Reviewer(corpus, ReviewLog(corpus.workspace, f"sim-{strategy}"), ERROR_RATE, seed=spec.seed + 1)
    order = iter(np.random.default_rng(spec.seed + 2).permutation(corpus.ids).tolist())
    curve, streak, started = [], None, time.perf_counter()
    limit = min(cap + confirm, spec.n)
    while (streak is None or reviewer.decisions < streak + confirm) and reviewer.decisions < limit:
        if strategy == "engine":
            ids = [item.sample_id for item in engine.queue(batch)]
        else:
            ids = [sid for _, sid in zip(range(batch), order)]
        if not ids:  # nothing left for humans (fully automatic): the kept set can no longer change
            break
        for sid in ids:
            reviewer.review(sid)
        report = engine.maybe_retrain()
        if report is None:
            continue
        precision, recall = precision_recall(engine.kept(), corpus)
        curve.append({"decisions": reviewer.decisions, "precision": precision, "recall": recall,
                      "stage": report.route.stage, "version": report.version})
        print(f"{strategy}: {reviewer.decisions} decisions, {report.version} {report.route.stage}, "
              f"precision {precision:.3f} recall {recall:.3f}", file=sys.stderr, flush=True)
        met = precision >= GOAL and recall >= GOAL
        streak = (streak or reviewer.decisions) if met else None
    settled = reviewer.decisions >= streak + confirm or not ids if streak is not None else False
    reached = streak if settled and streak <= cap else None
    return {"strategy": strategy, "decisions": reached, "reviewed": reviewer.decisions, "curve": curve,
            "seconds": time.perf_counter() - started, "status": engine.status()}


def run_manual(root: Path, spec: CorpusSpec, batch: int, confirm: int) -> dict:
    """Review in random order without a model until the accepted set reaches GOAL precision and recall for
    `confirm` more decisions, or the corpus is exhausted. The reviewer errs as `Reviewer` does (same seed);
    no review log is written, since nothing reads it."""
    corpus = build(root, spec)
    truth = corpus.truth
    rng = np.random.default_rng(spec.seed + 1)
    order = np.random.default_rng(spec.seed + 2).permutation(corpus.ids).tolist()
    n_good, accepted_good, accepted = int(corpus.good.sum()), 0, 0
    curve, streak, started = [], None, time.perf_counter()
    for done, sid in enumerate(order, 1):
        if truth[sid] != (rng.random() < ERROR_RATE):
            accepted += 1
            accepted_good += truth[sid]
        if done % batch and done != len(order):
            continue
        precision, recall = (accepted_good / accepted if accepted else 0.0), accepted_good / n_good
        curve.append({"decisions": done, "precision": precision, "recall": recall, "stage": "manual"})
        streak = (streak or done) if precision >= GOAL and recall >= GOAL else None
        if streak is not None and done >= streak + confirm:
            break
    settled = streak is not None and (done >= streak + confirm or done == len(order))
    return {"strategy": "manual", "decisions": streak if settled else None, "reviewed": done, "curve": curve,
            "seconds": time.perf_counter() - started, "status": {"stage": "manual"}}


def plot(results: list[dict], out: Path) -> None:
    """Decisions vs precision and recall of the kept set, one colour per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for result, colour in zip(results, ("tab:blue", "tab:green", "tab:orange")):
        xs = [p["decisions"] for p in result["curve"]]
        ax.plot(xs, [p["precision"] for p in result["curve"]], "-", color=colour, label=f"{result['strategy']}: precision")
        ax.plot(xs, [p["recall"] for p in result["curve"]], "--", color=colour, label=f"{result['strategy']}: recall")
        if result["decisions"]:
            ax.axvline(result["decisions"], color=colour, lw=0.8, alpha=0.6)
    ax.axhline(GOAL, color="grey", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("human decisions")
    ax.set_ylabel("kept set vs hidden truth")
    ax.set_ylim(0.5, 1.01)
    ax.set_title("gristmill engine vs random-order review (manual; with the model)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--batch", type=int, default=50, help="samples reviewed between retraining checks")
    parser.add_argument("--retrain-every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target-precision", type=float, default=0.905,
                        help="the engine's target agreement with (5%%-noisy) human decisions (lower CI end)")
    parser.add_argument("--confirm", type=int, default=1000,
                        help="decisions the kept set must stay at the goal for the goal to count as reached")
    parser.add_argument("--cap", type=int, default=10_000,
                        help="most decisions a strategy may take to reach the goal; a strategy that does not is "
                             "counted at the cap, so the ratio is then an upper bound")
    parser.add_argument("--out", type=Path, default=Path("artifacts/engine_curve.png"))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    spec = CorpusSpec(n=args.samples, dim=args.dim, seed=args.seed)
    config = EngineConfig(target_precision=args.target_precision, retrain_every=args.retrain_every, seed=args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine = run_strategy(Path(tmp) / "engine", "engine", spec, config, args.batch, args.confirm, args.cap)
        manual = run_manual(Path(tmp) / "manual", spec, args.batch, args.confirm)
        random = run_strategy(Path(tmp) / "random", "random", spec, config, args.batch, args.confirm, args.cap)
    results = [engine, manual, random]
    plot(results, args.out)
    gm = engine["decisions"] or args.cap  # not reached: counted at the cap
    base = manual["decisions"] or spec.n  # not reached after reviewing everything: counted at the corpus size
    passive = random["decisions"] or args.cap
    row = {"name": "engine", "measure": f"human decisions to {GOAL:.0%} precision and recall vs manual review",
           "gristmill": gm, "baseline": base, "unit": "decisions", "ratio": gm / base, "target": TARGET_RATIO,
           "higher_is_better": False, "reached": {r["strategy"]: r["decisions"] is not None for r in results},
           "random_order_with_model": passive, "ratio_vs_random_order_with_model": gm / passive}
    if args.json:
        print(json.dumps(row))
        return 0
    print(f"engine benchmark: {args.samples} samples, reviewer wrong {ERROR_RATE:.0%}, "
          f"{platform.node()}, {os.cpu_count()} cores")
    print(f"{'strategy':<8} {'decisions to goal':>18} {'precision':>10} {'recall':>8} {'then, after':>12} "
          f"{'precision':>10} {'recall':>8} {'stage':>16} {'seconds':>8}")
    for r in results:
        at = next((p for p in r["curve"] if p["decisions"] == r["decisions"]), {"precision": 0.0, "recall": 0.0})
        last = r["curve"][-1] if r["curve"] else {"precision": 0.0, "recall": 0.0}
        print(f"{r['strategy']:<8} {r['decisions'] or f'> {args.cap}':>18} {at['precision']:>10.3f} {at['recall']:>8.3f} "
              f"{r['reviewed']:>12} {last['precision']:>10.3f} {last['recall']:>8.3f} {r['status']['stage']:>16} "
              f"{r['seconds']:>8.1f}")
    verdict = "meets" if row["ratio"] <= TARGET_RATIO and engine["decisions"] else "misses"
    bound = "" if manual["decisions"] else " (an upper bound: manual review did not reach the goal at all)"
    print(f"ratio engine/manual = {row['ratio']:.3f}{bound} (target <= {TARGET_RATIO}): {verdict} the target; "
          f"curve: {args.out}")
    print(f"ratio engine/random order with the model = {row['ratio_vs_random_order_with_model']:.3f} (no target)")
    per_stage = engine["status"]["history"]["per_stage"]
    print("engine: human decisions per 1,000 curated, by stage: " + ", ".join(
        f"{s} {v['per_1000']:.1f}" for s, v in per_stage.items() if v["per_1000"] is not None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
