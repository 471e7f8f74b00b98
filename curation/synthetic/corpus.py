"""Deterministic synthetic image/video corpus with exact ground truth.

``generate_corpus(out_dir, CorpusSpec(seed=...))`` writes::

    out_dir/media/images/img_00000.jpg|png   the pictures a crawler will fetch
    out_dir/media/videos/vid_00000.mp4       H.264 clips with known motion and cuts
    out_dir/ground_truth.parquet             one row per item (see GroundTruthItem); never read by the pipeline
    out_dir/corpus.json                      the spec and counts per defect kind

Every random choice comes from numpy generators seeded with ``(spec.seed, stream, index)`` (no global
random state, no clock, fixed encoder settings), so one spec always produces the same bytes in every file.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from curation.synthetic import images, videos

DEFECT_KINDS = (
    "mismatched_caption",
    "exact_duplicate",
    "near_duplicate",
    "text_overlay",
    "watermark",
    "blank",
    "tiny",
    "extreme_aspect",
    "non_english",
    "junk_caption",
)
# Images carrying each defect per 300 images (each defective item has exactly one defect of its own).
_DEFECTS_PER_300 = {
    "mismatched_caption": 18,
    "exact_duplicate": 12,
    "near_duplicate": 18,
    "text_overlay": 12,
    "watermark": 10,
    "blank": 6,
    "tiny": 5,
    "extreme_aspect": 6,
    "non_english": 12,
    "junk_caption": 12,
}
_NO_TEXT_DOCUMENT = ("text_overlay", "tiny", "extreme_aspect")  # roles that would make a document unreadable
_PNG_SHARE = 0.06
# Distinct pictures are never perceptual duplicates: every pair differs by at least _MIN_HASH_DISTANCE bits of
# the 64-bit DCT hash and _MIN_THUMB_DISTANCE in 16x16 RGB thumbnails (mean abs difference, 0-255 scale), and
# by at least _FAR_HASH_DISTANCE bits or _FAR_THUMB_DISTANCE. Near duplicates are closer than "far" in both.
_MIN_HASH_DISTANCE = 10
_MIN_THUMB_DISTANCE = 8.0
_FAR_HASH_DISTANCE = 18
_FAR_THUMB_DISTANCE = 20.0
_MAX_DRAW_ATTEMPTS = 100
_SOURCES = ("synthetic-a", "synthetic-b")
_LICENSES = ("cc-by-4.0", "cc0-1.0", "cc-by-sa-4.0", "unknown")
_STREAM_ROLES, _STREAM_CAPTIONS, _STREAM_VIDEO_KINDS, _STREAM_IMAGES, _STREAM_VIDEOS = range(5)
_URL_LIST_FORMATS = ("parquet", "csv", "tsv", "jsonl", "txt")

_JUNK_CAPTIONS = (
    "IMG_{four}.jpg",
    "image",
    "",
    "untitled",
    "https://cdn.example.com/uploads/{hex:08x}.jpg",
    "DSC{five:05d}",
    "photo.png",
)
_LANGUAGES = ("de", "fr", "es", "it", "zh")
_SENTENCES = {
    "de": "Ein Bild mit {thing}, die Hauptfarbe ist {colour}.",
    "fr": "Une image avec {thing} ; la couleur principale est {colour}.",
    "es": "Una imagen con {thing}; el color principal es {colour}.",
    "it": "Un'immagine con {thing}; il colore principale è {colour}.",
    "zh": "一张包含{thing}的图片，主色是{colour}。",
}
_THINGS = {
    "de": ("einem Kreis", "einem Quadrat", "einem Dreieck", "Streifen", "einem Schachbrettmuster",
           "einem Himmel über dunklen Hügeln", "einer Textseite", "der Silhouette einer Person"),
    "fr": ("un cercle", "un carré", "un triangle", "des rayures", "un damier",
           "un ciel au-dessus de collines sombres", "une page de texte", "la silhouette d'une personne"),
    "es": ("un círculo", "un cuadrado", "un triángulo", "rayas", "un tablero de ajedrez",
           "un cielo sobre colinas oscuras", "una página de texto", "la silueta de una persona"),
    "it": ("un cerchio", "un quadrato", "un triangolo", "delle strisce", "una scacchiera",
           "un cielo sopra colline scure", "una pagina di testo", "la sagoma di una persona"),
    "zh": ("一个圆形", "一个正方形", "一个三角形", "条纹", "棋盘格图案",
           "暗色山丘上方的天空", "一页文字文档", "一个人的剪影"),
}
_COLOUR_WORDS = {  # same order as images.COLOURS
    "de": ("rot", "orange", "gelb", "grün", "türkis", "blau", "lila", "rosa", "braun", "grau", "weiß", "schwarz"),
    "fr": ("rouge", "orange", "jaune", "verte", "turquoise", "bleue", "violette", "rose", "marron", "grise",
           "blanche", "noire"),
    "es": ("rojo", "naranja", "amarillo", "verde", "turquesa", "azul", "morado", "rosa", "marrón", "gris", "blanco",
           "negro"),
    "it": ("rosso", "arancione", "giallo", "verde", "turchese", "blu", "viola", "rosa", "marrone", "grigio", "bianco",
           "nero"),
    "zh": ("红色", "橙色", "黄色", "绿色", "青色", "蓝色",
           "紫色", "粉色", "棕色", "灰色", "白色", "黑色"),
}


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate; the same spec always yields the same bytes."""

    seed: int = 0
    n_images: int = 300  # total image items, including all defect kinds
    n_videos: int = 12
    image_size: int = 256  # short side of normal images, px
    video_seconds: float = 4.0
    video_fps: int = 12
    video_size: tuple[int, int] = (160, 96)  # width, height


@dataclass(frozen=True)
class GroundTruthItem:
    """One served file and the truth about it (one row of ground_truth.parquet)."""

    item_id: str
    relpath: str  # path under media/
    media_type: str  # "image" | "video"
    caption: str  # the caption in the URL list
    true_caption: str  # what the content actually shows
    category: str
    width: int
    height: int
    sha256: str
    n_bytes: int
    source: str
    license: str
    language: str = "en"  # ISO 639 code of the caption's language; "und" (undetermined) for junk captions
    mismatched_caption: bool = False
    exact_duplicate_of: str | None = None
    near_duplicate_of: str | None = None
    near_duplicate_edit: str | None = None  # one of images.NEAR_DUPLICATE_EDITS
    text_overlay: bool = False
    watermark: bool = False
    rendered_text: str | None = None  # exact text drawn into the picture (overlay, watermark or document)
    blank: bool = False
    tiny: bool = False
    extreme_aspect: bool = False
    non_english: bool = False
    junk_caption: bool = False
    motion: str | None = None  # videos: "static" | "slow" | "fast"
    scene_cuts: tuple[int, ...] | None = None  # videos: first frame index of each shot after the first
    fps: int | None = None
    n_frames: int | None = None
    duration_s: float | None = None

    @property
    def defects(self) -> tuple[str, ...]:
        """Names (from DEFECT_KINDS) of the defects this item has; empty for clean items."""
        present = {
            "mismatched_caption": self.mismatched_caption,
            "exact_duplicate": self.exact_duplicate_of is not None,
            "near_duplicate": self.near_duplicate_of is not None,
            "text_overlay": self.text_overlay,
            "watermark": self.watermark,
            "blank": self.blank,
            "tiny": self.tiny,
            "extreme_aspect": self.extreme_aspect,
            "non_english": self.non_english,
            "junk_caption": self.junk_caption,
        }
        return tuple(kind for kind in DEFECT_KINDS if present[kind])


_SCHEMA = pa.schema(
    [
        ("item_id", pa.string()),
        ("relpath", pa.string()),
        ("media_type", pa.string()),
        ("caption", pa.string()),
        ("true_caption", pa.string()),
        ("category", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("sha256", pa.string()),
        ("n_bytes", pa.int64()),
        ("source", pa.string()),
        ("license", pa.string()),
        ("language", pa.string()),
        ("mismatched_caption", pa.bool_()),
        ("exact_duplicate_of", pa.string()),
        ("near_duplicate_of", pa.string()),
        ("near_duplicate_edit", pa.string()),
        ("text_overlay", pa.bool_()),
        ("watermark", pa.bool_()),
        ("rendered_text", pa.string()),
        ("blank", pa.bool_()),
        ("tiny", pa.bool_()),
        ("extreme_aspect", pa.bool_()),
        ("non_english", pa.bool_()),
        ("junk_caption", pa.bool_()),
        ("motion", pa.string()),
        ("scene_cuts", pa.list_(pa.int32())),
        ("fps", pa.int32()),
        ("n_frames", pa.int32()),
        ("duration_s", pa.float64()),
        ("defects", pa.list_(pa.string())),
    ]
)


class Corpus:
    """A generated corpus on disk: its spec, ground truth and helpers to serve it."""

    def __init__(self, out_dir: Path, spec: CorpusSpec, items: list[GroundTruthItem]):
        self.out_dir = Path(out_dir)
        self.spec = spec
        self.items = items
        self._by_id = {item.item_id: item for item in items}

    @property
    def media_dir(self) -> Path:
        """Directory to serve over HTTP; URLs are relative paths below it."""
        return self.out_dir / "media"

    def item(self, item_id: str) -> GroundTruthItem:
        """The ground truth of one item."""
        return self._by_id[item_id]

    def path(self, item_id: str) -> Path:
        """Local file of one item."""
        return self.media_dir / self._by_id[item_id].relpath

    def with_defect(self, kind: str) -> list[GroundTruthItem]:
        """Items having defect ``kind`` (one of DEFECT_KINDS)."""
        if kind not in DEFECT_KINDS:
            raise ValueError(f"unknown defect kind {kind!r}; expected one of {DEFECT_KINDS}")
        return [item for item in self.items if kind in item.defects]

    def table(self) -> pa.Table:
        """Ground truth as a pyarrow table (same content as ground_truth.parquet)."""
        rows = [
            {**dataclasses.asdict(item), "scene_cuts": _list_or_none(item.scene_cuts), "defects": list(item.defects)}
            for item in self.items
        ]
        return pa.Table.from_pylist(rows, schema=_SCHEMA)

    def write_url_list(
        self, base_url: str, path: Path, fmt: str = "parquet", url_col: str = "url", caption_col: str = "caption"
    ) -> Path:
        """Write the (url, caption, source, license) list for a server publishing ``media_dir`` at ``base_url``.

        ``fmt`` is one of parquet, csv, tsv, jsonl, txt (txt: one URL per line, nothing else).
        """
        if fmt not in _URL_LIST_FORMATS:
            raise ValueError(f"unknown url list format {fmt!r}; expected one of {_URL_LIST_FORMATS}")
        base = base_url.rstrip("/")
        columns = (url_col, caption_col, "source", "license")
        rows = [(f"{base}/{item.relpath}", item.caption, item.source, item.license) for item in self.items]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_rows(rows, columns, path, fmt)
        return path


def generate_corpus(out_dir: Path, spec: CorpusSpec = CorpusSpec()) -> Corpus:
    """Generate the corpus for ``spec`` into ``out_dir`` (an empty/new directory or a previous corpus)."""
    _check_spec(spec)
    out_dir = Path(out_dir)
    _prepare_out_dir(out_dir)
    items = _generate_images(out_dir / "media", spec) + _generate_videos(out_dir / "media", spec)
    corpus = Corpus(out_dir, spec, items)
    pq.write_table(corpus.table(), out_dir / "ground_truth.parquet", compression="snappy", store_schema=True)
    manifest = {"format_version": 1, "spec": dataclasses.asdict(spec), "counts": _counts(items)}
    (out_dir / "corpus.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return corpus


def load_corpus(out_dir: Path) -> Corpus:
    """Re-open a corpus written by generate_corpus."""
    out_dir = Path(out_dir)
    manifest = json.loads((out_dir / "corpus.json").read_text(encoding="utf-8"))
    spec_fields = manifest["spec"]
    spec = CorpusSpec(**{**spec_fields, "video_size": tuple(spec_fields["video_size"])})
    rows = pq.read_table(out_dir / "ground_truth.parquet").drop_columns(["defects"]).to_pylist()
    items = [GroundTruthItem(**{**row, "scene_cuts": _tuple_or_none(row["scene_cuts"])}) for row in rows]
    return Corpus(out_dir, spec, items)


def defect_counts(n_images: int) -> dict[str, int]:
    """How many images get each defect kind for a corpus of ``n_images``."""
    return {kind: int(per_300 * n_images / 300 + 0.5) for kind, per_300 in _DEFECTS_PER_300.items()}


# --- planning -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ImagePlan:
    role: str  # "clean" or a defect kind
    category: str
    original: int | None  # index of the source item, for duplicates
    fmt: str  # "JPEG" | "PNG"


def _plan_images(rng: np.random.Generator, n_images: int) -> list[_ImagePlan]:
    """Decide each image's role, category, duplicate source and file format before drawing anything."""
    roles = _shuffled_roles(rng, n_images)
    categories = [images.CATEGORIES[i % len(images.CATEGORIES)] for i in range(n_images)]
    categories = [str(c) for c in rng.permutation(categories)]
    used: set[int] = set()
    plans = []
    for index, role in enumerate(roles):
        category, original = categories[index], None
        if role in ("exact_duplicate", "near_duplicate"):
            original = _pick_original(rng, roles, index, used)
            category = plans[original].category
        elif role == "blank":
            category = images.BLANK_CATEGORY
        elif role in _NO_TEXT_DOCUMENT and category == "text_document":
            category = str(rng.choice([c for c in images.CATEGORIES if c != "text_document"]))
        fmt = _plan_format(rng, role, plans[original].fmt if original is not None else None)
        plans.append(_ImagePlan(role, category, original, fmt))
    return plans


def _shuffled_roles(rng: np.random.Generator, n_images: int) -> list[str]:
    """Each image's role ("clean" or a defect kind) in random order, with a clean image first."""
    if n_images == 0:
        return []
    counts = defect_counts(n_images)
    roles = [kind for kind in DEFECT_KINDS for _ in range(counts[kind])]
    if len(roles) >= n_images:
        raise ValueError(f"n_images={n_images} is too small to hold the defect mix {counts}")
    roles = [str(r) for r in rng.permutation(roles + ["clean"] * (n_images - len(roles)))]
    first_clean = roles.index("clean")  # a clean item first, so every duplicate has an earlier original
    roles[0], roles[first_clean] = roles[first_clean], roles[0]
    return roles


def _pick_original(rng: np.random.Generator, roles: list[str], index: int, used: set[int]) -> int:
    """An earlier clean item, preferring ones that have no duplicate yet."""
    earlier = [i for i in range(index) if roles[i] == "clean"]
    fresh = [i for i in earlier if i not in used]
    original = int(rng.choice(fresh or earlier))
    used.add(original)
    return original


def _plan_format(rng: np.random.Generator, role: str, original_fmt: str | None) -> str:
    """Exact duplicates keep their original's format, near duplicates are JPEG, others are sometimes PNG."""
    if role == "exact_duplicate":
        return original_fmt
    if role == "near_duplicate":
        return "JPEG"
    return "PNG" if rng.random() < _PNG_SHARE else "JPEG"


# --- images ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Drawn:
    image: Image.Image
    scene: images.Scene
    caption: str
    true_caption: str
    rendered_text: str | None


class _Fingerprints:
    """Perceptual fingerprints of the distinct pictures so far, to keep every new one far from all of them."""

    def __init__(self) -> None:
        self._bits: list[np.ndarray] = []
        self._thumbs: list[np.ndarray] = []

    def admit(self, image: Image.Image) -> bool:
        """Record ``image`` and return True unless it is perceptually close to an earlier one."""
        bits, thumb = images.fingerprint(image)
        if self._bits:
            hash_distance = (np.stack(self._bits) != bits).sum(axis=1)
            thumb_distance = np.abs(np.stack(self._thumbs) - thumb).mean(axis=(1, 2, 3))
            close = (hash_distance < _FAR_HASH_DISTANCE) & (thumb_distance < _FAR_THUMB_DISTANCE)
            too_close = (hash_distance < _MIN_HASH_DISTANCE) | (thumb_distance < _MIN_THUMB_DISTANCE)
            if close.any() or too_close.any():
                return False
        self._bits.append(bits)
        self._thumbs.append(thumb)
        return True


def _generate_images(media: Path, spec: CorpusSpec) -> list[GroundTruthItem]:
    plans = _plan_images(_rng(spec.seed, _STREAM_ROLES), spec.n_images)
    (media / "images").mkdir(parents=True, exist_ok=True)
    seen = _Fingerprints()
    items: list[GroundTruthItem] = []
    payloads: list[bytes] = []
    role_counter: dict[str, int] = {}
    for index, plan in enumerate(plans):
        rng = _rng(spec.seed, _STREAM_IMAGES, index)
        nth_of_role = role_counter.get(plan.role, 0)
        role_counter[plan.role] = nth_of_role + 1
        if plan.original is None:
            item, data = _new_image(rng, index, plan, nth_of_role, spec.image_size, seen)
        else:
            item, data = _duplicate_image(rng, index, plan, items[plan.original], payloads[plan.original])
        (media / item.relpath).write_bytes(data)
        items.append(item)
        payloads.append(data)
    return _assign_mismatched_captions(_rng(spec.seed, _STREAM_CAPTIONS), items)


def _new_image(
    rng: np.random.Generator, index: int, plan: _ImagePlan, nth_of_role: int, image_size: int, seen: _Fingerprints
) -> tuple[GroundTruthItem, bytes]:
    drawn, data = _draw_distinct(rng, plan, image_size, seen)
    width, height = drawn.image.size
    caption, language = _caption_for_role(rng, plan.role, nth_of_role, drawn)
    item = GroundTruthItem(
        item_id=f"img_{index:05d}",
        relpath=f"images/img_{index:05d}.{'jpg' if plan.fmt == 'JPEG' else 'png'}",
        media_type="image",
        caption=caption,
        true_caption=drawn.true_caption,
        category=drawn.scene.category,
        rendered_text=drawn.rendered_text,
        language=language,
        mismatched_caption=plan.role == "mismatched_caption",
        text_overlay=plan.role == "text_overlay",
        watermark=plan.role == "watermark",
        blank=plan.role == "blank",
        tiny=max(width, height) < 32,
        extreme_aspect=max(width, height) > 4 * min(width, height),
        non_english=plan.role == "non_english",
        junk_caption=plan.role == "junk_caption",
        **_file_fields(rng, data, width, height),
    )
    return item, data


def _duplicate_image(
    rng: np.random.Generator, index: int, plan: _ImagePlan, original: GroundTruthItem, original_data: bytes
) -> tuple[GroundTruthItem, bytes]:
    """Same picture as ``original``: identical bytes, or a lightly edited JPEG."""
    if plan.role == "exact_duplicate":
        data, suffix, size = original_data, Path(original.relpath).suffix, (original.width, original.height)
        links = {"exact_duplicate_of": original.item_id}
    else:
        data, edit = images.near_duplicate(rng, original_data)
        suffix, size = ".jpg", Image.open(io.BytesIO(data)).size
        links = {"near_duplicate_of": original.item_id, "near_duplicate_edit": edit}
    item = dataclasses.replace(
        original,
        item_id=f"img_{index:05d}",
        relpath=f"images/img_{index:05d}{suffix}",
        **links,
        **_file_fields(rng, data, *size),
    )
    return item, data


def _file_fields(rng: np.random.Generator, data: bytes, width: int, height: int) -> dict:
    return {
        "width": width,
        "height": height,
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_bytes": len(data),
        "source": _SOURCES[int(rng.random() < 0.3)],
        "license": str(rng.choice(_LICENSES)),
    }


def _draw_distinct(
    rng: np.random.Generator, plan: _ImagePlan, image_size: int, seen: _Fingerprints
) -> tuple[_Drawn, bytes]:
    """Draw and encode the item, redrawing until the encoded file is not a perceptual duplicate of any
    earlier distinct item."""
    for _ in range(_MAX_DRAW_ATTEMPTS):
        drawn = _draw(rng, plan, image_size)
        data = images.encode_image(drawn.image, plan.fmt)
        if seen.admit(Image.open(io.BytesIO(data))):
            return drawn, data
    raise RuntimeError(f"could not draw a distinct {plan.category} picture in {_MAX_DRAW_ATTEMPTS} attempts")


def _draw(rng: np.random.Generator, plan: _ImagePlan, image_size: int) -> _Drawn:
    width, height = _image_size(rng, plan.role, image_size)
    if plan.role == "blank":
        scene = images.render_blank(rng, width, height)
    else:
        scene = images.render_scene(rng, plan.category, width, height)
    if plan.role == "text_overlay":
        image, text = images.add_text_overlay(rng, scene.image)
        quoted = " / ".join(text.splitlines())
        true_caption = f'{scene.caption} with large white text reading "{quoted}"'
        return _Drawn(image, scene, f"{scene.caption} with large white text", true_caption, text)
    if plan.role == "watermark":
        image, text, corner = images.add_watermark(rng, scene.image)
        true_caption = f'{scene.caption} with a small "{text}" watermark in the {corner} corner'
        return _Drawn(image, scene, scene.caption, true_caption, text)
    return _Drawn(scene.image, scene, scene.caption, scene.caption, scene.text)


def _image_size(rng: np.random.Generator, role: str, image_size: int) -> tuple[int, int]:
    """(width, height): tiny (< 32 px), extreme banner (ratio 5-7) or normal (short side image_size)."""
    if role == "tiny":
        return int(rng.integers(12, 32)), int(rng.integers(12, 32))
    if role == "extreme_aspect":
        short = max(16, image_size // 2)
        size = (round(short * rng.uniform(5, 7)), short)
    else:
        size = (round(image_size * float(rng.choice((1.0, 4 / 3, 3 / 2, 16 / 9)))), image_size)
    return size if rng.random() < 0.5 else size[::-1]


def _caption_for_role(rng: np.random.Generator, role: str, nth_of_role: int, drawn: _Drawn) -> tuple[str, str]:
    """(caption, language) for a freshly drawn item; mismatched captions are assigned afterwards."""
    if role == "non_english":
        language = _LANGUAGES[nth_of_role % len(_LANGUAGES)]
        return _translated_caption(drawn.scene, language), language
    if role == "junk_caption":
        return _junk_caption(rng, nth_of_role), "und"
    return drawn.caption, "en"


def _translated_caption(scene: images.Scene, language: str) -> str:
    thing = _THINGS[language][images.CATEGORIES.index(scene.category)]
    colour = _COLOUR_WORDS[language][list(images.COLOURS).index(scene.colour)]
    return _SENTENCES[language].format(thing=thing, colour=colour)


def _junk_caption(rng: np.random.Generator, nth: int) -> str:
    """A caption that says nothing about the picture, cycling through typical web junk."""
    template = _JUNK_CAPTIONS[nth % len(_JUNK_CAPTIONS)]
    numbers = {"four": rng.integers(1000, 10000), "five": rng.integers(0, 100000), "hex": rng.integers(0, 2**32)}
    return template.format(**{name: int(value) for name, value in numbers.items()})


def _assign_mismatched_captions(rng: np.random.Generator, items: list[GroundTruthItem]) -> list[GroundTruthItem]:
    """Give every mismatched item the caption of a clean item from another category."""
    donors = [item for item in items if not item.defects]
    result = []
    for item in items:
        if item.mismatched_caption:
            pool = [donor for donor in donors if donor.category != item.category]
            if not pool:
                raise ValueError("too few clean images to borrow a caption from another category")
            item = dataclasses.replace(item, caption=pool[int(rng.integers(0, len(pool)))].caption)
        result.append(item)
    return result


# --- videos ---------------------------------------------------------------------------------------------------


def _generate_videos(media: Path, spec: CorpusSpec) -> list[GroundTruthItem]:
    kinds = [videos.VIDEO_KINDS[i % len(videos.VIDEO_KINDS)] for i in range(spec.n_videos)]
    kinds = [str(k) for k in _rng(spec.seed, _STREAM_VIDEO_KINDS).permutation(kinds)]
    (media / "videos").mkdir(parents=True, exist_ok=True)
    width, height = spec.video_size
    n_frames = round(spec.video_seconds * spec.video_fps)
    items = []
    for index, kind in enumerate(kinds):
        rng = _rng(spec.seed, _STREAM_VIDEOS, index)
        clip = videos.render_clip(rng, kind, width, height, n_frames)
        relpath = f"videos/vid_{index:05d}.mp4"
        videos.encode_mp4(clip.frames, media / relpath, spec.video_fps)
        item = GroundTruthItem(
            item_id=f"vid_{index:05d}",
            relpath=relpath,
            media_type="video",
            caption=clip.caption,
            true_caption=clip.caption,
            category=clip.category,
            motion=clip.motion,
            scene_cuts=clip.scene_cuts,
            fps=spec.video_fps,
            n_frames=n_frames,
            duration_s=n_frames / spec.video_fps,
            **_file_fields(rng, (media / relpath).read_bytes(), width, height),
        )
        items.append(item)
    return items


# --- output helpers -------------------------------------------------------------------------------------------


def _check_spec(spec: CorpusSpec) -> None:
    """Refuse specs the generators cannot honour (fonts need room, yuv420p needs even sizes, cuts need frames)."""
    width, height = spec.video_size
    problems = [
        (spec.seed < 0, "seed must be >= 0"),
        (spec.n_images < 0 or spec.n_videos < 0, "counts must be >= 0"),
        (spec.image_size < 128, "image_size must be >= 128"),
        (width % 2 or height % 2 or min(width, height) < 32, "video_size must be even and >= 32 px"),
        (spec.n_videos and round(spec.video_seconds * spec.video_fps) < 12, "videos need at least 12 frames"),
    ]
    messages = [message for failed, message in problems if failed]
    if messages:
        raise ValueError("bad CorpusSpec: " + "; ".join(messages))


def _prepare_out_dir(out_dir: Path) -> None:
    """Create ``out_dir``; a previous corpus there is replaced, any other non-empty directory is refused."""
    if (out_dir / "corpus.json").exists():
        shutil.rmtree(out_dir / "media", ignore_errors=True)
    elif out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty and does not hold a synthetic corpus")
    out_dir.mkdir(parents=True, exist_ok=True)


def _counts(items: list[GroundTruthItem]) -> dict:
    image_items = [item for item in items if item.media_type == "image"]
    video_items = [item for item in items if item.media_type == "video"]
    return {
        "images": len(image_items),
        "videos": len(video_items),
        "clean_images": sum(not item.defects for item in image_items),
        "defects": {kind: sum(kind in item.defects for item in items) for kind in DEFECT_KINDS},
        "categories": _tally(item.category for item in items),
        "video_motion": _tally(item.motion for item in video_items),
        "languages": _tally(item.language for item in items),
    }


def _tally(values) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _write_rows(rows: list[tuple[str, ...]], columns: tuple[str, ...], path: Path, fmt: str) -> None:
    """Write string rows with a header (txt: the first column only, no header)."""
    if fmt == "parquet":
        table = pa.table({name: pa.array([row[i] for row in rows], pa.string()) for i, name in enumerate(columns)})
        pq.write_table(table, path, compression="snappy")
    elif fmt in ("csv", "tsv"):
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter="," if fmt == "csv" else "\t", lineterminator="\n")
            writer.writerow(columns)
            writer.writerows(rows)
    elif fmt == "jsonl":
        lines = [json.dumps(dict(zip(columns, row)), ensure_ascii=False) for row in rows]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    else:
        path.write_text("".join(row[0] + "\n" for row in rows), encoding="utf-8")


def _rng(seed: int, stream: int, index: int = 0) -> np.random.Generator:
    """The generator for one stream (and item) of a corpus; streams never share draws."""
    return np.random.default_rng([seed, stream, index])


def _list_or_none(values: tuple[int, ...] | None) -> list[int] | None:
    return None if values is None else list(values)


def _tuple_or_none(values: list[int] | None) -> tuple[int, ...] | None:
    return None if values is None else tuple(values)
