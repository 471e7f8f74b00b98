"""One video in, its clips, keyframes and motion scores out: the unit of work of the batch job and of Beam.

`VideoProcessor(config)` loads the flow estimator once (`load()`); `process(parent, source)` then:
    1. decodes the video once at the analysis size, feeding every frame to the shot detector and the motion
       meter, and recording frame times and keyframes (`scan`);
    2. turns the cuts into shots and the shots into clip plans (split, keyframe-aligned, dropped with reasons);
    3. cuts each kept clip (stream copy or re-encode), takes its keyframes (in copy mode from the pictures the
       scan held, `curation.video.keyframes`, so the video is decoded once), and summarises its motion.
It never raises for bad input: a video that cannot be used gives a `VideoResult` whose `error` is a stable
reason (see `curation.video.decode`) and whose motion row carries that reason; a clip that cannot be cut gets
status `cut_error`. Anything unexpected is recorded as `internal_error` with the exception, so one broken
video never stops a job.
"""
import hashlib
import time
from array import array
from dataclasses import dataclass, field

from curation.identity import clip_id
from curation.video.config import ClipsConfig
from curation.video.cut import Timeline, cut_copy, cut_reencode, plan_clips, shots_from_cuts
from curation.video.decode import VideoError, VideoSource, iter_frames, open_video
from curation.video.keyframes import KeyframeCandidates, extract_keyframes
from curation.video.motion import MOTION_VERSION, MotionMeter, PairRecord, make_estimator, summarize
from curation.video.shots import ShotDetector


@dataclass
class Scan:
    """Result of the single decode pass over a video."""

    timeline: Timeline
    cuts: list[int]
    pairs: list[PairRecord]
    fps: float
    width: int
    height: int
    rotation: int
    candidates: KeyframeCandidates | None = None  # copy mode: pictures held for keyframes


@dataclass
class VideoResult:
    """Everything one video produced: CLIPS rows, motion rows, and the files to store per clip sample_id."""

    parent_id: str
    shard: str
    clip_rows: list[dict] = field(default_factory=list)
    motion_rows: list[dict] = field(default_factory=list)
    media: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)  # clip id -> [(member ext, bytes)]
    error: str | None = None
    message: str | None = None
    seconds: float = 0.0


class VideoProcessor:
    """Processes videos one by one with one loaded flow estimator."""

    def __init__(self, config: ClipsConfig):
        self.config = config
        self.estimator = make_estimator(config.motion)

    def load(self) -> None:
        """Load the flow model (RAFT) once; may raise GristmillError when weights are missing."""
        self.estimator.load()

    @property
    def model_id(self) -> str | None:
        return self.estimator.model_id

    def scan(self, source: VideoSource) -> Scan:
        """Decode once: cuts, motion pairs, frame times and keyframes (raises VideoError)."""
        c = self.config
        container, info = open_video(source, c.max_pixels)
        with container:
            detector = ShotDetector(c.shots, info.fps)
            meter = MotionMeter(self.estimator, c.motion.sample_fps, info.fps)
            candidates = (KeyframeCandidates(info.fps, c.keyframe_buffer_mb << 20)
                          if c.cut_mode == "copy" and c.keyframe_buffer_mb else None)
            times, keyframes, keyframe_pts, start_s, rotation = array("d"), [], {}, None, 0
            for frame in iter_frames(container, info, c.analysis_short_side):
                if start_s is None:  # keep the first frame's time and rotation, not the frame itself
                    start_s, rotation = frame.time_s, frame.rotation
                times.append(frame.time_s - start_s)
                if frame.key:
                    keyframes.append(frame.index)
                    keyframe_pts[frame.index] = frame.pts
                detector.feed(frame.index, frame.preview)
                meter.feed(frame)
                if candidates is not None:
                    candidates.feed(frame)
            pairs = meter.finish()
            if candidates is not None:
                candidates.finish()
        quarter_turn = round(rotation / 90) % 2 == 1
        width, height = (info.coded_height, info.coded_width) if quarter_turn else (info.coded_width, info.coded_height)
        timeline = Timeline(times, keyframes, keyframe_pts, times[-1] + 1.0 / info.fps)
        return Scan(timeline, detector.finish(), pairs, info.fps, width, height, rotation, candidates)

    def process(self, parent: dict, source: VideoSource) -> VideoResult:
        """Clips and motion rows for one video sample (`parent`: a SAMPLES row with sample_id, url, caption, shard)."""
        started = time.perf_counter()
        result = VideoResult(parent["sample_id"], parent["shard"])
        try:
            scan = self.scan(source)
            video_motion = summarize(scan.pairs, 0, scan.timeline.n_frames, frozenset(scan.cuts))
            result.motion_rows.append(self._motion_row(parent["sample_id"], video_motion))
            self._clips(parent, source, scan, result)
        except VideoError as exc:
            result.error, result.message = exc.reason, exc.message
        except Exception as exc:  # noqa: BLE001 - the per-video dead letter: recorded, never crashes the job
            result.error, result.message = "internal_error", f"{type(exc).__name__}: {exc}"
        if result.error:
            result.clip_rows, result.media = [], {}
            result.motion_rows = [self._motion_row(parent["sample_id"], None, result.error)]
        result.seconds = time.perf_counter() - started
        return result

    def _clips(self, parent: dict, source: VideoSource, scan: Scan, result: VideoResult) -> None:
        c = self.config
        shots = shots_from_cuts(scan.cuts, scan.timeline.n_frames)
        for plan in plan_clips(shots, scan.timeline, c.cut_mode, c.min_seconds, c.max_seconds):
            cid = clip_id(parent["sample_id"], plan.start_frame, plan.end_frame)
            row = {
                "sample_id": cid, "parent_id": parent["sample_id"], "start_s": plan.start_s, "end_s": plan.end_s,
                "start_frame": plan.start_frame, "end_frame": plan.end_frame, "fps": scan.fps,
                "frame_count": plan.end_frame - plan.start_frame, "detector": c.shots.describe(c.analysis_short_side),
                "shot_index": plan.shot_index, "cut_mode": c.cut_mode,
                "url": f"{parent['url']}#t={plan.start_s:.3f},{plan.end_s:.3f}", "caption": parent.get("caption"),
                "media_type": "video", "status": plan.status, "error": plan.error, "width": scan.width,
                "height": scan.height, "duration_s": plan.end_s - plan.start_s, "shard": parent["shard"],
            }
            if plan.status == "success":
                try:
                    mp4, keyframes = self._cut(source, scan, plan.start_frame, plan.end_frame)
                except VideoError as exc:
                    row.update(status="cut_error", error=exc.message)
                else:
                    row.update(sha256=hashlib.sha256(mp4).hexdigest(), mime_type="video/mp4",
                               keyframe_frames=[plan.start_frame + index for _, index, _ in keyframes])
                    result.media[cid] = [("mp4", mp4)] + [(f"{name}.jpg", jpeg) for name, _, jpeg in keyframes]
                    result.motion_rows.append(
                        self._motion_row(cid, summarize(scan.pairs, plan.start_frame, plan.end_frame)))
            result.clip_rows.append(row)

    def _cut(self, source: VideoSource, scan: Scan, start: int, end: int) -> tuple[bytes, list[tuple[str, int, bytes]]]:
        """The mp4 of frames [start, end) and its keyframes as (name, index in the clip, JPEG bytes)."""
        c, timeline = self.config, scan.timeline
        if c.cut_mode == "copy":
            end_pts = timeline.keyframe_pts[end] if end < timeline.n_frames else None
            mp4 = cut_copy(source, timeline.keyframe_pts[start], end_pts, end - start)
        else:
            seek = timeline.keyframe_at_or_before(start)
            mp4 = cut_reencode(source, seek, timeline.keyframe_pts[seek], start, end, scan.fps, scan.rotation)
        held = scan.candidates and scan.candidates.keyframes(start, end, c.keyframe_max_side, c.jpeg_quality)
        return mp4, held or extract_keyframes(mp4, end - start, c.keyframe_max_side, c.jpeg_quality)

    def _motion_row(self, sample_id: str, values: dict | None, error: str | None = None) -> dict:
        c = self.config
        row = {"sample_id": sample_id, "method": c.motion.method, "sample_fps": c.motion.sample_fps,
               "analysis_short_side": c.analysis_short_side, "scorer_version": MOTION_VERSION,
               "model_id": self.estimator.model_id}
        if values is None:
            return dict(row, error=error or "too_few_frames")
        return dict(row, error=None, **values)
