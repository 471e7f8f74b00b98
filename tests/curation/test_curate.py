"""curate(): reasons and their order, ranking over survivors, keep-best, human overrides, outputs."""
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from curation.catalog import Catalog
from curation.curate import curate
from curation.recipes.model import RecipeError, parse_recipe

from .conftest import sid, write_embeddings, write_reviews


def recipe(*steps, name="t", **keys):
    """A recipe of `steps` and top-level `keys` (versions, models)."""
    return parse_recipe({"name": name, **keys, "steps": list(steps)})


ON_TEST_MODEL = {"models": {"clip": "test-model"}}  # the model the fixture's clip scores come from


def decisions(result) -> dict[str, dict]:
    return {r["sample_id"]: r for r in pq.read_table(result.decisions_path).to_pylist()}


R1, R3, R4, R7, R8, R9 = 0x0123456789ABCDEF, 0xFEDCBA9876543210, 0x0F0F0F0F0F0F0F0F, 0xF0F0F0F0F0F0F0F0, \
    0x00FF00FF00FF00FF, 0xFF00FF00FF00FF00
PHASHES = {1: R1, 2: R1 ^ 1, 3: R3, 4: R4, 5: R4 ^ 0x10, 6: R4 ^ 0x110, 7: R7, 8: R8, 9: R9}  # {1,2} and {4,5,6} close


@pytest.fixture
def ws(workspace_factory):
    """10 samples: #0 failed to crawl, #1 and #2 share a payload, #3 has no clip score, #4 is blank."""
    samples = [{"sample_id": sid(i), "caption": f"a photo of thing number {i}", "sha256": f"sha{i}",
                "extra": json.dumps({"source": "a" if i % 2 else "b"})} for i in range(10)]
    samples[0].update(status="http_404", sha256=None)
    samples[2]["sha256"] = "sha1"
    samples[5]["caption"] = "IMG_0005.jpg"
    basic = [{"sample_id": sid(i), "is_blank": i == 4, "width": 100 + i, "height": 100, "aspect_ratio": 1.0,
              "phash": f"{PHASHES[i]:016x}"} for i in range(1, 10)]
    clip = [{"sample_id": sid(i), "clip_score": i / 10} for i in range(1, 10) if i != 3]
    return workspace_factory(samples, {"basic": basic, "clip": clip})


def test_failed_crawls_first_missing_values_and_every_reason(ws):
    result = curate(ws, recipe(
        {"filter": {"column": "basic.is_blank", "equals": False}},
        {"filter": {"column": "clip.clip_score", "min": 0.45}},
        {"caption": {"not_matches": r"^IMG_\d+"}},
        **ON_TEST_MODEL,
    ))
    d = decisions(result)
    assert d[sid(0)]["reasons"] == ["crawl:http_404"] and not d[sid(0)]["kept"]
    assert d[sid(3)]["reason"] == "missing:clip.clip_score"
    assert d[sid(4)]["reasons"] == ["filter:basic.is_blank", "filter:clip.clip_score"]
    assert d[sid(4)]["reason"] == "filter:basic.is_blank"
    assert d[sid(5)]["reasons"] == ["caption:not_matches"]
    assert [s for s, r in d.items() if r["kept"]] == [sid(i) for i in (6, 7, 8, 9)]
    assert all(r["source"] == "recipe" and r["recipe_hash"] == result.recipe.hash for r in d.values())


def test_top_fraction_ranks_survivors_and_judges_the_dropped_too(ws):
    result = curate(ws, recipe(
        {"filter": {"column": "basic.is_blank", "equals": False}},
        {"top_fraction": {"column": "clip.clip_score", "fraction": 0.5}},
    ))
    d = decisions(result)
    # alive with a score: 1 2 5 6 7 8 9 -> keep ceil(3.5) = 4 best: 6 7 8 9
    assert [s for s, r in d.items() if r["kept"]] == [sid(i) for i in (6, 7, 8, 9)]
    assert d[sid(4)]["reasons"] == ["filter:basic.is_blank", "top_fraction:clip.clip_score"]  # 0.4 < cutoff 0.6
    assert d[sid(3)]["reason"] == "missing:clip.clip_score"
    hist = result.funnel.histograms[0]
    assert hist.thresholds == {"cutoff": pytest.approx(0.6)} and (result.funnel_dir / hist.png).is_file()


def test_top_k_per_group_is_a_quota(ws):
    result = curate(ws, recipe({"top_k": {"column": "clip.clip_score", "k": 2, "by": "extra.source"}}))
    kept = [s for s, r in decisions(result).items() if r["kept"]]
    assert kept == [sid(i) for i in (6, 7, 8, 9)]  # two per source: a = 7 9, b = 6 8


def test_exact_dedup_keeps_the_best_by_score(ws):
    by_score = decisions(curate(ws, recipe({"dedup": {"method": "exact", "keep": "clip.clip_score"}})))
    assert by_score[sid(1)]["reason"] == "dedup:exact" and by_score[sid(2)]["kept"]
    by_id = decisions(curate(ws, recipe({"dedup": "exact"})))
    assert by_id[sid(1)]["kept"] and by_id[sid(2)]["reason"] == "dedup:exact"


def test_dedup_representatives_are_alive_before_the_step(ws):
    d = decisions(curate(ws, recipe(
        {"filter": {"column": "basic.width", "min": 102}},
        {"dedup": "exact"},
    )))
    assert d[sid(1)]["reasons"] == ["filter:basic.width", "dedup:exact"]
    assert d[sid(2)]["kept"]


def test_perceptual_dedup_keeps_both_ends_of_a_chain(ws):
    d = decisions(curate(ws, recipe({"dedup": {"method": "perceptual", "max_distance": 1}})))
    dropped = {s: r["duplicate_of"] for s, r in d.items() if r["reason"] == "dedup:perceptual"}
    assert dropped == {sid(2): sid(1), sid(5): sid(4)}  # 4~5~6 chain: 6 is 2 bits from 4, so it is kept
    assert d[sid(4)]["kept"] and d[sid(6)]["kept"] and d[sid(6)]["duplicate_of"] is None
    by_score = decisions(curate(ws, recipe({"dedup": {"method": "perceptual", "max_distance": 1,
                                                      "keep": "clip.clip_score"}})))
    assert {s: r["duplicate_of"] for s, r in by_score.items() if r["duplicate_of"]} == {sid(1): sid(2), sid(5): sid(6)}
    d = decisions(curate(ws, recipe({"dedup": {"method": "perceptual", "max_distance": 0}})))
    assert not any(r["reason"] == "dedup:perceptual" or r["duplicate_of"] for r in d.values())


def test_a_sample_dropped_earlier_neither_bridges_nor_survives_dedup(ws):
    d = decisions(curate(ws, recipe(
        {"filter": {"column": "basic.width", "not_in": [105]}},  # drops #5, the middle of the 4~5~6 chain
        {"dedup": {"method": "perceptual", "max_distance": 1}},
    )))
    assert d[sid(4)]["kept"] and d[sid(6)]["kept"], "a dropped sample merged two live ones"
    assert d[sid(5)]["reasons"] == ["filter:basic.width", "dedup:perceptual"] and d[sid(5)]["duplicate_of"] == sid(4)
    d = decisions(curate(ws, recipe({"filter": {"column": "basic.width", "not_in": [101]}}, {"dedup": "exact"})))
    assert d[sid(2)]["kept"] and d[sid(1)]["duplicate_of"] == sid(2)  # the live copy represents the payload


def test_human_decisions_override_and_undo(ws):
    write_reviews(ws, [
        {"sample_id": sid(4), "action": "accept"},  # blank, dropped by the recipe -> kept
        {"sample_id": sid(9), "action": "reject"},  # kept by the recipe -> dropped
        {"sample_id": sid(8), "action": "reject"},
        {"sample_id": sid(8), "action": "accept"},  # the later decision wins
    ])
    undo_target = {"sample_id": sid(7), "action": "reject", "event_id": "e-undone"}
    write_reviews(ws, [undo_target, {"sample_id": sid(7), "action": "undo", "undo_of": "e-undone"}])
    result = curate(ws, recipe({"filter": {"column": "basic.is_blank", "equals": False}}))
    d = decisions(result)
    assert d[sid(4)] | {"versions": None} == d[sid(4)] | {
        "kept": True, "reason": None, "reasons": ["filter:basic.is_blank"], "source": "human", "versions": None}
    assert (d[sid(9)]["kept"], d[sid(9)]["reason"], d[sid(9)]["source"]) == (False, "human:reject", "human")
    assert d[sid(8)]["kept"] and d[sid(7)]["source"] == "recipe" and d[sid(7)]["kept"]
    assert result.funnel.human == {"accepted_dropped": 1, "rejected_kept": 1, "agreed": 1}
    assert result.kept == result.funnel.recipe_kept


def test_decisions_are_byte_identical_and_current(ws):
    r = recipe({"dedup": "exact"}, {"dedup": "perceptual"}, {"top_fraction": {"column": "clip.clip_score",
                                                                               "fraction": 0.3}})
    first = curate(ws, r)
    data = first.decisions_path.read_bytes()
    second = curate(ws, r)
    assert second.decisions_path == first.decisions_path and second.decisions_path.read_bytes() == data
    assert first.decisions_path.name == f"t-{r.hash[:12]}.parquet"
    catalog = Catalog(ws)
    assert catalog.query("SELECT count(*) AS n FROM decisions WHERE kept").column("n")[0].as_py() == first.kept
    versions = json.loads(decisions(first)[sid(1)]["versions"])
    assert versions["scorers"]["clip"] == [{"scorer_version": "clip-test-1", "model_id": "test-model"}]
    assert set(versions["scorers"]) == {"basic", "clip"}


def test_funnel_counts_add_up_and_are_saved(ws):
    result = curate(ws, recipe(
        {"dedup": "exact"},
        {"filter": {"column": "basic.is_blank", "equals": False}},
        {"filter": {"column": "clip.clip_score", "min": 0.25, "max": 0.85}},
        **ON_TEST_MODEL,
    ))
    f = result.funnel
    assert (f.rows_in, f.crawl_dropped) == (10, 1)
    assert [(s.name, s.rows_in, s.dropped, s.rows_out) for s in f.steps] == [
        ("dedup:exact", 9, 1, 8), ("filter:basic.is_blank", 8, 1, 7), ("filter:clip.clip_score", 7, 3, 4)]
    assert f.steps[2].reasons == {"filter:clip.clip_score": 3, "missing:clip.clip_score": 1}
    assert {"a": "dedup:exact", "b": "filter:clip.clip_score", "rows": 1} in f.overlaps
    saved = json.loads((result.funnel_dir / "funnel.json").read_text())
    assert saved["kept"] == f.kept == 4
    hist = saved["histograms"][0]
    assert hist["thresholds"] == {"min": 0.25, "max": 0.85}
    assert sum(hist["counts"]) == hist["rows"] == 6  # 7 alive, one of them without a score
    assert (result.funnel_dir / hist["png"]).read_bytes().startswith(b"\x89PNG")


def test_unknown_columns_are_listed_with_the_valid_ones(ws):
    with pytest.raises(RecipeError) as exc:
        curate(ws, recipe({"filter": {"column": "clp.clip_score", "min": 0.3}},
                          {"filter": {"column": "clip.score", "min": 0.3}},
                          {"filter": {"column": "clip_score", "min": 0.3}}))
    message = str(exc.value)
    valid = message.split("unknown scorer or view 'clp' in 'clp.clip_score'; valid: ", 1)[1].split("\n", 1)[0]
    assert {"basic", "clip", "samples", "text", "extra.<key>"} <= set(valid.split(", "))
    assert "clip has no column 'score' (in 'clip.score'); valid columns: sample_id, error, clip_score," in message
    assert "column 'clip_score' has no view; did you mean clip.clip_score?" in message


@pytest.mark.parametrize("ref", ["review_state.decision", "decisions.kept", "reviews.action", "clips.shot_index"])
def test_outcome_views_are_not_recipe_inputs(ws, ref):
    with pytest.raises(RecipeError, match=f"unknown scorer or view '{ref.split('.')[0]}'"):
        curate(ws, recipe({"filter": {"column": ref, "not_null": True}}))


@pytest.mark.parametrize("step, expected", [
    ({"filter": {"column": "basic.is_blank", "min": 1}}, "min/max need a numeric column"),
    ({"filter": {"column": "text.language", "equals": 3}}, "value 3 does not fit text.language"),
    ({"top_fraction": {"column": "text.language", "fraction": 0.5}}, "ranking needs a numeric column"),
    ({"caption": {"matches": "(("}}, "invalid regular expression"),
    ({"dedup": {"method": "perceptual", "column": "basic.width"}}, "needs a hex hash column"),
    ({"dedup": "semantic"}, "this workspace has no embeddings; score with clip first"),
])
def test_type_errors(ws, step, expected):
    with pytest.raises(RecipeError, match=expected):
        curate(ws, recipe(step))


def test_user_strings_are_bound_not_spliced(ws):
    hostile = "x'; DROP TABLE _base; --"
    d = decisions(curate(ws, recipe(
        {"caption": {"not_matches": hostile}},
        {"filter": {"name": "quote's", "column": "extra.so'urce", "not_null": True}},
    )))
    assert d[sid(1)]["reasons"] == ["missing:extra.so'urce"]
    with pytest.raises(RecipeError, match="has no column"):
        curate(ws, recipe({"filter": {"column": 'clip.clip_score" > 0 OR "1', "min": 0.1}}))


def test_semantic_dedup_groups_near_identical_embeddings(ws):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 16))
    vectors[5] = vectors[4] + 0.01 * rng.normal(size=16)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    write_embeddings(ws, "test/model", [sid(i) for i in range(1, 10)], vectors)
    d = decisions(curate(ws, recipe({"dedup": {"method": "semantic", "keep": "clip.clip_score"}})))
    assert [(s, r["duplicate_of"]) for s, r in d.items() if r["reason"] == "dedup:semantic"] == [(sid(5), sid(6))]


def test_semantic_dedup_keeps_both_ends_of_a_chain(ws):
    """#4, #5, #6 lie 15 degrees apart on a circle: cos 15 = 0.97 links neighbours, cos 30 = 0.87 does not."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(9, 16))
    u, v = np.linalg.qr(rng.normal(size=(16, 2)))[0].T
    for i, degrees in ((4, 0), (5, 15), (6, 30)):
        vectors[i - 1] = np.cos(np.radians(degrees)) * u + np.sin(np.radians(degrees)) * v
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    write_embeddings(ws, "test/model", [sid(i) for i in range(1, 10)], vectors)
    d = decisions(curate(ws, recipe({"dedup": {"method": "semantic", "min_similarity": 0.95}})))
    assert {s: r["duplicate_of"] for s, r in d.items() if r["reason"] == "dedup:semantic"} == {sid(5): sid(4)}


def test_decisions_are_sorted_and_identical_across_row_groups(workspace_factory, monkeypatch):
    import curation.curate as curate_module

    order = np.random.default_rng(1).permutation(40)  # shards list samples in no particular order
    samples = [{"sample_id": sid(int(i)), "sha256": f"sha{int(i) // 2}", "status": "success" if i % 7 else "http_404"}
               for i in order]
    clip = [{"sample_id": sid(int(i)), "clip_score": (int(i) * 37 % 40) / 40} for i in order if i % 7]
    ws = workspace_factory(samples, {"clip": clip})
    write_reviews(ws, [{"sample_id": sid(3), "action": "accept"}, {"sample_id": sid(9), "action": "reject"}])
    monkeypatch.setattr(curate_module, "ROW_GROUP", 6)
    r = recipe({"dedup": "exact"}, {"top_fraction": {"column": "clip.clip_score", "fraction": 0.5}})
    first = curate(ws, r)
    data = first.decisions_path.read_bytes()
    assert pq.ParquetFile(first.decisions_path).metadata.num_row_groups == 7
    d = decisions(first)
    assert list(d) == [sid(i) for i in range(40)]
    assert curate(ws, r).decisions_path.read_bytes() == data
    assert d[sid(7)] | {"versions": None} == d[sid(7)] | {
        "kept": False, "reason": "crawl:http_404", "reasons": ["crawl:http_404"], "source": "recipe",
        "recipe_name": "t", "recipe_hash": r.hash, "versions": None}
    assert (d[sid(3)]["kept"], d[sid(3)]["source"]) == (True, "human")
    assert (d[sid(9)]["kept"], d[sid(9)]["reason"]) == (False, "human:reject")
    assert sum(row["kept"] for row in d.values()) == first.kept
