"""The one video decoder: frames sampled by time for scoring, in display orientation, with bounded decoding, and
the same failure reasons in scoring as in the clips stage."""
from fractions import Fraction

import numpy as np
import pytest

from curation.scorers.base import Sample
from curation.scorers.media import decode_frames, prepare_sample
from curation.video import decode
from curation.video.config import ClipsConfig
from curation.video.decode import VideoError, open_video, sample_frames
from curation.video.process import VideoProcessor
from tests.video.conftest import parent
from tests.video.media import audio_only, encode, encode_without_frame_count, grey_levels, textured


def _grey(image) -> float:
    return float(np.asarray(image, dtype=np.float64).mean())


def _marked(n: int = 4) -> np.ndarray:
    """Frames 160 wide, 96 high, black with a red block in the top-left corner."""
    frames = np.zeros((n, 96, 160, 3), np.uint8)
    frames[:, :32, :32] = (255, 0, 0)
    return frames


def _red_corner(image) -> str:
    """Which corner of an image holds the red block."""
    pixels = np.asarray(image, dtype=np.int32)
    h, w = pixels.shape[:2]
    corners = {"top-left": pixels[:16, :16], "top-right": pixels[:16, w - 16:],
               "bottom-left": pixels[h - 16:, :16], "bottom-right": pixels[h - 16:, w - 16:]}
    return max(corners, key=lambda name: corners[name][..., 0].mean() - corners[name][..., 1].mean())


# The display matrix's angle is counter-clockwise (ffprobe's "rotation of -90 degrees" is a portrait phone
# video, which players turn clockwise): -90 takes the coded top-left corner to the top right.
@pytest.mark.parametrize("rotation, corner", [(0, "top-left"), (-90, "top-right"), (90, "bottom-left"),
                                              (180, "bottom-right")])
def test_rotated_video_gives_frames_in_display_orientation(rotation, corner):
    data = encode(_marked(), rotation=rotation)
    size = (96, 160) if rotation in (90, -90) else (160, 96)
    for image in [f.image for f in sample_frames(data, 3).frames] + decode_frames(data, "video", 3):
        assert image.size == size and _red_corner(image) == corner


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_video_without_frame_count_decodes_a_few_gops_and_keeps_the_samples(fmt):
    n, gop = 240, 12
    data = encode_without_frame_count(grey_levels(n, step=1), fmt, fps=12, gop=gop)
    container, info = open_video(data)
    container.close()
    assert info.header_frames == 0
    sampled = sample_frames(data, 3)
    assert len(sampled.frames) == 3
    assert [f.time_s for f in sampled.frames] == pytest.approx([0, 119 / 12, 239 / 12], abs=1e-3)
    assert [_grey(f.image) for f in sampled.frames] == pytest.approx([0, 119, 239], abs=4)
    assert sampled.decoded <= 3 * (gop + 1) < n  # decoded from the keyframe before each sample, then stopped


def test_variable_frame_rate_is_sampled_by_time_not_by_index():
    # 16 frames 40 ms apart, then 8 frames 500 ms apart: the middle of the time span (2.3 s) shows frame 18,
    # while the middle index would be frame 11 or 12 (0.44 s).
    pts = [40 * i for i in range(16)] + [600 + 500 * i for i in range(1, 9)]
    data = encode(grey_levels(24), pts=pts, time_base=Fraction(1, 1000), gop=4)
    frames = sample_frames(data, 3).frames
    assert [f.time_s for f in frames] == pytest.approx([0, 2.1, 4.6], abs=1e-3)
    assert [_grey(f.image) for f in frames] == pytest.approx([0, 8 * 18, 8 * 23], abs=3)


def test_fewer_frames_than_samples_gives_each_frame_once():
    frames = sample_frames(encode(grey_levels(2)), 3).frames
    assert [f.time_s for f in frames] == pytest.approx([0, 1 / 12], abs=1e-3)


def test_a_seek_that_lands_late_falls_back_to_one_pass_from_the_start(monkeypatch):
    data = encode(grey_levels(30), gop=6)
    expected = [f.time_s for f in sample_frames(data, 3).frames]
    monkeypatch.setattr(decode, "_seek", lambda container, stream, pts: container.seek(
        10 ** 9, stream=stream, backward=True))  # always the last keyframe: past the first sample
    fallback = sample_frames(data, 3)
    assert [f.time_s for f in fallback.frames] == pytest.approx(expected)
    assert [_grey(f.image) for f in fallback.frames] == pytest.approx([0, 8 * 14, 8 * 29], abs=3)


def _scoring_error(data: bytes) -> str:
    return prepare_sample(Sample("s", "a video", "video"), lambda: data, {}).error


BAD = {
    "audio_only": audio_only,
    "cut_before_the_index": lambda: encode(textured(24, shift=2))[:3000],
    "cut_faststart": lambda: encode(textured(24, shift=2), faststart=True)[:-1500],
    "garbage": lambda: bytes(range(256)) * 20,
    "empty": lambda: b"",
}
REASONS = {"audio_only": "audio_only", "cut_before_the_index": "truncated", "cut_faststart": "truncated",
           "garbage": "not_a_video", "empty": "empty_file"}


@pytest.mark.parametrize("name", sorted(BAD))
def test_scoring_and_clips_give_the_same_failure_reason(name):
    data = BAD[name]()
    with pytest.raises(VideoError) as raised:
        sample_frames(data, 3)
    assert raised.value.reason == REASONS[name]
    assert _scoring_error(data).startswith(f"{REASONS[name]}: ")
    clips = VideoProcessor(ClipsConfig(cut_mode="reencode", min_seconds=1.0))
    assert clips.process(parent(), data).error == REASONS[name]
