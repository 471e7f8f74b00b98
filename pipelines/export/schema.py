"""The Arrow schema of exported rows (Parquet columns; WebDataset .json keys).

Fixed columns are `schemas.EXPORT_ROWS`, in the order the selection SQL produces them. Two groups depend on the
workspace: `generated_<scorer>_<column>` (string score columns whose name contains 'caption', e.g. a
captioning model's output) and `scores`, one struct per scorer view holding all of its columns, including
scorer_version and model_id. Field docs travel inside the Parquet files (Arrow schema metadata).
"""
import pyarrow as pa

from schemas import EXPORT_ROWS

MEDIA = "media"
GENERATED_PREFIX = "generated_"
SCORES = "scores"


def _f(name: str, type_: pa.DataType, nullable: bool = True, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


FIXED = list(EXPORT_ROWS)
FIXED_NAMES = [f.name for f in FIXED]
_FIXED_BY_NAME = {f.name: f for f in FIXED}


def release_schema(selected: pa.Schema) -> pa.Schema:
    """The release schema for the columns the selection produced: fixed fields typed here, the rest as selected."""
    fields = []
    for field in selected:
        if field.name in _FIXED_BY_NAME:
            fields.append(_FIXED_BY_NAME[field.name])
        elif field.name.startswith(GENERATED_PREFIX):
            fields.append(_f(field.name, pa.string(), doc="generated caption (score column of that scorer)"))
        elif field.name == SCORES:
            fields.append(_f(SCORES, field.type, doc="one struct per scorer: its columns, scorer_version, model_id"))
        else:
            raise ValueError(f"selection produced an unexpected column {field.name!r}")
    return pa.schema(fields)


def describe(schema: pa.Schema) -> list[dict]:
    """The schema as JSON-able rows (name, type, nullable, doc) for the manifest."""
    return [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable,
         "doc": (f.metadata or {}).get(b"doc", b"").decode()}
        for f in schema
    ]
