"""Shot detection with PySceneDetect's detectors, fed frame by frame from our own decode loop.

Detectors (`ShotConfig.detector`):
    content    ContentDetector: HSV change between consecutive frames over a fixed threshold. Fast, but
               fast camera motion over textured scenes can read as cuts.
    adaptive   AdaptiveDetector: the same score divided by its rolling neighbourhood average, so steady
               camera motion does not trigger; the default.
    cascade    AdaptiveDetector at several frame rates (every frame, every 2nd, every 4th by default), so
               gradual transitions (dissolves, slow fades) that change little per frame still stand out at
               the lower rates, plus a ThresholdDetector for fades to and from black, as in the Stable Video
               Diffusion recipe. A cut found at a lower rate is moved to the frame with the largest change
               from its predecessor (mean absolute luma difference) inside its step, so every cut is placed
               at full frame accuracy.

Frames are passed in at the analysis size (a short side of a few dozen pixels is enough for cut detection),
scaled bilinearly as PySceneDetect's own `downscale` does (`Frame.preview`).
Cuts are frame indices where a new shot starts; cuts closer than `min_shot_seconds` to the previous one are
dropped (PySceneDetect's `min_scene_len`).
"""
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np
from scenedetect import AdaptiveDetector, ContentDetector, FrameTimecode, ThresholdDetector

from curation.video.config import ShotConfig


@dataclass
class _Pass:
    detector: object
    step: int
    rate: FrameTimecode  # carries the pass's frame rate: timecodes made from it skip PySceneDetect's rate parsing


class ShotDetector:
    """Feed every frame in order with `feed`, then `finish()` returns the sorted cut frame indices."""

    def __init__(self, config: ShotConfig, fps: float):
        self.config = config
        self.fps = fps
        self.min_len = max(1, round(config.min_shot_seconds * fps))
        self._passes = self._build(config)
        self._found: list[tuple[int, int]] = []  # (frame index, step of the pass that found it)
        max_step = max(p.step for p in self._passes)
        self._changes: deque[tuple[int, float]] = deque(maxlen=(config.window + 2) * max_step + 1)
        self._previous: np.ndarray | None = None

    def _build(self, c: ShotConfig) -> list[_Pass]:
        if c.detector == "content":
            return [self._pass(ContentDetector(threshold=c.content_threshold, min_scene_len=self.min_len), 1)]
        steps = (1,) if c.detector == "adaptive" else tuple(sorted(set(c.cascade_steps) | {1}))
        passes = [
            self._pass(AdaptiveDetector(adaptive_threshold=c.adaptive_threshold, min_content_val=c.min_content,
                                        window_width=c.window, min_scene_len=max(1, self.min_len // step)), step)
            for step in steps
        ]
        if c.detector == "cascade":
            passes.append(self._pass(ThresholdDetector(threshold=c.fade_threshold, min_scene_len=self.min_len), 1))
        return passes

    def _pass(self, detector, step: int) -> _Pass:
        return _Pass(detector, step, FrameTimecode(0, fps=self.fps / step))

    def feed(self, index: int, image: np.ndarray) -> None:
        """Process frame `index` (0, 1, 2, ... without gaps), a BGR uint8 array."""
        if len(self._passes) > 1:
            luma = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if self._previous is not None:
                self._changes.append((index, float(cv2.absdiff(luma, self._previous).mean())))
            self._previous = luma
        for p in self._passes:
            if index % p.step:
                continue
            cuts = p.detector.process_frame(FrameTimecode(index // p.step, fps=p.rate), image)
            self._found.extend((self._refine(c.frame_num * p.step, p.step), p.step) for c in cuts)

    def _refine(self, index: int, step: int) -> int:
        """Move a cut found at a coarse step to the full-rate frame that changed most from its predecessor."""
        if step == 1:
            return index
        window = [(change, i) for i, change in self._changes if index - step < i <= index]
        return max(window)[1] if window else index

    def finish(self) -> list[int]:
        """Sorted cut indices: full-rate cuts first, others kept only when no kept cut is within min_len."""
        kept: list[int] = []
        for index, _ in sorted(self._found, key=lambda f: (f[1], f[0])):
            if index > 0 and all(abs(index - k) >= self.min_len for k in kept):
                kept.append(index)
        return sorted(kept)
