"""Curation against the synthetic corpus's ground truth: duplicates found, defects dropped, humans win.

Scores are written the way the scorers will compute them (phash with imagehash on the generated files)
or copied from the ground truth where a model would be needed (language, junk caption), so these tests
check the recipe engine, not the scorers.
"""
import shutil
from collections import defaultdict

import imagehash
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from curation.curate import curate, load_recipe
from curation.identity import sample_id
from curation.recipes.dedup import perceptual_duplicates
from curation.recipes.model import Recipe
from curation.synthetic.corpus import CorpusSpec, generate_corpus
from curation.workspace import Workspace

from .conftest import make_workspace, write_reviews, write_scores

FAILED = 5  # extra samples whose crawl failed
FILTERED = {"blank", "tiny", "extreme_aspect", "junk_caption", "non_english"}  # defects the basic rules catch


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    corpus = generate_corpus(root, CorpusSpec(seed=0, n_images=300, n_videos=0))
    items = [i for i in corpus.items if i.media_type == "image"]
    ids = {i.item_id: sample_id(f"http://synthetic.test/{i.relpath}", i.caption) for i in items}
    samples = [{"sample_id": ids[i.item_id], "url": f"http://synthetic.test/{i.relpath}", "caption": i.caption,
                "sha256": i.sha256, "width": i.width, "height": i.height, "original_width": i.width,
                "original_height": i.height} for i in items]
    samples += [{"sample_id": f"{k:032x}", "url": f"http://synthetic.test/missing-{k}.jpg", "caption": "gone",
                 "status": "http_404"} for k in range(FAILED)]
    basic = [{"sample_id": ids[i.item_id], "width": i.width, "height": i.height, "aspect_ratio": i.width / i.height,
              "is_blank": i.blank, "phash": str(imagehash.phash(Image.open(corpus.path(i.item_id))))} for i in items]
    text = [{"sample_id": ids[i.item_id], "language": i.language, "is_junk": i.junk_caption} for i in items]
    ws = make_workspace(root / "ws", samples, {"basic": basic, "text": text})
    return corpus, items, ids, ws


def roots(items) -> dict[str, str]:
    """item_id -> the item it duplicates (itself for originals)."""
    return {i.item_id: i.exact_duplicate_of or i.near_duplicate_of or i.item_id for i in items}


def test_exact_and_near_duplicates_are_found_without_false_merges(corpus):
    _, items, _, _ = corpus
    truth = roots(items)
    codes = pa.array([str(imagehash.phash(Image.open(corpus[0].path(i.item_id)))) for i in items])
    duplicate_of = perceptual_duplicates(codes, load_recipe("demo").steps[1].max_distance, len(items))
    sha = {i.item_id: i.sha256 for i in items}
    assert all(sha[i.item_id] == sha[i.exact_duplicate_of] for i in items if i.exact_duplicate_of)
    dropped = {i.item_id: items[rep].item_id for i, rep in zip(items, duplicate_of.tolist()) if rep >= 0}
    assert all(truth[item] == truth[rep] for item, rep in dropped.items()), "distinct images merged"
    groups = defaultdict(set)  # an original and its copies
    for item, root in truth.items():
        groups[root].add(item)
    copies = [g for g in groups.values() if len(g) > 1]
    collapsed = sum(len(g - set(dropped)) == 1 for g in copies)
    assert sum(map(len, copies)) - len(copies) >= 30 and collapsed / len(copies) >= 0.95


def test_basic_recipe_drops_exactly_the_defective_samples(corpus):
    _, items, ids, ws = corpus
    demo = load_recipe("demo")
    basic = Recipe(name="demo-no-clip", steps=demo.steps[:-1])  # clip scores would need a real model
    result = curate(ws, basic)
    kept = {r["sample_id"] for r in _rows(result) if r["kept"]}
    filtered = {ids[i.item_id] for i in items if FILTERED & set(i.defects)}
    groups = defaultdict(set)  # an original and its copies; which copy survives is the recipe's choice
    for item, root in roots(items).items():
        groups[root].add(ids[item])
    singles = {m for g in groups.values() if len(g) == 1 for m in g}
    assert not kept & filtered, "every blank, tiny, extreme-aspect, junk-caption and non-English sample dropped"
    assert singles - filtered <= kept, "no other sample dropped"
    copies = [g for g in groups.values() if len(g) > 1]
    collapsed = sum(len(g & kept) == 1 for g in copies)
    assert all(len(g & kept) >= 1 for g in copies) and collapsed / len(copies) >= 0.95
    assert result.funnel.crawl_reasons == {"crawl:http_404": FAILED}


def test_decisions_are_deterministic_and_humans_win(corpus, tmp_path):
    _, items, ids, shared = corpus
    shutil.copytree(shared.root, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    demo = load_recipe("demo")
    recipe = Recipe(name="demo-no-clip", steps=demo.steps[:-1])
    first = curate(ws, recipe).decisions_path.read_bytes()
    assert curate(ws, recipe).decisions_path.read_bytes() == first
    blank = next(ids[i.item_id] for i in items if i.blank)
    clean = next(ids[i.item_id] for i in items if not i.defects)
    write_reviews(ws, [{"sample_id": blank, "action": "accept"}, {"sample_id": clean, "action": "reject"}])
    rows = {r["sample_id"]: r for r in _rows(curate(ws, recipe))}
    assert rows[blank]["kept"] and rows[blank]["source"] == "human"
    assert rows[clean]["reason"] == "human:reject"
    changed = [s for s, r in rows.items() if r["source"] == "human"]
    assert sorted(changed) == sorted([blank, clean])


def _rows(result) -> list[dict]:
    return pq.read_table(result.decisions_path).to_pylist()


def test_demo_recipe_fits_a_scored_workspace(corpus, tmp_path):
    _, items, ids, shared = corpus
    shutil.copytree(shared.root, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    rng = np.random.default_rng(0)
    write_scores(ws, "clip", [{"sample_id": ids[i.item_id], "clip_score": float(rng.uniform(0.1, 0.4))}
                              for i in items])
    result = curate(ws, "demo")
    last = result.funnel.steps[-1]
    assert last.name == "top_fraction:clip.clip_score"
    assert last.rows_out == -(-last.rows_in * 9 // 10)
