"""Motion scores: optical flow (OpenCV Farnebäck or torchvision RAFT) and frame difference, sampled at 2 fps.

Sampling: at `sample_fps` times per second (2 by default, as in the Stable Video Diffusion recipe) a frame and
the one after it form a pair, on frames area-averaged to a short side of `analysis_short_side` px (32 by
default: the flow's cost grows with the pixel count, and at 32 px Farnebäck still measures pans of known speed,
0.09 to 1.1 px/frame at that size, within 10%). For each pair:
    flow   mean magnitude of the dense flow from the first frame to the second, divided by the time between
           them: px/s at the analysis size (comparable across frame rates; px/frame = px/s / fps)
    diff   mean absolute difference of the two grey frames, 0..255
A clip's scores (`summarize`) use the pairs inside it: `motion` is the mean flow over pairs, `motion_max` the
largest pair, `frame_diff` the mean diff. Pairs that straddle a cut are never counted.

Methods: `farneback` (CPU, no weights), `raft_small` / `raft_large` (torchvision; batches of pairs, meant for
GPUs, same columns), `frame_diff` (no flow at all: `motion` is null, the cheapest). RAFT weights come from a
local file (`raft_weights`) or torch hub's cache (torchvision's default checkpoint file name); without them
loading stops with a GristmillError, unless `allow_random_weights`, in which case `model_id` says PLACEHOLDER.
"""
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from curation.errors import GristmillError
from curation.video.config import MotionConfig
from curation.video.decode import Frame

MOTION_VERSION = "2"
# OpenCV Farnebäck parameters: pyramid scale, levels, window, iterations, poly_n, poly_sigma, flags.
FARNEBACK_PARAMS = (0.5, 3, 15, 3, 5, 1.2, 0)
RAFT_MIN_SIDE = 128


@dataclass(frozen=True)
class PairRecord:
    """One measured pair: index of its first frame, seconds between the frames, flow (px) and diff (0..255)."""

    first: int
    dt: float
    flow_px: float | None
    diff: float


class FlowEstimator(ABC):
    """Mean optical-flow magnitude (px at the frames' size) of frame pairs; `load()` runs once before use.

    `colour` says which frames it takes: BGR uint8 (True) or grey uint8 (False, the cheaper to make).
    """

    method: str
    colour: bool = False
    batch_size: int = 1
    model_id: str | None = None

    def load(self) -> None:
        """Load models (no-op for model-free methods)."""

    @abstractmethod
    def mean_magnitudes(self, pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
        """For each (first, second) pair of frames, the mean flow magnitude in px."""


class NoFlow(FlowEstimator):
    """The `frame_diff` method: no optical flow is computed."""

    method = "frame_diff"

    def mean_magnitudes(self, pairs):
        raise AssertionError("frame_diff computes no flow")


class FarnebackFlow(FlowEstimator):
    """OpenCV's dense Farnebäck flow on the grey frames."""

    method = "farneback"
    model_id = "opencv-farneback"

    def mean_magnitudes(self, pairs):
        out = []
        for first, second in pairs:
            flow = cv2.calcOpticalFlowFarneback(first, second, None, *FARNEBACK_PARAMS)
            out.append(float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean()))
        return out


class RaftFlow(FlowEstimator):
    """torchvision's RAFT (small or large) on batches of pairs.

    Frames are resized to multiples of 8 px with a short side of at least 128 px (RAFT's correlation pyramid
    needs it); the flow is scaled back, so magnitudes are in px at the analysis size like Farnebäck's.
    """

    colour = True

    def __init__(self, config: MotionConfig):
        self.method = config.method
        self.config = config
        self.batch_size = config.batch_size
        self.model = None

    def load(self) -> None:
        import torch

        from curation.models import check_device

        self.device = check_device(self.config.device)
        state, self.model_id, _ = resolve_raft_weights(
            self.method, self.config.raft_weights, self.config.allow_random_weights)
        self.model = build_raft(self.method, state).to(self.device).eval()
        self._torch = torch

    def mean_magnitudes(self, pairs):
        torch = self._torch
        height, width = pairs[0][0].shape[:2]
        scale = max(1.0, RAFT_MIN_SIDE / min(height, width))
        h8, w8 = (max(RAFT_MIN_SIDE, round(side * scale / 8) * 8) for side in (height, width))

        def batch(images):
            rgb = np.stack([cv2.resize(im, (w8, h8), interpolation=cv2.INTER_AREA)[..., ::-1] for im in images])
            tensor = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2).float()
            return (tensor / 127.5 - 1.0).to(self.device)

        with torch.inference_mode():
            flow = self.model(batch([p[0] for p in pairs]), batch([p[1] for p in pairs]))[-1]
        scale = torch.tensor([width / w8, height / h8], device=flow.device).view(1, 2, 1, 1)
        return (flow * scale).norm(dim=1).mean(dim=(1, 2)).tolist()


def resolve_raft_weights(variant: str, weights: str | None, allow_random: bool) -> tuple[dict | None, str, bool]:
    """(state dict or None, model_id, placeholder) for RAFT `variant`, from a file, the hub cache, or random."""
    import torch
    from torchvision.models.optical_flow import Raft_Large_Weights, Raft_Small_Weights

    from curation.models import PLACEHOLDER_WEIGHTS, file_digest

    if weights:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise GristmillError(f"RAFT checkpoint {path} not found")
        return torch.load(path, map_location="cpu", weights_only=True), f"{variant}/{path.name}@{file_digest(path)[:12]}", False
    default = (Raft_Small_Weights if variant == "raft_small" else Raft_Large_Weights).DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(default.url).name
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True), f"{variant}/torchvision-{default.name}", False
    if allow_random:
        return None, f"{variant}/{PLACEHOLDER_WEIGHTS}", True
    raise GristmillError(
        f"no {variant} weights on this machine: give a checkpoint with --raft-weights PATH, or put torchvision's "
        f"{Path(default.url).name} into {cached.parent}; --allow-random-weights runs RAFT with random weights "
        "(placeholder scores that carry no meaning); --motion farneback needs no weights"
    )


def build_raft(variant: str, state: dict | None):
    """A RAFT module with `state` loaded, or randomly initialised (seeded, so placeholders repeat)."""
    import torch
    from torchvision.models.optical_flow import raft_large, raft_small

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = (raft_small if variant == "raft_small" else raft_large)(weights=None, progress=False)
    if state is not None:
        model.load_state_dict(state)
    return model


def make_estimator(config: MotionConfig) -> FlowEstimator:
    """The estimator for `config.method`, not yet loaded."""
    if config.method == "farneback":
        return FarnebackFlow()
    if config.method == "frame_diff":
        return NoFlow()
    return RaftFlow(config)


@dataclass(frozen=True)
class _Sample:
    """What the meter keeps of a frame: index, time (s), and its area-averaged grey pixels at the analysis
    size, plus BGR ones for estimators that take colour."""

    index: int
    time_s: float
    grey: np.ndarray
    colour: np.ndarray | None

    @classmethod
    def of(cls, frame: Frame, colour: bool) -> "_Sample":
        if not colour:
            return cls(frame.index, frame.time_s, frame.grey(), None)
        image = frame.image()
        return cls(frame.index, frame.time_s, cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), image)


class MotionMeter:
    """Samples frame pairs from one video's frame stream and measures them; `finish()` returns the records.

    Only the sampled frames are scaled for motion (`Frame.grey()`, or `Frame.image()` for colour estimators),
    and only their small arrays are kept.
    """

    def __init__(self, estimator: FlowEstimator, sample_fps: float, fps: float):
        self.estimator = estimator
        self.period = 1.0 / sample_fps
        self.frame_period = 1.0 / fps
        self.records: list[PairRecord] = []
        self._pending: list[tuple[_Sample, _Sample]] = []
        self._first_time: float | None = None
        self._next_time = 0.0
        self._start: _Sample | None = None

    def feed(self, frame: Frame) -> None:
        """Offer the next decoded frame (in order)."""
        if self._first_time is None:
            self._first_time = self._next_time = frame.time_s
        if self._start is not None:
            self._measure(self._start, _Sample.of(frame, self.estimator.colour))
            self._start = None
        if frame.time_s >= self._next_time:
            self._start = _Sample.of(frame, self.estimator.colour)
            steps = math.floor((frame.time_s - self._first_time) / self.period) + 1
            self._next_time = self._first_time + steps * self.period

    def _measure(self, first: _Sample, second: _Sample) -> None:
        if isinstance(self.estimator, NoFlow):
            self.records.append(self._record(first, second, None))
            return
        self._pending.append((first, second))
        if len(self._pending) >= self.estimator.batch_size:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        colour = self.estimator.colour
        flows = self.estimator.mean_magnitudes([(a.colour, b.colour) if colour else (a.grey, b.grey)
                                                for a, b in self._pending])
        self.records.extend(self._record(a, b, f) for (a, b), f in zip(self._pending, flows))
        self._pending = []

    def _record(self, first: _Sample, second: _Sample, flow: float | None) -> PairRecord:
        dt = second.time_s - first.time_s
        dt = dt if dt > 0 else self.frame_period  # equal or decreasing timestamps: one frame at the average rate
        diff = float(cv2.absdiff(first.grey, second.grey).mean())
        return PairRecord(first.index, dt, flow, diff)

    def finish(self) -> list[PairRecord]:
        """Measure the pairs still waiting for a batch and return every record, in frame order."""
        self._flush()
        return sorted(self.records, key=lambda r: r.first)


def summarize(records: list[PairRecord], start: int, end: int, cuts: frozenset[int] = frozenset()) -> dict | None:
    """Motion columns for frames [start, end): pairs inside the range not straddling a cut; None if no pair."""
    inside = [r for r in records if start <= r.first and r.first + 1 < end and r.first + 1 not in cuts]
    if not inside:
        return None
    flows = [r.flow_px / r.dt for r in inside if r.flow_px is not None]
    return {
        "motion": float(np.mean(flows)) if flows else None,
        "motion_max": float(np.max(flows)) if flows else None,
        "frame_diff": float(np.mean([r.diff for r in inside])),
        "n_pairs": len(inside),
    }
