"""Tests for the deterministic synthetic corpus generator (curation/synthetic/corpus.py)."""
import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.synthetic import images, videos
from curation.synthetic.corpus import DEFECT_KINDS, CorpusSpec, defect_counts, generate_corpus, load_corpus

SMALL = CorpusSpec(seed=7, n_images=60, n_videos=4)
REPO = Path(__file__).resolve().parents[2]
JUNK = re.compile(
    r"^(|image|untitled|photo\.png|IMG_\d{4}\.jpg|DSC\d{5}|https://cdn\.example\.com/uploads/[0-9a-f]{8}\.jpg)$"
)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("small"), SMALL)


@pytest.fixture(scope="module")
def default(tmp_path_factory):
    return generate_corpus(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="module", params=["small", "default"])
def corpus(request):
    return request.getfixturevalue(request.param)


def tree_hashes(root: Path) -> dict[str, str]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def image_items(corpus):
    return [item for item in corpus.items if item.media_type == "image"]


def video_items(corpus):
    return [item for item in corpus.items if item.media_type == "video"]


def is_copy(item) -> bool:
    return item.exact_duplicate_of is not None or item.near_duplicate_of is not None


def luma_std(corpus, item) -> float:
    return float(np.asarray(Image.open(corpus.path(item.item_id)).convert("L"), np.float64).std())


def fingerprints(corpus, items) -> tuple[np.ndarray, np.ndarray]:
    pairs = [images.fingerprint(Image.open(corpus.path(item.item_id))) for item in items]
    return np.stack([bits for bits, _ in pairs]), np.stack([thumb for _, thumb in pairs])


def decoded_frames(corpus, item) -> tuple[np.ndarray, object]:
    with av.open(str(corpus.path(item.item_id))) as container:
        stream = container.streams.video[0]
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(stream)]).astype(np.float32)
        return frames, stream.average_rate


def frame_differences(frames: np.ndarray) -> np.ndarray:
    """d[k] = mean abs difference between frame k and frame k-1 (d[0] = 0)."""
    return np.concatenate([[0.0], np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))])


# --- determinism ----------------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(small, tmp_path):
    again = generate_corpus(tmp_path / "again", SMALL)
    assert tree_hashes(again.out_dir) == tree_hashes(small.out_dir)


def test_same_bytes_in_a_fresh_process_with_another_hash_seed(tmp_path):
    spec = "CorpusSpec(seed=3, n_images=20, n_videos=2)"
    generate_corpus(tmp_path / "here", CorpusSpec(seed=3, n_images=20, n_videos=2))
    code = f"from curation.synthetic.corpus import *; generate_corpus({str(tmp_path / 'there')!r}, {spec})"
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True)
    assert tree_hashes(tmp_path / "there") == tree_hashes(tmp_path / "here")


def test_video_encoding_is_bit_exact_whatever_the_heap_holds(tmp_path):
    clip = videos.render_clip(np.random.default_rng(7), "cuts", 160, 96, 48)
    digests = set()
    for n in range(6):
        churn = [bytearray(os.urandom(20000)) for _ in range(50)]  # leaves different garbage in freed memory
        del churn
        videos.encode_mp4(clip.frames, tmp_path / f"{n}.mp4", fps=12)
        digests.add(hashlib.sha256((tmp_path / f"{n}.mp4").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_different_seed_gives_different_content(small, tmp_path):
    other = generate_corpus(tmp_path / "other", dataclasses.replace(SMALL, seed=8))
    assert not {i.sha256 for i in small.items} & {i.sha256 for i in other.items}
    assert [i.caption for i in small.items] != [i.caption for i in other.items]


# --- layout ---------------------------------------------------------------------------------------------------


def test_layout_ids_and_manifest(corpus):
    spec = corpus.spec
    assert [i.item_id for i in image_items(corpus)] == [f"img_{n:05d}" for n in range(spec.n_images)]
    assert [i.item_id for i in video_items(corpus)] == [f"vid_{n:05d}" for n in range(spec.n_videos)]
    for item in corpus.items:
        assert re.fullmatch(rf"{item.media_type}s/{item.item_id}\.(jpg|png|mp4)", item.relpath)
    media_files = {str(p.relative_to(corpus.media_dir)) for p in corpus.media_dir.rglob("*") if p.is_file()}
    assert media_files == {item.relpath for item in corpus.items}
    manifest = json.loads((corpus.out_dir / "corpus.json").read_text())
    assert manifest["spec"] == json.loads(json.dumps(dataclasses.asdict(spec)))
    assert manifest["counts"]["defects"] == defect_counts(spec.n_images)
    assert manifest["counts"]["images"] == spec.n_images and manifest["counts"]["videos"] == spec.n_videos


def test_load_corpus_round_trips(corpus):
    loaded = load_corpus(corpus.out_dir)
    assert loaded.spec == corpus.spec
    assert loaded.items == corpus.items
    assert pq.read_table(corpus.out_dir / "ground_truth.parquet").equals(corpus.table())


def test_ground_truth_defects_column_lists_the_true_flags(small):
    table = pq.read_table(small.out_dir / "ground_truth.parquet").to_pylist()
    for row in table:
        flags = {kind: bool(row.get(kind)) for kind in DEFECT_KINDS}
        flags["exact_duplicate"] = row["exact_duplicate_of"] is not None
        flags["near_duplicate"] = row["near_duplicate_of"] is not None
        assert row["defects"] == [kind for kind in DEFECT_KINDS if flags[kind]]


@pytest.mark.parametrize("change", [{"seed": -1}, {"image_size": 64}, {"video_size": (161, 96)},
                                    {"video_seconds": 0.5}, {"n_images": 5, "n_videos": -1}])
def test_bad_specs_are_refused(tmp_path, change):
    with pytest.raises(ValueError):
        generate_corpus(tmp_path / "c", dataclasses.replace(SMALL, **change))


def test_regenerating_replaces_a_corpus_but_refuses_other_folders(tmp_path):
    spec = CorpusSpec(seed=1, n_images=12, n_videos=1)
    corpus = generate_corpus(tmp_path / "c", spec)
    stale = corpus.media_dir / "images" / "stale.jpg"
    stale.write_bytes(b"old")
    generate_corpus(tmp_path / "c", spec)
    assert not stale.exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate_corpus(tmp_path / "other", spec)


# --- images ---------------------------------------------------------------------------------------------------


def test_file_facts_match_ground_truth(corpus):
    for item in corpus.items:
        data = corpus.path(item.item_id).read_bytes()
        assert (hashlib.sha256(data).hexdigest(), len(data)) == (item.sha256, item.n_bytes)
    for item in image_items(corpus):
        with Image.open(corpus.path(item.item_id)) as image:
            assert image.size == (item.width, item.height)
            assert image.format == {"jpg": "JPEG", "png": "PNG"}[item.relpath.rsplit(".", 1)[1]]


def test_each_image_has_at_most_one_defect_and_the_planned_mix(corpus):
    counts = defect_counts(corpus.spec.n_images)
    assert {kind: len(corpus.with_defect(kind)) for kind in DEFECT_KINDS} == counts
    assert all(len(item.defects) <= 1 for item in corpus.items)
    assert not any(item.defects for item in video_items(corpus))
    clean = sum(not item.defects for item in image_items(corpus))
    assert clean == corpus.spec.n_images - sum(counts.values())


def test_blank_flag_is_exactly_the_near_uniform_images(corpus):
    for item in image_items(corpus):
        pixels = np.asarray(Image.open(corpus.path(item.item_id)), np.float64)
        if item.blank:
            assert pixels.std(axis=(0, 1)).max() < 2, item.item_id
            assert item.category == images.BLANK_CATEGORY
        else:
            assert luma_std(corpus, item) > 5, item.item_id


def test_size_flags_follow_the_file_dimensions(corpus):
    for item in image_items(corpus):
        short, long = sorted((item.width, item.height))
        assert item.tiny == (long < 32), item.item_id
        assert item.extreme_aspect == (long > 4 * short), item.item_id
        if not (item.tiny or item.extreme_aspect or item.near_duplicate_of):
            assert short == corpus.spec.image_size and long <= 16 / 9 * short + 1, item.item_id


def test_exact_duplicates_are_identical_bytes_of_an_earlier_clean_item(corpus):
    duplicates = corpus.with_defect("exact_duplicate")
    assert duplicates
    for dup in duplicates:
        original = corpus.item(dup.exact_duplicate_of)
        assert original.item_id < dup.item_id and not original.defects
        assert corpus.path(dup.item_id).read_bytes() == corpus.path(original.item_id).read_bytes()
        assert dup.relpath != original.relpath
        copied = dataclasses.replace(dup, item_id=original.item_id, relpath=original.relpath, exact_duplicate_of=None,
                                     source=original.source, license=original.license)
        assert copied == original


def test_near_duplicates_differ_in_bytes_but_look_like_their_original(corpus):
    near = corpus.with_defect("near_duplicate")
    assert near and {n.near_duplicate_edit for n in near} <= set(images.NEAR_DUPLICATE_EDITS)
    for dup in near:
        original = corpus.item(dup.near_duplicate_of)
        assert original.item_id < dup.item_id and not original.defects
        assert dup.sha256 != original.sha256
        (dup_bits, original_bits), thumbs = fingerprints(corpus, [dup, original])
        assert (dup_bits != original_bits).sum() <= 14, dup.item_id
        assert np.abs(thumbs[0] - thumbs[1]).mean() <= 12, dup.item_id
        same = ("category", "true_caption", "caption", "rendered_text")
        assert [getattr(dup, f) for f in same] == [getattr(original, f) for f in same]
        assert abs(dup.width / original.width - 1) <= 0.08 and abs(dup.height / original.height - 1) <= 0.08


def test_distinct_images_are_never_perceptual_duplicates(corpus):
    distinct = [item for item in image_items(corpus) if not is_copy(item)]
    bits, thumbs = fingerprints(corpus, distinct)
    hash_distance = (bits[:, None] != bits[None]).sum(axis=-1)
    thumb_distance = np.abs(thumbs[:, None] - thumbs[None]).mean(axis=(2, 3, 4))
    pairs = np.triu_indices(len(distinct), 1)
    hash_distance, thumb_distance = hash_distance[pairs], thumb_distance[pairs]
    assert hash_distance.min() >= 10 and thumb_distance.min() >= 8
    assert ((hash_distance >= 18) | (thumb_distance >= 20)).all()


def test_captions_follow_the_defect(corpus):
    clean_by_caption = {i.caption: i for i in image_items(corpus) if not i.defects}
    for item in image_items(corpus):
        if item.mismatched_caption:
            donor = clean_by_caption[item.caption]
            assert donor.category != item.category and item.language == "en"
        elif item.non_english:
            assert item.language in {"de", "fr", "es", "it", "zh"} and item.caption != item.true_caption
        elif item.junk_caption:
            assert item.language == "und" and JUNK.match(item.caption), item.caption
        else:
            assert item.language == "en" and item.true_caption.startswith(item.caption)
            assert item.caption == item.true_caption or item.text_overlay or item.watermark


def test_non_english_captions_cover_all_languages_in_the_default_corpus(default):
    assert {i.language for i in default.with_defect("non_english")} == {"de", "fr", "es", "it", "zh"}


def test_rendered_text_is_recorded_for_overlays_watermarks_and_documents(corpus):
    for item in image_items(corpus):
        has_text = item.text_overlay or item.watermark or item.category == "text_document"
        assert (item.rendered_text is not None) == has_text, item.item_id
        if item.text_overlay:
            lines = item.rendered_text.splitlines()
            assert len(lines) >= 2 and all(re.fullmatch(r"[A-Z]+( [A-Z]+)+", line) for line in lines)
            assert all(line in item.true_caption for line in lines)
        if item.watermark:
            assert f'"{item.rendered_text}" watermark' in item.true_caption


# --- videos ---------------------------------------------------------------------------------------------------


def test_videos_decode_to_the_recorded_frames(corpus):
    spec = corpus.spec
    for item in video_items(corpus):
        frames, rate = decoded_frames(corpus, item)
        assert frames.shape == (item.n_frames, spec.video_size[1], spec.video_size[0], 3)
        assert rate == item.fps == spec.video_fps
        assert item.n_frames == round(spec.video_seconds * spec.video_fps)
        assert item.duration_s == pytest.approx(item.n_frames / item.fps)
        assert (item.width, item.height) == spec.video_size


def test_hard_cuts_show_a_large_difference_exactly_at_the_recorded_frames(corpus):
    with_cuts = [item for item in video_items(corpus) if item.scene_cuts]
    assert with_cuts
    for item in with_cuts:
        diff = frame_differences(decoded_frames(corpus, item)[0])
        cuts = list(item.scene_cuts)
        others = np.delete(diff[1:], [c - 1 for c in cuts])
        assert diff[cuts].min() > 40 and others.max() < 20, (item.item_id, diff.round(1))


def test_frame_difference_orders_static_slow_fast(corpus):
    motion = {"static": [], "slow": [], "fast": []}
    for item in video_items(corpus):
        diff = frame_differences(decoded_frames(corpus, item)[0])
        motion[item.motion].append(np.delete(diff[1:], [c - 1 for c in item.scene_cuts]).mean())
    assert all(motion.values())
    assert max(motion["static"]) < min(motion["slow"]) and max(motion["slow"]) < min(motion["fast"]), motion


def test_optical_flow_orders_static_slow_fast(small):
    cv2 = pytest.importorskip("cv2")
    motion = {"static": [], "slow": [], "fast": []}
    for item in video_items(small):
        gray = [cv2.cvtColor(f.astype(np.uint8), cv2.COLOR_RGB2GRAY) for f in decoded_frames(small, item)[0]]
        magnitudes = [
            np.linalg.norm(cv2.calcOpticalFlowFarneback(a, b, None, 0.5, 3, 15, 3, 5, 1.2, 0), axis=2).mean()
            for k, (a, b) in enumerate(zip(gray, gray[1:]), start=1)
            if k not in item.scene_cuts
        ]
        motion[item.motion].append(float(np.mean(magnitudes)))
    assert max(motion["static"]) < 0.3 < min(motion["slow"])
    assert max(motion["slow"]) < 3 and min(motion["fast"]) > 6, motion


# --- URL lists ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv", "tsv", "jsonl", "txt"])
def test_write_url_list_reads_back_in_every_format(small, tmp_path, fmt):
    path = small.write_url_list("http://127.0.0.1:8000/", tmp_path / f"urls.{fmt}", fmt=fmt, url_col="link",
                                caption_col="text")
    expected_urls = [f"http://127.0.0.1:8000/{item.relpath}" for item in small.items]
    if fmt == "txt":
        assert path.read_text().splitlines() == expected_urls
        return
    if fmt == "parquet":
        rows = pq.read_table(path).to_pylist()
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        parse = pacsv.ParseOptions(delimiter="," if fmt == "csv" else "\t")
        rows = pacsv.read_csv(path, parse_options=parse).to_pylist()
    assert [r["link"] for r in rows] == expected_urls
    assert [r["text"] for r in rows] == [item.caption for item in small.items]
    assert {r["source"] for r in rows} <= {"synthetic-a", "synthetic-b"} and all(r["license"] for r in rows)


def test_write_url_list_rejects_unknown_formats(small, tmp_path):
    with pytest.raises(ValueError):
        small.write_url_list("http://x", tmp_path / "urls.xml", fmt="xml")


# --- the default spec -----------------------------------------------------------------------------------------


def test_default_spec_mix(default):
    items = image_items(default)
    assert len(items) == 300 and len(video_items(default)) == 12
    assert {kind: len(default.with_defect(kind)) for kind in DEFECT_KINDS} == {
        "mismatched_caption": 18, "exact_duplicate": 12, "near_duplicate": 18, "text_overlay": 12, "watermark": 10,
        "blank": 6, "tiny": 5, "extreme_aspect": 6, "non_english": 12, "junk_caption": 12,
    }
    assert sum(not item.defects for item in items) >= 0.6 * len(items)
    assert sum(item.relpath.endswith(".png") for item in items) >= 3
    categories = [item.category for item in items if not item.blank]
    assert {c: categories.count(c) >= 25 for c in images.CATEGORIES} == {c: True for c in images.CATEGORIES}
    motions = [item.motion for item in video_items(default)]
    assert (motions.count("static"), motions.count("slow"), motions.count("fast")) == (3, 6, 3)
    assert sum(bool(item.scene_cuts) for item in video_items(default)) == 3
