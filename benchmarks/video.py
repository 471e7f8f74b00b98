"""The clips stage vs a bare PyAV decode of the same videos, on the synthetic videos (one core).

Both sides run on one thread (decoder, swscale scaler and OpenCV at one thread each), so times are per core.
The baseline decodes every frame of every video once. gristmill's main side is the whole clips stage per video,
`VideoProcessor.process` with the default settings: the scan (every frame scaled by swscale straight from its
YUV planes to the analysis size and fed to the shot detector; at 2 pairs per second a frame and the next are
measured for motion, Farnebäck and frame difference; frame times and keyframes recorded), then cutting each
kept clip (stream copy) and encoding its keyframe JPEGs from the pictures the scan held (so each video is
decoded once; `curation.video.keyframes`).
Target (issue 19): whole stage <= 2.0 x bare decode. The scan alone per detector and motion method is listed
for information (its earlier target was 1.5).

Rounds alternate which side runs first (the machine may be shared); each round gives a ratio, and the median
ratio is reported with its min-max over `--rounds` rounds (at least 3).

    python benchmarks/video.py [--size 640x360] [--fps 24] [--videos 12] [--rounds 3] [--json]
"""
import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from curation.synthetic.corpus import CorpusSpec, generate_corpus  # noqa: E402
from curation.video.cut import shots_from_cuts  # noqa: E402
from curation.video.config import ClipsConfig, MotionConfig, ShotConfig  # noqa: E402
from curation.video.process import VideoProcessor  # noqa: E402

TARGET = 2.0
MIN_ROUNDS = 3
SCAN_TARGET = 1.5
VARIANTS = [("adaptive", "farneback"), ("cascade", "farneback"), ("content", "farneback"), ("adaptive", "frame_diff")]


def bare_decode(paths: list[Path]) -> int:
    """Decode every frame of every video, single-threaded; return the frame count."""
    frames = 0
    for path in paths:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.thread_count = 1
            for _ in container.decode(stream):
                frames += 1
    return frames


def scan_all(processor: VideoProcessor, paths: list[Path]) -> int:
    """Shot detection + motion over every video; return the number of clips (shots) found."""
    return sum(len(shots_from_cuts(s.cuts, s.timeline.n_frames)) for s in map(processor.scan, paths))


def clips_stage(processor: VideoProcessor, paths: list[Path]) -> int:
    """The whole clips stage over every video (scan, cut, keyframes, motion rows); return the clips stored."""
    stored = 0
    for path in paths:
        result = processor.process({"sample_id": path.stem, "url": path.name, "caption": None, "shard": "00000"}, path)
        if result.error:
            raise SystemExit(f"{path.name}: {result.error}: {result.message}")
        stored += sum(row["status"] == "success" for row in result.clip_rows)
    return stored


def alternating_rounds(baseline, ours, rounds: int) -> dict:
    """Run both sides `rounds` times, each round starting with the other side; per-round ratios and results."""
    ratios, base_s, ours_s, results = [], [], [], {}
    for k in range(rounds):
        timed = {}
        for side, fn in ((("baseline", baseline), ("ours", ours)) if k % 2 == 0 else (("ours", ours), ("baseline", baseline))):
            started = time.perf_counter()
            results[side] = fn()
            timed[side] = time.perf_counter() - started
        base_s.append(timed["baseline"])
        ours_s.append(timed["ours"])
        ratios.append(timed["ours"] / timed["baseline"])
    return {"ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios),
            "baseline_s": statistics.median(base_s), "gristmill_s": statistics.median(ours_s),
            "frames": results["baseline"], "clips": results["ours"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360", help="video size WxH (default: %(default)s)")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=MIN_ROUNDS, help=f"at least {MIN_ROUNDS} (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for python -m benchmarks)")
    args = parser.parse_args()
    if args.rounds < MIN_ROUNDS:
        parser.error(f"--rounds must be at least {MIN_ROUNDS}")
    cv2.setNumThreads(1)
    width, height = map(int, args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        spec = CorpusSpec(seed=0, n_images=30, n_videos=args.videos, video_size=(width, height),
                          video_fps=args.fps, video_seconds=args.seconds)
        generate_corpus(Path(tmp), spec)
        paths = sorted(Path(tmp, "media", "videos").glob("*.mp4"))
        processor = VideoProcessor(ClipsConfig())
        processor.load()
        stage = alternating_rounds(lambda: bare_decode(paths), lambda: clips_stage(processor, paths), args.rounds)
        scans = []
        for detector, method in [] if args.json else VARIANTS:
            scanner = VideoProcessor(ClipsConfig(shots=ShotConfig(detector=detector), motion=MotionConfig(method=method)))
            scanner.load()
            scans.append((detector, method, alternating_rounds(lambda: bare_decode(paths),
                                                               lambda: scan_all(scanner, paths), args.rounds)))
    measure = (f"whole clips stage (scan, stream-copy cuts, keyframes, motion) vs one bare decode, "
               f"{args.videos} videos {args.size} @ {args.fps} fps, one core")
    if args.json:
        print(json.dumps({
            "name": "video", "measure": measure, "gristmill": round(stage["gristmill_s"], 3),
            "baseline": round(stage["baseline_s"], 3), "unit": "s", "ratio": round(stage["ratio"], 3),
            "ratio_min_max": [round(stage["ratio_min"], 3), round(stage["ratio_max"], 3)], "rounds": args.rounds,
            "clips": stage["clips"], "frames": stage["frames"], "target": TARGET, "higher_is_better": False,
        }))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.videos} synthetic videos, {args.size} @ {args.fps} fps, {args.seconds:g} s each, "
                        f"{stage['frames']} frames, analysis short side {ClipsConfig().analysis_short_side} px; "
                        f"median of {args.rounds} alternating rounds, one core", title_justify="left")
    for col in ("measure", "clips", "bare decode s", "gristmill s", "ratio (min-max)", "target"):
        table.add_column(col)
    rows = [("whole clips stage (default settings)", stage, f"<= {TARGET}")]
    rows += [(f"scan only: {d} + {m}", r, f"<= {SCAN_TARGET}" if (d, m) == VARIANTS[0] else "") for d, m, r in scans]
    for name, r, target in rows:
        table.add_row(name, str(r["clips"]), f"{r['baseline_s']:.3f}", f"{r['gristmill_s']:.3f}",
                      f"{r['ratio']:.2f} ({r['ratio_min']:.2f}-{r['ratio_max']:.2f})", target)
    Console(width=140).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
