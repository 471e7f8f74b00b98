"""The one scorer interface that the batch job and the Beam handler both call (the review UI only reads scores).

A scorer has a name, a version and output tables declared from `schemas` (`scores/<name>/` and optionally
more, e.g. embeddings). Work is split in two so that heavy decoding runs in DataLoader worker processes:

    prepare(sample)      in a worker, on the decoded sample (frames, bytes, caption); cheap CPU work or the
                         model's input transform; returned by `preparer()` as a small picklable callable and
                         stored under the scorer's `input_key` (scorers with one key share one run of it)
    score_batch(samples) in the main process, on a batch of prepared samples; the model runs here

Scorers whose work runs on the job's device say so (`runs_on_device`); the job runs the others (basic, text,
ocr) in threads beside the device loop. A scorer that reads a CLIP model's image embeddings holds that model's
shared stage as `embedder` (`curation.scorers.embedding.ImageEmbedder`), which the job runs once per batch.

`check()` fails fast, before anything loads, when the scorer could not load (a missing model, weights or file);
`load()` runs once before any batch. A scorer that reads frames says how small a picture it can work from
(`picture_need()`, full resolution by default), so the decoder may downscale JPEGs while decoding them
(`curation.scorers.media`). A sample that failed to decode, or whose prepare raised, gets a row
with null values and an `error` reason; the base class does that bookkeeping so scorers only see good input.
"""
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import pyarrow as pa
import torch
from PIL import Image

from schemas import score_schema


@dataclass
class Sample:
    """One sample on its way through a scoring job.

    `shard` (the unit of work, a sample source's shard: '00012', 'clips-00012'; see curation.sample_sources)
    and `index` (position among the unit's scorable rows) place it in its output. `file_bytes` is the stored media size.
    `frames` are decoded RGB images (one for an image, a few keyframes for a video), possibly decoded at a
    fraction of the stored size (JPEG draft, see `curation.scorers.media`), `stored_size` the stored size of
    the first one, and `data` the stored media bytes; both are dropped once every scorer has prepared, so only `prepared` results travel
    from worker to main process. `error` is a decode failure reason, `errors` prepare failures by input key.
    `embeddings` holds image embeddings by embedder key, computed once in the main process for every scorer
    of that model (`curation.scorers.embedding`).
    """

    sample_id: str
    caption: str | None
    media_type: str
    shard: str = ""
    index: int = 0
    file_bytes: int | None = None
    original_size: tuple[int, int] | None = None
    data: bytes | list[bytes] | None = None
    frames: list[Image.Image] | None = None
    stored_size: tuple[int, int] | None = None
    error: str | None = None
    prepared: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    embeddings: dict[str, torch.Tensor] = field(default_factory=dict)

    def pin_memory(self) -> "Sample":
        """Pin prepared tensors (the DataLoader calls this when `pin_memory=True`)."""
        self.prepared = {k: v.pin_memory() if isinstance(v, torch.Tensor) else v for k, v in self.prepared.items()}
        return self


@dataclass(frozen=True)
class PictureNeed:
    """The smallest decoded picture a scorer works from: shorter side >= `short` px and longer side >= `long` px
    (or the picture as stored, when it is smaller); `encoded`: a JPEG image may reach the preparer undecoded
    (`sample.frames` None, `sample.data` its bytes), for decoding on the device."""

    short: int = 0
    long: int = 0
    encoded: bool = False


def combined_need(needs: list["PictureNeed | None"]) -> "PictureNeed | None":
    """What every one of `needs` is satisfied by; None (full resolution) when any of them is None."""
    if any(need is None for need in needs):
        return None
    return PictureNeed(max((n.short for n in needs), default=0), max((n.long for n in needs), default=0),
                       encoded=bool(needs) and all(n.encoded for n in needs))


@dataclass(frozen=True)
class Output:
    """One table a scorer writes: `folder` under the workspace (one Parquet per shard) and its schema.

    `keep_failed=False` leaves failed samples out of the table (embeddings); score tables keep them.
    """

    folder: tuple[str, ...]
    schema: pa.Schema
    keep_failed: bool = True


class Scorer(ABC):
    """Base class: subclasses set `name`, `version`, `needs_frames` and implement `_score`."""

    name: ClassVar[str]
    version: ClassVar[str]
    needs_frames: ClassVar[bool] = False
    runs_on_device: ClassVar[bool] = False
    embedder: Any = None  # the shared image embedding stage this scorer reads, if any

    def check(self) -> None:
        """Raise a GristmillError now, without loading anything, when `load()` could not work (no-op by default)."""

    def load(self) -> None:
        """Load models or resources once, before the first batch (no-op by default)."""

    @property
    def model_id(self) -> str | None:
        """Model and weights used, or None for model-free scorers."""
        return None

    def outputs(self) -> list[Output]:
        """The tables this scorer writes; the first is always `scores/<name>/`."""
        return [Output(("scores", self.name), score_schema(self.name))]

    def preparer(self) -> Callable[[Sample], Any] | None:
        """A picklable function run on each decoded sample in the decoding workers, or None."""
        return None

    def picture_need(self) -> PictureNeed | None:
        """The smallest picture this scorer's preparer works from; None (the default): full resolution."""
        return None

    @property
    def input_key(self) -> str:
        """Where the preparer's result goes in `sample.prepared` (and its failure in `sample.errors`); the name
        by default, the embedder's key for scorers that share a model's image forward."""
        return self.name

    def score_batch(self, samples: list[Sample]) -> list[dict]:
        """One row per sample, in order: values for good samples, nulls and an error reason for failed ones."""
        good = [s for s in samples if self.failure(s) is None]
        scored = iter(self._score(good) if good else [])
        rows = []
        for sample in samples:
            reason = self.failure(sample)
            row = {"error": reason} if reason else dict(next(scored), error=None)
            rows.append(dict(row, sample_id=sample.sample_id, scorer_version=self.version, model_id=self.model_id))
        return rows

    def failure(self, sample: Sample) -> str | None:
        """Why this scorer cannot score `sample`, or None."""
        if self.needs_frames and sample.error:
            return sample.error
        return sample.errors.get(self.input_key)

    @abstractmethod
    def _score(self, samples: list[Sample]) -> list[dict]:
        """Value columns for each (good) sample, in order."""


def frame_needs(scorers: list[Scorer]) -> dict[str, PictureNeed | None]:
    """scorer name -> its picture need, for the scorers that read frames (the others are absent)."""
    return {s.name: s.picture_need() for s in scorers if s.needs_frames}


def sample_preparers(scorers: list[Scorer]) -> dict[str, tuple[Callable[[Sample], Any], bool]]:
    """input key -> (preparer, needs_frames) of the scorers that have a preparer; one entry per shared key."""
    preparers = {}
    for scorer in scorers:
        prepare = scorer.preparer()
        if prepare is not None and scorer.input_key not in preparers:
            preparers[scorer.input_key] = (prepare, scorer.needs_frames)
    return preparers
