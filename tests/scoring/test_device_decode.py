"""Decoding JPEGs on the model's device: the tensor transform matches the model's PIL transform, a bad JPEG is
its own sample's failure, and a job with a scorer that needs host pictures decodes in the workers as before.
Run here with device "cpu" (torchvision's CPU decode_jpeg), the same code path nvjpeg takes on CUDA."""
import io
import shutil

import numpy as np
import open_clip
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from curation.errors import GristmillError
from curation.scorers import embedding
from curation.scorers.device_decode import TensorTransform, decode_on_device
from curation.scoring import ScoreConfig, score
from curation.synthetic.images import photo_like
from curation.workspace import Workspace
from tests.scoring.helpers import media_row, write_shards


def _jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


PHOTOS = [_jpeg(photo_like(np.random.default_rng(i), w, h)) for i, (w, h) in enumerate([(320, 200), (180, 300)])]
CORRUPT = PHOTOS[0][:2] + b"\x00" * 64  # starts like a JPEG, is not one


def test_the_tensor_transform_matches_the_pil_transform():
    preprocess = open_clip.image_transform(224, is_train=False)
    transform = TensorTransform.of(preprocess)
    for data in PHOTOS:
        [decoded] = decode_on_device([torch.frombuffer(bytearray(data), dtype=torch.uint8)], torch.device("cpu"))
        expected = preprocess(Image.open(io.BytesIO(data)))
        got = transform(decoded)
        assert got.shape == expected.shape == (3, 224, 224)
        assert (got - expected).abs().mean() < 0.02  # normalised units; bicubic on tensors vs on PIL


def test_a_transform_with_other_steps_is_refused():
    with pytest.raises(GristmillError, match="RandomHorizontalFlip"):
        TensorTransform.of(T.Compose([T.Resize(224), T.RandomHorizontalFlip(), T.Normalize((0.5,) * 3, (0.5,) * 3)]))


def test_a_bad_jpeg_fails_alone():
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in (PHOTOS[0], CORRUPT, PHOTOS[1])]
    decoded = decode_on_device(tensors, torch.device("cpu"))
    assert isinstance(decoded[1], Exception)
    assert [tuple(d.shape) for d in (decoded[0], decoded[2])] == [(3, 200, 320), (3, 300, 180)]


@pytest.fixture(scope="module")
def jpeg_ws(tmp_path_factory):
    ws = Workspace.init(tmp_path_factory.mktemp("device-decode") / "ws")
    png = io.BytesIO()
    Image.open(io.BytesIO(PHOTOS[1])).save(png, format="PNG")
    items = [(media_row(f"http://x/{i}.jpg", f"photo {i}"), data, "jpg") for i, data in enumerate(PHOTOS * 3)]
    items += [(media_row("http://x/bad.jpg", "bad"), CORRUPT, "jpg"), (media_row("http://x/p.png", "png"), png.getvalue(), "png")]
    write_shards(ws, items, shard_size=4)
    return ws


def _scores(ws, tmp_path, name, scorers, **options):
    copy = Workspace.open(shutil.copytree(ws.root, tmp_path / name))
    score(copy, ScoreConfig(scorers=scorers, num_workers=0, batch_size=4, precision="fp32", **options))
    return {r["sample_id"]: r for r in pq.read_table(copy.path("scores", "clip")).to_pylist()}


def test_a_job_decoding_on_the_device_scores_like_the_workers(jpeg_ws, tmp_path, tiny_model, tiny_checkpoint,
                                                              monkeypatch):
    decoded_here = []  # JPEGs handed to the device decoder (workers are in this process: num_workers=0)

    def counting(jpegs, device):
        decoded_here.extend(jpegs)
        return decode_on_device(jpegs, device)

    monkeypatch.setattr(embedding, "decode_on_device", counting)
    model = dict(model=tiny_model, pretrained=str(tiny_checkpoint))
    host = _scores(jpeg_ws, tmp_path, "host", ["clip"], **model)
    assert decoded_here == []
    device = _scores(jpeg_ws, tmp_path, "device", ["clip"], decode_on_device=True, **model)
    assert len(decoded_here) == 7  # the six photos and the corrupt one; the PNG was decoded by the worker
    decoded_here.clear()
    assert host.keys() == device.keys() and len(host) == 8
    for sample_id, row in host.items():
        if row["error"]:
            assert row["error"].startswith("undecodable:") and device[sample_id]["error"].startswith("undecodable:")
        else:
            assert device[sample_id]["error"] is None
            # the tiny model's 32 px input: tensor bicubic from the full picture vs PIL's from a draft decode
            assert device[sample_id]["clip_score"] == pytest.approx(row["clip_score"], abs=0.05)
    # with basic in the job every picture is decoded by the workers: the scores are those of the usual job
    with_basic = _scores(jpeg_ws, tmp_path, "basic", ["basic", "clip"], decode_on_device=True, **model)
    assert decoded_here == []
    usual = _scores(jpeg_ws, tmp_path, "usual", ["basic", "clip"], **model)
    assert {k: r["clip_score"] for k, r in with_basic.items()} == {k: r["clip_score"] for k, r in usual.items()}
