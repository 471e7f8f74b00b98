"""Label vocabularies: valid files load, and each kind of mistake gets an error naming its field and class."""
import pytest

from curation.labels.human import NONE_OF_THESE, decode, encode
from curation.labels.vocabulary import LabelError, load_vocabulary, parse_vocabulary, save_vocabulary
from curation.workspace import Workspace
from tests.labels.conftest import ANIMALS


def _error(text: str) -> str:
    with pytest.raises(LabelError) as info:
        parse_vocabulary(text, "vocab.yaml")
    return str(info.value)


def _field(kind: str, classes: str, extra: str = "") -> str:
    return f"fields:\n  - name: scene\n    kind: {kind}\n{extra}    classes:\n{classes}"


TWO = "      - {name: indoor, prompts: [a room]}\n      - {name: outdoor, prompts: [a street]}\n"


def test_a_valid_vocabulary_round_trips_through_the_workspace(tmp_path):
    vocabulary = parse_vocabulary(ANIMALS, "test")
    animal = vocabulary.field("animal")
    assert animal.class_names == ["cat", "dog", "bird", "fish"] and not animal.multi
    assert animal.classes[0].prompts == ["a photo of a cat", "a cat sitting"]
    assert vocabulary.field("tags").background() == ["a photo"] and vocabulary.target_precision == 0.9
    ws = Workspace.init(tmp_path / "ws")
    assert load_vocabulary(ws).fields == []
    save_vocabulary(ws, vocabulary)
    again = load_vocabulary(ws)
    assert again == vocabulary and again.field("animal").digest() == animal.digest()


def test_duplicate_class_and_duplicate_field_are_named():
    classes = TWO + "      - {name: indoor, prompts: [a hall]}\n"
    assert "field 'scene': duplicate class 'indoor'" in _error(_field("single", classes))
    twice = _field("single", TWO) + _field("multi", TWO).removeprefix("fields:\n")
    assert "top level: duplicate field 'scene'" in _error(twice)


@pytest.mark.parametrize("prompts", ["[]", "['  ']", "[a room, '']"])
def test_empty_prompts_are_refused(prompts):
    classes = f"      - {{name: indoor, prompts: {prompts}}}\n      - {{name: outdoor, prompts: [a street]}}\n"
    message = _error(_field("single", classes))
    assert "field 'scene', class 'indoor', key 'prompts': prompts must be a non-empty list" in message


def test_a_class_without_prompts_is_refused():
    classes = "      - {name: indoor}\n      - {name: outdoor, prompts: [a street]}\n"
    assert "class 'indoor', key 'prompts': Field required" in _error(_field("single", classes))


@pytest.mark.parametrize("text, where", [
    (_field("single", "      - {name: indoor, promts: [a room]}\n      - {name: outdoor, prompts: [a]}\n"),
     "field 'scene', class 'indoor': unknown key 'promts'"),
    (_field("single", TWO, "    colour: red\n"), "field 'scene': unknown key 'colour'"),
    ("target_precison: 0.9\n" + _field("single", TWO), "top level: unknown key 'target_precison'"),
])
def test_unknown_keys_are_named_where_they_are(text, where):
    assert where in _error(text)


def test_single_and_multi_label_rules():
    one = "      - {name: indoor, prompts: [a room]}\n"
    assert "a single-label field needs at least two classes" in _error(_field("single", one))
    assert parse_vocabulary(_field("multi", one), "v").fields[0].multi
    assert "key 'kind': Input should be 'single' or 'multi'" in _error(_field("both", TWO))
    background = "    background_prompts: [a picture]\n"
    assert "background_prompts applies to multi-label fields only" in _error(_field("single", TWO, background))
    assert parse_vocabulary(_field("multi", TWO, background), "v").fields[0].background() == ["a picture"]


def test_bad_names_and_bad_files():
    bad_name = _field("single", "      - {name: In Door, prompts: [a]}\n" + TWO)
    assert "class 'In Door', key 'name': String should match pattern" in _error(bad_name)
    assert "not valid YAML" in _error("fields: [")
    assert "must be a mapping" in _error("- a\n- b\n")
    with pytest.raises(LabelError, match="no label field 'nope'; declared: animal, tags"):
        parse_vocabulary(ANIMALS, "v").field("nope")


def test_label_values_in_the_review_log():
    vocabulary = parse_vocabulary(ANIMALS, "v")
    animal, tags = vocabulary.field("animal"), vocabulary.field("tags")
    assert encode(animal, {"cat"}) == "cat" and decode(animal, "cat") == {"cat"}
    assert encode(animal, set()) == NONE_OF_THESE and decode(animal, NONE_OF_THESE) == frozenset()
    assert encode(tags, {"night", "sunny"}) == '["night", "sunny"]' and decode(tags, "[]") == frozenset()
    with pytest.raises(LabelError, match="single-label"):
        encode(animal, {"cat", "dog"})
    with pytest.raises(LabelError, match="no class 'cow'"):
        encode(animal, {"cow"})
    with pytest.raises(LabelError, match="JSON list"):
        decode(tags, "sunny")
