"""Motion scores: static < slow pan < fast motion for every method; RAFT's weights policy."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from curation.errors import GristmillError
from curation.video.config import ClipsConfig, MotionConfig
from curation.video.decode import iter_frames, open_video
from curation.video.motion import build_raft, resolve_raft_weights
from curation.video.process import VideoProcessor
from tests.video.conftest import parent


def _video_scores(corpus, method: str, column: str, **motion) -> dict[str, list[float]]:
    processor = VideoProcessor(ClipsConfig(motion=MotionConfig(method=method, **motion)))
    processor.load()
    by_kind: dict[str, list[float]] = {"static": [], "slow": [], "fast": []}
    for video in corpus:
        row = processor.process(parent(), video["data"]).motion_rows[0]
        assert row["error"] is None and row["n_pairs"] >= 1
        by_kind[video["motion"]].append(row[column])
    return by_kind


def _assert_ordered(by_kind: dict[str, list[float]]) -> None:
    assert all(by_kind.values()), by_kind
    assert max(by_kind["static"]) < min(by_kind["slow"]), by_kind
    assert max(by_kind["slow"]) < min(by_kind["fast"]), by_kind


@pytest.mark.parametrize("method, column", [("farneback", "motion"), ("farneback", "motion_max"),
                                            ("frame_diff", "frame_diff")])
def test_static_slow_fast_are_ordered(corpus, method, column):
    _assert_ordered(_video_scores(corpus, method, column))


def test_farneback_speeds_are_in_px_per_second(corpus):
    """The slow pans move 1-2 px/frame at 160x96: 1-2 x (short side / 96) px/frame at the analysis size, x 12 fps."""
    slow = _video_scores([v for v in corpus if v["motion"] == "slow" and not v["scene_cuts"]], "farneback", "motion")
    px_per_s = 12 * ClipsConfig().analysis_short_side / 96
    assert all(0.8 * px_per_s < v < 1.2 * 2 * px_per_s for v in slow["slow"]), slow


def test_frames_are_scaled_to_the_analysis_size_grey_matching_colour(corpus):
    """160x96 at short side 32 is 53x32: the detector's bilinear preview and motion's area-averaged frames."""
    container, info = open_video(corpus[0]["data"])
    with container:
        frame = next(iter_frames(container, info, 32))
        assert frame.preview.shape == frame.image().shape == (32, 53, 3) and frame.grey().shape == (32, 53)
        luma = cv2.cvtColor(frame.image(), cv2.COLOR_BGR2GRAY).astype(int)
        assert np.abs(luma - frame.grey()).mean() < 1


def test_frame_diff_method_has_no_flow(corpus):
    processor = VideoProcessor(ClipsConfig(motion=MotionConfig(method="frame_diff")))
    row = processor.process(parent(), corpus[0]["data"]).motion_rows[0]
    assert row["motion"] is None and row["frame_diff"] is not None and row["method"] == "frame_diff"


@pytest.fixture
def empty_hub(tmp_path, monkeypatch) -> Path:
    """A torch hub cache with no checkpoints in it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


def test_raft_refuses_without_weights(empty_hub):
    processor = VideoProcessor(ClipsConfig(motion=MotionConfig(method="raft_small")))
    with pytest.raises(GristmillError, match="no raft_small weights.*--allow-random-weights"):
        processor.load()


def test_raft_loads_a_local_checkpoint_and_the_hub_cache(tmp_path, empty_hub):
    state = build_raft("raft_small", None).state_dict()
    path = tmp_path / "my_raft.pth"
    torch.save(state, path)
    _, model_id, placeholder = resolve_raft_weights("raft_small", str(path), allow_random=False)
    assert model_id.startswith("raft_small/my_raft.pth@") and not placeholder
    empty_hub.mkdir(parents=True)
    torch.save(state, empty_hub / "raft_small_C_T_V2-01064c6d.pth")
    loaded, model_id, placeholder = resolve_raft_weights("raft_small", None, allow_random=False)
    assert model_id == "raft_small/torchvision-C_T_V2" and not placeholder and loaded.keys() == state.keys()
    with pytest.raises(GristmillError, match="not found"):
        resolve_raft_weights("raft_small", str(tmp_path / "missing.pth"), allow_random=False)


def test_raft_with_random_weights_is_marked_placeholder_and_fills_the_same_columns(corpus, empty_hub):
    config = ClipsConfig(motion=MotionConfig(method="raft_small", allow_random_weights=True, sample_fps=0.5))
    processor = VideoProcessor(config)
    processor.load()
    result = processor.process(parent(), corpus[0]["data"])
    row = result.motion_rows[0]
    assert "PLACEHOLDER" in row["model_id"] and row["method"] == "raft_small"
    assert row["error"] is None and row["motion"] >= 0 and row["motion_max"] >= row["motion"] and row["n_pairs"] == 2


def _raft_weights_cached() -> bool:
    try:
        resolve_raft_weights("raft_small", None, allow_random=False)
    except GristmillError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _raft_weights_cached(), reason="no pretrained raft_small weights in the torch hub cache")
def test_raft_with_real_weights_orders_static_slow_fast(corpus):
    _assert_ordered(_video_scores(corpus, "raft_small", "motion"))
