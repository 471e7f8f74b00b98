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
from curation.scorers.device_decode import TensorTransform, decode_on_device, encoded_jpeg
from curation.scorers.media import decode_failure

_EMBEDDERS: "weakref.WeakValueDictionary[tuple, ImageEmbedder]" = weakref.WeakValueDictionary()
_LOCK = threading.Lock()


def frames_to_tensor(sample: Sample, transform) -> torch.Tensor:
    """The model's eval transform over a sample's frames: a (n_frames, 3, H, W) float tensor."""
    return torch.stack([transform(frame) for frame in sample.frames])


def frames_or_jpeg(sample: Sample, transform) -> torch.Tensor:
    """`frames_to_tensor`, or, for a JPEG the worker left undecoded (decoding on the device), its bytes."""
    if sample.frames is None:
        return encoded_jpeg(sample)
    return frames_to_tensor(sample, transform)


@dataclass
class ModelInput:
    """One model's inputs of a batch: `images` the frames of `owners`, concatenated (`counts[i]` for owner i),
    and `jpegs` the undecoded JPEG bytes of `jpeg_owners` (decoding on the device)."""

    images: torch.Tensor | None
    owners: list[Sample]
    counts: list[int]
    jpegs: list[torch.Tensor]
    jpeg_owners: list[Sample]

    @classmethod
    def take(cls, samples: list[Sample], key: str) -> "ModelInput | None":
        """The inputs under `key` of `samples`, removed from them (so they travel once); None if none has one."""
        frames = [s for s in samples if _is_frames(s.prepared.get(key))]
        jpegs = [s for s in samples if _is_jpeg_bytes(s.prepared.get(key))]
        if not frames and not jpegs:
            return None
        tensors = [s.prepared.pop(key) for s in frames]
        return cls(torch.cat(tensors) if tensors else None, frames, [t.shape[0] for t in tensors],
                   [s.prepared.pop(key) for s in jpegs], jpegs)

    def pin_memory(self) -> "ModelInput":
        """The same input with its frames in pinned memory."""
        if self.images is not None:
            self.images = self.images.pin_memory()
        return self


def _is_frames(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 4


def _is_jpeg_bytes(value) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 1


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
        self._on_device: TensorTransform | None = None

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
        """The picklable worker-side transform of a sample's frames (or its JPEG bytes, decoding on the device)."""
        clip = self.load()
        if self.spec.decode_on_device:
            self._tensor_transform()  # refuse a transform the device path cannot run, before any work
            return partial(frames_or_jpeg, transform=clip.preprocess)
        return partial(frames_to_tensor, transform=clip.preprocess)

    def picture_need(self) -> PictureNeed | None:
        """The model's input size on the shorter side (every open_clip resize mode then has the pixels it uses);
        JPEGs may stay undecoded when decoding on the device."""
        side = self.load().input_side
        return PictureNeed(short=side, encoded=self.spec.decode_on_device) if side else None

    def _tensor_transform(self) -> TensorTransform:
        if self._on_device is None:
            self._on_device = TensorTransform.of(self.load().preprocess)
        return self._on_device

    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 CPU embeddings of preprocessed images (N, 3, H, W)."""
        host, done = self._launch(images)
        if done is not None:
            done.synchronize()
        return host

    def start(self, inputs: ModelInput) -> "PendingEmbeddings":
        """Launch the forward of a batch's inputs (JPEGs decoded and transformed on the device first; one that
        fails to decode becomes its sample's error)."""
        parts, owners, counts = [], list(inputs.owners), list(inputs.counts)
        if inputs.images is not None:
            parts.append(self.clip.image_input(inputs.images))
        if inputs.jpegs:
            transform = self._tensor_transform()
            for sample, image in zip(inputs.jpeg_owners, decode_on_device(inputs.jpegs, self.clip.device)):
                if isinstance(image, Exception):
                    sample.errors[self.key] = decode_failure(image)
                    continue
                parts.append(self.clip.image_input(transform(image)[None]))
                owners.append(sample)
                counts.append(1)
        if not parts:
            return PendingEmbeddings(self.key, [], [], torch.empty(0), None)
        host, done = self._launch(torch.cat(parts))
        return PendingEmbeddings(self.key, owners, counts, host, done)

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
        inputs = ModelInput.take([s for s in samples if self.key not in s.embeddings], self.key)
        if inputs is not None:
            self.start(inputs).wait()
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
