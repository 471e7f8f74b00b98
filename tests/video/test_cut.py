"""Clip planning (split, keyframe alignment, drops) and cutting: stream copy and frame-accurate re-encode."""
import io

import av
import numpy as np
import pytest

from curation.video.cut import Timeline, plan_clips, shots_from_cuts
from curation.video.config import ClipsConfig
from curation.video.process import VideoProcessor
from tests.video.conftest import parent
from tests.video.media import encode, textured


def _timeline(n: int, fps: float = 10.0, keyframes=(0,)) -> Timeline:
    return Timeline([i / fps for i in range(n)], list(keyframes), {k: k for k in keyframes}, n / fps)


def test_shots_from_cuts():
    assert shots_from_cuts([5, 12], 20) == [(0, 5), (5, 12), (12, 20)]
    assert shots_from_cuts([], 3) == [(0, 3)]


def test_reencode_plan_splits_long_shots_and_drops_short_ones():
    plans = plan_clips([(0, 15), (15, 265)], _timeline(265), "reencode", min_seconds=2, max_seconds=10)
    assert [(p.start_frame, p.end_frame, p.status) for p in plans] == [
        (0, 15, "too_short"), (15, 98, "success"), (98, 182, "success"), (182, 265, "success")]
    assert all(p.end_s - p.start_s <= 10 for p in plans)


def test_copy_plan_aligns_to_keyframes():
    timeline = _timeline(100, keyframes=range(0, 100, 30))  # keyframes 0, 30, 60, 90
    plans = plan_clips([(0, 45), (45, 100)], timeline, "copy", min_seconds=2, max_seconds=4)
    assert [(p.start_frame, p.end_frame, p.status) for p in plans] == [
        (0, 30, "success"), (60, 100, "success")]
    long_gop = plan_clips([(0, 100)], _timeline(100, keyframes=[0]), "copy", min_seconds=2, max_seconds=4)
    assert [(p.start_frame, p.end_frame, p.status) for p in long_gop] == [(0, 100, "too_long")]
    no_keyframe = plan_clips([(10, 50)], _timeline(100), "copy", min_seconds=2, max_seconds=20)
    assert no_keyframe[0].status == "too_short" and "reencode" in no_keyframe[0].error


def _two_shot_video(gop: int | None = None) -> tuple[np.ndarray, bytes]:
    frames = np.concatenate([textured(30, seed=1, shift=1), textured(30, seed=2, shift=1)[..., ::-1]])
    return frames, encode(frames, gop=gop)


def _decode(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.mark.parametrize("mode, gop", [("reencode", None), ("copy", 10)])
def test_clips_hold_exactly_their_frames(mode, gop):
    frames, data = _two_shot_video(gop)
    processor = VideoProcessor(ClipsConfig(cut_mode=mode, min_seconds=1.0))
    result = processor.process(parent(), data)
    rows = [r for r in result.clip_rows if r["status"] == "success"]
    assert [(r["start_frame"], r["end_frame"]) for r in rows] == [(0, 30), (30, 60)]
    for row in rows:
        clip = _decode(result.media[row["sample_id"]][0][1])
        assert len(clip) == row["frame_count"] == row["end_frame"] - row["start_frame"]
        for offset in (0, len(clip) - 1):
            distances = np.abs(frames.astype(int) - clip[offset].astype(int)).mean(axis=(1, 2, 3))
            assert distances.argmin() == row["start_frame"] + offset, "the clip frame is not its source frame"
        assert row["start_s"] == pytest.approx(row["start_frame"] / 12) and row["cut_mode"] == mode


def test_keyframes_are_first_middle_last_jpegs():
    _, data = _two_shot_video()
    result = VideoProcessor(ClipsConfig(cut_mode="reencode", min_seconds=1.0)).process(parent(), data)
    row = next(r for r in result.clip_rows if r["start_frame"] == 30)
    assert row["keyframe_frames"] == [30, 45, 59]
    names = [name for name, _ in result.media[row["sample_id"]]]
    assert names == ["mp4", "first.jpg", "middle.jpg", "last.jpg"]
    assert all(data[:2] == b"\xff\xd8" for _, data in result.media[row["sample_id"]][1:])
