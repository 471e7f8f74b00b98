"""`basic`: resolution, aspect ratio, file size, blank/tiny/extreme-aspect flags and a perceptual hash.

Everything is computed in the decode workers from the decoded frames; no model. Sizes describe the source
media (the crawler's `original_width/height` when it recorded them, since stored images may have been
resized), so size filters judge what was published, as DataComp's do. For a video or clip `luma_std` the largest over its keyframes (a video is blank only when every
keyframe is) and `phash` the hash of its middle keyframe.

Pixel statistics and the hash describe the picture, not padding: the crawl's default `border` resize letterboxes
a non-square image onto a square canvas, so a stored image is cropped to its content box first (`content_box`,
from the source and stored sizes alone, never from pixel values). Videos are stored as crawled and clip keyframes
are scaled without padding, so their frames are used whole. The crawl does not record its resize mode: a stored
image whose aspect differs from the source's is taken to be border-padded, which misreads a `center_crop` crawl.
In a draft-reduced decode the box is cut `EDGE_PX` further on each padded side: there the row or column that
straddles the picture's edge averages bar and picture.

The statistics need no more than `MIN_SIDE_PX` on the shorter side (`picture_need`), so a large JPEG is decoded
draft-reduced (`curation.scorers.media`); sizes never come from the decoded frames but from the source, else
the stored size.
"""
import imagehash
import numpy as np
from PIL import Image

from curation.scorers.base import PictureNeed, Sample, Scorer

BLANK_LUMA_STD = 2.0  # grey levels (0..255); flat colours with sensor/JPEG noise stay well below
TINY_MAX_SIDE = 32  # px: an image whose longer side is below this is tiny
EXTREME_ASPECT = 4.0  # longer side / shorter side above this is an extreme (banner-like) aspect
PAD_MIN_PX = 2  # px: a narrower margin is the rounding of an aspect-preserving resize, not padding
EDGE_PX = 1  # px cut from each padded side of the content box (the straddling row/column)
MIN_SIDE_PX = 128  # shorter side the statistics and the 32x32 phash are computed from, at least


def basic_values(sample: Sample) -> dict:
    """The `basic` value columns of a decoded sample.

    Sizes and the tiny/extreme-aspect flags use the source size when the crawler recorded one
    (`original_size`), else the stored size; pixel statistics and the hash come from the stored media's picture
    (`pictures`).
    """
    frames = pictures(sample)
    width, height = sample.original_size or sample.stored_size or sample.frames[0].size
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


def pictures(sample: Sample) -> list[Image.Image]:
    """The sample's decoded frames, a stored image cropped to the picture the crawl's resize padded."""
    if sample.media_type != "image" or sample.original_size is None:
        return sample.frames
    crops = []
    for frame in sample.frames:
        box = content_box(frame.size, sample.original_size)
        reduced = sample.stored_size is not None and frame.size != sample.stored_size
        crops.append(_crop(frame, _inside(box, frame.size) if reduced else box))
    return crops


def content_box(stored: tuple[int, int], original: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) of the picture in a `border`-padded stored image; None when it is not padded.

    img2dataset's border mode (albumentations LongestMaxSize then PadIfNeeded) scales the source by
    target / longest side, rounds each side (at least 1 px) and centres it: int(margin / 2) before, the rest
    after. Fitting the source's aspect into the stored size the same way gives the box; a stored image with the
    source's aspect (keep_ratio, an image not resized) leaves margins under PAD_MIN_PX and is not padded.
    """
    width, height = stored
    scale = min(width / original[0], height / original[1])
    inner_width, inner_height = max(1, round(original[0] * scale)), max(1, round(original[1] * scale))
    if width - inner_width < PAD_MIN_PX and height - inner_height < PAD_MIN_PX:
        return None
    left, top = (width - inner_width) // 2, (height - inner_height) // 2
    return left, top, left + inner_width, top + inner_height


def _inside(box: tuple[int, int, int, int] | None, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """`box` cut `EDGE_PX` on each side that has a margin (kept at least 1 px wide and high)."""
    if box is None:
        return None
    left, top, right, bottom = box
    left, top = left + EDGE_PX * (left > 0), top + EDGE_PX * (top > 0)
    right, bottom = right - EDGE_PX * (right < size[0]), bottom - EDGE_PX * (bottom < size[1])
    return left, top, max(right, left + 1), max(bottom, top + 1)


def _crop(image: Image.Image, box: tuple[int, int, int, int] | None) -> Image.Image:
    return image if box is None else image.crop(box)


def phash(image: Image.Image) -> str:
    """64-bit DCT perceptual hash (imagehash.phash) as 16 hex chars."""
    return str(imagehash.phash(image))


class BasicScorer(Scorer):
    """Model-free image statistics; see the module docstring."""

    name = "basic"
    version = "4"
    needs_frames = True

    def preparer(self):
        return basic_values

    def picture_need(self) -> PictureNeed:
        return PictureNeed(short=MIN_SIDE_PX)

    def _score(self, samples: list[Sample]) -> list[dict]:
        return [s.prepared[self.name] for s in samples]
