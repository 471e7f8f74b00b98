"""The label data engine's review queues against labelling in random order, on a corpus with hidden classes.

Corpus: `--samples` samples (default 20,000) of `--classes` classes (default 12; two rare ones, 1.2% and
1.6%, the others equally common) whose image embeddings (`--dim`, default 64) are a class centre plus
Gaussian noise, L2-normalised: the classes are separable only in embedding space, and neighbouring centres
overlap a little. A simulated reviewer knows the class and labels wrongly (another class, at random) 5% of the
time; every label goes through the review log. Nothing in the workspace knows the truth.

Three strategies, counting human label decisions:
- active: the queues (curation.labels.queues). After a random first batch, each batch of `--batch` labels
  takes the probe's "likely wrong" human labels (re-reviewed), then "rare first" (the likeliest members of
  classes with fewer than `--enough` labels, in turns), then the most uncertain (margin);
- random: random order with no model: the labelled set is the human labels;
- passive: random order with the same probe (same training schedule, thresholds and automatic labels).
For active and passive the probe (`train_probe`, 3-fold) retrains after each batch (`--batch` decisions, or
a tenth of the decisions so far when that is more: the same schedule for both), and the labelled set is
the human labels plus the automatic labels its proven thresholds allow (human labels win). Zero-shot (and the
disagreement queue) is not used: there are no real CLIP weights offline, and the classes have no text.

Goal: the labelled set is at least 95% right on every class with at least 50 true members, both ways: of the
class's members, 95% carry its label (unlabelled ones count as wrong), and of the samples carrying it, 95%
are members. It must still hold `--confirm` decisions later. A strategy that never reaches it is counted at
its cap (`--cap`; random order with no model: the whole corpus), which makes a ratio an upper bound. With a
reviewer wrong 5% of the time, human labels alone are right 95% of the time on average, so random order
with no model hardly ever reaches the goal, even after labelling everything.

The probe labels automatically at `--target-precision` 0.9 agreement with (noisy) human labels, the lower
end of its 95% interval: agreement q_h = 0.95 q + 0.05 (1 - q) / (classes - 1) for true precision q, so 0.9
is a true precision of about 0.947.
Targets: active <= 0.2x random order with no model and <= 0.5x passive, on each seed (`--seeds`, default 3).
"""
import argparse
import hashlib
import json
import os
import platform
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.atomic import write_parquet  # noqa: E402
from curation.engine.simulate import EMBEDDING_MODEL  # noqa: E402
from curation.labels import proposals, queues  # noqa: E402
from curation.labels.human import encode  # noqa: E402
from curation.labels.runs import train_probe  # noqa: E402
from curation.labels.vocabulary import LabelClass, LabelField, Vocabulary, save_vocabulary  # noqa: E402
from curation.reviews import ReviewLog  # noqa: E402
from curation.workspace import Workspace  # noqa: E402
from schemas import SAMPLES, conform, embedding_schema  # noqa: E402

GOAL = 0.95
ERROR_RATE = 0.05
MIN_MEMBERS = 50
TARGET_VS_RANDOM = 0.2
TARGET_VS_PASSIVE = 0.5
FIELD = "kind"
RARE = (0.012, 0.016)
FOLDS = 3  # the probe's cross-validation folds: fewer fits per training than the default 5


@dataclass
class Corpus:
    workspace: Workspace
    ids: list[str]
    truth: np.ndarray  # class index per sample (hidden)
    label_field: LabelField


def hidden_classes(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.random.Generator]:
    """Each sample's class (the two rare ones first) and the generator, which goes on to draw the embeddings."""
    rng = np.random.default_rng(seed)
    common = (1 - sum(RARE)) / (classes - len(RARE))
    return rng.choice(classes, n, p=list(RARE) + [common] * (classes - len(RARE))), rng


def build(root: Path, n: int, classes: int, dim: int, noise: float, seed: int, target: float) -> Corpus:
    """A workspace of `n` samples with embeddings around class centres, a vocabulary, and the hidden truth."""
    truth, rng = hidden_classes(n, classes, seed)
    ws = Workspace.init(root)
    centres = rng.normal(size=(classes, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    vectors = centres[truth] + rng.normal(scale=noise, size=(n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [hashlib.md5(f"labels-bench-{seed}-{i}".encode()).hexdigest() for i in range(n)]
    samples = {f.name: pa.nulls(n, f.type) for f in SAMPLES}
    samples.update(sample_id=pa.array(ids), url=pa.array([f"https://example.com/{i}.jpg" for i in range(n)]),
                   media_type=pa.array(["image"] * n), status=pa.array(["success"] * n), shard=pa.array(["00000"] * n))
    write_parquet(conform(pa.table(samples), SAMPLES), ws.path("shards", "00000.parquet"))
    schema = embedding_schema(dim)
    flat = pa.array(vectors.astype(np.float16).ravel(), pa.float16())
    write_parquet(conform(pa.table({
        "sample_id": pa.array(ids), "image_embedding": pa.FixedSizeListArray.from_arrays(flat, dim),
        "text_embedding": pa.nulls(n, schema.field("text_embedding").type),
        "model_id": pa.array([EMBEDDING_MODEL] * n)}), schema), ws.path("embeddings", EMBEDDING_MODEL, "00000.parquet"))
    label_field = LabelField(name=FIELD, kind="single", classes=[
        LabelClass(name=f"k{c:02d}", prompts=[f"a photo of kind {c}"]) for c in range(classes)])
    save_vocabulary(ws, Vocabulary(fields=[label_field], target_precision=target, cv_folds=FOLDS))
    return Corpus(ws, ids, truth, label_field)


class Reviewer:
    """A simulated human who knows each class but labels another one, at random, with probability ERROR_RATE."""

    def __init__(self, truth: np.ndarray, classes: int, seed: int):
        self.truth, self.classes, self.rng = truth, classes, np.random.default_rng(seed)
        self.labels = np.full(len(truth), -1)  # latest human label per sample
        self.decisions = 0

    def review(self, row: int) -> int:
        """Label one sample (again, if it had a label); return the class given."""
        c = int(self.truth[row])
        if self.rng.random() < ERROR_RATE:
            c = int((c + self.rng.integers(1, self.classes)) % self.classes)
        self.labels[row] = c
        self.decisions += 1
        return c


def worst_class(final: np.ndarray, truth: np.ndarray, k: int) -> float:
    """The lowest per-class precision or recall of `final` labels (-1: none) over classes with enough members."""
    worst = 1.0
    for c in range(k):
        members = truth == c
        if members.sum() < MIN_MEMBERS:
            continue
        given = final == c
        recall = float((final[members] == c).mean())
        precision = float(members[given].mean()) if given.any() else 0.0
        worst = min(worst, recall, precision)
    return worst


def automatic(corpus: Corpus, index: dict[str, int]) -> np.ndarray:
    """The probe's stored automatic label per sample (-1: none)."""
    path = proposals.proposals_path(corpus.workspace, FIELD, "probe")
    table = pq.read_table(path, columns=["sample_id", "automatic"])
    out = np.full(len(corpus.ids), -1)
    names = {n: i for i, n in enumerate(corpus.label_field.class_names)}
    for sid, auto in zip(table["sample_id"].to_pylist(), table["automatic"].to_pylist()):
        if auto:
            out[index[sid]] = names[auto[0]]
    return out


def active_batch(corpus: Corpus, index: dict[str, int], batch: int, enough: int) -> list[int]:
    """The next rows to label from the queues: likely wrong, then rare first, then most uncertain."""
    ws, rows, seen = corpus.workspace, [], set()
    for items in (queues.likely_wrong(ws, FIELD, limit=batch // 10),
                  queues.rare_first(ws, FIELD, limit=batch // 2, enough=enough),
                  queues.uncertain(ws, FIELD, limit=batch)):
        for item in items:
            if item.sample_id not in seen and len(rows) < batch:
                seen.add(item.sample_id)
                rows.append(index[item.sample_id])
    return rows


def run_model(root: Path, strategy: str, args, seed: int) -> dict:
    """Label with the probe in the loop (`active` or `passive`) until the goal holds `confirm` decisions on."""
    corpus = build(root, args.samples, args.classes, args.dim, args.noise, seed, args.target_precision)
    index = {s: i for i, s in enumerate(corpus.ids)}
    log = ReviewLog(corpus.workspace, f"bench-{strategy}")
    names = corpus.label_field.class_names
    reviewer = Reviewer(corpus.truth, len(names), seed + 1)
    order = iter(np.random.default_rng(seed + 2).permutation(len(corpus.ids)).tolist())
    curve, streak, trained, started = [], None, False, time.perf_counter()
    while (streak is None or reviewer.decisions < streak + args.confirm) and reviewer.decisions < args.cap:
        size = max(args.batch, reviewer.decisions // 10)  # train sparingly: every batch, or every 10% more
        if strategy == "active" and trained:
            rows = active_batch(corpus, index, size, args.enough)
        else:
            rows = [r for _, r in zip(range(size), (r for r in order if reviewer.labels[r] < 0))]
        if not rows:
            break
        for row in rows:
            log.label(corpus.ids[row], FIELD, encode(corpus.label_field, {names[reviewer.review(row)]}))
        train_probe(corpus.workspace, FIELD, seed=seed)
        trained = True
        auto = automatic(corpus, index)
        final = np.where(reviewer.labels >= 0, reviewer.labels, auto)
        worst = worst_class(final, corpus.truth, len(names))
        curve.append({"decisions": reviewer.decisions, "worst_class": worst, "automatic": int((auto >= 0).sum())})
        print(f"{strategy} seed {seed}: {reviewer.decisions} decisions, worst class {worst:.3f}, "
              f"{int((auto >= 0).sum())} automatic", file=sys.stderr, flush=True)
        streak = (streak or reviewer.decisions) if worst >= GOAL else None
    log.close()
    reached = streak if streak is not None and reviewer.decisions >= streak + args.confirm else None
    return {"strategy": strategy, "decisions": reached, "reviewed": reviewer.decisions, "curve": curve,
            "seconds": time.perf_counter() - started}


def run_random(args, seed: int) -> dict:
    """Random order with no model: the labelled set is the human labels (no log written: nothing reads it)."""
    truth, _ = hidden_classes(args.samples, args.classes, seed)
    reviewer = Reviewer(truth, args.classes, seed + 1)
    curve, streak, started = [], None, time.perf_counter()
    for row in np.random.default_rng(seed + 2).permutation(args.samples).tolist():
        reviewer.review(row)
        if reviewer.decisions % args.batch and reviewer.decisions != args.samples:
            continue
        worst = worst_class(reviewer.labels, truth, args.classes)
        curve.append({"decisions": reviewer.decisions, "worst_class": worst, "automatic": 0})
        streak = (streak or reviewer.decisions) if worst >= GOAL else None
        if streak is not None and reviewer.decisions >= streak + args.confirm:
            break
    settled = streak is not None and (reviewer.decisions >= streak + args.confirm or reviewer.decisions == args.samples)
    return {"strategy": "random", "decisions": streak if settled else None, "reviewed": reviewer.decisions,
            "curve": curve, "seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--classes", type=int, default=12)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--noise", type=float, default=0.2, help="per-dimension std of the embedding noise")
    parser.add_argument("--batch", type=int, default=200,
                        help="labels between trainings of the probe (at least a tenth of those made so far)")
    parser.add_argument("--enough", type=int, default=150, help="labels after which rare first skips a class")
    parser.add_argument("--target-precision", type=float, default=0.9,
                        help="automatic labels' agreement with (5%%-noisy) human labels (lower CI end)")
    parser.add_argument("--confirm", type=int, default=400, help="decisions the goal must still hold after")
    parser.add_argument("--cap", type=int, default=8000, help="most decisions active and passive may take")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the README rows as one JSON list")
    args = parser.parse_args()
    per_seed = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            active = run_model(Path(tmp) / f"active-{seed}", "active", args, seed)
            passive = run_model(Path(tmp) / f"passive-{seed}", "passive", args, seed)
            per_seed.append((seed, active, passive, run_random(args, seed)))
    rows = []
    for seed, active, passive, random in per_seed:
        a = active["decisions"] or args.cap  # not reached: counted at the cap
        p = passive["decisions"] or args.cap
        r = random["decisions"] or args.samples
        rows.append({"seed": seed, "active": a, "passive": p, "random": r, "vs_random": a / r, "vs_passive": a / p,
                     "reached": {x["strategy"]: x["decisions"] is not None for x in (active, passive, random)},
                     "seconds": {x["strategy"]: round(x["seconds"], 1) for x in (active, passive, random)}})
    worst_random = max(rows, key=lambda x: x["vs_random"])
    worst_passive = max(rows, key=lambda x: x["vs_passive"])
    summary = [
        {"name": "labels", "measure": f"label decisions to {GOAL:.0%} per class vs random order, no model "
                                      f"(worst of {args.seeds} seeds)",
         "gristmill": worst_random["active"], "baseline": worst_random["random"], "unit": "decisions",
         "ratio": worst_random["vs_random"], "target": TARGET_VS_RANDOM, "higher_is_better": False},
        {"name": "labels (passive)", "measure": f"the same vs random order with the same probe (worst of "
                                                f"{args.seeds} seeds)",
         "gristmill": worst_passive["active"], "baseline": worst_passive["passive"], "unit": "decisions",
         "ratio": worst_passive["vs_passive"], "target": TARGET_VS_PASSIVE, "higher_is_better": False}]
    if args.json:
        print(json.dumps(summary))
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"labels benchmark: {args.samples} samples, {args.classes} classes (rare {RARE[0]:.1%}, {RARE[1]:.1%}), "
          f"{args.dim}-d, reviewer wrong {ERROR_RATE:.0%}, {platform.node()}, {os.cpu_count()} cores, "
          f"peak RSS {peak:.0f} MiB")
    print(f"{'seed':>4} {'active':>8} {'passive':>8} {'random':>8} {'active/random':>14} {'active/passive':>15} "
          f"{'seconds (a/p/r)':>18}")
    for row in rows:
        mark = lambda s, v: f"{v}" if row["reached"][s] else f">{v}"  # noqa: E731
        sec = row["seconds"]
        print(f"{row['seed']:>4} {mark('active', row['active']):>8} {mark('passive', row['passive']):>8} "
              f"{mark('random', row['random']):>8} {row['vs_random']:>14.3f} {row['vs_passive']:>15.3f} "
              f"{sec['active']:>6}/{sec['passive']}/{sec['random']}")
    for row, key, target, what in ((worst_random, "vs_random", TARGET_VS_RANDOM, "random order, no model"),
                                   (worst_passive, "vs_passive", TARGET_VS_PASSIVE, "passive")):
        verdict = "meets" if all(r[key] <= target for r in rows) else "misses"
        print(f"worst ratio vs {what}: {row[key]:.3f} (target <= {target}, each seed): {verdict} the target")
    print("'>N': not reached by N decisions (counted at N: the ratio is then an upper bound)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
