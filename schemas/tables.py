"""The Arrow schemas, one per on-disk table, and the workspace schema version they belong to.

Bump SCHEMA_VERSION whenever a change here would make an older gristmill misread a workspace.
Columns marked nullable=False must always be filled; every other column may be null (a failed sample
has no width, a sample without a score has a null score).
"""
import pyarrow as pa

SCHEMA_VERSION = 1
REVIEW_EVENTS_VERSION = "2"
"""Version of REVIEW_EVENTS, in each compacted file's schema metadata. 2 added the nullable `role` column;
readers take files of version 1 (no such column) as null roles, so no workspace migration is needed."""


def _f(name: str, type_: pa.DataType, nullable: bool = True, doc: str = "") -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc} if doc else None)


SAMPLES = pa.schema(
    [
        _f("sample_id", pa.string(), False, "stable hash of the normalised URL and caption (32 hex chars)"),
        _f("url", pa.string(), False, "normalised source URL"),
        _f("caption", pa.string(), doc="caption after repair (ftfy, HTML entities)"),
        _f("media_type", pa.string(), False, "image | video"),
        _f("status", pa.string(), False, "'success' or a failure kind, e.g. 'http_404', 'not_an_image'"),
        _f("error", pa.string(), doc="human-readable failure message, null on success"),
        _f("http_status", pa.int32()),
        _f("width", pa.int32(), doc="stored media width, px"),
        _f("height", pa.int32(), doc="stored media height, px"),
        _f("original_width", pa.int32(), doc="width before resizing, px"),
        _f("original_height", pa.int32(), doc="height before resizing, px"),
        _f("original_bytes", pa.int64(), doc="size of the downloaded payload, bytes"),
        _f("sha256", pa.string(), doc="sha256 of the downloaded payload (hex)"),
        _f("mime_type", pa.string()),
        _f("duration_s", pa.float64(), doc="videos and clips: duration, seconds"),
        _f("fps", pa.float64(), doc="videos and clips: average frame rate"),
        _f("frame_count", pa.int64(), doc="videos and clips"),
        _f("shard", pa.string(), False, "shard name, e.g. '00012'"),
        _f("media_path", pa.string(), doc="workspace-relative path of the tar holding the media"),
        _f("media_offset", pa.int64(), doc="byte offset of the media member's data in media_path"),
        _f("media_size", pa.int64(), doc="byte size of the stored media member"),
        _f("extra", pa.string(), doc="JSON object of the input list's carried columns"),
    ]
)

CLIPS = pa.schema(
    [
        _f("sample_id", pa.string(), False, "the clip's own id"),
        _f("parent_id", pa.string(), False, "sample_id of the source video"),
        _f("start_s", pa.float64(), False),
        _f("end_s", pa.float64(), False),
        _f("start_frame", pa.int64()),
        _f("end_frame", pa.int64()),
        _f("fps", pa.float64()),
        _f("frame_count", pa.int64()),
        _f("detector", pa.string(), doc="shot detector and its settings"),
        _f("shot_index", pa.int32(), doc="index of the detected shot in the parent video, from 0"),
        _f("cut_mode", pa.string(), doc="'copy' (keyframe-aligned stream copy) or 'reencode' (frame-accurate)"),
        _f("url", pa.string(), doc="parent URL with a media fragment, e.g. '...mp4#t=2.000,7.500'"),
        _f("caption", pa.string(), doc="the parent video's caption"),
        _f("media_type", pa.string(), doc="'video' (workspaces made before the samples view listed clips say 'clip')"),
        _f("status", pa.string(), False, "'success' or why the clip was dropped: too_short, too_long, cut_error"),
        _f("error", pa.string(), doc="human-readable drop reason, null on success"),
        _f("width", pa.int32(), doc="display width (rotation applied), px"),
        _f("height", pa.int32(), doc="display height (rotation applied), px"),
        _f("duration_s", pa.float64(), doc="end_s - start_s, seconds"),
        _f("sha256", pa.string(), doc="sha256 of the clip mp4 (hex)"),
        _f("mime_type", pa.string(), doc="'video/mp4' for stored clips"),
        _f("shard", pa.string(), False, "shard of the parent video; clips are stored in clips/<shard>.tar"),
        _f("media_path", pa.string(), doc="workspace-relative path of the tar holding the clip mp4"),
        _f("media_offset", pa.int64(), doc="byte offset of the clip mp4 in media_path"),
        _f("media_size", pa.int64(), doc="byte size of the clip mp4"),
        _f("keyframe_frames", pa.list_(pa.int64()), doc="parent frame indices of the first, middle, last keyframe"),
        _f("keyframe_offsets", pa.list_(pa.int64()), doc="byte offsets of the keyframe JPEGs in media_path"),
        _f("keyframe_sizes", pa.list_(pa.int64()), doc="byte sizes of the keyframe JPEGs"),
    ]
)

# The catalog's `samples` view: every item that stages score, curate, review and export, one row each —
# crawled images and videos (shards/, kind 'crawled') and clips cut from videos (clips/, kind 'clip').
# The SAMPLES columns come first; the columns after them relate an item to the one it was cut from and
# locate stored keyframes. curation.sample_sources maps each folder's table onto these columns.
SAMPLE_KINDS = ("crawled", "clip")
SAMPLES_VIEW = pa.schema(
    list(SAMPLES)
    + [
        _f("kind", pa.string(), False, "how the item arose: 'crawled' (a row of the URL list) or 'clip' (cut from a video)"),
        _f("parent_id", pa.string(), doc="sample_id of the item this one was cut from (a clip's video), null otherwise"),
        _f("start_s", pa.float64(), doc="start of the item within its parent, seconds; null without a parent"),
        _f("end_s", pa.float64(), doc="end of the item within its parent, seconds; null without a parent"),
        _f("keyframe_offsets", pa.list_(pa.int64()),
           doc="byte offsets in media_path of stored keyframe JPEGs (clips store first/middle/last), null when none"),
        _f("keyframe_sizes", pa.list_(pa.int64()), doc="byte sizes of the stored keyframe JPEGs"),
    ]
)

# Every score table starts with these; each scorer adds its own value columns (SCORERS below).
SCORE_KEY_COLUMNS = [
    _f("sample_id", pa.string(), False),
    _f("error", pa.string(), doc="why this sample has no scores, null when scored"),
]
SCORE_TRAILER_COLUMNS = [
    _f("scorer_version", pa.string(), False),
    _f("model_id", pa.string(), doc="model and weights used; contains 'PLACEHOLDER' for random weights"),
]

SCORERS: dict[str, list[pa.Field]] = {
    "basic": [
        _f("width", pa.int32(), doc="source width, px (before any crawl-time resize)"),
        _f("height", pa.int32(), doc="source height, px (before any crawl-time resize)"),
        _f("aspect_ratio", pa.float64(), doc="width / height"),
        _f("pixels", pa.int64(), doc="width x height"),
        _f("file_bytes", pa.int64()),
        _f("luma_std", pa.float64(), doc="std of the grey-level image, 0..255"),
        _f("is_blank", pa.bool_(), doc="near-uniform image (luma_std below the threshold)"),
        _f("is_tiny", pa.bool_(), doc="longer side below 32 px"),
        _f("is_extreme_aspect", pa.bool_(), doc="longer side over 4x the shorter"),
        _f("phash", pa.string(), doc="64-bit perceptual hash (imagehash.phash), 16 hex chars"),
    ],
    "text": [
        _f("language", pa.string(), doc="ISO 639-1 code from langid; 'und' for junk captions"),
        _f("language_score", pa.float64(), doc="langid probability of that language; null for junk captions"),
        _f("n_chars", pa.int32()),
        _f("n_words", pa.int32()),
        _f("repetition", pa.float64(), doc="fraction of words that repeat an earlier word"),
        _f("is_junk", pa.bool_(), doc="empty, URL-like, filename-like, boilerplate or repetitive caption"),
        _f("junk_kind", pa.string(), doc="which junk rule matched (empty|url|filename|boilerplate|repetitive), null when not junk"),
    ],
    "clip": [
        _f("clip_score", pa.float64(), doc="cosine similarity of image and caption embeddings (videos: keyframe mean)"),
        _f("clip_score_min", pa.float64(), doc="smallest keyframe cosine (equals clip_score for an image)"),
    ],
    "motion": [
        _f("motion", pa.float64(),
           doc="mean optical-flow magnitude over sampled frame pairs and pixels, px/s at the analysis size; "
               "null for method frame_diff"),
        _f("motion_max", pa.float64(), doc="largest per-pair mean flow magnitude, px/s at the analysis size"),
        _f("frame_diff", pa.float64(), doc="mean absolute grey-level difference of the sampled frame pairs, 0..255"),
        _f("method", pa.string(), doc="farneback | raft_small | raft_large | frame_diff"),
        _f("sample_fps", pa.float64(), doc="frame pairs (a frame and the next) sampled per second"),
        _f("analysis_short_side", pa.int32(), doc="short side of the frames the flow is measured on, px"),
        _f("n_pairs", pa.int32(), doc="frame pairs measured"),
    ],
    "ocr": [
        _f("text_area_ratio", pa.float64(),
           doc="union area of confident text boxes / image area, 0..1 (videos: the keyframe with the most text)"),
        _f("n_boxes", pa.int32(), doc="text boxes kept (confidence and size floors in curation.scorers.ocr)"),
        _f("text", pa.string(), doc="recognised text, one line per box in reading order, cut to 1000 characters"),
        _f("mean_confidence", pa.float64(), doc="mean recognition confidence of the kept boxes, null without boxes"),
    ],
    "zeroshot": [
        _f("p_watermark", pa.float64(), doc="CLIP prompt-pair probability of a watermark, 0..1"),
        _f("p_nsfw", pa.float64(), doc="CLIP prompt-pair probability of NSFW content, 0..1"),
        _f("p_text", pa.float64(), doc="CLIP prompt-pair probability that the image is mostly text, 0..1"),
        _f("prompts", pa.string(), doc="the prompt set used, JSON {label: [yes prompt, no prompt]}"),
    ],
    "aesthetic": [
        _f("aesthetic_score", pa.float64(),
           doc="LAION improved aesthetic predictor score, about 1..10 (videos: of the mean keyframe embedding)"),
    ],
    "caption": [
        _f("generated_caption", pa.string(),
           doc="caption written by the model in model_id (greedy decoding; videos: the middle keyframe); the "
               "original caption stays in samples.caption"),
        _f("n_tokens", pa.int32(), doc="tokens in generated_caption (the model's tokenizer), start and end excluded"),
        _f("truncated", pa.bool_(), doc="the length limit ended the caption before the model's end token"),
    ],
}


def score_schema(scorer: str) -> pa.Schema:
    """The full schema of `scores/<scorer>/*.parquet`: key columns, value columns, version columns."""
    if scorer not in SCORERS:
        raise KeyError(f"unknown scorer {scorer!r}; known: {', '.join(sorted(SCORERS))}")
    return pa.schema(SCORE_KEY_COLUMNS + SCORERS[scorer] + SCORE_TRAILER_COLUMNS)


def embedding_schema(dim: int) -> pa.Schema:
    """Schema of `embeddings/<model>/*.parquet`: L2-normalised float16 vectors of length `dim`."""
    vec = pa.list_(pa.float16(), dim)
    return pa.schema(
        [
            _f("sample_id", pa.string(), False),
            _f("image_embedding", vec),
            _f("text_embedding", vec),
            _f("model_id", pa.string(), False),
        ]
    )


DECISIONS = pa.schema(
    [
        _f("sample_id", pa.string(), False),
        _f("kept", pa.bool_(), False),
        _f("reason", pa.string(), doc="first reason the sample was dropped, null when kept"),
        _f("reasons", pa.list_(pa.string()), False, "every step that would drop the sample"),
        _f("duplicate_of", pa.string(), doc="the sample_id of the representative this sample duplicates, from "
           "the first dedup step among its reasons; null when no dedup step lists it"),
        _f("source", pa.string(), False, "'recipe', 'human' or 'engine'"),
        _f("recipe_name", pa.string(), False),
        _f("recipe_hash", pa.string(), False),
        _f("versions", pa.string(), doc="JSON object: scorer and model versions the decision used"),
    ]
)

REVIEW_EVENTS = pa.schema(
    [
        _f("event_id", pa.string(), False, "unique id (uuid4 hex)"),
        _f("sample_id", pa.string(), False),
        _f("action", pa.string(), False, "accept | reject | edit_caption | tag_add | tag_remove | label | undo"),
        _f("reason", pa.string(), doc="reject reason from the configured list"),
        _f("old_caption", pa.string()),
        _f("new_caption", pa.string()),
        _f("tag", pa.string(), doc="tag_add / tag_remove: the tag"),
        _f("label_field", pa.string(), doc="label: the label field fixed, e.g. 'media_type' or 'nsfw'"),
        _f("label_value", pa.string(), doc="label: the new value as text; null clears the field"),
        _f("undo_of", pa.string(), doc="event_id this event undoes (never an undo event itself)"),
        _f("reviewer", pa.string(), False),
        _f("session", pa.string(), False),
        _f("ts", pa.timestamp("us", tz="UTC"), False, "when the reviewer acted (never decreases within a session)"),
        _f("seq", pa.int64(), False, "order of the event within its session, from 0"),
        _f("role", pa.string(), doc="reviewer | admin: the signed-in role of who acted (null: not recorded, "
                                    "ranks as reviewer); added in review events version 2"),
    ],
    metadata={"gristmill.review_events_version": REVIEW_EVENTS_VERSION},
)

EXPORT_MANIFEST_SHARDS = pa.schema(
    [
        _f("file", pa.string(), False, "path relative to the release directory"),
        _f("split", pa.string(), False),
        _f("rows", pa.int64(), False),
        _f("bytes", pa.int64(), False),
        _f("sha256", pa.string(), False),
    ]
)

# Columns every release row has, in order (pipelines/export adds generated_* and the scores struct).
EXPORT_ROWS = pa.schema(
    [
        _f("sample_id", pa.string(), False, "stable id of the (URL, caption) pair; rows are sorted by it"),
        _f("split", pa.string(), False, "train, or a split named at export (by a hash of sample_id)"),
        _f("media", pa.binary(), doc="the stored media bytes; null in a release made with --references"),
        _f("media_type", pa.string(), False, "image | video (a clip is a video; see kind)"),
        _f("kind", pa.string(), False, "'crawled' (a row of the URL list) or 'clip' (cut from the video parent_id)"),
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
        _f("parent_id", pa.string(), doc="clips: sample_id of the source video (in the same workspace)"),
        _f("clip_start_s", pa.float64(), doc="clips: start in the source video, seconds"),
        _f("clip_end_s", pa.float64(), doc="clips: end in the source video, seconds"),
        _f("decision_source", pa.string(), False, "'human' when a review accept/reject decided, else the decision's"),
        _f("recipe_name", pa.string()),
        _f("recipe_hash", pa.string()),
        _f("decision_versions", pa.string(), doc="JSON: scorer and model versions the decision used"),
        _f("extra", pa.string(), doc="JSON object of the input list's carried columns"),
    ]
)
