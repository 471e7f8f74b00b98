import pyarrow as pa
import pytest

from schemas import DECISIONS, SAMPLES, SCORERS, SchemaError, conform, embedding_schema, score_schema, validate


def _samples(**overrides):
    cols = {f.name: pa.array([None], type=f.type) for f in SAMPLES}
    cols.update(
        sample_id=pa.array(["a" * 32]), url=pa.array(["http://x/1.jpg"]), media_type=pa.array(["image"]),
        status=pa.array(["success"]), shard=pa.array(["00000"]),
    )
    cols.update(overrides)
    return pa.table(cols)


def test_valid_table_passes():
    validate(_samples(), SAMPLES)


def test_missing_column_is_named_with_expected_type():
    table = _samples().drop_columns(["sha256"])
    with pytest.raises(SchemaError, match=r"missing column 'sha256' \(expected string\)"):
        validate(table, SAMPLES, "shard 00003")


def test_wrong_type_names_column_and_both_types():
    table = _samples(width=pa.array(["wide"]))
    with pytest.raises(SchemaError, match=r"column 'width' has type string, expected int32"):
        validate(table, SAMPLES)


def test_null_in_required_column_is_rejected():
    table = _samples(status=pa.array([None], type=pa.string()))
    with pytest.raises(SchemaError, match="'status' has 1 null value"):
        validate(table, SAMPLES)


def test_unexpected_column_rejected_unless_allowed():
    table = _samples().append_column("surprise", pa.array([1]))
    with pytest.raises(SchemaError, match="unexpected column"):
        validate(table, SAMPLES)
    validate(table, SAMPLES, allow_extra=True)


def test_conform_casts_safely_and_reorders():
    table = _samples(width=pa.array([640], type=pa.int64()))
    table = table.select(list(reversed(table.column_names)))
    out = conform(table, SAMPLES)
    assert out.schema.equals(SAMPLES)
    assert out.column("width").to_pylist() == [640]


def test_conform_refuses_lossy_cast():
    table = _samples(width=pa.array([2**40], type=pa.int64()))
    with pytest.raises(SchemaError, match="'width' of type int64 cannot be read as int32"):
        conform(table, SAMPLES)


@pytest.mark.parametrize("scorer", sorted(SCORERS))
def test_every_scorer_schema_is_keyed_and_versioned(scorer):
    schema = score_schema(scorer)
    assert schema.names[0] == "sample_id"
    assert {"error", "scorer_version", "model_id"} <= set(schema.names)
    assert len(set(schema.names)) == len(schema.names)


def test_unknown_scorer_lists_known_ones():
    with pytest.raises(KeyError, match=r"known: .*\bbasic\b"):
        score_schema("nope")


def test_embedding_schema_is_fixed_size_float16():
    t = embedding_schema(512).field("image_embedding").type
    assert pa.types.is_fixed_size_list(t) and t.list_size == 512 and pa.types.is_float16(t.value_type)


def test_decisions_reasons_are_a_list():
    assert pa.types.is_list(DECISIONS.field("reasons").type)
