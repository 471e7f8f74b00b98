"""Every kind of bad input gives a recorded per-sample error or a sensible result, never an exception."""
import io
import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from curation.video.decode import VideoError, frames_at
from curation.video.config import ClipsConfig
from curation.video.process import VideoProcessor
from tests.video.conftest import parent
from tests.video.media import audio_only, encode, textured

PROCESSOR = VideoProcessor(ClipsConfig(cut_mode="reencode", min_seconds=1.0))


def _good() -> bytes:
    return encode(textured(24, shift=2))


@pytest.mark.parametrize("name, make, reason", [
    ("zero_length", lambda: b"", "empty_file"),
    ("truncated_header", lambda: _good()[:2000], "truncated"),
    ("garbage", lambda: bytes(range(256)) * 20, "not_a_video"),
    ("audio_only", audio_only, "audio_only"),
    ("truncated_faststart", lambda: encode(textured(24, shift=2), faststart=True)[:-1500], "truncated"),
])
def test_unusable_video_is_a_recorded_error(name, make, reason):
    result = PROCESSOR.process(parent(name), make())
    assert result.error == reason and result.message
    assert result.clip_rows == [] and result.media == {}
    assert [(r["error"], r["motion"] if "motion" in r else None) for r in result.motion_rows] == [(reason, None)]


def test_single_frame_video_is_one_too_short_clip_without_motion():
    result = PROCESSOR.process(parent(), encode(textured(1)))
    assert result.error is None
    assert [(r["frame_count"], r["status"]) for r in result.clip_rows] == [(1, "too_short")]
    assert result.motion_rows[0]["error"] == "too_few_frames"


def test_single_frame_clip_is_kept_when_the_minimum_allows_it():
    result = VideoProcessor(ClipsConfig(min_seconds=0)).process(parent(), encode(textured(1)))
    row = result.clip_rows[0]
    assert row["status"] == "success" and row["keyframe_frames"] == [0]


def test_rotated_video_reports_display_size_and_upright_keyframes():
    result = PROCESSOR.process(parent(), encode(textured(24, shift=1), rotation=90))
    row = result.clip_rows[0]
    assert (row["width"], row["height"], row["status"]) == (96, 160, "success")
    mp4, first_jpeg = result.media[row["sample_id"]][0][1], result.media[row["sample_id"]][1][1]
    assert frames_at(mp4, [0], 512)[0].size == (96, 160)
    assert Image.open(io.BytesIO(first_jpeg)).size == (96, 160)


def test_variable_frame_rate_keeps_true_timestamps():
    frames = np.concatenate([textured(20, seed=1, shift=1), textured(20, seed=2, shift=1)[..., ::-1]])
    pts = np.cumsum([0] + [40 if i % 2 else 120 for i in range(39)])  # 80 ms mean step, irregular
    data = encode(frames, pts=[int(p) for p in pts], time_base=Fraction(1, 1000))
    result = PROCESSOR.process(parent(), data)
    assert [(r["start_frame"], r["end_frame"]) for r in result.clip_rows] == [(0, 20), (20, 40)]
    second = result.clip_rows[1]
    assert second["start_s"] == pytest.approx(pts[20] / 1000, abs=1e-3)
    assert result.motion_rows[0]["error"] is None


def test_very_large_resolution_is_processed_small_or_refused_over_the_limit():
    data = encode(np.full((3, 2160, 3840, 3), 90, np.uint8))
    result = VideoProcessor(ClipsConfig(min_seconds=0)).process(parent(), data)
    row = result.clip_rows[0]
    assert (row["width"], row["height"], row["status"]) == (3840, 2160, "success")
    refused = VideoProcessor(ClipsConfig(max_pixels=3840 * 2160 - 1)).process(parent(), data)
    assert refused.error == "too_large"


def test_frames_at_reports_missing_frames():
    with pytest.raises(VideoError, match="missing"):
        frames_at(encode(textured(3)), [0, 10], 64)


def _peak_python_memory(data: bytes) -> int:
    tracemalloc.start()
    try:
        PROCESSOR.scan(data)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_decoding_memory_does_not_grow_with_video_length():
    short, long = encode(textured(30, shift=1)), encode(textured(300, shift=1))
    _peak_python_memory(short)  # warm-up: imports and caches
    assert _peak_python_memory(long) < 2 * _peak_python_memory(short) + 256 * 1024
