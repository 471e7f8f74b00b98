"""Recipe parsing and validation: clear errors, impossible thresholds, stable hashes, the built-in registry."""
import pytest
import yaml

from curation.catalog import Catalog
from curation.curate import builtin_recipes, load_recipe
from curation.recipes.compile import check_versions, resolve
from curation.recipes.model import DEFAULT_PERCEPTUAL_DISTANCE, RecipeError, parse_recipe

from .conftest import sid, write_scores


def errors_of(text: str) -> str:
    with pytest.raises(RecipeError) as exc:
        parse_recipe(yaml.safe_load(text))
    return str(exc.value)


def test_issue_example_parses_with_stable_reasons():
    recipe = parse_recipe(yaml.safe_load("""
        name: laion-style
        models: {clip: ViT-B-32/openai}
        steps:
          - dedup: exact
          - dedup: perceptual
          - filter: {column: basic.is_blank, equals: false}
          - filter: {column: text.language, in: [en]}
          - filter: {column: clip.clip_score, min: 0.28}
          - top_fraction: {column: clip.clip_score, fraction: 0.3}
    """))
    assert [s.reason for s in recipe.steps] == [
        "dedup:exact", "dedup:perceptual", "filter:basic.is_blank", "filter:text.language",
        "filter:clip.clip_score", "top_fraction:clip.clip_score"]
    assert recipe.steps[1].max_distance == DEFAULT_PERCEPTUAL_DISTANCE == 6


def test_every_problem_is_listed_with_the_valid_choices():
    message = errors_of("""
        name: bad
        steps:
          - dedup: fuzzy
          - filter: {column: clip.clip_score, mn: 0.3}
          - frobnicate: {}
          - filter: {column: text.language}
    """)
    assert "step 1: dedup method 'fuzzy' is unknown; valid methods: exact, perceptual, semantic" in message
    assert "unknown option 'mn'; valid options: name, column, min, max, equals, in, not_in, not_null" in message
    assert "unknown step kind 'frobnicate'; valid kinds: filter, caption, top_fraction, top_k, dedup" in message
    assert "step 4: filter: a filter needs at least one of" in message


@pytest.mark.parametrize("step, expected", [
    ("filter: {column: clip.clip_score, min: 0.5, max: 0.2}", "min 0.5 is above max 0.2"),
    ("filter: {column: clip.clip_score, min: 1.5}", "above the largest possible clip.clip_score"),
    ("filter: {column: basic.aspect_ratio, max: -1}", "below the smallest possible"),
    ("filter: {column: text.language, in: []}", "in: [] keeps nothing"),
    ("filter: {column: text.language, in: [en], not_in: [en]}", "nothing can pass"),
    ("top_fraction: {column: clip.clip_score, fraction: 0}", "fraction"),
    ("top_fraction: {column: clip.clip_score, fraction: 1.5}", "fraction"),
    ("top_k: {column: clip.clip_score, k: 0}", "k"),
    ("caption: {min_words: 5, max_words: 2}", "min_words 5 is above max_words 2"),
    ("dedup: {method: perceptual, max_distance: 40}", "max_distance"),
    ("dedup: {method: semantic, min_similarity: 1.2}", "min_similarity"),
])
def test_impossible_thresholds_are_rejected(step, expected):
    assert expected in errors_of(f"name: x\nsteps:\n  - {step}\n")


def test_two_steps_with_one_reason_need_names():
    message = errors_of("""
        name: x
        models: {clip: ViT-B-32/openai}
        steps:
          - filter: {column: clip.clip_score, min: 0.1}
          - filter: {column: clip.clip_score, max: 0.9}
    """)
    assert "reason 'filter:clip.clip_score' is already used by step 1" in message
    recipe = parse_recipe(yaml.safe_load("""
        name: x
        models: {clip: ViT-B-32/openai}
        steps:
          - filter: {column: clip.clip_score, min: 0.1}
          - filter: {name: not_too_high, column: clip.clip_score, max: 0.9}
    """))
    assert recipe.steps[1].reason == "filter:not_too_high"


def test_hash_ignores_formatting_but_not_thresholds():
    model = "models: {clip: ViT-B-32/openai}\n"
    a = parse_recipe(yaml.safe_load(f"name: x\n{model}steps:\n  - filter: {{column: clip.clip_score, min: 0.3}}\n"))
    b = parse_recipe(yaml.safe_load(f"# comment\nname: x\n{model}steps:\n  - filter:\n      min: 0.30\n"
                                    "      column: clip.clip_score\n"))
    c = parse_recipe(yaml.safe_load(f"name: x\n{model}steps:\n  - filter: {{column: clip.clip_score, min: 0.31}}\n"))
    assert a.hash == b.hash != c.hash


def test_hash_covers_the_steps_and_version_picks_only():
    steps = [{"dedup": {"method": "perceptual", "max_distance": 4}},
             {"filter": {"column": "clip.clip_score", "min": 0.3}}]
    models = {"clip": "ViT-B-32/openai"}
    base = parse_recipe({"name": "x", "models": models, "steps": steps})
    documented = parse_recipe({"name": "y", "description": "CLIP >= 0.3 after dedup", "models": models,
                               "sources": ["DataComp, table 3"], "steps": steps})
    other_model = parse_recipe({"name": "x", "models": {"clip": "ViT-L-14/openai"}, "steps": steps})
    assert documented.hash == base.hash == other_model.hash
    looser = parse_recipe({"name": "x", "models": models,
                           "steps": [{"dedup": {"method": "perceptual", "max_distance": 5}}, steps[1]]})
    renamed_step = parse_recipe({"name": "x", "models": models,
                                 "steps": [steps[0], {"filter": steps[1]["filter"] | {"name": "clip"}}]})
    reordered = parse_recipe({"name": "x", "models": models, "steps": steps[::-1]})
    picked = parse_recipe({"name": "x", "models": models, "versions": {"clip": {"scorer_version": "1"}},
                           "steps": steps})
    assert len({base.hash, looser.hash, renamed_step.hash, reordered.hash, picked.hash}) == 5


def test_a_recipe_file_without_a_name_is_named_after_its_stem(tmp_path):
    quick = tmp_path / "quick-look.yaml"
    quick.write_text("steps:\n  - dedup: exact\n")
    assert load_recipe(quick).name == "quick-look"
    named = tmp_path / "file.yaml"
    named.write_text("name: mine\nsteps:\n  - dedup: exact\n")
    assert load_recipe(named).name == "mine"
    assert "missing required option 'name'" in errors_of("steps:\n  - dedup: exact\n")


def test_absolute_clip_thresholds_declare_their_model_and_ranks_do_not():
    message = errors_of("name: x\nsteps:\n  - filter: {column: clip.clip_score, min: 0.3}\n"
                        "  - filter: {column: clip.clip_score_min, max: 0.9}\n")
    assert "step 1 (filter:clip.clip_score): a threshold on clip.clip_score holds only for the model" in message
    assert "step 2 (filter:clip.clip_score_min)" in message and "models: {clip: ViT-B-32/openai}" in message
    parse_recipe(yaml.safe_load("name: x\nsteps:\n  - top_fraction: {column: clip.clip_score, fraction: 0.3}\n"
                                "  - filter: {column: clip.clip_score, not_null: true}\n"
                                "  - dedup: {method: exact, keep: clip.clip_score}\n"))


@pytest.mark.parametrize("top, expected", [
    ("models: {clip: a}\nversions: {clip: {model_id: b}}", "versions picks clip rows of model 'b', but models says"),
    ("models: {aesthetic: a}", "models: no step reads view 'aesthetic' (scorer views read: clip)"),
    ("models: {clip: a}\nversions: {basic: {scorer_version: '1'}}", "versions: no step reads view 'basic'"),
    ("models: {clip: a}\nversions: {clip: {}}", "a versions entry needs scorer_version, model_id or both"),
    ("models: {clip: a}\nversions: {clip: {model: a}}", "unknown option 'versions.clip.model'; valid options: "
                                                         "scorer_version, model_id"),
])
def test_versions_and_models_are_validated(top, expected):
    assert expected in errors_of(f"name: x\n{top}\nsteps:\n  - filter: {{column: clip.clip_score, min: 0.3}}\n")


def test_unknown_recipe_lists_builtins(tmp_path):
    with pytest.raises(RecipeError, match="built-ins: .*datacomp-basic"):
        load_recipe("no-such-recipe")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)


@pytest.mark.parametrize("name", sorted(builtin_recipes()))
def test_builtin_recipe_is_valid_documented_and_compiles(name, workspace_factory):
    """Against the real scorer schemas: every scorer view exists (empty) with exactly its schema's columns."""
    recipe = load_recipe(name)
    assert recipe.name == name
    assert recipe.description.strip() and recipe.sources, "built-ins document where their thresholds come from"
    ws = workspace_factory([{"sample_id": sid(0), "caption": "a red circle"}])
    resolve(recipe, Catalog(ws))
    check_versions(recipe, Catalog(ws))


@pytest.mark.parametrize("name", ["datacomp-clip-threshold", "laion2b"])
def test_builtin_clip_thresholds_assume_openai_vit_b_32(name):
    assert load_recipe(name).models == {"clip": "ViT-B-32/openai"}
