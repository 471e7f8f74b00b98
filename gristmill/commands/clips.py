"""`gristmill clips DIR`: shot detection, clip splitting, keyframes and motion scores (see curation.clips).

PyAV, OpenCV, PySceneDetect and the catalog load in `run`, so building this command's --help stays light.
"""
from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from curation.video.config import DETECTORS, METHODS, ClipsConfig, MotionConfig, ShotConfig
from curation.workspace import Workspace
from gristmill.console import console, warn_placeholders

if TYPE_CHECKING:
    from curation.clips import ClipsReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--detector", default="adaptive", choices=DETECTORS,
                        help="PySceneDetect shot detector; cascade also runs at lower frame rates and catches fades "
                             "(default: %(default)s)")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="drop shorter clips (default: %(default)s)")
    parser.add_argument("--max-seconds", type=float, default=20.0, help="split longer shots (default: %(default)s)")
    parser.add_argument("--cut-mode", default="copy", choices=("copy", "reencode"),
                        help="copy: keyframe-aligned stream copy (fast, lossless); reencode: frame-accurate H.264 "
                             "(default: %(default)s)")
    parser.add_argument("--motion", default="farneback", choices=METHODS,
                        help="motion measure: OpenCV Farnebäck flow, torchvision RAFT (GPU), or frame difference "
                             "only (default: %(default)s)")
    parser.add_argument("--sample-fps", type=float, default=2.0, help="frame pairs measured per second (default: 2)")
    parser.add_argument("--raft-weights", default=None, help="RAFT checkpoint (state dict); default: torch hub cache")
    parser.add_argument("--device", default="cpu", help="device for RAFT: cpu, cuda, cuda:N (default: cpu)")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="run RAFT with random weights when none are available (scores marked PLACEHOLDER)")


def config_from_args(args: argparse.Namespace) -> ClipsConfig:
    """The ClipsConfig the command line asks for."""
    return ClipsConfig(
        shots=ShotConfig(detector=args.detector), min_seconds=args.min_seconds, max_seconds=args.max_seconds,
        cut_mode=args.cut_mode,
        motion=MotionConfig(method=args.motion, sample_fps=args.sample_fps, raft_weights=args.raft_weights,
                            device=args.device, allow_random_weights=args.allow_random_weights),
    )


def run(args: argparse.Namespace) -> int:
    from curation.catalog import Catalog
    from curation.clips import make_clips

    ws = Workspace.open(args.workspace)
    config = config_from_args(args)
    columns = [TextColumn("clips: shard {task.fields[shard]}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("clips", total=None, shard="")

        def update(shard: str, done: int, total: int) -> None:
            progress.update(task, completed=done, total=total, shard=shard)

        report = make_clips(ws, config, progress=update)
    print_report(report)
    warn_placeholders(Catalog(ws))
    return 0


def print_report(report: ClipsReport) -> None:
    """Shards, videos and clips by outcome, on one screen."""
    console.print(f"clips: {len(report.shards_done)} shard(s) done, {len(report.shards_skipped)} already done, "
                  f"{report.videos} video(s) in {report.seconds:.1f}s")
    console.print(f"motion measured with {report.model_id}")
    table = Table(title_justify="left")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for status, n in sorted(report.clips.items()):
        table.add_row(f"clip {status}", str(n))
    for reason, n in sorted(report.video_errors.items()):
        table.add_row(f"video failed: {reason}", str(n))
    console.print(table)
