"""Shot detection + motion scoring vs a bare PyAV decode of the same frames, on the synthetic videos.

Both sides decode every frame of every video on one thread (decoder, swscale scaler and OpenCV at one thread
each), so the times are per core. The baseline only decodes. gristmill's side is `VideoProcessor.scan` with
the default settings: every decoded frame is scaled by swscale straight from its YUV planes to the analysis
size (short side 32 px, bilinear, as PySceneDetect downscales) and fed to the shot detector; at 2 pairs per
second of video, a frame and the next are also area-averaged to that size and measured (Farnebäck flow and
frame difference); frame times and keyframes are recorded for cutting. The two sides take turns for
`--repeats` rounds and each one's fastest run counts (the machine may be shared). Target: scan time <= 1.5 x bare decode
time on the Farnebäck path (the default detector, adaptive). Other detectors and methods are listed for
information.

    python benchmarks/video.py [--size 640x360] [--fps 24] [--videos 12] [--json]
"""
import argparse
import json
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

TARGET = 1.5
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


def best_times(fns, repeats: int) -> list[tuple[float, int]]:
    """Run the functions in turn, `repeats` rounds; (fastest seconds, result) of each."""
    best, results = [float("inf")] * len(fns), [0] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            started = time.perf_counter()
            results[i] = fn()
            best[i] = min(best[i], time.perf_counter() - started)
    return list(zip(best, results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="640x360", help="video size WxH (default: %(default)s)")
    parser.add_argument("--fps", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--videos", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object (for python -m benchmarks)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    width, height = map(int, args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        spec = CorpusSpec(seed=0, n_images=30, n_videos=args.videos, video_size=(width, height),
                          video_fps=args.fps, video_seconds=args.seconds)
        generate_corpus(Path(tmp), spec)
        paths = sorted(Path(tmp, "media", "videos").glob("*.mp4"))
        rows = []
        for detector, method in VARIANTS[:1] if args.json else VARIANTS:
            processor = VideoProcessor(ClipsConfig(shots=ShotConfig(detector=detector),
                                                   motion=MotionConfig(method=method)))
            processor.load()
            (baseline, frames), (ours, clips) = best_times(
                [lambda: bare_decode(paths), lambda: scan_all(processor, paths)], args.repeats)
            rows.append(dict(detector=detector, method=method, frames=frames, clips=clips, baseline_s=baseline,
                             gristmill_s=ours, ratio=ours / baseline, clips_per_s_core=clips / ours,
                             baseline_clips_per_s_core=clips / baseline))
    main_row = rows[0]
    if args.json:
        print(json.dumps({
            "name": "video", "measure": f"clips/s per core, shot detection + Farnebäck motion vs bare decode "
                                        f"({args.size}, {args.fps} fps)",
            "gristmill": round(main_row["clips_per_s_core"], 3), "baseline": round(main_row["baseline_clips_per_s_core"], 3),
            "unit": "clips/s/core", "ratio": round(main_row["ratio"], 3), "target": TARGET, "higher_is_better": False,
        }))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{args.videos} synthetic videos, {args.size} @ {args.fps} fps, {args.seconds:g} s each, "
                        f"{main_row['frames']} frames, analysis short side {ClipsConfig().analysis_short_side} px; "
                        f"best of {args.repeats}, one core", title_justify="left")
    for col in ("detector", "motion", "clips", "bare decode s", "gristmill s", "clips/s/core", "ratio", "target"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["detector"], row["method"], str(row["clips"]), f"{row['baseline_s']:.3f}",
                      f"{row['gristmill_s']:.3f}", f"{row['clips_per_s_core']:.2f}", f"{row['ratio']:.2f}",
                      f"<= {TARGET}" if row is main_row else "")
    Console(width=130).print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
