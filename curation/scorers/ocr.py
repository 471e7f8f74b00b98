"""`ocr`: how much of a picture is text, and what it says, from RapidOCR's bundled PP-OCRv4 models (offline).

`rapidocr-onnxruntime` ships the PP-OCRv4 detection and recognition ONNX models inside the package, so this
scorer needs no download. The decode workers only turn frames into BGR arrays (longer side at most
`MAX_SIDE_PX`); the engine is built once in `load()` and runs in the main process, like every model here
(about 0.2 s for a photo and 1-2 s for a page of text on 2 cores). It does not run in the forked workers on
purpose: a forked child of a process that already holds an ONNX Runtime session hangs creating its own.

A detected box counts only when its recognition confidence is at least `MIN_CONFIDENCE` and its shorter side
at least `MIN_BOX_SIDE_PX`, which drops the stray one-character boxes OCR finds in photos. `text_area_ratio`
is the union area of the kept boxes over the image area (0..1): filter on it, not on `n_boxes`. For a video
or clip the keyframe with the largest text area stands for it (all four columns come from that keyframe).
"""
import importlib.metadata

import cv2
import numpy as np

from curation.scorers.base import PictureNeed, Sample, Scorer

MIN_CONFIDENCE = 0.85  # recognition score (0..1) a box needs to count
MIN_BOX_SIDE_PX = 6  # a box whose shorter side is below this (at the analysed size) is noise
MAX_SIDE_PX = 1024  # frames whose longer side exceeds this are downscaled first (ratios are size-free)
MAX_TEXT_CHARS = 1000  # `text` is cut to this many characters


def ocr_input(sample: Sample) -> list[np.ndarray]:
    """A sample's frames as BGR uint8 arrays (RapidOCR's input), the longer side cut to `MAX_SIDE_PX`."""
    arrays = []
    for frame in sample.frames:
        scale = min(1.0, MAX_SIDE_PX / max(frame.size))
        if scale < 1.0:
            frame = frame.resize((max(1, round(frame.width * scale)), max(1, round(frame.height * scale))))
        arrays.append(np.ascontiguousarray(np.asarray(frame.convert("RGB"))[:, :, ::-1]))
    return arrays


def frame_text(engine, bgr: np.ndarray) -> dict:
    """The `ocr` value columns of one BGR frame (see the module docstring for the box rules)."""
    found, _ = engine(bgr)
    kept = []
    for box, text, conf in found or []:
        box = np.asarray(box, dtype=np.float32)
        if float(conf) >= MIN_CONFIDENCE and _shorter_side(box) >= MIN_BOX_SIDE_PX:
            kept.append((box, text, float(conf)))
    mask = np.zeros(bgr.shape[:2], dtype=np.uint8)
    for box, _, _ in kept:
        cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 1)
    return {
        "text_area_ratio": float(mask.mean()),
        "n_boxes": len(kept),
        "text": "\n".join(text for _, text, _ in kept)[:MAX_TEXT_CHARS],
        "mean_confidence": float(np.mean([conf for _, _, conf in kept])) if kept else None,
    }


def _shorter_side(box: np.ndarray) -> float:
    """Shorter side of a detected quadrilateral (4 corner points), px."""
    return float(min(np.linalg.norm(box - np.roll(box, -1, axis=0), axis=1)))


def ocr_values(engine, frames: list[np.ndarray]) -> dict:
    """The `ocr` value columns of a sample's BGR frames: its frame's, or its wordiest keyframe's."""
    return max((frame_text(engine, f) for f in frames), key=lambda values: values["text_area_ratio"])


class OcrScorer(Scorer):
    """RapidOCR text area and text; see the module docstring."""

    name = "ocr"
    version = "2"
    needs_frames = True

    def __init__(self):
        self.engine = None

    def load(self) -> None:
        """Build the RapidOCR engine once (ONNX's default threads: all cores)."""
        if self.engine is None:
            from rapidocr_onnxruntime import RapidOCR

            self.engine = RapidOCR()

    @property
    def model_id(self) -> str:
        """The OCR models in use: PP-OCRv4 as bundled with this rapidocr-onnxruntime version."""
        return f"PP-OCRv4/rapidocr-onnxruntime-{importlib.metadata.version('rapidocr-onnxruntime')}"

    def preparer(self):
        return ocr_input

    def picture_need(self) -> PictureNeed:
        """Frames are analysed at most `MAX_SIDE_PX` on the longer side: a JPEG may decode reduced down to that."""
        return PictureNeed(long=MAX_SIDE_PX)

    def _score(self, samples: list[Sample]) -> list[dict]:
        if self.engine is None:
            raise RuntimeError("OcrScorer.load() must run before the scorer is used")
        return [ocr_values(self.engine, s.prepared[self.name]) for s in samples]
