"""The Arrow schema of exported rows (Parquet columns; WebDataset .json keys).

Fixed columns are `schemas.EXPORT_ROWS`, in the order the selection SQL produces them. Two groups depend on the
workspace: `generated_<scorer>_<column>` (string score columns whose name contains 'caption', e.g. a
captioning model's output) and `scores`, one struct per scorer view holding all of its columns, including
scorer_version and model_id. Field docs travel inside the Parquet files (Arrow schema metadata), with the
Hugging Face features (`huggingface.py`).

The media column depends on what the release holds. A release of images only stores it as Hugging Face's
Image storage, struct<bytes: binary, path: string> (path is null), declared `Image()`, so `datasets` decodes
it to PIL images; a release with any video (or clip) stores the plain bytes (binary), which `datasets` reads
as bytes: an Image() feature would fail on the videos, and its Video() feature needs torchcodec to decode.
"""
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.export.huggingface import IMAGE, with_features
from pipelines.export.labels import LabelColumns, class_label_features
from schemas import EXPORT_ROWS

MEDIA = "media"
GENERATED_PREFIX = "generated_"
SCORES = "scores"


def _f(name: str, type_: pa.DataType, nullable: bool = True, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


FIXED = list(EXPORT_ROWS)
FIXED_NAMES = [f.name for f in FIXED]
_FIXED_BY_NAME = {f.name: f for f in FIXED}


def release_schema(selected: pa.Schema, images_only: bool, labels: list[LabelColumns]) -> pa.Schema:
    """The release schema for the columns the selection produced: fixed fields typed here, the rest as selected;
    the media column as Image storage when the release holds only images (see the module doc), the `labels`
    fields' columns as class indices declared ClassLabel."""
    label_docs = _label_docs(labels)
    fields = []
    for field in selected:
        if field.name == MEDIA and images_only:
            fields.append(_f(MEDIA, IMAGE, doc="the stored image: bytes in `bytes` (path is null; Hugging Face "
                                               "Image storage); null in a release made with --references"))
        elif field.name in _FIXED_BY_NAME:
            fields.append(_FIXED_BY_NAME[field.name])
        elif field.name.startswith(GENERATED_PREFIX):
            fields.append(_f(field.name, pa.string(), doc="generated caption (score column of that scorer)"))
        elif field.name == SCORES:
            fields.append(_f(SCORES, field.type, doc="one struct per scorer: its columns, scorer_version, model_id"))
        elif field.name in label_docs:
            type_, doc = label_docs[field.name]
            fields.append(_f(field.name, type_, doc=doc))
        else:
            raise ValueError(f"selection produced an unexpected column {field.name!r}")
    return with_features(pa.schema(fields), MEDIA if images_only else None, class_label_features(labels))


def _label_docs(labels: list[LabelColumns]) -> dict[str, tuple[pa.DataType, str]]:
    """Type and doc of each label field's three columns (see pipelines.export.labels)."""
    out = {}
    for columns in labels:
        kind = "sorted class indices (multi-label)" if columns.multi else "class index"
        out[columns.column] = (pa.list_(pa.int64()) if columns.multi else pa.int64(),
                               f"final label of field {columns.field!r}: {kind} into {columns.classes}; "
                               "null when unlabelled")
        out[columns.column + "_source"] = (pa.string(), "'human', 'automatic' or null")
        out[columns.column + "_model"] = (pa.string(), "the probe version of an automatic label")
    return out


def media_column(data: pa.Array, type_: pa.DataType) -> pa.Array:
    """The media column of type `type_` (binary, or Image storage) holding `data`, a binary array."""
    if type_.equals(IMAGE):
        paths = pa.nulls(len(data), pa.string())
        return pa.StructArray.from_arrays([data, paths], fields=list(IMAGE), mask=data.is_null())
    return data


def media_bytes(column: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The media bytes (binary) of a release's media column, whichever of its two types it has."""
    return pc.struct_field(column, "bytes") if column.type.equals(IMAGE) else column


def describe(schema: pa.Schema) -> list[dict]:
    """The schema as JSON-able rows (name, type, nullable, doc) for the manifest."""
    return [
        {"name": f.name, "type": str(f.type), "nullable": f.nullable,
         "doc": (f.metadata or {}).get(b"doc", b"").decode()}
        for f in schema
    ]
