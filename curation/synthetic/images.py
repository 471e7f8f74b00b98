"""Procedural image scenes, image defects and perceptual fingerprints for the synthetic corpus.

Every function takes an explicit ``numpy.random.Generator``; nothing here reads global state, so the
same generator state always yields the same pixels.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

CATEGORIES = (
    "circle",
    "square",
    "triangle",
    "stripes",
    "checker",
    "gradient_sky",
    "text_document",
    "person_silhouette",
)
BLANK_CATEGORY = "blank"

COLOURS = {
    "red": (200, 40, 40),
    "orange": (235, 130, 30),
    "yellow": (235, 210, 50),
    "green": (60, 160, 70),
    "teal": (30, 140, 140),
    "blue": (40, 80, 200),
    "purple": (120, 60, 170),
    "pink": (235, 130, 180),
    "brown": (120, 75, 40),
    "grey": (128, 128, 128),
    "white": (240, 240, 240),
    "black": (25, 25, 25),
}
_SKIES = (
    ("blue", "white"),
    ("blue", "yellow"),
    ("blue", "pink"),
    ("purple", "orange"),
    ("purple", "pink"),
    ("teal", "yellow"),
    ("orange", "yellow"),
    ("pink", "orange"),
    ("grey", "white"),
)
_TEXTURES = ("plain", "dotted", "mottled", "softly shaded")
_PAPERS = ("white", "white", "grey", "yellow", "pink", "blue")
_POSES = ("standing", "with raised arms", "waving", "walking")
_WORDS = (
    "the report shows that our river project will open next spring with new paths for walking and "
    "cycling along the water while the old mill becomes a small museum about grain bread and local "
    "history every visitor can read about farmers who worked here long ago and see how wheat was "
    "ground into flour the council asks people to share ideas about gardens benches lights and safe "
    "roads for children please send your notes before the end of the month to the city office"
).split()
_OVERLAY_LINES = (
    "SUMMER SALE", "FREE SHIPPING", "SHOP NOW", "BIG DEALS", "NEW ARRIVALS", "HALF PRICE",
    "LIVE MUSIC", "OPEN DAILY", "CALL TODAY", "BEST OFFER", "JOIN US", "GRAND OPENING",
    "LAST CHANCE", "BOOK NOW", "FRESH FOOD", "WIN A TRIP",
)
_WATERMARKS = ("© shutterpix", "stockimg.com", "SAMPLE", "© photobank", "preview only", "© pixhub")
NEAR_DUPLICATE_EDITS = ("jpeg_quality", "resize", "crop", "brightness")
JPEG_QUALITY = 90
_NEAR_DUPLICATE_QUALITY = 88


@dataclass(frozen=True)
class Scene:
    """A rendered picture plus what it truly shows."""

    image: Image.Image
    category: str
    colour: str  # dominant colour name, used for translated captions
    caption: str  # English description of the content
    text: str | None = None  # text drawn into the picture, if any


def render_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    """Draw one picture of ``category`` at ``width`` x ``height`` with randomised colours, layout and texture."""
    renderer = {
        "circle": _shape_scene,
        "square": _shape_scene,
        "triangle": _shape_scene,
        "stripes": _stripes_scene,
        "checker": _checker_scene,
        "gradient_sky": _sky_scene,
        "text_document": _document_scene,
        "person_silhouette": _person_scene,
    }[category]
    return renderer(rng, category, width, height)


def render_blank(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A near-uniform image: one colour with shading of at most ~1.5 grey levels (pixel std < 1)."""
    name = _pick(rng, COLOURS)
    shade = _lighting(rng, width, height, 1.0)
    shade *= rng.uniform(0.8, 1.6) / (np.abs(shade).max() + 1e-6)
    arr = _jitter(rng, name) + shade[..., None]
    return Scene(_finish(rng, arr, 0), BLANK_CATEGORY, name, f"a plain {name} image with nothing in it")


def add_text_overlay(rng: np.random.Generator, image: Image.Image) -> tuple[Image.Image, str]:
    """Cover a large band of ``image`` with 2-3 lines of big legible text; returns the image and the text."""
    width, height = image.size
    lines = [str(line) for line in rng.choice(_OVERLAY_LINES, size=int(rng.integers(2, 4)), replace=False)]
    font = _fitting_font(lines, max(20, round(0.11 * min(width, height))), 0.9 * width)
    line_h = round(font.size * 1.25)
    pad = font.size // 2
    box_h = line_h * len(lines) + 2 * pad
    top = int(rng.integers(0, max(1, height - box_h)))
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle((0, top, width, top + box_h), fill=(0, 0, 0, 190))
    for i, line in enumerate(lines):
        line_w = draw.textlength(line, font=font)
        draw.text(((width - line_w) / 2, top + pad + i * line_h), line, font=font, fill=(255, 255, 255, 255))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB"), "\n".join(lines)


def add_watermark(rng: np.random.Generator, image: Image.Image) -> tuple[Image.Image, str, str]:
    """Stamp small semi-transparent text into a random corner; returns image, text and corner name."""
    width, height = image.size
    text = str(rng.choice(_WATERMARKS))
    font = _font(max(11, round(0.055 * min(width, height))))
    left, top, right, bottom = font.getbbox(text)
    margin = max(3, round(0.03 * min(width, height)))
    corner = str(rng.choice(("top left", "top right", "bottom left", "bottom right")))
    x = margin if corner.endswith("left") else width - margin - right
    y = margin - top if corner.startswith("top") else height - margin - bottom
    region = np.asarray(image.convert("L"))[max(0, y) : y + bottom, max(0, x) : x + right]
    shade = 0 if region.size and region.mean() > 140 else 255
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    ImageDraw.Draw(layer).text((x, y), text, font=font, fill=(shade, shade, shade, 120))
    return Image.alpha_composite(image.convert("RGBA"), layer).convert("RGB"), text, corner


def near_duplicate(rng: np.random.Generator, data: bytes) -> tuple[bytes, str]:
    """Derive a slightly edited JPEG from encoded image ``data``; returns the new bytes and the edit name."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    edit = str(rng.choice(NEAR_DUPLICATE_EDITS))
    width, height = image.size
    if edit == "jpeg_quality":
        return encode_image(image, "JPEG", int(rng.integers(50, 71))), edit
    if edit == "resize":
        factor = float(rng.uniform(0.03, 0.08)) * (1 if rng.random() < 0.5 else -1) + 1.0
        image = image.resize((round(width * factor), round(height * factor)), Image.Resampling.LANCZOS)
    elif edit == "crop":
        image = image.crop(_small_crop_box(rng, width, height))
    else:
        shift = float(rng.uniform(6, 10)) * (1 if rng.random() < 0.5 else -1)
        image = Image.fromarray(np.clip(np.asarray(image, np.float32) + shift, 0, 255).astype(np.uint8))
    return encode_image(image, "JPEG", _NEAR_DUPLICATE_QUALITY), edit


def encode_image(image: Image.Image, fmt: str, quality: int = JPEG_QUALITY) -> bytes:
    """Encode ``image`` as JPEG or PNG with fixed settings (no metadata), so bytes are reproducible."""
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=quality, optimize=False, progressive=False)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def photo_like(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """A photo-like picture of any size: detail at every scale (noise octaves with a 1/f-like spectrum), a
    few hard-edged objects and sensor grain, so decoders, resizers and hashes meet real-picture content."""
    picture = np.zeros((height, width, 3))
    for octave, cell in enumerate((max(width, height) / 3, min(width, height) / 8, 24.0, 6.0)):
        weight = 45.0 / (octave + 1)
        picture += weight * np.stack([smooth_noise(rng, width, height, cell) for _ in range(3)], axis=-1)
    picture += rng.uniform(60, 190, 3)
    y, x = np.mgrid[0:height, 0:width]
    for _ in range(int(rng.integers(2, 6))):  # objects: discs and boxes of flat, shaded colour
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(0.05, 0.25) * min(width, height)
        inside = (np.hypot(x - cx, y - cy) < r) if rng.random() < 0.5 else (abs(x - cx) < r) & (abs(y - cy) < r * 0.7)
        picture[inside] = rng.uniform(0, 255, 3) + 20 * smooth_noise(rng, width, height, r / 2)[inside, None]
    picture += rng.normal(0, 3.0, picture.shape)
    return Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8))


def fingerprint(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """Perceptual fingerprint: a 64-bit DCT hash (bool array) and a 16x16 RGB thumbnail (float32)."""
    gray = np.asarray(image.convert("L").resize((32, 32), Image.Resampling.BOX), np.float64)
    basis = _dct_basis()
    low = (basis @ gray @ basis.T)[:8, :8].ravel()
    bits = low > np.median(low[1:])
    thumb = np.asarray(image.convert("RGB").resize((16, 16), Image.Resampling.BOX), np.float32)
    return bits, thumb


def smooth_noise(rng: np.random.Generator, width: int, height: int, cell: float) -> np.ndarray:
    """Band-limited noise with unit standard deviation and features about ``cell`` pixels across."""
    cell = max(2.0, cell)
    grid_w, grid_h = int(width / cell) + 3, int(height / cell) + 3
    grid = Image.fromarray(rng.standard_normal((grid_h, grid_w)).astype(np.float32))
    big = np.asarray(grid.resize((round(grid_w * cell), round(grid_h * cell)), Image.Resampling.BICUBIC))
    noise = big[:height, :width]
    return (noise - noise.mean()) / (noise.std() + 1e-6)


@lru_cache(maxsize=None)
def _dct_basis() -> np.ndarray:
    n = np.arange(32)
    basis = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / 64)
    basis[0] /= np.sqrt(2)
    return basis


@lru_cache(maxsize=None)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _fitting_font(lines: list[str], size: int, max_width: float, min_size: int = 20) -> ImageFont.FreeTypeFont:
    """Largest font not above ``size`` (nor below ``min_size``) in which every line fits ``max_width``."""
    while size > min_size and max(_font(size).getlength(line) for line in lines) > max_width:
        size -= 1
    return _font(size)


def _small_crop_box(rng: np.random.Generator, width: int, height: int) -> tuple[int, int, int, int]:
    """A crop trimming 1-2.5% of each dimension (at most 5% of the area), split randomly between the two sides."""
    cut_w = max(1, round(width * rng.uniform(0.01, 0.025)))
    cut_h = max(1, round(height * rng.uniform(0.01, 0.025)))
    left = int(rng.integers(0, cut_w + 1))
    top = int(rng.integers(0, cut_h + 1))
    return left, top, width - (cut_w - left), height - (cut_h - top)


def _pick(rng: np.random.Generator, options) -> str:
    return str(rng.choice(list(options)))


def _jitter(rng: np.random.Generator, name: str, amount: int = 15) -> np.ndarray:
    return np.clip(np.array(COLOURS[name], np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _luma(name: str) -> float:
    r, g, b = COLOURS[name]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _contrasting_pair(rng: np.random.Generator, exclude: tuple[str, ...] = ()) -> tuple[str, str]:
    """Two colour names whose brightness differs enough to stay visible in grayscale."""
    names = [n for n in COLOURS if n not in exclude]
    first = _pick(rng, names)
    second = _pick(rng, [n for n in names if abs(_luma(n) - _luma(first)) >= 40])
    return first, second


def _lighting(rng: np.random.Generator, width: int, height: int, strength: float) -> np.ndarray:
    """Smooth random illumination field (HxW), unique per picture, so items differ at low frequency too."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xs / max(width, 1) + np.sin(angle) * ys / max(height, 1)) - 0.5
    blobs = smooth_noise(rng, width, height, max(width, height) / 2.5)
    return strength * (ramp + 0.5 * blobs)


def _finish(rng: np.random.Generator, arr: np.ndarray, sigma: float) -> Image.Image:
    """Add sensor noise and quantise to an RGB image."""
    if sigma > 0:
        arr = arr + sigma * rng.standard_normal(arr.shape, dtype=np.float32)
    return Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "RGB")


def _background(rng: np.random.Generator, width: int, height: int, name: str) -> tuple[np.ndarray, str]:
    """A coloured, lit and textured background; returns the float array and the texture word."""
    texture = _pick(rng, _TEXTURES)
    arr = np.empty((height, width, 3), np.float32)
    arr[:] = _jitter(rng, name)
    shade = _lighting(rng, width, height, 30.0)
    if texture == "mottled":
        shade = shade + 22 * smooth_noise(rng, width, height, min(width, height) * rng.uniform(0.04, 0.08))
    elif texture == "softly shaded":
        shade = shade * 2.0
    elif texture == "dotted":
        shade = shade + _dots(rng, width, height)
    return arr + shade[..., None], texture


def _dots(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    spacing = max(3.0, min(width, height) * rng.uniform(0.05, 0.09))
    radius = spacing * rng.uniform(0.15, 0.3)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    dx = (xs + rng.uniform(0, spacing)) % spacing - spacing / 2
    dy = (ys + rng.uniform(0, spacing)) % spacing - spacing / 2
    sign = 1 if rng.random() < 0.5 else -1
    return sign * 40.0 * (dx * dx + dy * dy < radius * radius)


def _shape_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    fg, bg = _contrasting_pair(rng)
    arr, texture = _background(rng, width, height, bg)
    image = _finish(rng, arr, 0)
    short = min(width, height)
    radius = short * rng.uniform(0.18, 0.34)
    cx = rng.uniform(radius, width - radius)
    cy = rng.uniform(radius, height - radius)
    fill = tuple(int(v) for v in _jitter(rng, fg))
    draw = ImageDraw.Draw(image)
    if category == "circle":
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    else:
        corners = 4 if category == "square" else 3
        rotation = rng.uniform(0, 2 * np.pi)
        reach = radius * (np.sqrt(2) if corners == 4 else 1.0) * 0.85
        angles = rotation + 2 * np.pi * np.arange(corners) / corners
        draw.polygon([(cx + reach * np.cos(a), cy + reach * np.sin(a)) for a in angles], fill=fill)
    size = "small" if radius < 0.25 * short else "large"
    image = _finish(rng, np.asarray(image, np.float32), rng.uniform(2, 5))
    return Scene(image, category, fg, f"a {size} {fg} {category} on a {texture} {bg} background")


def _stripes_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    fg, bg = _contrasting_pair(rng)
    orientation, base_angle = [("horizontal", 90), ("vertical", 0), ("diagonal", 45), ("diagonal", 135)][
        int(rng.integers(0, 4))
    ]
    angle = np.deg2rad(base_angle + rng.uniform(-8, 8))
    period = max(3.0, min(width, height) * rng.uniform(0.06, 0.16))
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (xs * np.cos(angle) + ys * np.sin(angle)) / period + rng.uniform(0, 1)
    mask = (phase % 1.0) < rng.uniform(0.35, 0.65)
    arr = np.where(mask[..., None], _jitter(rng, fg), _jitter(rng, bg))
    arr = arr + _lighting(rng, width, height, 30.0)[..., None]
    image = _finish(rng, arr, rng.uniform(2, 5))
    return Scene(image, category, fg, f"{orientation} {fg} and {bg} stripes")


def _checker_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    fg, bg = _contrasting_pair(rng)
    cell = max(2.0, min(width, height) * rng.uniform(0.07, 0.2))
    tilted = rng.random() < 0.3
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    if tilted:
        xs, ys = (xs + ys) / np.sqrt(2), (xs - ys) / np.sqrt(2)
    mask = (np.floor(xs / cell + rng.uniform(0, 1)) + np.floor(ys / cell + rng.uniform(0, 1))) % 2 == 0
    arr = np.where(mask[..., None], _jitter(rng, fg), _jitter(rng, bg))
    arr = arr + _lighting(rng, width, height, 30.0)[..., None]
    image = _finish(rng, arr, rng.uniform(2, 5))
    kind = "diagonal checkerboard" if tilted else "checkerboard"
    return Scene(image, category, fg, f"{_article(fg)} {fg} and {bg} {kind} pattern")


def _sky_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    top, bottom = _SKIES[int(rng.integers(0, len(_SKIES)))]
    horizon = height * rng.uniform(0.55, 0.8)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = np.clip(ys / horizon, 0, 1)[..., None]
    arr = (1 - t) * _jitter(rng, top) + t * _jitter(rng, bottom)
    cloud_cover = rng.uniform(0.0, 0.9)
    clouds = np.clip(smooth_noise(rng, width, height, min(width, height) * 0.15) - 1.5 + cloud_cover, 0, 1)
    arr = arr + (255 - arr) * (0.8 * clouds)[..., None]
    sun = "yellow" if rng.random() < 0.6 else "white"
    radius = min(width, height) * rng.uniform(0.05, 0.1)
    sx, sy = rng.uniform(0, width), rng.uniform(0.15 * height, max(0.15 * height + 1, horizon - radius))
    dist = np.hypot(xs - sx, ys - sy)
    glow = np.clip(1.4 - dist / radius, 0, 1)[..., None]
    arr = (1 - glow) * arr + glow * _jitter(rng, sun, 5)
    ridge = horizon + sum(
        height * rng.uniform(0.02, 0.07) * np.sin(xs[0] * rng.uniform(1, 5) * 2 * np.pi / width + rng.uniform(0, 6.3))
        for _ in range(3)
    )
    hills = ys > ridge[None, :]
    arr = np.where(hills[..., None], _jitter(rng, _pick(rng, ("green", "brown", "purple", "black"))) * 0.35, arr)
    arr = arr + _lighting(rng, width, height, 12.0)[..., None]
    image = _finish(rng, arr, rng.uniform(1.5, 4))
    weather = " and clouds" if cloud_cover > 0.5 else ""
    caption = f"{_article(top)} {top} sky fading to {bottom} with a {sun} sun{weather} above dark hills"
    return Scene(image, category, top, caption)


def _document_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    """A page with a title, a coloured picture on the left or right, and lines of words flowing beside it."""
    paper = _pick(rng, _PAPERS)
    ink = "black" if rng.random() < 0.7 else "blue"
    ink_rgb = (20, 20, 20) if ink == "black" else (30, 40, 140)
    paper_rgb = 0.3 * _jitter(rng, paper, 10) + 0.7 * 245 if paper != "white" else _jitter(rng, paper, 8)
    image = Image.new("RGB", (width, height), tuple(int(v) for v in paper_rgb))
    draw = ImageDraw.Draw(image)
    short = min(width, height)
    size = max(10, round(short * rng.uniform(0.055, 0.07)))
    margin = round(short * rng.uniform(0.06, 0.1))
    title = " ".join(w.capitalize() for w in rng.choice(_WORDS, size=int(rng.integers(2, 4))))
    title_font = _fitting_font([title], round(size * 1.5), width - 2 * margin, min_size=size)
    draw.text((margin, margin), title, font=title_font, fill=ink_rgb)
    top = margin + round(title_font.size * 1.8)
    figure, figure_colour = _document_figure(rng, draw, width, height, margin, top)
    lines, step = [], round(size * 1.45)
    for y in range(top, height - margin - size + 1, step):
        left, right = _text_span(figure, y, y + size, margin, width - margin)
        line = _text_line(rng, _font(size), right - left)
        draw.text((left, y), line, font=_font(size), fill=ink_rgb)
        lines.append(line)
    image = image.rotate(rng.uniform(-1.5, 1.5), Image.Resampling.BICUBIC, fillcolor=image.getpixel((0, 0)))
    arr = np.asarray(image, np.float32) + _lighting(rng, width, height, 10.0)[..., None]
    image = _finish(rng, arr, rng.uniform(1.5, 3))
    paper_word = paper if paper == "white" else f"pale {paper}"
    caption = (
        f"{_article(paper_word)} {paper_word} document page with a title, {len(lines)} lines of {ink} text "
        f"and {_article(figure_colour)} {figure_colour} picture"
    )
    return Scene(image, category, paper, caption, "\n".join([title, *lines]))


def _document_figure(rng, draw, width, height, margin, top) -> tuple[tuple[float, float, float, float], str]:
    """Draw a coloured picture block with a disc in it; returns its box and colour name."""
    colour, accent = _contrasting_pair(rng, exclude=("white", "grey"))
    fig_w, fig_h = width * rng.uniform(0.3, 0.45), height * rng.uniform(0.25, 0.4)
    x0 = margin if rng.random() < 0.5 else width - margin - fig_w
    y0 = rng.uniform(top, max(top, height - margin - fig_h))
    box = (x0, y0, x0 + fig_w, y0 + fig_h)
    draw.rectangle(box, fill=tuple(int(v) for v in _jitter(rng, colour)))
    r = min(fig_w, fig_h) * rng.uniform(0.2, 0.35)
    cx, cy = rng.uniform(x0 + r, x0 + fig_w - r), rng.uniform(y0 + r, y0 + fig_h - r)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(int(v) for v in _jitter(rng, accent)))
    return box, colour


def _text_span(figure, y0: float, y1: float, left: float, right: float) -> tuple[int, int]:
    """Horizontal room for a text line between y0 and y1 that does not run into the figure box."""
    fx0, fy0, fx1, fy1 = figure
    if y1 < fy0 or y0 > fy1:
        return round(left), round(right)
    gap = 0.04 * (right - left)
    if fx0 - left > right - fx1:
        return round(left), round(fx0 - gap)
    return round(fx1 + gap), round(right)


def _text_line(rng: np.random.Generator, font: ImageFont.FreeTypeFont, max_width: float) -> str:
    """Consecutive words from the word bank, as many as fit in ``max_width``."""
    start = int(rng.integers(0, len(_WORDS)))
    words: list[str] = []
    for offset in range(len(_WORDS)):
        candidate = " ".join([*words, _WORDS[(start + offset) % len(_WORDS)]])
        if font.getlength(candidate) > max_width:
            break
        words = candidate.split()
    return " ".join(words)


def _person_scene(rng: np.random.Generator, category: str, width: int, height: int) -> Scene:
    bg = _pick(rng, [n for n in COLOURS if _luma(n) > 90])
    arr, texture = _background(rng, width, height, bg)
    image = _finish(rng, arr, 0)
    pose = _pick(rng, _POSES)
    tall = height * rng.uniform(0.55, 0.85)
    cx = rng.uniform(0.25 * width, 0.75 * width)
    top = rng.uniform(0.05 * height, height - tall - 0.02 * height)
    _draw_person(ImageDraw.Draw(image), pose, cx, top, tall, tuple(int(v) for v in _jitter(rng, "black", 10)))
    image = _finish(rng, np.asarray(image, np.float32), rng.uniform(2, 5))
    caption = f"a black silhouette of a person {pose} against a {texture} {bg} background"
    return Scene(image, category, bg, caption)


def _draw_person(draw: ImageDraw.ImageDraw, pose: str, cx: float, top: float, tall: float, fill) -> None:
    """Stick-and-blob human figure ``tall`` pixels high whose head top is at (cx, top); limb angles are
    measured outwards from pointing straight down."""
    head = tall * 0.09
    draw.ellipse((cx - head, top, cx + head, top + 2 * head), fill=fill)
    shoulder_y, hip_y = top + 2.4 * head, top + tall * 0.55
    half = tall * 0.11
    torso = [(cx - half, shoulder_y), (cx + half, shoulder_y), (cx + 0.7 * half, hip_y), (cx - 0.7 * half, hip_y)]
    draw.polygon(torso, fill=fill)
    limb = max(1, round(tall * 0.06))
    arm, leg = tall * 0.33, tall * 0.45
    arm_angles = {"standing": (20, 20), "with raised arms": (145, 145), "waving": (20, 150), "walking": (35, 5)}[pose]
    leg_spread = 25 if pose == "walking" else 10
    for sign, angle in zip((-1, 1), np.deg2rad(arm_angles)):
        shoulder = (cx + sign * half, shoulder_y + limb / 2)
        hand = (shoulder[0] + sign * arm * np.sin(angle), shoulder[1] + arm * np.cos(angle))
        _limb(draw, shoulder, hand, limb, fill)
    for sign in (-1, 1):
        spread = np.deg2rad(leg_spread)
        foot = (cx + sign * (half * 0.5 + leg * np.sin(spread)), hip_y + leg * np.cos(spread))
        _limb(draw, (cx + sign * half * 0.5, hip_y), foot, limb, fill)


def _limb(draw: ImageDraw.ImageDraw, start, end, thickness: int, fill) -> None:
    draw.line([start, end], fill=fill, width=thickness)
    r = thickness / 2
    for x, y in (start, end):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
