"""Copy-mode clips take their keyframes from the pictures the scan held (each video decoded once): the first and
last JPEGs are the bytes that decoding the clip gives, the middle is near the midpoint, and a small budget
falls back to decoding the clip instead of holding more."""
import numpy as np
import pytest

from curation.video import process
from curation.video.config import ClipsConfig
from curation.video.decode import iter_frames, open_video
from curation.video.keyframes import KeyframeCandidates
from curation.video.process import VideoProcessor
from tests.video.conftest import parent
from tests.video.media import encode, textured


def _video(gop: int = 10) -> bytes:
    """Two shots of a moving texture, 160x96 (not square), a keyframe every `gop` frames."""
    return encode(np.concatenate([textured(40, seed=1, shift=1), textured(40, seed=2, shift=2)]), gop=gop)


def _picture_bytes(data: bytes) -> int:
    """What one decoded picture of `data` holds (planes with the decoder's padding)."""
    container, info = open_video(data)
    with container:
        return sum(plane.buffer_size for plane in next(iter_frames(container, info, 32)).picture.planes)


def _clips(result) -> dict[str, tuple[list[int], list[tuple[str, bytes]]]]:
    return {r["sample_id"]: (r["keyframe_frames"], result.media[r["sample_id"]][1:])
            for r in result.clip_rows if r["status"] == "success"}


def _process(data: bytes, **options):
    return VideoProcessor(ClipsConfig(min_seconds=1.0, max_seconds=3.0, **options)).process(parent(), data)


def _assert_like_decoding_each_clip(clips: dict, reference: dict) -> None:
    assert clips.keys() == reference.keys() and len(clips) >= 2
    for cid, (frames, jpegs) in clips.items():
        ref_frames, ref_jpegs = reference[cid]
        assert [name for name, _ in jpegs] == [name for name, _ in ref_jpegs] == ["first.jpg", "middle.jpg", "last.jpg"]
        assert (frames[0], frames[-1]) == (ref_frames[0], ref_frames[-1])
        assert (jpegs[0], jpegs[-1]) == (ref_jpegs[0], ref_jpegs[-1]), "first/last are not the clip's own frames"
        n = ref_frames[-1] - ref_frames[0] + 1
        assert abs(frames[1] - ref_frames[1]) <= max(1, n // 8)


def _count_decoding_again(monkeypatch) -> list:
    """A list that gets an entry whenever a clip's keyframes are decoded from the clip."""
    calls, real = [], process.extract_keyframes
    monkeypatch.setattr(process, "extract_keyframes", lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def test_copy_mode_keyframes_come_from_the_scan(monkeypatch):
    data = _video()
    reference = _clips(_process(data, keyframe_buffer_mb=0))
    decoded_again = _count_decoding_again(monkeypatch)
    _assert_like_decoding_each_clip(_clips(_process(data)), reference)
    assert decoded_again == [], "a clip was decoded again for its keyframes"


def test_a_small_budget_falls_back_to_decoding_the_clip(monkeypatch):
    data = _video()
    reference = _clips(_process(data, keyframe_buffer_mb=0))
    decoded_again = _count_decoding_again(monkeypatch)
    five = 5 * _picture_bytes(data)
    monkeypatch.setattr(process, "KeyframeCandidates", lambda fps, _: KeyframeCandidates(fps, five))
    _assert_like_decoding_each_clip(_clips(_process(data)), reference)
    assert decoded_again, "five pictures cannot hold every clip's keyframes"


@pytest.mark.parametrize("budget_pictures", [6, 12, 40])
def test_held_pictures_stay_within_the_budget(budget_pictures):
    data = _video(gop=4)
    picture = _picture_bytes(data)
    container, info = open_video(data)
    candidates = KeyframeCandidates(info.fps, budget_pictures * picture)
    with container:
        for frame in iter_frames(container, info, 32):
            candidates.feed(frame)
            assert candidates.held_bytes <= candidates.max_bytes
    candidates.finish()
    assert candidates.held_bytes == picture * (len(candidates.edges) + len(candidates.grid)) <= candidates.max_bytes
