"""Shared fixtures: the synthetic corpus's videos (generated once per session) with their ground truth."""
import pytest

from tests.video.media import corpus_videos


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> list[dict]:
    """The 12 synthetic videos: ground-truth rows (motion, scene_cuts, n_frames...) plus `data` (mp4 bytes)."""
    return corpus_videos(tmp_path_factory.mktemp("corpus"))


def parent(name: str = "v.mp4") -> dict:
    """A minimal SAMPLES row for VideoProcessor.process."""
    return {"sample_id": "0" * 32, "url": f"http://127.0.0.1/{name}", "caption": "a video", "shard": "00000"}
