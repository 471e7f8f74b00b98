"""Bounded-memory video decoding with PyAV: open, probe, iterate frames at a small size, pick frames by index.

Frames are numbered 0, 1, ... in the order the decoder returns them (presentation order). Times come from
each frame's pts, so variable-frame-rate video keeps its true timestamps. The display matrix's rotation is
applied, so sizes and pixels are as a player shows them. Only the current frame (plus the decoder's own
reference frames) is held, whatever the video's length; the input is read through a file object, so a
video inside a shard tar is never loaded whole (`FileWindow`).

Each decoded frame is scaled straight from the decoder's YUV planes by swscale, on one thread, in two ways
(`Frame`): `preview`, made for every frame, is bilinear (two taps, the way PySceneDetect downscales frames
itself) and cheap; `image()` / `grey()`, made only for the frames motion is measured on, are area-averaged,
so fine texture does not alias into false motion. Full-size RGB frames are never made.

Every failure is a `VideoError` with a stable `reason`:
    empty_file        zero bytes
    not_a_video       no container could be read (truncated before the header, garbage bytes)
    no_video_stream   a container without video (audio only)
    too_large         width x height over the configured pixel limit
    decode_error      the stream broke while decoding (truncated or corrupt data)
    no_frames         the stream decoded to nothing
"""
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator

import av
from av.video.reformatter import Interpolation, VideoReformatter
import numpy as np
from PIL import Image

VideoSource = str | Path | bytes | BinaryIO


class VideoError(Exception):
    """A video that cannot be used; `reason` is a stable string for counters and tests."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


class FileWindow(io.RawIOBase):
    """A read-only, seekable view of `size` bytes at `offset` in a file (one member of a tar)."""

    def __init__(self, path: str | Path, offset: int, size: int):
        self._fh = open(path, "rb")
        self._offset, self._size, self._pos = offset, size, 0
        if os.fstat(self._fh.fileno()).st_size < offset + size:
            self._fh.close()
            raise VideoError("not_a_video", f"{path}: member at {offset}+{size} runs past the end of the file")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = min(max(0, base + pos), self._size)
        return self._pos

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self._size - self._pos)
        if n <= 0:
            return 0
        self._fh.seek(self._offset + self._pos)
        got = self._fh.readinto(memoryview(buffer)[:n])
        self._pos += got
        return got

    def close(self) -> None:
        self._fh.close()
        super().close()


@dataclass(frozen=True)
class VideoInfo:
    """What the container says before decoding: coded size, average frame rate, duration, stream time base."""

    coded_width: int
    coded_height: int
    fps: float
    duration_s: float | None
    time_base: float
    codec: str


class Frame:
    """One decoded frame: index, time (s), pts, keyframe flag and display rotation, with its pixels at the
    analysis size (rotation applied): `preview`, BGR uint8 scaled bilinearly, made for every frame; `image()`
    (BGR) and `grey()` (luma, 0..255), area-averaged, made on first call. A Frame refers to the decoded
    picture: keep the arrays, not the Frame.
    """

    __slots__ = ("index", "time_s", "pts", "key", "rotation", "preview", "_source", "_size", "_scaler", "_area")

    def __init__(self, index: int, time_s: float, source: av.VideoFrame, size: tuple[int, int],
                 preview_scaler: VideoReformatter, area_scaler: VideoReformatter):
        self.index, self.time_s, self.pts = index, time_s, source.pts
        self.key, self.rotation = bool(source.key_frame), source.rotation
        self._source, self._size, self._scaler, self._area = source, size, area_scaler, {}
        self.preview = _scale(preview_scaler, source, size, "bgr24", Interpolation.FAST_BILINEAR, self.rotation)

    def image(self) -> np.ndarray:
        """The frame area-averaged to the analysis size, BGR uint8."""
        return self._area_scaled("bgr24")

    def grey(self) -> np.ndarray:
        """The frame's luma area-averaged to the analysis size, uint8 0..255."""
        return self._area_scaled("gray")

    def _area_scaled(self, pix_fmt: str) -> np.ndarray:
        if pix_fmt not in self._area:
            self._area[pix_fmt] = _scale(self._scaler, self._source, self._size, pix_fmt, Interpolation.AREA,
                                         self.rotation)
        return self._area[pix_fmt]


def _scale(scaler: VideoReformatter, frame: av.VideoFrame, size: tuple[int, int], pix_fmt: str,
           interpolation: Interpolation, rotation: int) -> np.ndarray:
    image = scaler.reformat(frame, *size, pix_fmt, interpolation=interpolation, threads=1).to_ndarray()
    return rotate(image, rotation)


def _as_file(source: VideoSource):
    if isinstance(source, (bytes, bytearray)):
        return io.BytesIO(source)
    if isinstance(source, (str, Path)):
        return str(source)
    return source


def open_video(source: VideoSource, max_pixels: int | None = None) -> tuple[av.container.InputContainer, VideoInfo]:
    """Open a video and probe its first video stream; raise VideoError for unusable input.

    The caller closes the returned container (use it in a `with` block).
    """
    if isinstance(source, (str, Path)) and os.path.getsize(source) == 0:
        raise VideoError("empty_file", "the file has zero bytes")
    if isinstance(source, (bytes, bytearray)) and not source:
        raise VideoError("empty_file", "the file has zero bytes")
    if isinstance(source, FileWindow) and source.seek(0, io.SEEK_END) == 0:
        raise VideoError("empty_file", "the file has zero bytes")
    if isinstance(source, io.IOBase):
        source.seek(0)
    try:
        container = av.open(_as_file(source), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoError("not_a_video", f"no readable container ({exc})") from exc
    try:
        info = _probe(container, max_pixels)
    except BaseException:
        container.close()
        raise
    return container, info


def _probe(container: av.container.InputContainer, max_pixels: int | None) -> VideoInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError("no_video_stream", f"the container has no video stream (streams: {', '.join(kinds)})")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    width, height = ctx.width, ctx.height
    if not width or not height:
        raise VideoError("not_a_video", "the video stream has no frame size")
    if max_pixels and width * height > max_pixels:
        raise VideoError("too_large", f"{width}x{height} is over the limit of {max_pixels} pixels")
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    if duration is None and container.duration:
        duration = container.duration / av.time_base
    if not rate or float(rate) <= 0:
        raise VideoError("not_a_video", "the video stream has no frame rate")
    return VideoInfo(width, height, float(rate), duration, float(stream.time_base or 0), ctx.name)


def analysis_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) with the short side `short_side` px and the aspect ratio kept (each side at least 2 px)."""
    scale = short_side / min(width, height)
    return max(2, round(width * scale)), max(2, round(height * scale))


def rotate(image: np.ndarray, rotation: int) -> np.ndarray:
    """Apply a display-matrix rotation (degrees counter-clockwise, multiples of 90) to an image array."""
    k = round(rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(image, k)) if k else image


def iter_frames(container: av.container.InputContainer, info: VideoInfo, short_side: int,
                threads: int = 1) -> Iterator[Frame]:
    """Decode the first video stream frame by frame, each scaled to short side `short_side` (see `Frame`)."""
    stream = container.streams.video[0]
    stream.codec_context.thread_count = threads
    # One scaler per interpolation, each kept for the whole video: a scaler rebuilds its filters whenever
    # its settings change, and a frame's own scaler is set up anew for every frame.
    preview_scaler, area_scaler = VideoReformatter(), VideoReformatter()
    coded, size = None, None
    index = 0
    try:
        for frame in container.decode(stream):
            if (frame.width, frame.height) != coded:
                coded = frame.width, frame.height
                size = analysis_size(*coded, short_side)
            time_s = float(frame.time) if frame.time is not None else index / info.fps
            yield Frame(index, time_s, frame, size, preview_scaler, area_scaler)
            index += 1
    except av.error.FFmpegError as exc:
        raise VideoError("decode_error", f"decoding stopped after {index} frames ({exc})") from exc
    if index == 0:
        raise VideoError("no_frames", "the video stream decoded to no frames")


def frames_at(source: VideoSource, indices: list[int], max_side: int) -> dict[int, Image.Image]:
    """RGB images of the frames at `indices` (0-based, decode order), long side at most `max_side` px.

    Decodes from the start and stops after the last wanted frame; raises VideoError when the video has fewer
    frames than asked for.
    """
    wanted = set(indices)
    found: dict[int, Image.Image] = {}
    container, _ = open_video(source)
    with container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    scale = min(1.0, max_side / max(frame.width, frame.height))
                    w, h = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
                    rgb = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA", threads=1)
                    found[index] = Image.fromarray(rotate(rgb, frame.rotation))
                    if len(found) == len(wanted):
                        break
        except av.error.FFmpegError as exc:
            raise VideoError("decode_error", f"decoding stopped before frame {max(wanted)} ({exc})") from exc
    if len(found) != len(wanted):
        missing = sorted(wanted - set(found))
        raise VideoError("decode_error", f"frames {missing} are missing (the video decoded to fewer frames)")
    return found
