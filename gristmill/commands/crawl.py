"""`gristmill crawl WORKSPACE --urls LIST`: download a (URL, caption) list into WebDataset shards.

    gristmill crawl WS --urls laion.parquet --url-col URL --caption-col TEXT
    gristmill crawl WS --urls cc3m.tsv --column-names caption,url
    gristmill crawl WS --urls list.csv --runner DirectRunner --direct-running-mode multi_processing \\
                       --direct-num-workers 2
    gristmill crawl WS --urls gs://bucket/list.parquet --runner DataflowRunner --beam-args --project=P ...

Re-running the same command resumes: committed shards are kept, the others are crawled again.
Runner flags for Dataflow, Flink and Spark: pipelines/crawl/RUNNERS.md. Per-host limits, opt-outs and the user
agent: docs/crawling-politely.md.
"""
import argparse
from typing import Literal, get_args, get_origin


_FIELD_FLAGS = {  # CrawlConfig field -> (flag, type)
    "input_format": ("--input-format", str), "url_col": ("--url-col", str), "shard_size": ("--shard-size", int),
    "threads": ("--threads", int), "timeout": ("--timeout", float), "image_deadline": ("--image-deadline", float),
    "video_deadline": ("--video-deadline", float), "retries": ("--retries", int), "backoff": ("--backoff", float),
    "max_retry_after": ("--max-retry-after", float), "max_redirects": ("--max-redirects", int),
    "max_bytes": ("--max-bytes", int), "max_video_bytes": ("--max-video-bytes", int),
    "max_pixels": ("--max-pixels", int), "image_size": ("--image-size", int), "resize_mode": ("--resize-mode", str),
    "encode_format": ("--encode-format", str), "encode_quality": ("--encode-quality", int),
    "user_agent_token": ("--user-agent-token", str), "runner": ("--runner", str),
    "direct_num_workers": ("--direct-num-workers", int), "direct_running_mode": ("--direct-running-mode", str),
    "host_connections": ("--host-connections", int), "host_rps": ("--host-rps", float),
    "host_failures": ("--host-failures", int), "host_cooldown": ("--host-cooldown", float),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pipelines.crawl.config import CrawlConfig

    fields = CrawlConfig.model_fields
    parser.add_argument("workspace", help="workspace folder (created when missing or empty)")
    parser.add_argument("--urls", required=True,
                        help="URL list: Parquet, CSV, TSV, JSON, JSONL or text (optionally .gz/.bz2/.xz/.zst); a file, "
                             "folder or glob; local or fsspec URI")
    parser.add_argument("--caption-col", default="caption",
                        help="caption column (default: caption); '' for lists without captions")
    parser.add_argument("--column-names", help="comma-separated names for header-less CSV/TSV (CC3M: caption,url)")
    for name, (flag, type_) in _FIELD_FLAGS.items():
        field = fields[name]
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
        doc = f"{field.description}; " if field.description else ""
        parser.add_argument(flag, dest=name, type=type_, default=field.default, choices=choices,
                            help=f"{doc}default {field.default}")
    parser.add_argument("--allow-private-network", action="store_true",
                        help="allow private and loopback addresses (cloud metadata and link-local stay refused)")
    parser.add_argument("--resize-only-if-bigger", action="store_true", help="never upscale")
    parser.add_argument("--opt-out-directives", default="noai,noimageai,noml",
                        help="X-Robots-Tag directives honoured as opt-outs, comma-separated; '' to ignore (default "
                             "noai,noimageai,noml)")
    parser.add_argument("--respect-robots-txt", action="store_true",
                        help="fetch robots.txt once per host and skip the URLs it disallows (robots_disallowed)")
    parser.add_argument("--respect-tdmrep", action="store_true",
                        help="honour TDM-Rep reservations: the tdm-reservation header and /.well-known/tdmrep.json "
                             "per host (tdm_reserved)")
    parser.add_argument("--one-sample-per-url", action="store_true",
                        help="keep only the first caption of a URL (the others become duplicate_url); by default "
                             "every (URL, caption) pair is a sample and the URL is fetched once")
    parser.add_argument("--no-progress", action="store_true", help="no live progress and no summary table")
    parser.add_argument("--beam-args", nargs=argparse.REMAINDER, default=[],
                        help="everything after this flag goes to Beam, e.g. --beam-args --project=P --region=R")


def run(args: argparse.Namespace) -> int:
    from gristmill.console import console
    from pipelines.crawl import CrawlConfig, crawl

    config = CrawlConfig(
        urls=args.urls,
        caption_col=args.caption_col or None,
        column_names=_csv_list(args.column_names) or None,
        allow_private_network=args.allow_private_network,
        resize_only_if_bigger=args.resize_only_if_bigger,
        disallowed_header_directives=_csv_list(args.opt_out_directives),
        respect_robots_txt=args.respect_robots_txt,
        respect_tdmrep=args.respect_tdmrep,
        one_sample_per_url=args.one_sample_per_url,
        progress=not args.no_progress,
        beam_args=args.beam_args,
        **{name: getattr(args, name) for name in _FIELD_FLAGS},
    )
    report = crawl(args.workspace, config, console)
    return 0 if report.samples else 1


def _csv_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]
