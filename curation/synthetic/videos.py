"""Procedural video clips with known motion and hard cuts, and a reproducible H.264/mp4 writer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

from curation.synthetic.images import COLOURS, smooth_noise

VIDEO_KINDS = ("static", "slow", "fast", "cuts")
_CATEGORIES = {"static": "still_scene", "slow": "panning_scene", "fast": "moving_objects", "cuts": "multi_shot"}
_SLOW_VELOCITIES = ((1, 0), (2, 0), (-1, 0), (-2, 0), (0, 1), (0, -1), (0, 2), (0, -2), (1, 1), (-1, 1))
_DARK_PALETTES = (("blue", "black"), ("purple", "black"), ("green", "black"), ("brown", "black"), ("teal", "black"))
_BRIGHT_PALETTES = (("yellow", "white"), ("pink", "white"), ("orange", "yellow"), ("white", "pink"))
_ACCENTS = ("red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "white", "black")
# With its assembly paths enabled, x264's output depends on leftover heap contents (seen through its lookahead:
# disabling mbtree or asm both cure it), so it differs from run to run even with one thread. The plain C paths
# (asm=0) are bit-exact on every run and every CPU, and fast enough for clips this small.
_X264_OPTIONS = {"crf": "18", "preset": "veryfast", "threads": "1", "x264-params": "asm=0"}


@dataclass(frozen=True)
class Clip:
    """Decoded-domain frames of one synthetic video plus its ground truth."""

    frames: np.ndarray  # (n_frames, height, width, 3) uint8
    motion: str  # "static" | "slow" | "fast"
    scene_cuts: tuple[int, ...]  # index of the first frame of every shot after the first
    category: str
    caption: str


def render_clip(rng: np.random.Generator, kind: str, width: int, height: int, n_frames: int) -> Clip:
    """Render a clip of ``kind`` (one of VIDEO_KINDS) as an array of RGB frames."""
    renderer = {"static": _static_clip, "slow": _slow_clip, "fast": _fast_clip, "cuts": _cut_clip}[kind]
    return renderer(rng, width, height, n_frames)


def encode_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    """Write frames as yuv420p H.264 in mp4 (single thread, fixed options, so the bytes are reproducible)."""
    _, height, width, _ = frames.shape
    with av.open(str(path), mode="w", format="mp4", container_options={"fflags": "+bitexact"}) as container:
        stream = container.add_stream("libx264", rate=fps, options=_X264_OPTIONS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.thread_count = 1
        for index, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _static_clip(rng: np.random.Generator, width: int, height: int, n_frames: int) -> Clip:
    palette = _palette(rng)
    canvas, description = _canvas(rng, width, height, palette)
    sigma = float(rng.choice((0.0, 1.0)))
    frames = np.repeat(canvas[None], n_frames, axis=0)
    if sigma:
        frames = frames + rng.normal(0, sigma, frames.shape)
    caption = f"a still shot of a {description}"
    return Clip(_to_uint8(frames), "static", (), _CATEGORIES["static"], caption)


def _slow_clip(rng: np.random.Generator, width: int, height: int, n_frames: int) -> Clip:
    velocity = _SLOW_VELOCITIES[int(rng.integers(0, len(_SLOW_VELOCITIES)))]
    frames, description = _pan_shot(rng, width, height, n_frames, velocity, _palette(rng))
    return Clip(_to_uint8(frames), "slow", (), _CATEGORIES["slow"], f"a slow camera pan across a {description}")


def _fast_clip(rng: np.random.Generator, width: int, height: int, n_frames: int) -> Clip:
    velocity = (int(rng.integers(8, 13)) * int(rng.choice((-1, 1))), int(rng.integers(-3, 4)))
    frames, description = _pan_shot(rng, width, height, n_frames, velocity, _palette(rng))
    n_balls = int(rng.integers(2, 4))
    colour = str(rng.choice(("red", "yellow", "white", "pink")))
    for _ in range(n_balls):
        _add_ball(rng, frames, COLOURS[colour])
    caption = f"{n_balls} {colour} balls bouncing quickly while the camera pans fast across a {description}"
    return Clip(_to_uint8(frames), "fast", (), _CATEGORIES["fast"], caption)


def _cut_clip(rng: np.random.Generator, width: int, height: int, n_frames: int) -> Clip:
    """2-3 slowly panning shots alternating dark and bright palettes (never reused), joined by hard cuts."""
    n_shots = int(rng.integers(2, 4)) if n_frames >= 24 else 2
    cuts = _cut_points(rng, n_frames, n_shots)
    bounds = (0, *cuts, n_frames)
    dark_first = rng.random() < 0.5
    shots, descriptions, used = [], [], []
    for shot in range(n_shots):
        palettes = _DARK_PALETTES if (shot % 2 == 0) == dark_first else _BRIGHT_PALETTES
        unused = [p for p in palettes if p not in used]
        palette = unused[int(rng.integers(0, len(unused)))]
        used.append(palette)
        velocity = _SLOW_VELOCITIES[int(rng.integers(0, 4))]
        frames, description = _pan_shot(rng, width, height, bounds[shot + 1] - bounds[shot], velocity, palette)
        shots.append(frames)
        descriptions.append(description)
    caption = f"{n_shots} shots joined by hard cuts: " + "; ".join(descriptions)
    return Clip(_to_uint8(np.concatenate(shots)), "slow", cuts, _CATEGORIES["cuts"], caption)


def _cut_points(rng: np.random.Generator, n_frames: int, n_shots: int) -> tuple[int, ...]:
    """Shot start indices (excluding 0) leaving every shot at least a sixth of the clip."""
    min_len = max(2, n_frames // 6)
    slack = n_frames - n_shots * min_len
    extra = np.sort(rng.integers(0, slack + 1, n_shots - 1))
    return tuple(int(min_len * (i + 1) + e) for i, e in enumerate(extra))


def _pan_shot(
    rng: np.random.Generator,
    width: int,
    height: int,
    n_frames: int,
    velocity: tuple[int, int],
    palette: tuple[str, str],
) -> tuple[np.ndarray, str]:
    """Frames of a camera moving ``velocity`` px/frame (integer x, y) over a textured canvas."""
    vx, vy = velocity
    travel_x, travel_y = abs(vx) * (n_frames - 1), abs(vy) * (n_frames - 1)
    canvas, description = _canvas(rng, width + travel_x, height + travel_y, palette)
    x0, y0 = (0 if vx >= 0 else travel_x), (0 if vy >= 0 else travel_y)
    frames = np.stack(
        [canvas[y0 + i * vy : y0 + i * vy + height, x0 + i * vx : x0 + i * vx + width] for i in range(n_frames)]
    )
    return frames, description


def _palette(rng: np.random.Generator) -> tuple[str, str]:
    pool = _DARK_PALETTES + _BRIGHT_PALETTES
    return pool[int(rng.integers(0, len(pool)))]


def _canvas(rng: np.random.Generator, width: int, height: int, palette: tuple[str, str]) -> tuple[np.ndarray, str]:
    """A mottled two-colour texture sprinkled with small accent-coloured shapes; returns (HxWx3 float, description)."""
    first, second = palette
    mix = np.clip(0.5 + 0.4 * smooth_noise(rng, width, height, rng.uniform(7, 14)), 0, 1)[..., None]
    arr = (1 - mix) * np.array(COLOURS[first], np.float32) + mix * np.array(COLOURS[second], np.float32)
    image = Image.fromarray(_to_uint8(arr))
    draw = ImageDraw.Draw(image)
    accent = str(rng.choice([c for c in _ACCENTS if c not in palette]))
    for _ in range(max(1, width * height // 1600)):
        x, y, size = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(4, 12)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x - size, y - size, x + size, y + size), fill=COLOURS[accent])
    description = f"mottled {first} and {second} texture with {accent} spots"
    return np.asarray(image, np.float32), description


def _add_ball(rng: np.random.Generator, frames: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Draw, in place, a ball moving 10-16 px/frame that bounces off the frame edges."""
    n_frames, height, width, _ = frames.shape
    radius = rng.uniform(6, 10)
    speed, angle = rng.uniform(10, 16), rng.uniform(0, 2 * np.pi)
    steps = np.arange(n_frames)
    xs = _bounce(rng.uniform(radius, width - radius) + speed * np.cos(angle) * steps, radius, width - radius)
    ys = _bounce(rng.uniform(radius, height - radius) + speed * np.sin(angle) * steps, radius, height - radius)
    grid_y, grid_x = np.mgrid[0:height, 0:width]
    for frame, x, y in zip(frames, xs, ys):
        frame[(grid_x - x) ** 2 + (grid_y - y) ** 2 < radius**2] = colour


def _bounce(position: np.ndarray, low: float, high: float) -> np.ndarray:
    """Fold an unbounded straight-line path into [low, high] as if reflecting off walls."""
    span = high - low
    folded = np.mod(position - low, 2 * span)
    return low + np.where(folded < span, folded, 2 * span - folded)


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)
