"""What curate reads: one row per sample when a sample was crawled twice, one scorer version per view (or
the recipe's pick), and CLIP scores of the model a recipe's absolute thresholds were set on."""
import json

import pyarrow.parquet as pq
import pytest

from curation.curate import curate
from curation.recipes.model import RecipeError, parse_recipe
from curation.shards import ShardWriter
from pipelines.export import ExportConfig, export

from .conftest import make_workspace, sid, write_scores

WIDTH_FILTER = {"name": "t", "steps": [{"filter": {"column": "basic.width", "min": 100}}]}


def decision_rows(result) -> list[dict]:
    return pq.read_table(result.decisions_path).to_pylist()


def crawled_twice(tmp_path, statuses: tuple[str, str]):
    """Sample #1 in shard 00000 and again in shard 00001 with `statuses`; #2 once. Only successes have media
    and basic scores (as the scorers write them: a row per successful crawl)."""
    ws = make_workspace(tmp_path / "ws", [])
    for shard, status in zip(("00000", "00001"), statuses):
        writer = ShardWriter(ws.root, shard)
        rows = [(sid(1), status)] + ([(sid(2), "success")] if shard == "00000" else [])
        for sample, state in rows:
            row = {"sample_id": sample, "url": f"http://example.test/{sample}.jpg", "caption": "a cat",
                   "media_type": "image", "status": state}
            writer.add(row, media=b"\xff\xd8 not really a jpeg" if state == "success" else None, ext="jpg")
        writer.commit()
    ok = [sid(2)] + ([sid(1)] if "success" in statuses else [])
    write_scores(ws, "basic", [{"sample_id": s, "width": 150} for s in ok])
    return ws


@pytest.mark.parametrize("statuses", [("success", "http_404"), ("http_404", "success")])
def test_a_sample_crawled_twice_gets_one_decision_from_its_successful_crawl(tmp_path, statuses):
    ws = crawled_twice(tmp_path, statuses)
    result = curate(ws, parse_recipe(WIDTH_FILTER))
    rows = decision_rows(result)
    assert [r["sample_id"] for r in rows] == [sid(1), sid(2)]
    assert rows[0]["kept"] and rows[0]["reasons"] == []  # judged by the successful row's scores
    assert result.funnel.rows_in == 2 and result.funnel.crawl_dropped == 0
    release = export(ws, ExportConfig(out=tmp_path / "release"))
    files = [str(release.out / s.file) for s in release.shards if s.format == "parquet"]
    exported = pq.read_table(files, columns=["sample_id", "source_shard"]).to_pylist()
    shard = ("00000", "00001")[statuses.index("success")]
    assert exported == [{"sample_id": sid(1), "source_shard": shard}, {"sample_id": sid(2), "source_shard": "00000"}]


def test_of_two_failed_crawls_the_latest_counts(tmp_path):
    rows = decision_rows(curate(crawled_twice(tmp_path, ("http_404", "timeout")), parse_recipe(WIDTH_FILTER)))
    assert [(r["sample_id"], r["reasons"]) for r in rows] == [(sid(1), ["crawl:timeout"]), (sid(2), [])]


def test_a_sample_scored_in_two_shards_is_refused_with_the_view_named(tmp_path):
    ws = crawled_twice(tmp_path, ("success", "success"))
    write_scores(ws, "basic", [{"sample_id": sid(1), "width": 90}], part="00001")
    with pytest.raises(RecipeError, match=f"scorer view 'basic' has 2 rows for sample {sid(1)}"):
        curate(ws, parse_recipe(WIDTH_FILTER))


@pytest.fixture
def rescored(workspace_factory):
    """Samples 0-7; clip scores of 0-3 from model 'A' (scorer version 1), of 4-7 from model 'B' (version 2)."""
    ws = workspace_factory([{"sample_id": sid(i)} for i in range(8)])
    write_scores(ws, "clip", [{"sample_id": sid(i), "clip_score": i / 10, "scorer_version": "1", "model_id": "A"}
                              for i in range(4)])
    write_scores(ws, "clip", [{"sample_id": sid(i), "clip_score": i / 10, "scorer_version": "2", "model_id": "B"}
                              for i in range(4, 8)], part="00001")
    return ws


TOP_HALF = [{"top_fraction": {"column": "clip.clip_score", "fraction": 0.5}}]


def test_mixed_scorer_versions_are_refused_with_their_row_counts(rescored):
    with pytest.raises(RecipeError) as exc:
        curate(rescored, parse_recipe({"name": "t", "steps": TOP_HALF}))
    assert ("clip holds scores of 2 scorer versions or models: scorer_version '1', model_id 'A' (4 rows); "
            "scorer_version '2', model_id 'B' (4 rows); re-score so that one remains, or pick one with versions:"
            in str(exc.value))


def test_a_recipe_picks_the_scorer_version_it_reads(rescored):
    recipe = parse_recipe({"name": "t", "versions": {"clip": {"model_id": "B"}}, "steps": TOP_HALF})
    result = curate(rescored, recipe)
    rows = {r["sample_id"]: r for r in decision_rows(result)}
    assert all(rows[sid(i)]["reason"] == "missing:clip.clip_score" for i in range(4))
    assert [s for s, r in rows.items() if r["kept"]] == [sid(6), sid(7)]
    assert result.versions["scorers"]["clip"] == [{"scorer_version": "2", "model_id": "B"}]
    assert json.loads(rows[sid(0)]["versions"])["scorers"]["clip"] == [{"scorer_version": "2", "model_id": "B"}]
    with pytest.raises(RecipeError, match=r"versions: clip has no rows of \{'model_id': 'C'\}; it holds "):
        curate(rescored, parse_recipe({"name": "t", "versions": {"clip": {"model_id": "C"}}, "steps": TOP_HALF}))


@pytest.fixture
def scored_by(workspace_factory):
    """A workspace of 4 English samples whose clip scores come from the model given."""
    def make(model_id: str):
        ws = workspace_factory([{"sample_id": sid(i)} for i in range(4)])
        write_scores(ws, "clip", [{"sample_id": sid(i), "clip_score": 0.25 + i / 100, "model_id": model_id}
                                  for i in range(4)])
        write_scores(ws, "text", [{"sample_id": sid(i), "language": "en"} for i in range(4)])
        return ws
    return make


def test_builtin_clip_thresholds_refuse_scores_of_another_model(scored_by):
    with pytest.raises(RecipeError) as exc:
        curate(scored_by("ViT-B-32/laion2b_s34b_b79k"), "laion2b")
    assert ("the recipe's thresholds on clip were set on model 'ViT-B-32/openai' (models: clip), but this "
            "workspace's clip scores come from 'ViT-B-32/laion2b_s34b_b79k'; score with ViT-B-32/openai" in str(exc.value))
    with pytest.raises(RecipeError, match="random-init-PLACEHOLDER' \\(random weights: its scores mean nothing\\)"):
        curate(scored_by("ViT-B-32/random-init-PLACEHOLDER"), "datacomp-clip-threshold")
    kept = [r["sample_id"] for r in decision_rows(curate(scored_by("ViT-B-32/openai"), "laion2b")) if r["kept"]]
    assert kept == [sid(3)]  # 0.28 and above


def test_rank_based_clip_steps_run_on_any_model(scored_by):
    assert curate(scored_by("ViT-B-32/random-init-PLACEHOLDER"), "datacomp-clip-top30").kept == 2
