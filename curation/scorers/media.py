"""Decoding stored media into RGB frames, and preparing a sample for every scorer (runs in decode workers).

Images decode to one frame; videos to `n_frames` frames at evenly spaced times from the first frame to the last
(first, middle, last for the default 3), decoded by the clips stage's decoder (`curation.video.decode.
sample_frames`: only the sampled frames are kept, rotation applied, times from pts). A video that cannot be used
fails with that decoder's stable reason (`audio_only: ...`, `truncated: ...`, see `curation.video.decode`);
any other decode failure is `undecodable: ...`.

JPEG draft: given the smallest picture the job's scorers work from (`PictureNeed`, see `curation.scorers.base`),
a JPEG is decoded at 1/2, 1/4 or 1/8 of its size in the DCT domain (Pillow's `draft`, libjpeg's scaled IDCT)
when the smaller picture still meets the need, which costs a fraction of a full decode followed by a resize.
The scale comes from the header's size alone; other formats, and jobs with a scorer that needs full
resolution, decode in full.
"""
import io
import re
from typing import Any, Callable

from PIL import Image

from curation.scorers.base import PictureNeed, Sample
from curation.video.decode import VideoError, sample_frames

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
DEFAULT_VIDEO_FRAMES = 3
DRAFT_SCALES = (8, 4, 2)  # the reductions libjpeg decodes directly


def draft_scale(size: tuple[int, int], need: PictureNeed | None) -> int:
    """The largest JPEG draft reduction (8, 4, 2, else 1) of a `size` picture that still meets `need`."""
    if need is None:
        return 1
    short, long = min(size), max(size)
    for scale in DRAFT_SCALES:
        if -(-short // scale) >= need.short and -(-long // scale) >= need.long:
            return scale
    return 1


def decode_frames(data: bytes | list[bytes], media_type: str, n_frames: int = DEFAULT_VIDEO_FRAMES,
                  need: PictureNeed | None = None) -> list[Image.Image]:
    """RGB frames of stored media: [image] for an image, up to `n_frames` sampled frames for a video.

    `data` may also be a list of encoded keyframe images (a sample's stored keyframes); each decodes to one frame.
    A JPEG is decoded reduced as far as `need` allows (see the module docstring; None: full size).
    Raises VideoError for an unusable video.
    """
    return decode_media(data, media_type, n_frames, need)[0]


def decode_media(data: bytes | list[bytes], media_type: str, n_frames: int = DEFAULT_VIDEO_FRAMES,
                 need: PictureNeed | None = None) -> tuple[list[Image.Image], tuple[int, int]]:
    """`decode_frames`' frames and the stored size of the first one (before any draft reduction)."""
    if isinstance(data, list):
        decoded = [_decode_image(item, need) for item in data]
        return [image for image, _ in decoded], decoded[0][1]
    if media_type == "video":
        frames = [frame.image for frame in sample_frames(data, n_frames).frames]
        return frames, frames[0].size
    image, size = _decode_image(data, need)
    return [image], size


def _decode_image(data: bytes, need: PictureNeed | None) -> tuple[Image.Image, tuple[int, int]]:
    with Image.open(io.BytesIO(data)) as image:
        size = image.size
        scale = draft_scale(size, need) if image.format == "JPEG" else 1
        if scale > 1:  # (width // scale, height // scale) makes Pillow pick exactly `scale`
            image.draft("RGB", (image.width // scale, image.height // scale))
        image.load()
        return image.convert("RGB"), size


def is_jpeg_image(sample: Sample) -> bool:
    """True for an image sample whose stored bytes are a JPEG (by its start-of-image marker)."""
    return sample.media_type == "image" and isinstance(sample.data, bytes) and sample.data.startswith(b"\xff\xd8")


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
    need: PictureNeed | None = None,
) -> Sample:
    """Read and decode a sample when `read` is given, run each scorer's preparer, then drop bytes and frames.

    `need` is the smallest picture the preparers work from (`combined_need` of the scorers; None: full size).

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
                if not (need and need.encoded and is_jpeg_image(sample)):  # else decoded on the device
                    sample.frames, sample.stored_size = decode_media(sample.data, sample.media_type, n_frames, need)
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
