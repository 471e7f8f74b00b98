"""Scoring throughput: the full `gristmill score` job vs the bare model forward, same device and batch size.

The workspace is built the way a user builds one: the synthetic corpus (`--samples` images) served on
127.0.0.1 and crawled by `pipelines.crawl` (resized by img2dataset to 256 px JPEGs in shard tars). Then, alternating
`--repeats` times, in alternating order (the best run of each side counts):
- gristmill: `curation.scoring.score()` with the clip scorer over every shard (`force`): planning, DataLoader
  decode workers reading the tars, JPEG decode and the model transform, batches of `--batch-size`, image and
  text forward, scores and embeddings written as Parquet. The model is loaded once before the runs and
  shared through the model cache, so its one-off load (about 2 s for ViT-B-32) is not counted; starting the
  decode workers is.
- bare forward: the clip scorer's own forward (`ClipScorer.encode`: image and text towers, same autocast) on
  the same images, decoded and transformed beforehand into tensors (already on the device), same batches.
images/s = images scored / wall time; ratio = gristmill / bare. Target: ratio >= 0.9 on CPU. Weights are
random (`--allow-random-weights`, PLACEHOLDER): the computation is the same as with real weights.

Where the time goes, reported beside: decode (one process reading and decoding the shards and running the
model transform, images/s per decode worker), transfer (pinned host batches copied to a CUDA device) and
compute (the bare forward).

    python benchmarks/scoring.py [--device cpu|cuda] [--model ViT-B-32] [--batch-size 64] [--samples 256] [--json]
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from curation.models import autocast_dtype  # noqa: E402
from curation.scorers.clip import ClipScorer  # noqa: E402
from curation.sample_sources import committed_units  # noqa: E402
from curation.scoring import ScoreConfig, ShardStream, score  # noqa: E402
from curation.workspace import Workspace  # noqa: E402

TARGET = 0.9


def build_workspace(root: Path, n_images: int) -> Workspace:
    """Generate `n_images` synthetic images, serve them on 127.0.0.1 and crawl them into a workspace."""
    from curation.synthetic.corpus import CorpusSpec, generate_corpus
    from curation.synthetic.server import FixtureServer
    from gristmill.console import console
    from pipelines.crawl import CrawlConfig, crawl

    corpus = generate_corpus(root / "web", CorpusSpec(seed=0, n_images=n_images, n_videos=0))
    with FixtureServer(root / "web" / "media") as server:
        urls = corpus.write_url_list(server.base_url, root / "urls.parquet")
        crawl(root / "ws", CrawlConfig(urls=str(urls), allow_private_network=True, retries=0, host_connections=32,
                                       host_rps=1000.0), console)  # our own loopback server: no per-host cap
    return Workspace.open(root / "ws")


def predecode(ws: Workspace, scorer: ClipScorer) -> tuple[torch.Tensor, list[str], float]:
    """Every scorable image decoded and transformed by the job's own code, in this process with one torch
    thread as in a decode worker: (images, captions, seconds)."""
    plan = {unit: [scorer.name] for unit in committed_units(ws)}
    stream = ShardStream(ws.root, plan, {scorer.name: (scorer.preparer(), True)}, {scorer.name}, video_frames=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        samples = [s for s in stream if scorer.name in s.prepared]
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return torch.cat([s.prepared[scorer.name] for s in samples]), [s.caption or "" for s in samples], seconds


def bare_forward_s(scorer: ClipScorer, images: torch.Tensor, captions: list[str], batch_size: int) -> float:
    """Seconds for the scorer's forward over every batch (`encode` returns CPU tensors, so CUDA work is done)."""
    started = time.perf_counter()
    for start in range(0, len(captions), batch_size):
        scorer.encode(images[start:start + batch_size], captions[start:start + batch_size])
    return time.perf_counter() - started


def transfer_s(images: torch.Tensor, batch_size: int, device: torch.device) -> float:
    """Seconds to copy every pinned host batch to `device` (CUDA only)."""
    batches = [images[i:i + batch_size].pin_memory() for i in range(0, len(images), batch_size)]
    torch.cuda.synchronize(device)
    started = time.perf_counter()
    for batch in batches:
        batch.to(device, non_blocking=True)
    torch.cuda.synchronize(device)
    return time.perf_counter() - started


def job_s(ws: Workspace, config: ScoreConfig) -> tuple[float, int]:
    """Wall seconds of one full scoring run and the number of images it scored without error."""
    started = time.perf_counter()
    report = score(ws, config)
    seconds = time.perf_counter() - started
    return seconds, report.scorers[0].samples - report.scorers[0].errors


def measure(root: Path, args: argparse.Namespace) -> dict:
    """Build the workspace, then alternate job and bare forward `args.repeats` times; see the module docstring."""
    ws = build_workspace(root, args.samples)
    config = ScoreConfig(scorers=["clip"], model=args.model, pretrained=None, allow_random_weights=True,
                         device=args.device, precision=args.precision, batch_size=args.batch_size,
                         num_workers=args.num_workers, force=True)
    scorer = ClipScorer(config.model_spec(), config.precision)
    scorer.load()  # held for the whole run: the job's clip scorer gets this model from the model cache
    images, captions, decode_seconds = predecode(ws, scorer)
    device = scorer.clip.device
    on_device = images.to(device)
    scorer.encode(on_device[:args.batch_size], captions[:args.batch_size])  # warm-up (kernels, autocast caches)
    runs: dict[str, list[float]] = {"gristmill": [], "bare": []}
    for repeat in range(args.repeats):
        for side in ("gristmill", "bare") if repeat % 2 == 0 else ("bare", "gristmill"):  # alternate the order
            if side == "bare":
                runs["bare"].append(len(captions) / bare_forward_s(scorer, on_device, captions, args.batch_size))
                continue
            seconds, scored = job_s(ws, config)
            if scored != len(captions):
                raise SystemExit(f"the job scored {scored} images, the bare forward {len(captions)}")
            runs["gristmill"].append(scored / seconds)
    best = {side: max(rates) for side, rates in runs.items()}
    where = {"decode_per_worker": round(len(captions) / decode_seconds, 1), "compute": round(best["bare"], 1)}
    if device.type == "cuda":
        where["transfer"] = round(len(captions) / transfer_s(images, args.batch_size, device), 1)
    return {
        "name": "scoring",
        "measure": f"clip scorer {args.model} on {device} ({autocast_dtype(args.precision, device) or torch.float32}), "
                   f"batch {args.batch_size}, "
                   f"{len(captions)} crawled images: full job vs bare forward",
        "gristmill": round(best["gristmill"], 2),
        "baseline": round(best["bare"], 2),
        "unit": "images/s",
        "ratio": round(best["gristmill"] / best["bare"], 3),
        "target": TARGET,
        "higher_is_better": True,
        "decode_workers": config.workers(),
        "where_time_goes_images_per_s": where,
        "weights": "random (PLACEHOLDER): the same computation as real weights",
        "machine": f"{platform.node()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "runs": {side: [round(r, 2) for r in rates] for side, rates in runs.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch, both sides (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=256, help="synthetic images to crawl (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=None, help="decode workers (default: the job's default)")
    parser.add_argument("--precision", default="auto", help="autocast precision, as `gristmill score` (default: auto)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side; the best counts (default: 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for python -m benchmarks)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-scoring-") as tmp:
        row = measure(Path(tmp), args)
    if args.json:
        print(json.dumps(row))
        return 0
    print(f"{row['measure']}\n  gristmill score: {row['gristmill']} images/s   bare forward: {row['baseline']} "
          f"images/s   ratio {row['ratio']} (target >= {TARGET})\n  where time goes (images/s): "
          f"{row['where_time_goes_images_per_s']} with {row['decode_workers']} decode worker(s)\n"
          f"  runs {row['runs']}; {row['weights']}; {row['machine']}, load average {row['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
