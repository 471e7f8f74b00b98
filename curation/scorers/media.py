"""Decoding stored media into RGB frames, and preparing a sample for every scorer (runs in decode workers).

Images decode to one frame; videos to `n_frames` keyframes spread evenly from the first to the
last frame (first, middle, last for the default 3). Failures become the stable reason `undecodable: ...`.
"""
import io
import re
from typing import Any, Callable

import numpy as np
from PIL import Image

from curation.scorers.base import Sample

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
DEFAULT_VIDEO_FRAMES = 3


def decode_frames(data: bytes | list[bytes], media_type: str, n_frames: int = DEFAULT_VIDEO_FRAMES) -> list[Image.Image]:
    """RGB frames of stored media: [image] for an image, up to `n_frames` keyframes for a video.

    `data` may also be a list of encoded keyframe images (a sample's stored keyframes); each decodes to one frame.
    """
    if isinstance(data, list):
        return [frame for item in data for frame in decode_frames(item, "image")]
    if media_type == "video":
        return decode_video_frames(data, n_frames)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return [image.convert("RGB")]


def decode_video_frames(data: bytes, n_frames: int = DEFAULT_VIDEO_FRAMES) -> list[Image.Image]:
    """`n_frames` evenly spaced frames of a video (all frames when it has fewer), decoded with PyAV."""
    import av

    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        total = stream.frames
        if total <= 0:  # length not in the header: decode everything, then pick
            frames = [f.to_image() for f in container.decode(stream)]
            return [frames[i] for i in _spread(len(frames), n_frames)]
        wanted = set(_spread(total, n_frames))
        picked = []
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                picked.append(frame.to_image())
            if index >= max(wanted):
                break
    if not picked:
        raise ValueError("video has no decodable frames")
    return picked


def _spread(total: int, n: int) -> list[int]:
    if total <= 0:
        raise ValueError("video has no decodable frames")
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, num=min(n, total))})


def describe(exc: Exception) -> str:
    """'Type: message' of an exception, without memory addresses, so the same failure reads the same everywhere."""
    return f"{type(exc).__name__}: {_ADDRESS.sub('', str(exc))}"


def prepare_sample(
    sample: Sample,
    read: Callable[[], bytes | list[bytes]] | None,
    preparers: dict[str, tuple[Callable[[Sample], Any], bool]],
    n_frames: int = DEFAULT_VIDEO_FRAMES,
) -> Sample:
    """Read and decode a sample when `read` is given, run each scorer's preparer, then drop bytes and frames.

    `preparers` maps a scorer name to (preparer, needs_frames); preparers that need frames are skipped for a
    sample that failed to read or decode. A read or decode failure sets `sample.error`; a preparer that
    raises records its reason in `sample.errors[scorer]`; neither stops the job.
    """
    if read is not None:
        try:
            sample.data = read()
        except OSError as exc:
            sample.error = f"unreadable: {exc}"
        else:
            try:
                sample.frames = decode_frames(sample.data, sample.media_type, n_frames)
            except Exception as exc:  # PIL and PyAV raise many types for corrupt input
                sample.error = f"undecodable: {describe(exc)}"
    for name, (prepare, needs_frames) in preparers.items():
        if needs_frames and sample.error:
            continue
        try:
            sample.prepared[name] = prepare(sample)
        except Exception as exc:
            sample.errors[name] = f"prepare_failed: {describe(exc)}"
    sample.data = None
    sample.frames = None
    return sample
