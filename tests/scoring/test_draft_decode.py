"""JPEG draft decoding: a large JPEG decodes reduced only as far as every scorer of the job allows, and the
scores computed from the reduced picture agree with those of the full decode on photo-like, non-square input."""
import io

import imagehash
import numpy as np
import open_clip
import pytest
from PIL import Image

from curation.scorers.base import PictureNeed, Sample, combined_need
from curation.scorers.basic import BasicScorer, MIN_SIDE_PX, basic_values
from curation.scorers.media import decode_frames, draft_scale, prepare_sample
from curation.scorers.ocr import MAX_SIDE_PX, OcrScorer, ocr_input
from curation.synthetic.images import photo_like
from pipelines.crawl.config import CrawlConfig
from pipelines.crawl.fetch import Fetched, ImageFinisher

CLIP_NEED = PictureNeed(short=224)


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def photo() -> bytes:
    return _jpeg(photo_like(np.random.default_rng(3), 1600, 1000))


@pytest.mark.parametrize("size, need, scale", [
    ((1024, 768), CLIP_NEED, 2),  # 768 / 4 = 192 < 224
    ((1024, 1024), CLIP_NEED, 4),
    ((4000, 3000), CLIP_NEED, 8),
    ((4000, 3000), PictureNeed(long=1024), 2),  # 4000 / 4 = 1000 < 1024
    ((1799, 1799), PictureNeed(short=225), 8),  # ceil(1799 / 8) = 225: libjpeg rounds up
    ((256, 256), CLIP_NEED, 1),
    ((100, 60), CLIP_NEED, 1),
    ((4000, 3000), None, 1),
])
def test_draft_scale_is_the_largest_reduction_that_meets_the_need(size, need, scale):
    assert draft_scale(size, need) == scale


def test_a_combined_need_is_the_strictest_and_full_resolution_wins():
    assert combined_need([PictureNeed(short=224), PictureNeed(long=1024), PictureNeed(short=128)]) == \
        PictureNeed(short=224, long=1024)
    assert combined_need([PictureNeed(short=224), None]) is None
    assert combined_need([]) == PictureNeed()


def test_a_jpeg_decodes_reduced_and_other_formats_in_full(photo):
    [reduced] = decode_frames(photo, "image", need=CLIP_NEED)
    assert reduced.size == (400, 250) and reduced.mode == "RGB"  # 1/4: 1000 / 8 = 125 < 224
    [full] = decode_frames(photo, "image")
    assert full.size == (1600, 1000)
    png = io.BytesIO()
    full.save(png, format="PNG")
    assert decode_frames(png.getvalue(), "image", need=CLIP_NEED)[0].size == (1600, 1000)


def test_the_reduced_picture_matches_the_full_decode_after_the_model_transform(photo):
    """The model input from a draft decode is the full decode's within JPEG noise (the CLIP eval transform)."""
    transform = open_clip.image_transform(224, is_train=False)
    full = transform(decode_frames(photo, "image")[0])
    reduced = transform(decode_frames(photo, "image", need=CLIP_NEED)[0])
    assert full.shape == reduced.shape == (3, 224, 224)
    difference = (full - reduced).abs().mean().item()
    assert difference < 0.05, difference  # normalised units (~1/4 of a grey level in 0..255 per unit of std)
    assert float(np.corrcoef(full.ravel(), reduced.ravel())[0, 1]) > 0.99


def test_basic_values_from_a_reduced_photo_match_the_full_decode(photo):
    def values(need):
        sample = prepare_sample(Sample("s", "c", "image", original_size=(3200, 2000)), lambda: photo,
                                {"basic": (basic_values, True)}, need=need)
        return sample.prepared["basic"], sample

    full, _ = values(None)
    reduced, sample = values(BasicScorer().picture_need())
    assert min(sample.stored_size) == 1000 and reduced["width"] == full["width"] == 3200
    assert reduced["luma_std"] == pytest.approx(full["luma_std"], rel=0.03)
    assert imagehash.hex_to_hash(reduced["phash"]) - imagehash.hex_to_hash(full["phash"]) <= 4
    assert reduced["is_blank"] is full["is_blank"] is False


def test_sizes_without_a_recorded_source_size_are_the_stored_size_not_the_reduced_one(photo):
    sample = prepare_sample(Sample("s", "c", "image"), lambda: photo, {"basic": (basic_values, True)},
                            need=PictureNeed(short=MIN_SIDE_PX))
    assert (sample.prepared["basic"]["width"], sample.prepared["basic"]["height"]) == (1600, 1000)


@pytest.mark.parametrize("source", [(1600, 400), (500, 1400)])
def test_a_uniform_padded_image_stays_blank_when_decoded_reduced(source):
    """Crawled at 1024 px with the default border padding, then decoded at 1/8 for `basic` (the bars' edge row
    is averaged with the picture there, and must not count)."""
    row = {"sample_id": "s", "caption": "c", "media_type": "image"}
    payload = _jpeg(Image.new("RGB", source, (150, 90, 60)))
    finished = ImageFinisher(CrawlConfig(urls="unused", image_size=1024)).finish(Fetched(row, payload, needs_resize=True))
    sample = prepare_sample(Sample("s", "c", "image", original_size=source), lambda: finished.media,
                            {"basic": (basic_values, True)}, need=BasicScorer().picture_need())
    assert sample.stored_size == (1024, 1024) and sample.prepared["basic"]["is_blank"]


def test_ocr_input_keeps_its_analysis_size_from_a_reduced_decode():
    data = _jpeg(photo_like(np.random.default_rng(4), 3000, 2200))
    sample = prepare_sample(Sample("s", "c", "image"), lambda: data, {"ocr": (ocr_input, True)},
                            need=OcrScorer().picture_need())
    [bgr] = sample.prepared["ocr"]
    assert bgr.shape == (751, MAX_SIDE_PX, 3)  # decoded at 1/2 (1500 x 1100), then cut to 1024 on the long side
