"""`gristmill demo [WS]`: the whole flow on the synthetic corpus, served from a loopback HTTP server."""
import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", nargs="?", default="demo-workspace",
                        help="workspace to (re)create (default: demo-workspace); a non-demo folder is refused")
    parser.add_argument("--out", help="release folder (default: <workspace>/../<workspace name>-release)")
    parser.add_argument("--seed", type=int, default=0, help="synthetic corpus seed (default 0)")
    parser.add_argument("--images", type=int, default=300, help="synthetic images (default 300)")
    parser.add_argument("--videos", type=int, default=12, help="synthetic videos (default 12)")
    parser.add_argument("--allow-random-weights", action="store_true",
                        help="score with random CLIP weights when no real weights are available (loudly marked)")


def run(args: argparse.Namespace) -> int:
    from gristmill.demo import DemoConfig, run_demo

    workspace = Path(args.workspace)
    out = Path(args.out) if args.out else workspace.resolve().parent / f"{workspace.resolve().name}-release"
    run_demo(DemoConfig(workspace=workspace, out=out, seed=args.seed, n_images=args.images,
                        n_videos=args.videos, allow_random_weights=args.allow_random_weights))
    return 0
