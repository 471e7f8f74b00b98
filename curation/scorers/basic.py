"""`basic`: resolution, aspect ratio, file size, blank/tiny/extreme-aspect flags and a perceptual hash.

Everything is computed in the decode workers from the decoded frames; no model. Sizes describe the source
media (the crawler's `original_width/height` when it recorded them, since stored images may have been
resized), so size filters judge what was published, as DataComp's do. For a video or clip `luma_std` the largest over its keyframes (a video is blank only when every
keyframe is) and `phash` the hash of its middle keyframe.
"""
import imagehash
import numpy as np
from PIL import Image

from curation.scorers.base import Sample, Scorer

BLANK_LUMA_STD = 2.0  # grey levels (0..255); flat colours with sensor/JPEG noise stay well below
TINY_MAX_SIDE = 32  # px: an image whose longer side is below this is tiny
EXTREME_ASPECT = 4.0  # longer side / shorter side above this is an extreme (banner-like) aspect


def basic_values(sample: Sample) -> dict:
    """The `basic` value columns of a decoded sample.

    Sizes and the tiny/extreme-aspect flags use the source size when the crawler recorded one
    (`original_size`); pixel statistics and the hash come from the stored media.
    """
    frames = sample.frames
    width, height = sample.original_size or frames[0].size
    luma_std = max(float(np.asarray(f.convert("L"), dtype=np.float64).std()) for f in frames)
    return {
        "width": width,
        "height": height,
        "aspect_ratio": width / height,
        "pixels": width * height,
        "file_bytes": sample.file_bytes,
        "luma_std": luma_std,
        "is_blank": luma_std < BLANK_LUMA_STD,
        "is_tiny": max(width, height) < TINY_MAX_SIDE,
        "is_extreme_aspect": max(width, height) > EXTREME_ASPECT * min(width, height),
        "phash": phash(frames[len(frames) // 2]),
    }


def phash(image: Image.Image) -> str:
    """64-bit DCT perceptual hash (imagehash.phash) as 16 hex chars."""
    return str(imagehash.phash(image))


class BasicScorer(Scorer):
    """Model-free image statistics; see the module docstring."""

    name = "basic"
    version = "2"
    needs_frames = True

    def preparer(self):
        return basic_values

    def _score(self, samples: list[Sample]) -> list[dict]:
        return [s.prepared[self.name] for s in samples]
