"""The job's batch pipeline: model inputs stacked once per batch, one launched forward per model and batch, and
CPU-only scorers running in threads beside the device loop."""
import pickle
import threading

import pyarrow.parquet as pq
import pytest
import torch

from curation.models import ClipModelSpec
from curation.scorers.base import Sample
from curation.scorers.basic import BasicScorer
from curation.scorers.clip import ClipScorer
from curation.scorers.embedding import ModelInput, image_embedder
from curation.scoring import Batch, ScoreConfig, score
from curation.workspace import Workspace
from tests.scoring.helpers import corpus_items, write_shards


def _sample(name: str, frames: int | None, key: str = "image:x") -> Sample:
    sample = Sample(name, "a caption", "image" if frames == 1 else "video")
    if frames is not None:
        sample.prepared[key] = torch.full((frames, 3, 4, 4), float(len(name)))
    sample.prepared["basic"] = {"luma_std": 1.0}
    return sample


def test_collate_stacks_each_model_input_once_and_keeps_the_samples_order():
    samples = [_sample("a", 1), _sample("bb", 3), _sample("failed", None), _sample("dddd", 1)]
    batch = Batch.collate(samples, keys={"image:x", "image:absent"})
    inputs = batch.inputs["image:x"]
    assert [s.sample_id for s in inputs.owners] == ["a", "bb", "dddd"] and inputs.counts == [1, 3, 1]
    assert inputs.images.shape == (5, 3, 4, 4) and inputs.images[:, 0, 0, 0].tolist() == [1, 2, 2, 2, 4]
    assert inputs.jpegs == []
    assert "image:absent" not in batch.inputs
    assert all("image:x" not in s.prepared and "basic" in s.prepared for s in samples)  # travels once
    copy = pickle.loads(pickle.dumps(batch))  # as it comes back from a worker: owners are the batch's samples
    assert all(any(o is s for s in copy.samples) for o in copy.inputs["image:x"].owners)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs a CUDA device")
def test_pin_memory_pins_the_stacked_inputs():
    batch = Batch.collate([_sample("a", 2), _sample("b", 1)], keys={"image:x"}).pin_memory()
    assert batch.inputs["image:x"].images.is_pinned()


def test_one_launched_forward_gives_every_sample_its_own_frame_embeddings(tiny_model, tiny_checkpoint):
    embedder = image_embedder(ClipModelSpec(model=tiny_model, pretrained=str(tiny_checkpoint)), "fp32")
    embedder.load()
    side = embedder.clip.input_side
    frames = [torch.randn(n, 3, side, side, generator=torch.Generator().manual_seed(n)) for n in (1, 3, 2)]
    samples = [Sample(f"s{i}", None, "video") for i in range(3)]
    embedder.start(ModelInput(torch.cat(frames), samples, [1, 3, 2], [], [])).wait()
    for sample, images in zip(samples, frames):
        assert sample.embeddings[embedder.key].shape == (images.shape[0], embedder.clip.embed_dim)
        assert torch.allclose(sample.embeddings[embedder.key], embedder.encode_images(images), atol=1e-5)


@pytest.fixture
def two_shards(corpus, tmp_path):
    images = [i for i in corpus_items(corpus) if i[0]["media_type"] == "image"][:12]
    ws = Workspace.init(tmp_path / "ws")
    write_shards(ws, images, shard_size=6)
    return ws


def test_cpu_scorers_run_beside_the_device_scorers(two_shards, tiny_model, tiny_checkpoint, monkeypatch):
    """`basic` of a batch waits until `clip` has scored that batch: run one after the other in one thread (as
    before), the first batch's wait would time out and the job fail."""
    clip_done: set[str] = set()
    changed = threading.Condition()
    basic_threads, clip_threads = set(), set()
    basic_score, clip_score = BasicScorer._score, ClipScorer._score

    def basic_after_clip(self, samples):
        basic_threads.add(threading.current_thread().name)
        with changed:
            if not changed.wait_for(lambda: {s.sample_id for s in samples} <= clip_done, timeout=20):
                raise TimeoutError("basic ran before clip scored its batch: the scorers ran one after the other")
        return basic_score(self, samples)

    def clip_then_signal(self, samples):
        clip_threads.add(threading.current_thread().name)
        rows = clip_score(self, samples)
        with changed:
            clip_done.update(s.sample_id for s in samples)
            changed.notify_all()
        return rows

    monkeypatch.setattr(BasicScorer, "_score", basic_after_clip)
    monkeypatch.setattr(ClipScorer, "_score", clip_then_signal)
    report = score(two_shards, ScoreConfig(scorers=["basic", "clip"], model=tiny_model, pretrained=str(tiny_checkpoint),
                                           num_workers=0, batch_size=4, precision="fp32"))
    assert [(s.name, s.samples, s.errors) for s in report.scorers] == [("basic", 12, 0), ("clip", 12, 0)]
    assert clip_threads == {"MainThread"} and basic_threads and "MainThread" not in basic_threads
    for name in ("basic", "clip"):  # rows still in the shards' order
        for unit in ("00000", "00001"):
            table = pq.read_table(two_shards.path("scores", name, f"{unit}.parquet"))
            expected = pq.read_table(two_shards.path("shards", f"{unit}.parquet")).column("sample_id")
            assert table.column("sample_id").to_pylist() == expected.to_pylist()
