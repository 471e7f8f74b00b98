"""One sample, from candidate to SAMPLES row: download, verify, probe (videos) and resize (images).

`SampleFetcher.download` is thread-safe and runs in the shard's download pool: HTTP, hashing and the video probe.
`ImageFinisher.finish` runs on the shard's writer thread, like img2dataset's resizing: image verification (some of
it pure Python, kept off the download threads to spare them the GIL) and img2dataset's `Resizer`, which
swaps the process's stdout/stderr file descriptors while it decodes, so calls are serialised per process (two
shards in one process, as with the multi_threading runner, would otherwise lose stdout for good).
Every outcome is a row: failures carry their status, error and whatever the fetch learned (HTTP status, bytes,
sha256). Both steps run through `_guarded`, the per-sample boundary: an unexpected exception (Pillow, PyAV,
OpenCV, memory) becomes that sample's `internal_error` row, so no sample can fail its shard (which would fail
again on every re-run).

A video is probed from the temporary file its download was spooled to, then memory-mapped for the shard writer
and the file deleted: its bytes stay in the page cache, not on the heap, while it waits to be written.
"""
import io
import mmap
import os
import threading
from dataclasses import dataclass
from typing import Callable

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations (under img2dataset) phones home on import
from img2dataset.resizer import Resizer  # noqa: E402

from pipelines.crawl import status
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.http import Caps, HttpClient, Payload
from pipelines.crawl.images import verify_image
from pipelines.crawl.politeness import HostLimits
from pipelines.crawl.records import Candidate, url_extension
from pipelines.crawl.status import Failure
from pipelines.crawl.urls import AddressPolicy
from pipelines.crawl.video import probe_video

_RESIZER_LOCK = threading.Lock()  # Resizer redirects fds 1 and 2 while it runs: one call at a time per process


@dataclass
class Fetched:
    """A sample's row so far and its media: raw image bytes still to resize, a video as stored (mapped), or None."""

    row: dict
    media: bytes | mmap.mmap | None = None
    ext: str | None = None
    needs_resize: bool = False


def base_row(cand: Candidate) -> dict:
    """The SAMPLES fields known before fetching."""
    return {
        "sample_id": cand.sample_id, "url": cand.url, "caption": cand.caption, "media_type": cand.media_type,
        "status": cand.status, "error": cand.error, "extra": cand.extra,
    }


def _guarded(row: dict, step: Callable[[], Fetched]) -> Fetched:
    """Run one sample's `step`; a Failure, or any other exception, becomes the row's outcome instead of escaping."""
    try:
        return step()
    except Failure as failure:
        row.update(status=failure.status, error=failure.error)
        if failure.http_status is not None:
            row["http_status"] = failure.http_status
    except Exception as exc:  # noqa: BLE001 - the per-sample dead letter: recorded, never fails the shard
        row.update(status=status.INTERNAL_ERROR, error=f"{type(exc).__name__}: {exc}")
    return Fetched(row)


def host_limits(config: CrawlConfig) -> HostLimits:
    """The crawl's per-host politeness limits."""
    return HostLimits(connections=config.host_connections, rps=config.host_rps, failures=config.host_failures,
                      cooldown=config.host_cooldown, backoff=config.backoff, max_backoff=config.max_retry_after)


class SampleFetcher:
    """Downloads and verifies samples under one crawl's limits; create it in a DoFn's `setup()`."""

    def __init__(self, config: CrawlConfig):
        self.max_pixels = config.max_pixels
        self.caps = {
            "image": Caps(config.max_bytes, config.image_deadline),
            "video": Caps(config.max_video_bytes, config.video_deadline),
        }
        self.client = HttpClient(
            policy=AddressPolicy(config.allow_private_network),
            timeout=config.timeout,
            max_redirects=config.max_redirects,
            retries=config.retries,
            backoff=config.backoff,
            max_retry_after=config.max_retry_after,
            user_agent_token=config.user_agent_token,
            disallowed_header_directives=config.disallowed_header_directives,
            pool_size=config.threads,
            limits=host_limits(config),
            respect_robots_txt=config.respect_robots_txt,
            respect_tdmrep=config.respect_tdmrep,
        )

    def close(self) -> None:
        self.client.close()

    def download(self, cand: Candidate) -> Fetched:
        """Fetch and verify one candidate; never raises for a bad sample."""
        row = base_row(cand)
        if cand.status is not None:
            return Fetched(row)
        return _guarded(row, lambda: self._download(cand, row))

    def _download(self, cand: Candidate, row: dict) -> Fetched:
        payload = self.client.fetch(cand.url, cand.media_type, self.caps)
        with payload.body:
            row.update(media_type=payload.kind, http_status=payload.http_status, original_bytes=payload.size,
                       sha256=payload.sha256, mime_type=payload.content_type or None)
            if payload.kind == "video":
                return self._video(row, payload)
            return Fetched(row, payload.body.read(), needs_resize=True)

    def _video(self, row: dict, payload: Payload) -> Fetched:
        """Probe a spooled video; on success map its file for the shard writer (the file is deleted on close)."""
        info = probe_video(payload.body.name, self.max_pixels, url_extension(payload.url))
        row.update(
            status=status.SUCCESS, width=info.width, height=info.height, original_width=info.width,
            original_height=info.height, duration_s=info.duration_s, fps=info.fps, frame_count=info.frame_count,
            # not SAMPLES columns: kept in the shard tar's per-sample JSON
            video_codec=info.video_codec, audio_codec=info.audio_codec, rotation=info.rotation,
            container=info.container,
        )
        return Fetched(row, mmap.mmap(payload.body.fileno(), 0, access=mmap.ACCESS_READ), info.ext)


class ImageFinisher:
    """Resizes verified images with img2dataset's Resizer (one call at a time per process)."""

    def __init__(self, config: CrawlConfig):
        self.max_pixels = config.max_pixels
        self.ext = config.encode_format
        self.resizer = Resizer(
            image_size=config.image_size,
            resize_mode=config.resize_mode,
            resize_only_if_bigger=config.resize_only_if_bigger,
            encode_format=config.encode_format,
            encode_quality=config.encode_quality,
        )

    def finish(self, fetched: Fetched) -> Fetched:
        """Resize a verified image; other outcomes pass through. Never raises for a bad sample."""
        if not fetched.needs_resize:
            return fetched
        return _guarded(fetched.row, lambda: self._finish(fetched))

    def _finish(self, fetched: Fetched) -> Fetched:
        row = fetched.row
        info = verify_image(fetched.media, self.max_pixels)
        row.update(mime_type=info.mime_type, original_width=info.width, original_height=info.height)
        with _RESIZER_LOCK:
            img, width, height, _, _, error = self.resizer(io.BytesIO(fetched.media))
        if error is not None:
            row.update(status=status.RESIZE_ERROR, error=f"resizer: {error}")
            return Fetched(row)
        row.update(status=status.SUCCESS, width=width, height=height)
        return Fetched(row, img, self.ext)
