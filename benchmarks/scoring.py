"""Scoring throughput: the full `gristmill score` job vs the bare model forward, same device and batch size.

The workspace is built the way a user builds one: the synthetic corpus (`--samples` images) served on
127.0.0.1 and crawled by `pipelines.crawl` (resized by img2dataset to 256 px JPEGs in shard tars). Two
comparisons (`--measures`), each over `--repeats` rounds (at least 3) that rotate which side runs first:
- `clip`: the job with the clip scorer vs the clip scorer's own forward (`ClipScorer.encode`: image and text
  towers, same autocast). Target: ratio >= 0.9 on CPU.
- `shared`: the job with clip, zeroshot and aesthetic on one model vs one bare `encode_image` (same autocast),
  and, in the same rounds, vs `ClipScorer.encode` (the image forward plus the captions' text forward, which
  the clip scorer needs and a bare `encode_image` leaves out). The three scorers share one image forward
  per sample (`curation.scorers.embedding`). Target: ratio >= 0.85 on CPU.
- `decode`: the job's loader alone (`ShardStream` in a DataLoader: read from the shard tars, JPEG decode,
  draft-reduced as the clip scorer allows, and the model transform) vs a bare PIL loop over the same bytes
  (full decode, the same transform) in the same DataLoader with the same workers, on `--decode-samples`
  photo-like 1024-px JPEGs (`curation.synthetic.images.photo_like`, non-square) written straight into shards.
  Target: ratio >= 1.5.
The job side is `curation.scoring.score()` over every shard (`force`): planning, DataLoader decode workers
reading the tars, JPEG decode and the model transform, batches of `--batch-size`, the forwards, scores and
embeddings written as Parquet. The model is loaded once before the runs and shared through the model cache,
so its one-off load (about 2 s for ViT-B-32) is not counted; starting the decode workers is. The bare side
runs on the same images, decoded and transformed beforehand into tensors (already on the device), same
batches. images/s = images scored / wall time; each round gives ratio = job / bare, and a row reports the
median ratio with its min-max (single runs on a shared machine vary by +-20%). Weights are random
(`--allow-random-weights`, PLACEHOLDER): the computation is the same as with real weights.

Where the time goes, reported beside: decode (one process reading and decoding the shards and running the
model transform, images/s per decode worker), transfer (pinned host batches copied to a CUDA device) and
compute (the median bare forward).

    python benchmarks/scoring.py [--measures clip,shared,decode] [--device cpu|cuda] [--model ViT-B-32]
                                 [--batch-size 64] [--samples 256] [--decode-samples 512] [--repeats 3]
                                 [--precision auto] [--weights fp32|bf16|fp16] [--channels-last] [--compile]
                                 [--decode-on-device] [--json]
"""
import argparse
import io
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from curation.models import autocast_dtype  # noqa: E402
from curation.scorers.clip import ClipScorer  # noqa: E402
from curation.sample_sources import committed_units  # noqa: E402
from curation.scoring import ScoreConfig, ShardStream, score  # noqa: E402
from curation.workspace import Workspace  # noqa: E402

# bare side -> what it runs
BARES = {"encode": "the clip scorer's image and text forward", "encode_image": "one bare encode_image"}
# comparison -> (row name, scorers of the job, [(bare side, target ratio)]); one row per bare side
MEASURES = {
    "clip": ("scoring", ["clip"], [("encode", 0.9)]),
    "shared": ("scoring-shared", ["clip", "zeroshot", "aesthetic"], [("encode_image", 0.85), ("encode", 0.85)]),
}
DECODE = "decode"  # the loader-vs-bare-decode comparison (not a job: see measure_decode)
DECODE_TARGET = 1.5
DECODE_SIDE = 1024  # px, the longer side of the decode benchmark's JPEGs
MIN_ROUNDS = 3


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


def build_photo_workspace(root: Path, n_images: int) -> Workspace:
    """A workspace of `n_images` photo-like JPEGs, longer side DECODE_SIDE px, shorter 576-1024 px, in shards of
    256 (distinct pictures for the first 64; the rest are mirrored or rotated copies re-encoded, which cost the
    same to decode)."""
    import numpy as np
    from PIL import Image

    from curation.identity import sample_id
    from curation.shards import ShardWriter, shard_name
    from curation.synthetic.images import encode_image, photo_like

    ws = Workspace.init(root / "ws")
    rng = np.random.default_rng(0)
    originals = []
    writer = None
    for i in range(n_images):
        if i < 64:
            short = int(rng.integers(576, DECODE_SIDE + 1))
            originals.append(photo_like(rng, DECODE_SIDE, short) if i % 2 else photo_like(rng, short, DECODE_SIDE))
            picture = originals[-1]
        else:
            picture = originals[i % 64].transpose([Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.ROTATE_180,
                                                   Image.Transpose.FLIP_TOP_BOTTOM][i // 64 % 3])
        if i % 256 == 0:
            if writer:
                writer.commit()
            writer = ShardWriter(ws.root, shard_name(i // 256))
        url = f"http://photos.test/{i}.jpg"
        writer.add({"sample_id": sample_id(url, f"photo {i}"), "url": url, "caption": f"photo {i}",
                    "media_type": "image", "status": "success"}, encode_image(picture, "JPEG", 85 + i % 10), "jpg")
    writer.commit()
    return ws


class BareDecode(torch.utils.data.IterableDataset):
    """The bare side of `decode`: every stored image read from its tar, decoded in full by PIL, transformed."""

    def __init__(self, root: Path, rows: list[dict], transform):
        self.root, self.rows, self.transform = root, rows, transform

    def __iter__(self):
        from PIL import Image

        from curation.shards import read_media

        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for row in self.rows[worker::workers]:
            data = read_media(self.root, row["media_path"], row["media_offset"], row["media_size"])
            with Image.open(io.BytesIO(data)) as image:
                yield self.transform(image.convert("RGB"))


def measure_decode(root: Path, args: argparse.Namespace, scorer: ClipScorer, config: ScoreConfig) -> dict:
    """images/s of the job's loader vs the bare PIL loop, alternating sides for `args.repeats` rounds."""
    from curation.scoring import scorable_rows

    ws = build_photo_workspace(root / "photos", args.decode_samples)
    units = committed_units(ws)
    rows = [row for unit in units for row in scorable_rows(ws.root, unit)]
    key = scorer.input_key
    loader = ShardStream(ws.root, {unit: [scorer.name] for unit in units}, {key: (scorer.preparer(), True)},
                         {scorer.name: key}, {scorer.name: scorer.picture_need()}, video_frames=1)
    bare = BareDecode(ws.root, rows, scorer.clip.preprocess)
    workers = config.workers()

    def images_per_s(dataset) -> float:
        batches = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, num_workers=workers,
                                              collate_fn=list, prefetch_factor=2 if workers else None)
        started = time.perf_counter()
        count = sum(len(batch) for batch in batches)
        if count != len(rows):
            raise SystemExit(f"the decode side saw {count} images of {len(rows)}")
        return count / (time.perf_counter() - started)

    runs = alternate(args.repeats, {"gristmill": lambda: images_per_s(loader), "bare": lambda: images_per_s(bare)})
    ratios = [g / b for g, b in zip(runs["gristmill"], runs["bare"])]
    return _row("scoring-decode", DECODE_TARGET, ratios, {}, {
        "measure": f"decode of {len(rows)} photo-like {DECODE_SIDE}-px JPEGs from shards to {scorer.clip.model_id} "
                   f"inputs: the job's loader (draft) vs bare PIL, {workers} worker(s) each "
                   f"(median of {args.repeats} rounds)",
        "gristmill": round(statistics.median(runs["gristmill"]), 2),
        "baseline": round(statistics.median(runs["bare"]), 2),
        "decode_workers": workers,
        "runs": {side: [round(r, 2) for r in values] for side, values in runs.items()},
    })


def alternate(repeats: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each side's value per round; each round starts one side later than the one before."""
    names = list(sides)
    runs: dict[str, list[float]] = {name: [] for name in names}
    for repeat in range(repeats):
        shift = repeat % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(sides[name]())
    return runs


def predecode(ws: Workspace, scorer: ClipScorer) -> tuple[torch.Tensor, list[str], float]:
    """Every scorable image decoded and transformed by the job's own code, in this process with one torch
    thread as in a decode worker: (images, captions, seconds)."""
    plan = {unit: [scorer.name] for unit in committed_units(ws)}
    key = scorer.input_key
    stream = ShardStream(ws.root, plan, {key: (scorer.preparer(), True)}, {scorer.name: key},
                         {scorer.name: scorer.picture_need()}, video_frames=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        started = time.perf_counter()
        samples = [s for s in stream if key in s.prepared]
        seconds = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return torch.cat([s.prepared[key] for s in samples]), [s.caption or "" for s in samples], seconds


def bare_s(bare: str, scorer: ClipScorer, images: torch.Tensor, captions: list[str], batch_size: int) -> float:
    """Seconds for a bare side (a key of BARES) over every batch (CPU results, so CUDA work is done)."""
    model = scorer.clip.model
    started = time.perf_counter()
    for start in range(0, len(captions), batch_size):
        if bare == "encode":
            scorer.encode(images[start:start + batch_size], captions[start:start + batch_size])
            continue
        with torch.inference_mode(), scorer._autocast():
            model.encode_image(scorer.clip.image_input(images[start:start + batch_size])).cpu()
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
    """Wall seconds of one full scoring run and the number of images every scorer scored without error."""
    started = time.perf_counter()
    report = score(ws, config)
    seconds = time.perf_counter() - started
    return seconds, min(s.samples - s.errors for s in report.scorers)


def rounds(bares: list[str], ws: Workspace, config: ScoreConfig, scorer: ClipScorer, images: torch.Tensor,
           captions: list[str], repeats: int) -> dict[str, list[float]]:
    """images/s of the job ("gristmill") and of each bare side per round; each round starts one side later."""
    def job() -> float:
        seconds, scored = job_s(ws, config)
        if scored != len(captions):
            raise SystemExit(f"the job scored {scored} images, the bare forward {len(captions)}")
        return scored / seconds

    def bare(side: str) -> Callable[[], float]:
        return lambda: len(captions) / bare_s(side, scorer, images, captions, config.batch_size)

    return alternate(repeats, {"gristmill": job, **{side: bare(side) for side in bares}})


def measure(root: Path, args: argparse.Namespace) -> list[dict]:
    """Build the workspace, then run each of `args.measures` for `args.repeats` rounds; see the module docstring."""
    ws = build_workspace(root, args.samples)
    base = ScoreConfig(model=args.model, pretrained=None, allow_random_weights=True, device=args.device,
                       precision=args.precision, weights=args.weights, channels_last=args.channels_last,
                       compile=args.compile, decode_on_device=args.decode_on_device, batch_size=args.batch_size,
                       num_workers=args.num_workers, force=True)
    scorer = ClipScorer(base.model_spec(), base.precision)
    scorer.load()  # held for the whole run: the job's scorers get this model (and its embedder) from the caches
    images, captions, decode_seconds = predecode(ws, scorer)
    device = scorer.clip.device
    on_device = images.to(device)
    scorer.encode(on_device[:args.batch_size], captions[:args.batch_size])  # warm-up (kernels, autocast caches)
    dtype = autocast_dtype(args.precision, device) or torch.float32
    rows = []
    for name in args.measures:
        if name == DECODE:
            rows.append(measure_decode(root, args, scorer, base))
            continue
        row_name, scorers, baselines = MEASURES[name]
        config = base.model_copy(update={"scorers": scorers})
        bares = [bare for bare, _ in baselines]
        runs = rounds(bares, ws, config, scorer, on_device, captions, args.repeats)
        for bare, target in baselines:
            ratios = [g / b for g, b in zip(runs["gristmill"], runs[bare])]
            where = {"decode_per_worker": round(len(captions) / decode_seconds, 1),
                     "compute": round(statistics.median(runs[bare]), 1)}
            if device.type == "cuda":
                where["transfer"] = round(len(captions) / transfer_s(images, args.batch_size, device), 1)
            rows.append(_row(row_name if bare == bares[0] else f"{row_name}-vs-{bare}", target, ratios, where, {
                "measure": f"{','.join(scorers)} on {args.model}, {device} ({dtype}), batch {args.batch_size}, "
                           f"{len(captions)} crawled images: full job vs {BARES[bare]} "
                           f"(median of {args.repeats} rounds)",
                "gristmill": round(statistics.median(runs["gristmill"]), 2),
                "baseline": round(statistics.median(runs[bare]), 2),
                "decode_workers": config.workers(),
                "runs": {side: [round(r, 2) for r in runs[side]] for side in ("gristmill", bare)},
            }))
    return rows


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory so far of this process and of its largest finished child process (decode workers,
    the crawl that built the workspace), MB."""
    return {who: round(resource.getrusage(flag).ru_maxrss / 1024, 1)
            for who, flag in (("main", resource.RUSAGE_SELF), ("largest_child", resource.RUSAGE_CHILDREN))}


def _row(name: str, target: float, ratios: list[float], where: dict, fields: dict) -> dict:
    """One result row in the shape `python -m benchmarks` reads."""
    return {
        "name": name,
        **fields,
        "unit": "images/s",
        "ratio": round(statistics.median(ratios), 3),
        "ratio_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        "target": target,
        "higher_is_better": True,
        "where_time_goes_images_per_s": where,
        "weights": "random (PLACEHOLDER): the same computation as real weights",
        "peak_rss_mb": peak_rss_mb(),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measures", default=f"clip,shared,{DECODE}",
                        help=f"comma-separated comparisons: {', '.join([*MEASURES, DECODE])} (default: %(default)s)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
    parser.add_argument("--model", default="ViT-B-32", help="open_clip model (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=64, help="images per batch, both sides (default: %(default)s)")
    parser.add_argument("--samples", type=int, default=256, help="synthetic images to crawl (default: %(default)s)")
    parser.add_argument("--decode-samples", type=int, default=512,
                        help=f"photo-like {DECODE_SIDE}-px JPEGs of the decode measure (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=None, help="decode workers (default: the job's default)")
    parser.add_argument("--precision", default="auto", help="autocast precision, as `gristmill score` (default: auto)")
    parser.add_argument("--weights", default="fp32", help="model weights dtype, as `gristmill score` (default: fp32)")
    parser.add_argument("--channels-last", action="store_true", help="as `gristmill score --channels-last`")
    parser.add_argument("--compile", action="store_true", help="as `gristmill score --compile`")
    parser.add_argument("--decode-on-device", action="store_true", help="as `gristmill score --decode-on-device`")
    parser.add_argument("--repeats", type=int, default=MIN_ROUNDS,
                        help=f"rounds per comparison, at least {MIN_ROUNDS} (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON list (for python -m benchmarks)")
    args = parser.parse_args()
    args.measures = [m.strip() for m in args.measures.split(",") if m.strip()]
    if args.repeats < MIN_ROUNDS or not args.measures or set(args.measures) - {*MEASURES, DECODE}:
        parser.error(f"--repeats must be at least {MIN_ROUNDS} and --measures a list of {', '.join(MEASURES)}")
    with tempfile.TemporaryDirectory(prefix="gristmill-bench-scoring-") as tmp:
        rows = measure(Path(tmp), args)
    if args.json:
        print(json.dumps(rows))
        return 0
    for row in rows:
        low, high = row["ratio_min_max"]
        print(f"{row['measure']}\n  gristmill score: {row['gristmill']} images/s   bare: {row['baseline']} images/s   "
              f"ratio {row['ratio']} (min {low}, max {high}; target >= {row['target']})\n  where time goes "
              f"(images/s): {row['where_time_goes_images_per_s']} with {row['decode_workers']} decode worker(s)\n"
              f"  runs {row['runs']}; peak RSS {row['peak_rss_mb']} MB; {row['weights']}; {row['machine']}, "
              f"load average {row['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
