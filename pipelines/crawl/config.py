"""CrawlConfig: every option of a crawl, grouped, typed and documented (sizes in bytes, times in seconds)."""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

INPUT_FORMATS = ("auto", "parquet", "csv", "tsv", "json", "jsonl", "txt")
RESIZE_MODES = ("no", "keep_ratio", "center_crop", "border", "keep_ratio_largest")
RUNNING_MODES = ("in_memory", "multi_threading", "multi_processing")
OUTPUT_SETTINGS = {  # CrawlConfig field -> CLI flag, of the options that change the bytes written
    "image_size": "--image-size", "resize_mode": "--resize-mode", "resize_only_if_bigger": "--resize-only-if-bigger",
    "encode_format": "--encode-format", "encode_quality": "--encode-quality",
}
VIDEO_EXTENSIONS = (".mp4", ".m4v", ".webm", ".mov", ".mkv", ".avi", ".mpg", ".mpeg", ".ogv")


class CrawlConfig(BaseModel):
    """Options of `crawl()`; the CLI flags map one to one (`--max-bytes` -> `max_bytes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # input list
    urls: str = Field(description="URL list: a file, a folder of files or a glob; local or fsspec (s3://, gs://)")
    input_format: Literal["auto", "parquet", "csv", "tsv", "json", "jsonl", "txt"] = "auto"
    url_col: str = "url"
    caption_col: str | None = Field("caption", description="None: the list has no captions")
    column_names: list[str] | None = Field(
        None, description="names for the columns of header-less CSV/TSV files, e.g. ['caption', 'url'] for CC3M"
    )
    one_sample_per_url: bool = Field(
        False, description="fetch and keep only the first caption of a URL, the others become duplicate_url "
                           "(default: every (URL, caption) pair is a sample, the URL fetched once per shard)"
    )
    # sharding
    shard_size: int = Field(1000, ge=1, description="target samples per shard (shards are sample_id ranges)")
    # downloading
    threads: int = Field(32, ge=1, description="concurrent downloads per shard worker")
    timeout: float = Field(10.0, gt=0, description="connect and per-read socket timeout, s")
    image_deadline: float = Field(60.0, gt=0, description="whole download of one image, retries included, s")
    video_deadline: float = Field(300.0, gt=0, description="whole download of one video, retries included, s")
    retries: int = Field(2, ge=0, description="retries of transient failures (429, 5xx, timeouts, resets)")
    backoff: float = Field(1.0, ge=0, description="first retry delay without Retry-After, doubled per retry and "
                                                  "jittered, s")
    max_retry_after: float = Field(30.0, ge=0, description="cap on a host's backoff after 429/503 (its Retry-After "
                                                            "included), s")
    max_redirects: int = Field(10, ge=0)
    max_bytes: int = Field(32 * 2**20, gt=0, description="byte cap of one image payload")
    max_video_bytes: int = Field(256 * 2**20, gt=0, description="byte cap of one video payload")
    max_pixels: int = Field(100_000_000, gt=0, description="cap on declared width x height of images and videos")
    allow_private_network: bool = Field(False, description="allow private and loopback addresses (never metadata)")
    user_agent_token: str = Field("gristmill", description="our name in the user agent, robots.txt and X-Robots-Tag")
    disallowed_header_directives: list[str] = Field(
        default_factory=lambda: ["noai", "noimageai", "noml"],
        description="X-Robots-Tag directives that opt a sample out",
    )
    # politeness, per worker process (docs/crawling-politely.md)
    host_connections: int = Field(4, ge=1, description="concurrent requests to one host, per worker process")
    host_rps: float = Field(5.0, gt=0, description="requests per second to one host, per worker process")
    host_failures: int = Field(
        10, ge=1, description="host-level failures in a row (connection, timeout, 5xx, 429) that open a host's "
                              "circuit breaker: its other URLs become host_unavailable"
    )
    host_cooldown: float = Field(300.0, ge=0, description="how long an open circuit breaker refuses its host, s")
    respect_robots_txt: bool = Field(False, description="fetch robots.txt once per host and honour it")
    respect_tdmrep: bool = Field(
        False, description="honour TDM-Rep: the tdm-reservation header and /.well-known/tdmrep.json per host"
    )
    video_extensions: list[str] = Field(default_factory=lambda: list(VIDEO_EXTENSIONS))
    # resizing (img2dataset's Resizer)
    image_size: int = Field(256, gt=0, description="target size, px")
    resize_mode: Literal["no", "keep_ratio", "center_crop", "border", "keep_ratio_largest"] = "border"
    resize_only_if_bigger: bool = False
    encode_format: Literal["jpg", "png", "webp"] = "jpg"
    encode_quality: int = 95
    # runner
    runner: str = "DirectRunner"
    direct_num_workers: int = Field(1, ge=0, description="DirectRunner workers (0: one per core)")
    direct_running_mode: Literal["in_memory", "multi_threading", "multi_processing"] = Field(
        "in_memory", description="DirectRunner mode; multi_processing: direct_num_workers local processes, each "
                                 "running the pipeline in memory over its own shards"
    )
    beam_args: list[str] = Field(default_factory=list, description="extra Beam pipeline options, passed through")
    # output
    progress: bool = Field(True, description="show a live progress bar and the final summary")
    progress_interval: float = Field(1.0, gt=0, description="seconds between progress updates")

    @field_validator("column_names")
    @classmethod
    def _names_unique(cls, names: list[str] | None) -> list[str] | None:
        if names is not None and len(set(names)) != len(names):
            raise ValueError(f"column names must be unique, got {names}")
        return names

    def shard_plan(self) -> dict:
        """The options that decide which sample lands in which shard (a resumed crawl must keep them)."""
        return self.model_dump(include={"input_format", "url_col", "caption_col", "column_names", "shard_size",
                                        "video_extensions", "one_sample_per_url"})

    def output_settings(self) -> dict:
        """The options that change the bytes written for a sample (one workspace must not mix two of them)."""
        return self.model_dump(include=set(OUTPUT_SETTINGS))
