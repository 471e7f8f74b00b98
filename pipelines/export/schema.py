"""The Arrow schema of exported rows (Parquet columns; WebDataset .json keys).

Fixed columns are typed here, in the order the selection SQL produces them. Two groups depend on the
workspace: `generated_<scorer>_<column>` (string score columns whose name contains 'caption', e.g. a
captioning model's output) and `scores`, one struct per scorer view holding all of its columns, including
scorer_version and model_id. Field docs travel inside the Parquet files (Arrow schema metadata).
"""
import pyarrow as pa

MEDIA = "media"
GENERATED_PREFIX = "generated_"
SCORES = "scores"


def _f(name: str, type_: pa.DataType, nullable: bool = True, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


FIXED = [
    _f("sample_id", pa.string(), False, "stable id of the (URL, caption) pair; rows are sorted by it"),
    _f("split", pa.string(), False, "train, or a split named at export (by a hash of sample_id)"),
    _f(MEDIA, pa.binary(), doc="the stored media bytes; null in a release made with --references"),
    _f("media_type", pa.string(), False, "image | video | clip"),
    _f("mime_type", pa.string()),
    _f("width", pa.int32(), doc="px"),
    _f("height", pa.int32(), doc="px"),
    _f("duration_s", pa.float64(), doc="videos and clips: seconds"),
    _f("fps", pa.float64()),
    _f("frame_count", pa.int64()),
    _f("caption", pa.string(), doc="the final caption: the latest human edit, else the original"),
    _f("caption_source", pa.string(), False, "'human' (edited in review) or 'original'"),
    _f("original_caption", pa.string(), doc="the caption from the input list, after repair"),
    _f("url", pa.string(), False, "normalised source URL"),
    _f("sha256", pa.string(), doc="sha256 of the downloaded payload"),
    _f("media_path", pa.string(), doc="workspace-relative tar holding the media"),
    _f("media_offset", pa.int64(), doc="byte offset of the media in media_path"),
    _f("media_size", pa.int64(), doc="media bytes"),
    _f("source_shard", pa.string(), False, "workspace shard the sample was crawled into"),
    _f("parent_id", pa.string(), doc="clips: sample_id of the source video"),
    _f("clip_start_s", pa.float64(), doc="clips: start in the source video, seconds"),
    _f("clip_end_s", pa.float64(), doc="clips: end in the source video, seconds"),
    _f("decision_source", pa.string(), False, "'human' when a review accept/reject decided, else the decision's"),
    _f("recipe_name", pa.string()),
    _f("recipe_hash", pa.string()),
    _f("decision_versions", pa.string(), doc="JSON: scorer and model versions the decision used"),
    _f("extra", pa.string(), doc="JSON object of the input list's carried columns"),
]
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
