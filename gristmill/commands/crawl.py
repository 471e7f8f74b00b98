"""`gristmill crawl WORKSPACE --urls LIST`: download a (URL, caption) list into WebDataset shards.

    gristmill crawl WS --urls laion.parquet --url-col URL --caption-col TEXT
    gristmill crawl WS --urls cc3m.tsv --column-names caption,url
    gristmill crawl WS --urls list.csv --runner DirectRunner --direct-running-mode multi_processing \\
                       --direct-num-workers 2
    gristmill crawl WS --urls gs://bucket/list.parquet --runner DataflowRunner --beam-args --project=P ...

Re-running the same command resumes: committed shards are kept, the others are crawled again.

    gristmill crawl WS --retry-failed                          # timeouts, 5xx, 429, ... fetched again
    gristmill crawl WS --retry-failed --kinds http_404 --timeout 30

A retry round re-fetches the failures of a complete crawl with its recorded settings (flags given change them) and
rewrites each shard as a new version; the summary lists every round's counts (pipelines/crawl/retry.py).
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


_SWITCHES = ("allow_private_network", "resize_only_if_bigger", "respect_robots_txt", "respect_tdmrep",
             "one_sample_per_url")  # CrawlConfig fields set by store_true flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from pipelines.crawl.config import CrawlConfig
    from pipelines.crawl.status import TRANSIENT_KINDS

    fields = CrawlConfig.model_fields
    parser.add_argument("workspace", help="workspace folder (created when missing or empty)")
    parser.add_argument("--urls",
                        help="URL list: Parquet, CSV, TSV, JSON, JSONL or text (optionally .gz/.bz2/.xz/.zst); a file, "
                             "folder or glob; local or fsspec URI (required, except with --retry-failed)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="fetch the failures of the workspace's complete crawl again, with its settings (the "
                             "flags given change them), into new shard versions; one round per run")
    parser.add_argument("--kinds",
                        help="with --retry-failed: the failure kinds to fetch again, comma-separated (default: "
                             f"{','.join(TRANSIENT_KINDS)})")
    parser.add_argument("--caption-col",
                        help="caption column (default: caption); '' for lists without captions")
    parser.add_argument("--column-names", help="comma-separated names for header-less CSV/TSV (CC3M: caption,url)")
    for name, (flag, type_) in _FIELD_FLAGS.items():
        field = fields[name]
        choices = get_args(field.annotation) if get_origin(field.annotation) is Literal else None
        doc = f"{field.description}; " if field.description else ""
        parser.add_argument(flag, dest=name, type=type_, choices=choices, help=f"{doc}default {field.default}")
    parser.add_argument("--allow-private-network", action="store_true",
                        help="allow private and loopback addresses (cloud metadata and link-local stay refused)")
    parser.add_argument("--resize-only-if-bigger", action="store_true", help="never upscale")
    parser.add_argument("--opt-out-directives",
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
    from curation.errors import GristmillError
    from gristmill.console import console
    from pipelines.crawl import CrawlConfig, crawl, retry_failed

    given = _given(args)
    if args.retry_failed:
        report = retry_failed(args.workspace, _csv_list(args.kinds), given, console)
    elif args.kinds is not None:
        raise GristmillError("--kinds chooses what --retry-failed fetches again; add --retry-failed")
    elif not args.urls:
        raise GristmillError("--urls is required (except with --retry-failed)")
    else:
        report = crawl(args.workspace, CrawlConfig(**given), console)
    return 0 if report.samples else 1


def _given(args: argparse.Namespace) -> dict:
    """The CrawlConfig fields set on the command line (a crawl takes the defaults for the others, a retry the
    crawl's own settings)."""
    given = {name: getattr(args, name) for name in _FIELD_FLAGS if getattr(args, name) is not None}
    given.update({name: True for name in _SWITCHES if getattr(args, name)})
    if args.urls:
        given["urls"] = args.urls
    if args.caption_col is not None:
        given["caption_col"] = args.caption_col or None
    if args.column_names is not None:
        given["column_names"] = _csv_list(args.column_names) or None
    if args.opt_out_directives is not None:
        given["disallowed_header_directives"] = _csv_list(args.opt_out_directives)
    if args.beam_args:
        given["beam_args"] = args.beam_args
    return dict(given, progress=not args.no_progress)


def _csv_list(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]
