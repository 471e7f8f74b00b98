"""`gristmill export --recipe`: curate now, export exactly those decisions, leave decisions/CURRENT alone."""
import json

import pytest
from pydantic import ValidationError

from curation.curate import builtin_recipes
from gristmill.cli import main
from pipelines.export import ExportConfig, load_manifest
from tests.export.test_export_resume import release_files

RECIPE = """\
name: clip-best
# the 60% of crawled samples with the highest CLIP score
steps:
  - filter: {column: basic.width, min: 1}
  - top_fraction: {column: clip.clip_score, fraction: 0.6}
"""
OPTIONS = ["--format", "parquet", "--format", "webdataset", "--shard-size", "60KB", "--split", "val=0.2"]


def cli(*argv) -> int:
    return main(["export", *map(str, argv)])


def files(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_recipe_export_equals_curate_then_export_and_keeps_current(ws, tmp_path, capsys):
    recipe = tmp_path / "clip-best.yaml"
    recipe.write_text(RECIPE)
    assert cli(ws.root, "--recipe", recipe, "--out", tmp_path / "a", *OPTIONS, "--json") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert ws.path("decisions", "CURRENT").read_text() == "demo-aaaa.parquet\n"
    assert result["decisions"].startswith("clip-best-") and ws.path("decisions", result["decisions"]).is_file()
    assert ws.path("reports", "funnel", result["decisions"].removesuffix(".parquet"), "funnel.json").is_file()

    assert main(["curate", str(ws.root), str(recipe)]) == 0
    assert ws.path("decisions", "CURRENT").read_text() == result["decisions"] + "\n"
    assert cli(ws.root, "--decisions", result["decisions"], "--out", tmp_path / "b", *OPTIONS) == 0

    a, b = release_files(tmp_path / "a"), release_files(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 4
    assert {k: v for k, v in a.items() if k != "manifest.json"} == {k: v for k, v in b.items() if k != "manifest.json"}
    manifest_a, manifest_b = load_manifest(tmp_path / "a"), load_manifest(tmp_path / "b")
    assert manifest_a["release_id"] == manifest_b["release_id"]
    assert manifest_a["decisions"] == manifest_b["decisions"]
    assert manifest_a["decisions"]["name"] == result["decisions"]
    recorded = manifest_a["recipe"]
    assert recorded["name"] == "clip-best" and recorded["text"] == RECIPE
    assert manifest_a["decisions"]["recipes"] == [{"name": "clip-best", "hash": recorded["hash"]}]
    assert manifest_b["recipe"] is None


def test_builtin_recipe_name_and_a_workspace_without_current(ws, tmp_path, capsys):
    ws.path("decisions", "CURRENT").unlink()
    assert cli(ws.root, "--recipe", "no-filter", "--out", tmp_path / "r") == 0
    assert not ws.path("decisions", "CURRENT").exists()
    manifest = load_manifest(tmp_path / "r")
    assert manifest["recipe"]["text"] == builtin_recipes()["no-filter"].read_text()
    assert manifest["counts"]["rows"] == 38  # every successful crawl: 36 images and 2 videos


@pytest.mark.parametrize("text, message", [
    ("name: broken\nsteps:\n  - filter: {column: basic.width, minimum: 3}\n", "is not a valid recipe"),
    ("name: broken\nsteps: []\n", "steps must be a non-empty list"),
    ("name: broken\nsteps:\n  - filter: {column: nope.score, min: 3}\n", "does not fit this workspace"),
    ("name: [unclosed\n", "is not valid YAML"),
    (None, "neither a file nor a built-in recipe"),
])
def test_bad_recipe_fails_before_any_file_is_written(ws, tmp_path, capsys, text, message):
    recipe = tmp_path / "recipe.yaml"
    if text is not None:
        recipe.write_text(text)
    before = files(ws.root)
    assert cli(ws.root, "--recipe", recipe, "--out", tmp_path / "out") == 2
    assert message in capsys.readouterr().err
    assert files(ws.root) == before and not (tmp_path / "out").exists()


def test_busy_output_folder_is_refused_before_curating(ws, tmp_path, capsys):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    before = files(ws.root)
    assert cli(ws.root, "--recipe", "no-filter", "--out", tmp_path / "out") == 2
    assert "not empty" in capsys.readouterr().err
    assert files(ws.root) == before


def test_recipe_and_decisions_together_are_refused(ws, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli(ws.root, "--recipe", "no-filter", "--decisions", "demo-aaaa.parquet", "--out", tmp_path / "out")
    assert exit_.value.code == 2 and "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(ValidationError, match="not both"):
        ExportConfig(out=tmp_path / "out", recipe="no-filter", decisions="demo-aaaa.parquet")
    assert not (tmp_path / "out").exists()
