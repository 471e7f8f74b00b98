"""The clips stage's settings: shot detection, motion measurement, clip lengths and sizes.

Plain pydantic models with no media libraries behind them, so the command line can build its options and
parse them without loading PyAV, OpenCV or PySceneDetect.
"""
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

CutMode = Literal["copy", "reencode"]
MAX_PIXELS = 8192 * 4320  # 8K: larger frames are refused as too_large

DetectorName = Literal["content", "adaptive", "cascade"]
DETECTORS: tuple[str, ...] = ("content", "adaptive", "cascade")


class ShotConfig(BaseModel):
    """Which detector to run and its thresholds (PySceneDetect's defaults unless stated)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    detector: DetectorName = "adaptive"
    content_threshold: float = Field(27.0, gt=0, description="content: HSV change (0..255) that makes a cut")
    adaptive_threshold: float = Field(3.0, gt=0, description="adaptive: score / neighbourhood average for a cut")
    min_content: float = Field(15.0, ge=0, description="adaptive: smallest HSV change that can be a cut")
    window: int = Field(2, ge=1, description="adaptive: frames on each side in the rolling average")
    min_shot_seconds: float = Field(0.25, ge=0, description="a cut closer than this to the previous is dropped")
    cascade_steps: tuple[int, ...] = Field((1, 2, 4), description="cascade: frame steps of the adaptive passes")
    fade_threshold: float = Field(12.0, ge=0, description="cascade: mean 8-bit level under which a frame is black")

    def describe(self, short_side: int) -> str:
        """A compact description for the clips table's `detector` column."""
        if self.detector == "content":
            args = f"threshold={self.content_threshold:g}"
        else:
            args = f"threshold={self.adaptive_threshold:g},min_content={self.min_content:g},window={self.window}"
        if self.detector == "cascade":
            args += f",steps={'/'.join(map(str, self.cascade_steps))},fade={self.fade_threshold:g}"
        return f"{self.detector}({args},min_shot={self.min_shot_seconds:g}s)@{short_side}px"


MethodName = Literal["farneback", "raft_small", "raft_large", "frame_diff"]
METHODS: tuple[str, ...] = ("farneback", "raft_small", "raft_large", "frame_diff")


class MotionConfig(BaseModel):
    """How motion is measured; `raft_*` options only matter for the RAFT methods."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    method: MethodName = "farneback"
    sample_fps: float = Field(2.0, gt=0, description="frame pairs measured per second of video")
    raft_weights: str | None = Field(None, description="local RAFT checkpoint (state dict); default: hub cache")
    allow_random_weights: bool = False
    device: str = "cpu"
    batch_size: int = Field(8, ge=1, description="RAFT: frame pairs per forward pass")


class ClipsConfig(BaseModel):
    """Everything that decides how a video becomes clips (defaults in brackets are the CLI's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    shots: ShotConfig = ShotConfig()
    motion: MotionConfig = MotionConfig()
    min_seconds: float = Field(2.0, ge=0, description="shorter clips are dropped as too_short")
    max_seconds: float = Field(20.0, gt=0, description="longer shots are split")
    cut_mode: CutMode = "copy"
    analysis_short_side: int = Field(32, ge=8, description="short side (px) for shot detection and motion")
    keyframe_max_side: int = Field(512, ge=16, description="long side (px) of stored keyframe JPEGs, at most")
    jpeg_quality: int = Field(90, ge=1, le=100)
    keyframe_buffer_mb: int = Field(256, ge=0, description="copy mode: decoded pictures (MB) the scan may hold for "
                                    "keyframes, so each video is decoded once; 0: decode each clip's keyframes again")
    max_pixels: int = Field(MAX_PIXELS, ge=1, description="videos with more pixels per frame are refused")
