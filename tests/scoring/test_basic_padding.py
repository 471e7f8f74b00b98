"""`basic` statistics describe the picture, not the bars the crawl's default `border` resize pads it with.

Inputs go through the crawl's own resize step (ImageFinisher: img2dataset's Resizer at the default size and
mode), and samples are built from the rows it writes, as scoring builds them.
"""
import io

import cv2
import imagehash
import numpy as np
import pytest
from PIL import Image

from curation.scorers.basic import basic_values, content_box
from curation.scorers.media import decode_frames
from curation.scoring import sample_from_row
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.fetch import Fetched, ImageFinisher


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _crawled(data: bytes, **options) -> tuple[dict, bytes]:
    """The SAMPLES row and stored bytes the crawl makes of an image payload (default resize unless overridden)."""
    row = {"sample_id": "s", "caption": "c", "media_type": "image"}
    fetched = ImageFinisher(CrawlConfig(urls="unused", **options)).finish(Fetched(row, data, needs_resize=True))
    assert fetched.row["status"] == "success", fetched.row
    return dict(fetched.row, media_size=len(fetched.media)), fetched.media


def _basic(data: bytes, **options) -> tuple[dict, Image.Image]:
    """`basic` values of a payload after the crawl's resize, and the stored image they were computed on."""
    row, stored = _crawled(data, **options)
    sample = sample_from_row(row, "00000", 0)
    sample.frames = decode_frames(stored, "image")
    return basic_values(sample), sample.frames[0]


def _photo(width: int = 640, height: int = 360) -> Image.Image:
    """A photo-like image: colour gradients with sensor-like noise and a few soft shapes."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([40 + 160 * x / width, 60 + 120 * y / height, 200 - 150 * (x + y) / (width + height)], axis=-1)
    for cx, cy, r, shade in ((0.3, 0.4, 0.15, 60), (0.7, 0.6, 0.2, -50)):
        base += shade * np.exp(-((x / width - cx) ** 2 + (y / height - cy) ** 2) / r**2)[..., None]
    noisy = base + rng.normal(0, 12, base.shape)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def _luma_std(image: Image.Image) -> float:
    return float(np.asarray(image.convert("L"), dtype=np.float64).std())


def test_a_uniform_non_square_image_is_blank_after_border_padding():
    values, stored = _basic(_jpeg(Image.new("RGB", (400, 100), (128, 128, 128))))
    assert stored.size == (256, 256) and _luma_std(stored) > 40  # the crawl did pad it
    assert values["is_blank"] and values["luma_std"] < 1.0
    assert (values["width"], values["height"]) == (400, 100)


def test_statistics_of_a_letterboxed_photo_match_the_unpadded_picture():
    photo = _photo()
    values, stored = _basic(_jpeg(photo))
    assert stored.size == (256, 256)
    # the same picture stored without bars: the source resized (as the crawl resizes) to the content size
    decoded = Image.open(io.BytesIO(_jpeg(photo))).convert("RGB")
    unpadded = Image.fromarray(cv2.resize(np.asarray(decoded), (256, 144), interpolation=cv2.INTER_AREA))
    assert values["luma_std"] == pytest.approx(_luma_std(unpadded), rel=0.02)
    assert imagehash.hex_to_hash(values["phash"]) - imagehash.phash(unpadded) <= 2


@pytest.mark.parametrize("size, options", [((300, 300), {}), ((640, 360), {"resize_mode": "keep_ratio"}),
                                           ((200, 120), {"resize_only_if_bigger": True})])
def test_an_unpadded_stored_image_is_used_whole(size, options):
    values, stored = _basic(_jpeg(_photo(*size)), **options)
    assert values["luma_std"] == _luma_std(stored)
    assert values["phash"] == str(imagehash.phash(stored))


@pytest.mark.parametrize("size", [(400, 100), (100, 400), (641, 359), (333, 257), (1000, 7), (20, 10), (90, 31)])
def test_content_box_is_exactly_where_the_resizer_put_the_picture(size):
    """Lossless PNG output: every pixel outside the box is padding and the box holds only the picture."""
    _, stored = _crawled(_png(Image.new("RGB", size, (10, 200, 30))), encode_format="png", encode_quality=1)
    pixels = np.asarray(Image.open(io.BytesIO(stored)).convert("RGB"))
    rows, cols = np.nonzero((pixels != 255).any(axis=-1))
    picture = (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    assert content_box((pixels.shape[1], pixels.shape[0]), size) == picture


def test_content_box_ignores_sub_pixel_rounding_of_aspect_preserving_resizes():
    assert content_box((455, 256), (640, 360)) is None  # keep_ratio: short side to 256, long side rounded
    assert content_box((256, 256), (300, 300)) is None
    assert content_box((256, 256), (512, 513)) is None
