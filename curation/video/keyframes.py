"""Keyframes of a clip: its first, middle and last frame as JPEGs, for scorers and the review UI."""
import io

from curation.video.decode import VideoSource, frames_at

KEYFRAME_NAMES = ("first", "middle", "last")


def keyframe_positions(n_frames: int) -> list[tuple[str, int]]:
    """(name, frame index within the clip) of the first, middle and last frame; duplicates dropped."""
    positions, seen = [], set()
    for name, index in zip(KEYFRAME_NAMES, (0, n_frames // 2, n_frames - 1)):
        if index not in seen:
            positions.append((name, index))
            seen.add(index)
    return positions


def extract_keyframes(clip: VideoSource, n_frames: int, max_side: int = 512,
                      quality: int = 90) -> list[tuple[str, int, bytes]]:
    """(name, frame index within the clip, JPEG bytes) per keyframe, long side at most `max_side` px."""
    positions = keyframe_positions(n_frames)
    images = frames_at(clip, [index for _, index in positions], max_side)
    out = []
    for name, index in positions:
        buffer = io.BytesIO()
        images[index].save(buffer, format="JPEG", quality=quality)
        out.append((name, index, buffer.getvalue()))
    return out
