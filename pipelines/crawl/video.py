"""Video verification: probe a downloaded video with PyAV and decode it fully before it becomes a sample.

Videos are stored as downloaded (no transcoding). The probe reports duration, frame rate, decoded frame count,
resolution, codecs and display rotation; a payload that is not a video container (an image included: FFmpeg would
open it as a one-frame video) is `not_a_video`. A container whose frames do not all decode is
`undecodable_video`: the decoder runs with `err_detect=explode`, so bitstream damage that FFmpeg would conceal
fails, and a file with fewer frames than it declares (a cut-off download) fails too.

The probe reads the video from a file (the download spools it to disk) and has a time limit (status `timeout`
once it passes): FFmpeg's interrupt callback (PyAV's `timeout` option) stops opening the file, probing its
streams or reading any one packet past the limit, and the whole demux-and-decode loop is checked against it
before each packet, so a pathological file cannot hold a download thread, and with it its shard, forever.
"""
import os
import time
from dataclasses import dataclass

import av

from pipelines.crawl import status
from pipelines.crawl.images import check_pixels
from pipelines.crawl.status import Failure


IMAGE_DEMUXERS = frozenset({"image2", "gif", "webp", "apng", "ico", "tiff"})  # FFmpeg opens images as 1-frame videos
PROBE_TIME_LIMIT = 300.0  # seconds one probe (open, stream probing, full decode) may take


@dataclass(frozen=True)
class VideoInfo:
    """Probe results; `ext` is the file extension the video is stored under."""

    width: int
    height: int
    duration_s: float | None
    fps: float | None
    frame_count: int
    video_codec: str
    audio_codec: str | None
    rotation: int
    container: str
    ext: str


def looks_like_video(data: bytes) -> bool:
    """True when the payload starts like a known video container (MP4/MOV, Matroska/WebM, AVI, Ogg, FLV, MPEG)."""
    return (
        data[4:8] == b"ftyp"
        or data.startswith((b"\x1aE\xdf\xa3", b"OggS", b"FLV", b"\x00\x00\x01\xba"))
        or (data.startswith(b"RIFF") and data[8:12] == b"AVI ")
    )


def probe_video(path: str, max_pixels: int, url_ext: str | None, time_limit: float = PROBE_TIME_LIMIT) -> VideoInfo:
    """Open and fully decode the file at `path` within `time_limit` seconds.

    Raises Failure(not_a_video | undecodable_video | too_many_pixels | timeout | ...).
    """
    n_bytes = os.path.getsize(path)
    if not n_bytes:
        raise Failure(status.NOT_A_VIDEO, "empty body")
    deadline = time.monotonic() + time_limit
    try:
        container = av.open(path, mode="r", timeout=time_limit)
    except av.ExitError:
        raise _probe_timeout(time_limit, "opening the file") from None
    except (av.FFmpegError, ValueError) as exc:
        kind = status.UNDECODABLE_VIDEO if looks_like_video(_head(path)) else status.NOT_A_VIDEO
        raise Failure(kind, f"cannot open as a video: {exc}") from None
    with container:
        if container.format.name.endswith("_pipe") or container.format.name in IMAGE_DEMUXERS:
            raise Failure(status.NOT_A_VIDEO, f"an image ({container.format.long_name}), not a video")
        if not container.streams.video:
            raise Failure(status.NOT_A_VIDEO, f"{container.format.name} container without a video stream")
        stream = container.streams.video[0]
        check_pixels(stream.codec_context.width, stream.codec_context.height, n_bytes, max_pixels)
        frames, rotation = _decode_all(container, stream, deadline, time_limit)
        audio = container.streams.audio
        return VideoInfo(
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            duration_s=_duration(container, stream),
            fps=float(stream.average_rate) if stream.average_rate else None,
            frame_count=frames,
            video_codec=stream.codec_context.name,
            audio_codec=audio[0].codec_context.name if audio else None,
            rotation=rotation,
            container=container.format.name,
            ext=_extension(container.format, url_ext),
        )


def _head(path: str) -> bytes:
    """The first bytes of a file, enough for `looks_like_video`."""
    with open(path, "rb") as fh:
        return fh.read(16)


def _probe_timeout(time_limit: float, step: str) -> Failure:
    return Failure(status.TIMEOUT, f"video probe stopped {step}: it ran past its {time_limit:g} s time limit")


def _decode_all(container, stream, deadline: float, time_limit: float) -> tuple[int, int]:
    stream.thread_type = "AUTO"
    stream.codec_context.options = {"err_detect": "explode"}  # a damaged bitstream fails, not concealed
    frames, rotation = 0, 0
    try:
        for packet in container.demux(stream):
            if time.monotonic() > deadline:
                raise _probe_timeout(time_limit, f"after {frames} frames")
            for frame in packet.decode():
                if frames == 0:
                    rotation = int(frame.rotation or 0)
                frames += 1
    except av.ExitError:
        raise _probe_timeout(time_limit, f"after {frames} frames") from None
    except (av.FFmpegError, ValueError) as exc:
        raise Failure(status.UNDECODABLE_VIDEO, f"decoding failed after {frames} frames: {exc}") from None
    if frames == 0:
        raise Failure(status.UNDECODABLE_VIDEO, f"no decodable frames ({stream.codec_context.name})")
    if stream.frames and frames < stream.frames:
        raise Failure(status.UNDECODABLE_VIDEO, f"decoded {frames} of the {stream.frames} frames the file declares")
    return frames, rotation


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _extension(fmt, url_ext: str | None) -> str:
    names = set(fmt.name.split(","))
    if url_ext and url_ext in names | set(fmt.extensions):
        return url_ext
    for preferred in ("mp4", "webm", "mkv", "avi", "ogv", "flv", "mpg"):
        if preferred in names or preferred in fmt.extensions:
            return preferred
    return sorted(fmt.extensions)[0] if fmt.extensions else fmt.name.split(",")[0]
