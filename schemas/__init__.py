"""Versioned Arrow schemas of everything gristmill writes to disk.

Each table a workspace holds has one schema here; writers validate against it before they commit a file,
so a reader (DuckDB, pyarrow, HF datasets) can rely on column names and types.
"""
from schemas.tables import (
    CLIPS,
    DECISIONS,
    EXPORT_MANIFEST_SHARDS,
    EXPORT_ROWS,
    REVIEW_EVENTS,
    REVIEW_EVENTS_VERSION,
    SAMPLE_KINDS,
    SAMPLES,
    SAMPLES_VIEW,
    SCHEMA_VERSION,
    SCORE_KEY_COLUMNS,
    SCORERS,
    embedding_schema,
    score_schema,
)
from schemas.labels import LABEL_PROPOSALS, PROPOSAL_SOURCES, PROPOSALS_VERSION
from schemas.validate import SchemaError, conform, validate

__all__ = [
    "CLIPS",
    "DECISIONS",
    "EXPORT_MANIFEST_SHARDS",
    "EXPORT_ROWS",
    "LABEL_PROPOSALS",
    "PROPOSALS_VERSION",
    "PROPOSAL_SOURCES",
    "REVIEW_EVENTS",
    "REVIEW_EVENTS_VERSION",
    "SAMPLE_KINDS",
    "SAMPLES",
    "SAMPLES_VIEW",
    "SCHEMA_VERSION",
    "SCORERS",
    "SCORE_KEY_COLUMNS",
    "SchemaError",
    "conform",
    "embedding_schema",
    "score_schema",
    "validate",
]
