"""`gristmill synth OUT`: generate the deterministic synthetic corpus used by the demo, tests and benchmarks."""
import argparse
from pathlib import Path

from gristmill.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", help="folder to write media/, ground_truth.parquet and corpus.json into")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes; default 0)")
    parser.add_argument("--images", type=int, default=300, help="number of images (default 300)")
    parser.add_argument("--videos", type=int, default=12, help="number of videos (default 12)")
    parser.add_argument("--base-url", help="also write urls.parquet for a server serving OUT/media at this URL")


def run(args: argparse.Namespace) -> int:
    from curation.synthetic.corpus import CorpusSpec, generate_corpus

    corpus = generate_corpus(Path(args.out), CorpusSpec(seed=args.seed, n_images=args.images, n_videos=args.videos))
    console.print(f"wrote {args.images} images and {args.videos} videos to {corpus.out_dir / 'media'}")
    console.print(f"ground truth (never read by the pipeline): {corpus.out_dir / 'ground_truth.parquet'}")
    if args.base_url:
        path = corpus.write_url_list(args.base_url, corpus.out_dir / "urls.parquet")
        console.print(f"URL list: {path}")
    return 0
