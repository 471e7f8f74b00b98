"""Turning shots into clips: planning (split, align, drop) and cutting with PyAV (stream copy or re-encode).

Planning (`plan_clips`), for each shot [start, end) in frames:
    copy mode      the shot shrinks to keyframes: it starts at its first keyframe and ends at its last
                   keyframe (or at the end of the video), because a stream copy can only start on a keyframe
                   and only end before one without re-encoding;
    every mode     a shot longer than `max_seconds` is split into equal parts (boundaries snapped to
                   keyframes in copy mode, to frames in re-encode mode); a part shorter than `min_seconds` is
                   dropped as `too_short`, one still longer than `max_seconds` (no keyframe to split at) as
                   `too_long`. Every dropped part is kept as a row with its reason.
Cutting:
    copy           packets of [start, end) are remuxed into a new mp4 without decoding (fast, lossless;
                   assumes closed GOPs, the x264/x265 default; the packet count is checked);
    reencode       frames are decoded from the keyframe before `start` and encoded with H.264 (CRF 18):
                   frame-accurate, slower.
Clips keep the source's display rotation and timestamps; audio is not kept.
"""
import io
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import av

from curation.video.config import CutMode
from curation.video.decode import VideoError, VideoSource, open_video

ENCODER = "libx264" if "libx264" in av.codecs_available else "mpeg4"
# x264's macroblock-tree rate control made the bytes differ run to run (seen at widths that are not multiples of
# 128 px, threads=1): without it a re-run re-encodes byte-identical clips.
ENCODER_OPTIONS = ({"crf": "18", "preset": "veryfast", "threads": "1", "x264-params": "no-mbtree=1"}
                   if ENCODER == "libx264" else {"qscale": "3", "threads": "1"})


@dataclass(frozen=True)
class ClipPlan:
    """One planned clip: frames [start_frame, end_frame) of shot `shot_index`, kept or dropped with a reason."""

    shot_index: int
    start_frame: int
    end_frame: int
    start_s: float
    end_s: float
    status: str
    error: str | None = None


@dataclass(frozen=True)
class Timeline:
    """What the decode pass learnt: frame times (s from the first frame), keyframes and their pts, the end time."""

    times: Sequence[float]
    keyframes: Sequence[int]
    keyframe_pts: dict[int, int]
    end_time: float

    @property
    def n_frames(self) -> int:
        return len(self.times)

    def keyframe_at_or_before(self, index: int) -> int:
        """The last keyframe index <= `index` (the first frame of a stream is always decodable)."""
        return max((k for k in self.keyframes if k <= index), default=0)

    def time(self, index: int) -> float:
        """Start time of frame `index`; the end time of the video for index == n_frames."""
        return self.times[index] if index < self.n_frames else self.end_time


def shots_from_cuts(cuts: Sequence[int], n_frames: int) -> list[tuple[int, int]]:
    """Shots [start, end) between the cut indices (each cut starts a new shot)."""
    bounds = [0, *[c for c in cuts if 0 < c < n_frames], n_frames]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def plan_clips(shots: Sequence[tuple[int, int]], timeline: Timeline, mode: CutMode,
               min_seconds: float, max_seconds: float) -> list[ClipPlan]:
    """Clip plans for every shot, in order (see the module docstring for the rules)."""
    plans = []
    for shot_index, (start, end) in enumerate(shots):
        if mode == "copy":
            aligned = _align_to_keyframes(start, end, timeline)
            if aligned is None:
                plans.append(_plan(shot_index, start, end, timeline, "too_short",
                                   "no keyframe inside the shot, so a stream copy cannot cut it; "
                                   "use cut mode 'reencode' for frame-accurate clips"))
                continue
            start, end = aligned
        for a, b in _split(start, end, timeline, mode, max_seconds):
            duration = timeline.time(b) - timeline.time(a)
            if duration < min_seconds:
                plans.append(_plan(shot_index, a, b, timeline, "too_short",
                                   f"{duration:.3f} s is under the minimum of {min_seconds:g} s"))
            elif duration > max_seconds:
                plans.append(_plan(shot_index, a, b, timeline, "too_long",
                                   f"{duration:.3f} s is over the maximum of {max_seconds:g} s and has no "
                                   "keyframe to split at"))
            else:
                plans.append(_plan(shot_index, a, b, timeline, "success", None))
    return plans


def _plan(shot_index, start, end, timeline, status, error) -> ClipPlan:
    return ClipPlan(shot_index, start, end, timeline.time(start), timeline.time(end), status, error)


def _align_to_keyframes(start: int, end: int, timeline: Timeline) -> tuple[int, int] | None:
    """[first keyframe >= start, last keyframe <= end (or the video's end)), or None when that is empty."""
    first = min((k for k in timeline.keyframes if start <= k < end), default=None)
    if first is None:
        return None
    last = end if end == timeline.n_frames else max(k for k in timeline.keyframes if k <= end)
    return (first, last) if last > first else None


def _split(start: int, end: int, timeline: Timeline, mode: CutMode, max_seconds: float) -> list[tuple[int, int]]:
    """Split [start, end) into equal-duration parts no longer than max_seconds where boundaries allow."""
    duration = timeline.time(end) - timeline.time(start)
    parts = max(1, math.ceil(duration / max_seconds - 1e-9))
    if parts == 1:
        return [(start, end)]
    candidates = [k for k in timeline.keyframes if start < k < end] if mode == "copy" else range(start + 1, end)
    bounds = [start]
    for i in range(1, parts):
        target = timeline.time(start) + duration * i / parts
        best = min(candidates, key=lambda k: abs(timeline.time(k) - target), default=None)
        if best is not None and best > bounds[-1]:
            bounds.append(best)
    bounds.append(end)
    return list(zip(bounds, bounds[1:]))


def cut_copy(source: VideoSource, start_pts: int, end_pts: int | None, expected_frames: int) -> bytes:
    """Remux the packets with start_pts <= pts < end_pts (None: to the end) into an mp4, without decoding."""
    container, _ = open_video(source)
    out_buffer = io.BytesIO()
    written = 0
    with container, av.open(out_buffer, mode="w", format="mp4") as out:
        stream = container.streams.video[0]
        out_stream = out.add_stream_from_template(stream)
        container.seek(start_pts, stream=stream, backward=True, any_frame=False)
        started = False
        for packet in container.demux(stream):
            if packet.dts is None or packet.pts is None:
                continue
            if not started:
                if not (packet.is_keyframe and packet.pts == start_pts):
                    continue
                started = True
            if end_pts is not None and packet.is_keyframe and packet.pts >= end_pts:
                break
            if packet.pts < start_pts or (end_pts is not None and packet.pts >= end_pts):
                continue
            packet.pts -= start_pts
            packet.dts -= start_pts
            packet.stream = out_stream
            out.mux(packet)
            written += 1
    if written != expected_frames:
        raise VideoError("cut_error", f"stream copy wrote {written} frames, expected {expected_frames} "
                                      "(open GOP or broken index?); use cut mode 'reencode'")
    return out_buffer.getvalue()


def cut_reencode(source: VideoSource, seek_index: int, seek_pts: int, start: int, end: int, fps: float,
                 rotation: int) -> bytes:
    """Decode from the keyframe (seek_index, seek_pts) and encode frames [start, end) as H.264 mp4."""
    container, _ = open_video(source)
    out_buffer = io.BytesIO()
    with container, av.open(out_buffer, mode="w", format="mp4") as out:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        out_stream = out.add_stream(ENCODER, rate=Fraction(fps).limit_denominator(1001), options=ENCODER_OPTIONS)
        if rotation:
            out_stream.set_display_rotation(rotation)
        container.seek(seek_pts, stream=stream, backward=True, any_frame=False)
        index, first_pts, written = seek_index, None, 0
        try:
            for frame in container.decode(stream):
                if index == seek_index and frame.pts != seek_pts:
                    raise VideoError("cut_error", f"seek landed on pts {frame.pts}, expected keyframe pts {seek_pts}")
                if index >= end:
                    break
                if index >= start:
                    if first_pts is None:
                        out_stream.width, out_stream.height, out_stream.pix_fmt = frame.width, frame.height, "yuv420p"
                        out_stream.codec_context.time_base = frame.time_base
                        first_pts = frame.pts
                    # a fresh frame: the decoded one's picture type and side data (SEI) would steer the encoder
                    new = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
                    new.pts, new.time_base = frame.pts - first_pts, frame.time_base
                    out.mux(out_stream.encode(new))
                    written += 1
                index += 1
        except av.error.FFmpegError as exc:
            raise VideoError("cut_error", f"re-encoding stopped at frame {index} ({exc})") from exc
        if written:
            out.mux(out_stream.encode(None))
    if written != end - start:
        raise VideoError("cut_error", f"re-encoding wrote {written} frames, expected {end - start}")
    return out_buffer.getvalue()

