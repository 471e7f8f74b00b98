"""Shot detection against the synthetic corpus's known cuts, and the cascade's fade detection."""
import numpy as np
import pytest

from curation.video.config import DETECTORS, ClipsConfig, ShotConfig
from curation.video.process import VideoProcessor
from tests.video.media import encode, textured


@pytest.mark.parametrize("detector", DETECTORS)
def test_cuts_match_ground_truth_within_one_frame(corpus, detector):
    processor = VideoProcessor(ClipsConfig(shots=ShotConfig(detector=detector)))
    assert any(video["scene_cuts"] for video in corpus), "the corpus should hold videos with cuts"
    for video in corpus:
        found = processor.scan(video["data"]).cuts
        expected = list(video["scene_cuts"])
        assert len(found) == len(expected), f"{video['item_id']} ({video['motion']}): cuts {found}, expected {expected}"
        assert all(abs(f - e) <= 1 for f, e in zip(found, expected)), f"{video['item_id']}: {found} vs {expected}"


def _fade_video() -> bytes:
    """Two shots joined by a fade to black (frames 24-35) and a fade in (36-47)."""
    first, second = (textured(36, seed=s, shift=1).astype(np.float32) for s in (1, 2))
    ramp = np.linspace(1, 0, 12)[:, None, None, None]
    first[-12:] *= ramp
    second[:12] *= ramp[::-1]
    return encode(np.concatenate([first, second]).astype(np.uint8))


def test_cascade_catches_a_fade_that_adaptive_misses():
    data = _fade_video()
    cascade = VideoProcessor(ClipsConfig(shots=ShotConfig(detector="cascade"))).scan(data).cuts
    adaptive = VideoProcessor(ClipsConfig(shots=ShotConfig(detector="adaptive"))).scan(data).cuts
    assert len(cascade) == 1 and 30 <= cascade[0] <= 42
    assert adaptive == []


def test_detector_description_names_settings():
    text = ShotConfig(detector="cascade").describe(64)
    assert text.startswith("cascade(") and "steps=1/2/4" in text and text.endswith("@64px")
