"""`diff(a, b)`: how release B differs from release A, sample by sample (matched by sample_id).

Besides the samples added and removed, it compares, for every sample in both releases:
- the final caption and the split;
- the media: the `sha256` column (the crawl's hash of the downloaded payload) and, when both releases hold
  the media bytes (not --references), the sha256 of the stored bytes themselves, which also changes when
  the same payload was stored differently (resized, re-cut); `Diff.media_basis` says which were compared;
- the scores: per scorer, a sample counts when its score struct differs (any column, scorer_version and
  model_id included) or only one of the releases has it;
- the labels: per label field of either release, the final label as class names (each release's manifest
  names its classes, so a reordered vocabulary is no change) and its source (human or automatic).
Each release is read once, row group by row group (or tar by tar), from its Parquet shards or else its
WebDataset tars. Score structs are compared by a digest of their key-sorted JSON, the same from either format.
"""
import hashlib
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipelines.export.journal import inside
from pipelines.export.labels import PREFIX
from pipelines.export.manifest import load_manifest
from pipelines.export.schema import MEDIA, SCORES, media_bytes

MEDIA_BYTES = "sha256 column and sha256 of the media bytes"
SHA256_COLUMN = "sha256 column only (a release holds references, not media bytes)"
_SCORE = "score:"
"""Column prefix of a scorer's digests in the compared table."""
_LABEL = "label:"
"""Column prefix of a label field's final label (class names and source, as JSON) in the compared table."""
_COMPARED = pa.schema([("sample_id", pa.string()), ("caption", pa.string()), ("split", pa.string()),
                       ("sha256", pa.string()), ("media_sha256", pa.string())])


@dataclass
class Diff:
    """How release B differs from release A; every list is sorted by sample_id."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed_captions: list[dict] = field(default_factory=list)
    """{'sample_id', 'old', 'new'} for samples in both whose final caption changed."""
    changed_splits: list[dict] = field(default_factory=list)
    """{'sample_id', 'old', 'new'} for samples in both that moved to another split."""
    changed_media: list[str] = field(default_factory=list)
    changed_scores: dict[str, list[str]] = field(default_factory=dict)
    """Every scorer of either release: the samples in both whose score struct differs."""
    changed_labels: dict[str, list[dict]] = field(default_factory=dict)
    """Every label field of either release: {'sample_id', 'old', 'new'} (each {'classes', 'source'} or None) for
    the samples in both whose final label or its source changed."""
    in_both: int = 0
    media_basis: str = MEDIA_BYTES
    """What changed_media compared: MEDIA_BYTES, or SHA256_COLUMN when a release has no media bytes."""


def diff(a: Path, b: Path) -> Diff:
    """Samples added to and removed from release `a` to make `b`, and what changed in the samples of both."""
    manifests = load_manifest(a), load_manifest(b)
    old, new = (_compared_table(release, m) for release, m in zip((a, b), manifests))
    scorers = _named(old, new, _SCORE)
    fields = _named(old, new, _LABEL)
    old, new = (_with_columns(t, [_SCORE + s for s in scorers] + [_LABEL + f for f in fields]) for t in (old, new))
    both = old.join(new, "sample_id", join_type="inner", left_suffix=":old", right_suffix=":new")
    both = both.sort_by("sample_id")
    with_bytes = all(m["options"]["media"] == "bytes" for m in manifests)
    media = _distinct(both, "sha256")
    if with_bytes:
        media = pc.or_(media, pc.fill_null(pc.not_equal(both["media_sha256:old"], both["media_sha256:new"]), False))
    return Diff(
        added=_missing_from(new["sample_id"], old["sample_id"]),
        removed=_missing_from(old["sample_id"], new["sample_id"]),
        changed_captions=_changes(both, "caption"),
        changed_splits=_changes(both, "split"),
        changed_media=both.filter(media)["sample_id"].to_pylist(),
        changed_scores={s: both.filter(_distinct(both, _SCORE + s))["sample_id"].to_pylist() for s in scorers},
        changed_labels={f: [{**c, "old": _loads(c["old"]), "new": _loads(c["new"])} for c in _changes(both, _LABEL + f)]
                        for f in fields},
        in_both=both.num_rows,
        media_basis=MEDIA_BYTES if with_bytes else SHA256_COLUMN,
    )


def _missing_from(ids: pa.ChunkedArray, others: pa.ChunkedArray) -> list[str]:
    return sorted(ids.filter(pc.invert(pc.is_in(ids, others))).to_pylist())


def _distinct(both: pa.Table, column: str) -> pa.ChunkedArray:
    """Rows of the joined table whose old and new `column` differ, a null differing from a value."""
    old, new = both[f"{column}:old"], both[f"{column}:new"]
    return pc.or_(pc.fill_null(pc.not_equal(old, new), False), pc.xor(pc.is_null(old), pc.is_null(new)))


def _changes(both: pa.Table, column: str) -> list[dict]:
    changed = both.filter(_distinct(both, column))
    return [{"sample_id": r["sample_id"], "old": r[f"{column}:old"], "new": r[f"{column}:new"]}
            for r in changed.select(["sample_id", f"{column}:old", f"{column}:new"]).to_pylist()]


def _named(old: pa.Table, new: pa.Table, prefix: str) -> list[str]:
    """The scorers or label fields (by column `prefix`) of either compared table."""
    return sorted({n.removeprefix(prefix) for n in old.column_names + new.column_names if n.startswith(prefix)})


def _with_columns(table: pa.Table, names: list[str]) -> pa.Table:
    """`table` with every compared column in `names` (null where the release has no such scorer or field)."""
    for name in names:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table


def _loads(value: str | None) -> dict | None:
    return None if value is None else json.loads(value)


def _compared_table(release: Path, manifest: dict) -> pa.Table:
    """The compared values of every sample of a release, from its Parquet shards or else its WebDataset tars."""
    fmt = "parquet" if "parquet" in manifest["options"]["formats"] else "webdataset"
    read = _parquet_rows if fmt == "parquet" else _tar_rows
    classes = {name: entry["classes"] for name, entry in manifest.get("labels", {}).items()}
    tables = [_table(list(read(inside(release, s["file"]), classes)))
              for s in manifest["shards"] if s["format"] == fmt]
    return pa.concat_tables([_COMPARED.empty_table(), *tables], promote_options="default")


def _table(rows: list[dict]) -> pa.Table:
    extra = sorted({key for row in rows for key in row if key.startswith((_SCORE, _LABEL))})
    schema = pa.schema([*_COMPARED, *((name, pa.string()) for name in extra)])
    return pa.Table.from_pylist(rows, schema=schema)


def _parquet_rows(path: Path, classes: dict[str, list[str]]) -> Iterator[dict]:
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    labels = [c for f in classes for c in (PREFIX + f, f"{PREFIX}{f}_source") if c in names]
    columns = [*_COMPARED.names[:4], MEDIA, *([SCORES] if SCORES in names else []), *labels]
    for i in range(file.num_row_groups):
        group = file.read_row_group(i, columns=columns)
        for meta, data in zip(group.drop_columns([MEDIA]).to_pylist(), media_bytes(group[MEDIA])):
            yield _compared(meta, _sha256(data.as_buffer()), classes)


def _tar_rows(path: Path, classes: dict[str, list[str]]) -> Iterator[dict]:
    """Each sample's .json, and the sha256 of its media member if the release holds bytes."""
    meta, media = {}, {}
    with tarfile.open(path) as tar:
        for member in tar:
            key, _, ext = member.name.partition(".")
            data = tar.extractfile(member).read()
            if ext == "json":
                meta[key] = json.loads(data)
            elif ext != "txt":
                media[key] = _sha256(data)
    for key, values in meta.items():
        yield _compared(values, media.get(key), classes)


def _sha256(data) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


def _compared(meta: dict, media_sha256: str | None, classes: dict[str, list[str]]) -> dict:
    """What `diff` compares of one sample, from its exported fields, the sha256 of its media bytes and the classes
    of each label field."""
    row = {name: meta[name] for name in _COMPARED.names[:4]}
    row["media_sha256"] = media_sha256
    for scorer, value in (meta.get(SCORES) or {}).items():
        row[_SCORE + scorer] = None if value is None else _digest(value)
    for name, names in classes.items():
        row[_LABEL + name] = _label(meta.get(PREFIX + name), meta.get(f"{PREFIX}{name}_source"), names)
    return row


def _label(value: int | list[int] | None, source: str | None, names: list[str]) -> str | None:
    """A final label as JSON of its class names and source; None when the sample has no label."""
    if source is None:
        return None
    indices = value if isinstance(value, list) else [] if value is None else [value]
    return json.dumps({"classes": sorted(names[i] for i in indices), "source": source})


def _digest(value: dict) -> str:
    return hashlib.blake2b(json.dumps(value, sort_keys=True).encode(), digest_size=16).hexdigest()
