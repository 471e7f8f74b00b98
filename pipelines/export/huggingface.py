"""Hugging Face `datasets` features of a release's Parquet shards: the `huggingface` key of the Arrow schema
metadata, as `datasets` writes it (`{"info": {"features": {...}}}`), so that `load_dataset("parquet", ...)`
types every column as declared instead of guessing.

A column whose Arrow type is a bool, a number, a string or binary (or a struct of those) is declared as the
`Value` (or dict of them) that `datasets` would infer from it; the image column is declared `Image()`, whose
Arrow storage is `IMAGE` (struct<bytes, path>), so its rows decode to PIL images. A column of any other type
(a list, a map) is left out and `datasets` infers it from its Arrow type. `datasets` itself is not imported:
writing a release does not depend on it, and the metadata does not change with its version.
"""
import json

import pyarrow as pa

KEY = "huggingface"
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
"""The Arrow storage of `datasets`' Image feature (and of its Video feature)."""
IMAGE_FEATURE = {"_type": "Image"}
_VALUE_TYPES = (pa.types.is_boolean, pa.types.is_integer, pa.types.is_floating, pa.types.is_string,
                pa.types.is_large_string, pa.types.is_binary, pa.types.is_large_binary)
_DTYPES = {"double": "float64", "float": "float32", "halffloat": "float16"}  # Arrow's names → `datasets`' names


def feature(type_: pa.DataType) -> dict | None:
    """The `datasets` feature (as a dict) of an Arrow type, or None for a type this module does not declare."""
    if pa.types.is_struct(type_):
        fields = {f.name: feature(f.type) for f in type_}
        return None if None in fields.values() else fields
    if any(is_type(type_) for is_type in _VALUE_TYPES):
        return {"dtype": _DTYPES.get(str(type_), str(type_)), "_type": "Value"}
    return None


def with_features(schema: pa.Schema, image_column: str | None, declared: dict[str, dict] | None = None) -> pa.Schema:
    """`schema` with the `huggingface` metadata declaring its columns; `image_column` (of type IMAGE) as Image(),
    the columns of `declared` (name → feature dict, e.g. ClassLabel) as given."""
    features = {}
    for field in schema:
        declared_feature = (declared or {}).get(field.name)
        declared_feature = declared_feature or (IMAGE_FEATURE if field.name == image_column else feature(field.type))
        if declared_feature is not None:
            features[field.name] = declared_feature
    return schema.with_metadata({KEY: json.dumps({"info": {"features": features}})})
