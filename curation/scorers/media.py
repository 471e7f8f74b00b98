"""Decoding stored media into RGB frames, and preparing a sample for every scorer (runs in decode workers).

Images decode to one frame; videos to `n_frames` frames at evenly spaced times from the first frame to the last
(first, middle, last for the default 3), decoded by the clips stage's decoder (`curation.video.decode.
sample_frames`: only the sampled frames are kept, rotation applied, times from pts). A video that cannot be used
fails with that decoder's stable reason (`audio_only: ...`, `truncated: ...`, see `curation.video.decode`);
any other decode failure is `undecodable: ...`.
"""
import io
import re
from typing import Any, Callable

from PIL import Image

from curation.scorers.base import Sample
from curation.video.decode import VideoError, sample_frames

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
DEFAULT_VIDEO_FRAMES = 3


def decode_frames(data: bytes | list[bytes], media_type: str, n_frames: int = DEFAULT_VIDEO_FRAMES) -> list[Image.Image]:
    """RGB frames of stored media: [image] for an image, up to `n_frames` sampled frames for a video.

    `data` may also be a list of encoded keyframe images (a sample's stored keyframes); each decodes to one frame.
    Raises VideoError for an unusable video.
    """
    if isinstance(data, list):
        return [frame for item in data for frame in decode_frames(item, "image")]
    if media_type == "video":
        return [frame.image for frame in sample_frames(data, n_frames).frames]
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return [image.convert("RGB")]


def describe(exc: Exception) -> str:
    """'Type: message' of an exception, without memory addresses, so the same failure reads the same everywhere."""
    return f"{type(exc).__name__}: {_ADDRESS.sub('', str(exc))}"


def decode_failure(exc: Exception) -> str:
    """The stable reason of a decode failure: a video's VideoError reason, else `undecodable`, with the message."""
    if isinstance(exc, VideoError):
        return f"{exc.reason}: {_ADDRESS.sub('', exc.message)}"
    return f"undecodable: {describe(exc)}"


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
                sample.error = decode_failure(exc)
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
