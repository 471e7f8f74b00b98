"""Options of one export (`ExportConfig`) and what it produced (`ExportResult`)."""
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.export.split import check_splits, parse_splits

Format = Literal["parquet", "webdataset"]
MediaMode = Literal["bytes", "references"]

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "kib": 2**10, "mib": 2**20, "gib": 2**30}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str | int) -> int:
    """Bytes from '512MB', '64KiB', '1.5GB' or a plain number (KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024)."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else None
    if unit not in _UNITS:
        raise ValueError(f"{text!r} is not a size; write e.g. 512MB, 64KiB or 1000000")
    return int(float(match.group(1)) * _UNITS[unit])


class ExportConfig(BaseModel):
    """What to export and how. Sizes are bytes (strings like '512MB' are accepted)."""

    model_config = ConfigDict(extra="forbid")
    out: Path
    decisions: str | None = Field(None, description="file name under decisions/; default: the one in decisions/CURRENT")
    recipe: str | None = Field(None, description="curate with this recipe (built-in name or YAML path) and export "
                               "its decisions instead; decisions/CURRENT is left as it is")
    formats: list[Format] = Field(default_factory=lambda: ["parquet"], min_length=1)
    media: MediaMode = "bytes"
    shard_size: int = Field(512 * 10**6, gt=0, description="target bytes of media and text per shard")
    row_group_size: int = Field(64 * 2**20, gt=0, description="target bytes per Parquet row group")
    row_group_rows: int = Field(8192, gt=0, description="most rows per Parquet row group")
    splits: dict[str, float] = Field(default_factory=dict, description="e.g. {'val': 0.01}; the rest is 'train'")
    overwrite: bool = False
    workers: int = Field(default_factory=lambda: min(4, os.cpu_count() or 1), gt=0,
                         description="shards written at once (does not change the output)")
    parent: Path | None = Field(None, description="release this one derives from; default: the workspace's last")

    @field_validator("shard_size", "row_group_size", mode="before")
    @classmethod
    def _size(cls, value):
        return parse_size(value)

    @field_validator("splits", mode="before")
    @classmethod
    def _splits(cls, value):
        return parse_splits(value) if isinstance(value, str) else check_splits(value)

    @field_validator("formats")
    @classmethod
    def _unique_formats(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @model_validator(mode="after")
    def _one_source_of_decisions(self) -> "ExportConfig":
        if self.decisions is not None and self.recipe is not None:
            raise ValueError("give either decisions (a decisions file) or recipe (curate now), not both")
        return self


class ShardRecord(BaseModel):
    """One written file of a release (the EXPORT_MANIFEST_SHARDS columns plus its format)."""

    file: str
    format: Format
    split: str
    rows: int
    bytes: int
    sha256: str


class ExportResult(BaseModel):
    """What an export wrote."""

    out: Path
    mode: Literal["new", "resume", "overwrite"] = Field(description="what the output folder held before")
    release_id: str
    decisions: str = Field(description="the decisions file exported (its name under decisions/)")
    rows: int
    rows_by_split: dict[str, int]
    shards: list[ShardRecord]
    written: int = Field(description="shard files written by this run")
    reused: int = Field(description="shard files kept from an interrupted or earlier run (checksum verified)")
    bytes: int = Field(description="total bytes of all shard files")
    seconds: float
    not_exported: dict[str, int] = Field(description="kept samples left out, by reason")
    placeholder_scorers: list[str]
    parent: str | None = Field(description="release_id of the parent release")
