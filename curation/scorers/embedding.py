"""The image embedding stage: one image forward per (model, sample), shared by every scorer that reads it.

`clip`, `zeroshot` and `aesthetic` all read a CLIP model's L2-normalised image embeddings. Each holds the
`ImageEmbedder` of its model (`image_embedder(spec, precision)` hands every scorer of the same spec and
precision the same one), so in a job:
- the model's eval transform runs once per sample in the decode workers, its result stored under the
  embedder's `key` in `sample.prepared` (the scorers' `input_key`);
- `frame_embeddings(samples)` runs `encode_image` once over the samples not embedded yet and keeps each
  sample's (n_frames, dim) float32 CPU embeddings in `sample.embeddings[key]`; the scorers called after the
  first find them there.
In the job, the stage runs once per batch ahead of the scorers (`start`): the batch's stacked, pinned images
(`curation.scoring.Batch`) are copied to the device without blocking, encoded, and the embeddings copied back
into pinned host memory without blocking; `PendingEmbeddings.wait()` hands them to the samples once that copy
is done, so on CUDA the forward of one batch overlaps the host work on the one before.
The stage keeps no per-batch state of its own (the embeddings live on the samples), so threads that share it,
as Beam's do, never see each other's batches. Two models in one job are two embedders, each run once.
"""
import hashlib
import threading
import weakref
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial

import torch

from curation.models import ClipModelSpec, LoadedClip, autocast_dtype, check_clip_spec, load_clip
from curation.scorers.base import PictureNeed, Sample

_EMBEDDERS: "weakref.WeakValueDictionary[tuple, ImageEmbedder]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def frames_to_tensor(sample: Sample, transform) -> torch.Tensor:
    """The model's eval transform over a sample's frames: a (n_frames, 3, H, W) float tensor."""
    return torch.stack([transform(frame) for frame in sample.frames])


def mean_embedding(frames: torch.Tensor) -> torch.Tensor:
    """A sample's image embedding from its (n_frames, dim) frame embeddings: the re-normalised mean."""
    return torch.nn.functional.normalize(frames.mean(dim=0), dim=-1)


class ImageEmbedder:
    """One CLIP model's image forward under one precision; see the module docstring."""

    def __init__(self, spec: ClipModelSpec, precision: str):
        self.spec = spec
        self.precision = precision
        digest = hashlib.sha256(f"{spec.model_dump_json()}|{precision}".encode()).hexdigest()[:12]
        self.key = f"image:{spec.model}@{digest}"  # the sample.prepared / sample.embeddings key
        self.clip: LoadedClip | None = None
        self.dtype: torch.dtype | None = None

    def check(self) -> None:
        """Raise a GristmillError now, without loading, when the model or its weights are unusable."""
        check_clip_spec(self.spec)

    def load(self) -> LoadedClip:
        """The model, loaded once (shared per spec by `load_clip`); GristmillError for bad setups."""
        if self.clip is None:
            clip = load_clip(self.spec)
            self.dtype = autocast_dtype(self.precision, clip.device)
            self.clip = clip
        return self.clip

    def autocast(self):
        """The autocast context of the precision on the model's device (none for fp32)."""
        return torch.autocast(self.clip.device.type, dtype=self.dtype) if self.dtype else nullcontext()

    def preparer(self):
        """The picklable worker-side transform of a sample's frames."""
        return partial(frames_to_tensor, transform=self.load().preprocess)

    def picture_need(self) -> PictureNeed | None:
        """The model's input size on the shorter side (every open_clip resize mode then has the pixels it uses)."""
        side = self.load().input_side
        return PictureNeed(short=side) if side else None

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 CPU embeddings of preprocessed images (N, 3, H, W)."""
        host, done = self._launch(images)
        if done is not None:
            done.synchronize()
        return host

    def start(self, samples: list[Sample], images: torch.Tensor, counts: list[int]) -> "PendingEmbeddings":
        """Launch the forward of `images`: the frames of `samples`, `counts[i]` of them for sample i, in order."""
        host, done = self._launch(images)
        return PendingEmbeddings(self.key, samples, counts, host, done)

    def _launch(self, images: torch.Tensor) -> tuple[torch.Tensor, "torch.cuda.Event | None"]:
        """(embeddings on the host, the CUDA event after which they are there; None on CPU: they are now)."""
        with torch.inference_mode(), self.autocast():
            emb = self.clip.model.encode_image(self.clip.image_input(images)).float()
            emb = torch.nn.functional.normalize(emb, dim=-1)
            if self.clip.device.type != "cuda":
                return emb.cpu(), None
            host = torch.empty(emb.shape, dtype=emb.dtype, pin_memory=True)
            host.copy_(emb, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host, done

    def frame_embeddings(self, samples: list[Sample]) -> list[torch.Tensor]:
        """Each sample's (n_frames, dim) embeddings; one forward over the samples that have none yet."""
        todo = [s for s in samples if self.key not in s.embeddings]
        if todo:
            counts = [s.prepared[self.key].shape[0] for s in todo]
            self.start(todo, torch.cat([s.prepared[self.key] for s in todo]), counts).wait()
        return [s.embeddings[self.key] for s in samples]

    def sample_embeddings(self, samples: list[Sample]) -> torch.Tensor:
        """(samples, dim): each sample's re-normalised mean frame embedding."""
        return torch.stack([mean_embedding(f) for f in self.frame_embeddings(samples)])


@dataclass
class PendingEmbeddings:
    """A launched forward (`ImageEmbedder.start`); `wait()` stores each sample's frame embeddings."""

    key: str
    samples: list[Sample]
    counts: list[int]
    host: torch.Tensor
    done: "torch.cuda.Event | None"

    def wait(self) -> None:
        """Block until the embeddings are on the host, then set `sample.embeddings[key]` of every sample."""
        if self.done is not None:
            self.done.synchronize()
        for sample, frames in zip(self.samples, torch.split(self.host, self.counts)):
            sample.embeddings[self.key] = frames


def image_embedder(spec: ClipModelSpec, precision: str) -> ImageEmbedder:
    """The embedder of `spec` under `precision`, shared while any scorer holds it."""
    with _LOCK:
        embedder = _EMBEDDERS.get((spec, precision))
        if embedder is None:
            embedder = ImageEmbedder(spec, precision)
            _EMBEDDERS[(spec, precision)] = embedder
    return embedder
