"""The one video decoder (PyAV) of the clips stage and of scoring: open, probe, iterate every frame at a small
size (clips), sample a few frames by time (scoring, `sample_frames`), pick frames by index (clip keyframes).

Frames are numbered 0, 1, ... in the order the decoder returns them (presentation order). Times come from
each frame's pts, so variable-frame-rate video keeps its true timestamps. The display matrix's rotation is
applied, so sizes and pixels are as a player shows them. Only the current frame (plus the decoder's own
reference frames) is held, whatever the video's length; the input is read through a file object, so a
video inside a shard tar is never loaded whole (`FileWindow`).

Each decoded frame is scaled straight from the decoder's YUV planes by swscale, on one thread, in two ways
(`Frame`): `preview`, made for every frame, is bilinear (two taps, the way PySceneDetect downscales frames
itself) and cheap; `image()` / `grey()`, made only for the frames motion is measured on, are area-averaged,
so fine texture does not alias into false motion. The scan never makes a full-size RGB frame.

`sample_frames` keeps only the frames it returns: one pass reads packets without decoding (the span of
presentation times and the keyframes), then each sampled time is decoded from the keyframe at or before it
(a seek), so a long video costs a few GOPs of decoding, whether or not its header has a frame count.

Every failure is a `VideoError` with a stable `reason`, the same for clips and scoring:
    empty_file        zero bytes
    not_a_video       no container could be read (garbage bytes, an unknown format)
    truncated         the data ends early: fewer packets than the header's frame count, or an mp4 header
                      (ftyp) without a readable index (cut off before its moov box)
    audio_only        a container with audio streams and no video
    no_video_stream   a container with neither video nor audio (subtitles, data)
    too_large         width x height over the configured pixel limit
    decode_error      the stream broke while decoding (corrupt data)
    no_frames         the stream decoded to nothing
"""
import bisect
import io
import itertools
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

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
    """What the container says before decoding: coded size, average frame rate, duration, stream time base,
    and the frame count of the header (0 when it has none: fragmented mp4, webm)."""

    coded_width: int
    coded_height: int
    fps: float
    duration_s: float | None
    time_base: float
    codec: str
    header_frames: int = 0


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

    @property
    def picture(self) -> av.VideoFrame:
        """The decoded picture at its coded size (holding it keeps its buffers alive)."""
        return self._source

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
        if _head(source, 8)[4:8] == b"ftyp":
            raise VideoError("truncated", f"an mp4 header without a readable index: cut off before its moov box? "
                                          f"({exc})") from exc
        raise VideoError("not_a_video", f"no readable container ({exc})") from exc
    try:
        info = _probe(container, max_pixels)
    except BaseException:
        container.close()
        raise
    return container, info


def _head(source: VideoSource, n: int) -> bytes:
    """The first `n` bytes of a source (a file object is left at its start)."""
    if isinstance(source, (bytes, bytearray)):
        return bytes(source[:n])
    if isinstance(source, (str, Path)):
        with open(source, "rb") as fh:
            return fh.read(n)
    source.seek(0)
    head = source.read(n)
    source.seek(0)
    return head


def _probe(container: av.container.InputContainer, max_pixels: int | None) -> VideoInfo:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        if container.streams.audio:
            raise VideoError("audio_only", f"the container holds audio and no video (streams: {', '.join(kinds)})")
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
    return VideoInfo(width, height, float(rate), duration, float(stream.time_base or 0), ctx.name,
                     max(0, stream.frames or 0))


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
    """Decode the first video stream frame by frame, each scaled to short side `short_side` (see `Frame`);
    raises VideoError (`truncated`, `decode_error`, `no_frames`)."""
    stream = container.streams.video[0]
    stream.codec_context.thread_count = threads
    # One scaler per interpolation, each kept for the whole video: a scaler rebuilds its filters whenever
    # its settings change, and a frame's own scaler is set up anew for every frame.
    preview_scaler, area_scaler = VideoReformatter(), VideoReformatter()
    coded, size = None, None
    index = 0
    for frame in _decode_checked(container, stream, info.header_frames):
        if (frame.width, frame.height) != coded:
            coded = frame.width, frame.height
            size = analysis_size(*coded, short_side)
        time_s = float(frame.time) if frame.time is not None else index / info.fps
        yield Frame(index, time_s, frame, size, preview_scaler, area_scaler)
        index += 1
    if index == 0:
        raise VideoError("no_frames", "the video stream decoded to no frames")


def _decode_checked(container: av.container.InputContainer, stream: av.VideoStream,
                    header_frames: int) -> Iterator[av.VideoFrame]:
    """Decode `stream` from the start packet by packet. Data that ends before the header's frame count is
    `truncated` (also when the decoder breaks on the cut-off last packet); any other break is `decode_error`."""
    demuxed, packets = container.demux(stream), 0
    try:
        for packet in demuxed:
            packets += 1 if packet.size else 0  # the last, empty packet only flushes the decoder
            yield from packet.decode()
    except av.error.FFmpegError as exc:
        packets += sum(1 for packet in _readable(demuxed) if packet.size)
        _check_complete(packets, header_frames)
        raise VideoError("decode_error", f"decoding stopped after {packets} packets ({exc})") from exc
    _check_complete(packets, header_frames)


def _check_complete(packets: int, header_frames: int) -> None:
    """Raise `truncated` when fewer packets were read than the header's frame count (0: no count, no check)."""
    if packets < header_frames:
        raise VideoError("truncated", f"the data ends after {packets} of the {header_frames} frames its header lists")


def _readable(packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
    """The rest of a demux iterator, ending quietly where the data breaks."""
    try:
        yield from packets
    except av.error.FFmpegError:
        return


def rgb_image(frame: av.VideoFrame, max_side: int | None = None) -> Image.Image:
    """A decoded frame as an RGB image in display orientation, long side at most `max_side` px (None: as coded)."""
    scale = min(1.0, max_side / max(frame.width, frame.height)) if max_side else 1.0
    w, h = max(2, round(frame.width * scale)), max(2, round(frame.height * scale))
    rgb = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA", threads=1)
    return Image.fromarray(rotate(rgb, frame.rotation))


def frames_at(source: VideoSource, indices: list[int], max_side: int) -> dict[int, Image.Image]:
    """RGB images of the frames at `indices` (0-based, decode order), long side at most `max_side` px.

    Decodes from the start and stops after the last wanted frame; raises VideoError when the video has fewer
    frames than asked for.
    """
    wanted = set(indices)
    found: dict[int, Image.Image] = {}
    container, info = open_video(source)
    with container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        for index, frame in enumerate(_decode_checked(container, stream, info.header_frames)):
            if index in wanted:
                found[index] = rgb_image(frame, max_side)
                if len(found) == len(wanted):
                    break
    if len(found) != len(wanted):
        missing = sorted(wanted - set(found))
        raise VideoError("decode_error", f"frames {missing} are missing (the video decoded to fewer frames)")
    return found


@dataclass(frozen=True)
class SampledFrame:
    """A frame sampled by time: seconds after the first frame (from pts) and RGB pixels in display orientation."""

    time_s: float
    image: Image.Image


@dataclass(frozen=True)
class Sampled:
    """The frames `sample_frames` kept, in time order, and how many frames it decoded to find them."""

    frames: list[SampledFrame]
    decoded: int


@dataclass(frozen=True)
class _Span:
    """What a demux pass found: first and last presentation timestamps, keyframe timestamps (sorted), time base."""

    first_pts: int
    last_pts: int
    keyframes: list[int]
    time_base: Fraction


def sample_frames(source: VideoSource, n_frames: int, max_side: int | None = None,
                  max_pixels: int | None = None) -> Sampled:
    """`n_frames` frames at evenly spaced presentation times from the first frame to the last, each the frame
    shown at that time (fewer when the video has fewer frames), long side at most `max_side` px (None: as coded).

    Memory holds the kept frames and the decoder's own references, whatever the video's length; decoding starts
    at the keyframe at or before each sampled time (see the module docstring). Raises VideoError.
    """
    container, info = open_video(source, max_pixels)
    with container:
        span = _scan(container, info)
    targets = _spread(span, n_frames)
    decoded = itertools.count()  # next(decoded) after the last frame is the number of frames decoded
    with _for_decoding(source, max_pixels) as container:
        picked = _seek_and_pick(container, span, targets, decoded, max_side)
    if picked is None:  # a seek landed after its target (no usable index): one pass from the start instead
        with _for_decoding(source, max_pixels) as container:
            picked = _pick_in_order(_decoded(container, decoded), targets, max_side)
    if not picked:
        raise VideoError("no_frames", "the video stream decoded to no frames")
    kept = [SampledFrame(float((pts - span.first_pts) * span.time_base), image) for pts, image in picked]
    return Sampled(kept, next(decoded))


def _for_decoding(source: VideoSource, max_pixels: int | None) -> av.container.InputContainer:
    """The opened video (a context manager), its decoder set to one thread: scoring decodes in many workers."""
    container, _ = open_video(source, max_pixels)
    container.streams.video[0].codec_context.thread_count = 1
    return container


def _scan(container: av.container.InputContainer, info: VideoInfo) -> _Span:
    """Read the video packets without decoding them; raise `truncated` or `no_frames` from what they show.
    Packets an edit list discards count towards the header's frame count but are never shown."""
    stream, packets, first, last, keyframes = container.streams.video[0], 0, None, None, []
    try:
        for packet in container.demux(stream):
            packets += 1 if packet.size else 0
            pts = packet.pts if packet.pts is not None else packet.dts
            if not packet.size or packet.is_discard or pts is None:
                continue
            first, last = (pts, pts) if first is None else (min(first, pts), max(last, pts))
            if packet.is_keyframe:
                keyframes.append(pts)
    except av.error.FFmpegError as exc:
        raise VideoError("truncated" if packets < info.header_frames else "decode_error",
                         f"reading stopped after {packets} packets ({exc})") from exc
    _check_complete(packets, info.header_frames)
    if first is None:
        raise VideoError("no_frames", "the video stream holds no timestamped packets")
    return _Span(first, last, sorted(keyframes), stream.time_base)


def _spread(span: _Span, n: int) -> list[int]:
    """`n` evenly spaced timestamps from the first to the last (the first alone for n = 1), without repeats."""
    if n == 1:
        return [span.first_pts]
    step = (span.last_pts - span.first_pts) / (n - 1)
    return sorted({span.first_pts + round(i * step) for i in range(n)})


def _seek_and_pick(container: av.container.InputContainer, span: _Span, targets: list[int],
                   decoded: Iterator[int], max_side: int | None) -> list[tuple[int, Image.Image]] | None:
    """`_pick_in_order` for each group of targets after the same keyframe, decoded from that keyframe on;
    None when a seek fails or lands after its target."""
    stream = container.streams.video[0]
    picked: list[tuple[int, Image.Image]] = []
    for key, group in itertools.groupby(targets, lambda t: _at_or_before(span, t)):
        group = list(group)
        try:
            _seek(container, stream, key)
        except av.error.FFmpegError:
            return None
        frames = _decoded(container, decoded)
        first = next((f for f in frames if f.pts is not None), None)
        if first is None or first.pts > group[0]:
            return None
        picked.extend(_pick_in_order(itertools.chain([first], frames), group, max_side))
    return picked


def _seek(container: av.container.InputContainer, stream: av.VideoStream, pts: int) -> None:
    """Seek to the keyframe at or before `pts` (stream time base); PyAV flushes the decoder too."""
    container.seek(pts, stream=stream, backward=True)


def _at_or_before(span: _Span, pts: int) -> int:
    """The timestamp of the last keyframe at or before `pts` (the first frame's when there is none)."""
    index = bisect.bisect_right(span.keyframes, pts) - 1
    return span.keyframes[index] if index >= 0 else span.first_pts


def _decoded(container: av.container.InputContainer, decoded: Iterator[int]) -> Iterator[av.VideoFrame]:
    """Frames of the first video stream from the container's position, each counted in `decoded`; a break in the
    stream is `decode_error` (the packet pass already ruled out truncation)."""
    try:
        for frame in container.decode(container.streams.video[0]):
            next(decoded)
            yield frame
    except av.error.FFmpegError as exc:
        raise VideoError("decode_error", f"decoding stopped ({exc})") from exc


def _pick_in_order(frames: Iterable[av.VideoFrame], targets: list[int],
                   max_side: int | None) -> list[tuple[int, Image.Image]]:
    """(pts, image) of the frame shown at each target pts (ascending): the last of `frames` with pts at or before
    it (the first frame for a target before the first, the last frame for one past the end), each frame once.
    Stops at the first frame past the last target; only the previous frame is held meanwhile."""
    picked: dict[int, Image.Image] = {}
    pending = iter(targets)
    target, previous = next(pending), None
    for frame in frames:
        if frame.pts is None:
            continue
        while target is not None and frame.pts > target:
            shown = frame if previous is None else previous
            if shown.pts not in picked:
                picked[shown.pts] = rgb_image(shown, max_side)
            target = next(pending, None)
        if target is None:
            break
        previous = frame
    if target is not None and previous is not None and previous.pts not in picked:
        picked[previous.pts] = rgb_image(previous, max_side)
    return list(picked.items())
