"""Probe versions of a label field: every training is a new version, never overwritten.

    labels/models/<field>/CURRENT          the current version, e.g. 'v0002'
    labels/models/<field>/<version>/       probe.skops (the models), probe.json (calibration, thresholds,
                                           quality, what it was trained on), heldout.parquet (sample_id,
                                           out-of-fold probability per class, human truth per class)
A version folder is assembled under a hidden name and renamed into place (as `curation.engine.store`
does for engine models); CURRENT is replaced atomically afterwards.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import skops.io

from curation.atomic import fsync_path, write_bytes, write_json
from curation.labels.vocabulary import LABELS, LabelError
from curation.workspace import Workspace

MODELS = "models"
CURRENT = "CURRENT"
PROBE = "probe.skops"


def versions(ws: Workspace, field_name: str) -> list[str]:
    """Saved probe versions of a field, oldest first."""
    return [v for v in ws.subfolders(LABELS, MODELS, field_name) if not v.startswith(".")]


def current_version(ws: Workspace, field_name: str) -> str | None:
    pointer = ws.path(LABELS, MODELS, field_name, CURRENT)
    return pointer.read_text().strip() if pointer.is_file() else None


def save(ws: Workspace, field_name: str, models: list, meta: dict, heldout: pa.Table) -> str:
    """Save a new version (the next number) and make it current; return the version."""
    folder = ws.path(LABELS, MODELS, field_name)
    folder.mkdir(parents=True, exist_ok=True)
    existing = versions(ws, field_name)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"
    tmp = folder / f".{version}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    skops.io.dump(models, tmp / PROBE)
    write_json(dict(meta, version=version), tmp / "probe.json")
    pq.write_table(heldout, tmp / "heldout.parquet")
    for path in tmp.iterdir():
        fsync_path(path)
    try:
        os.rename(tmp, folder / version)
    except OSError as exc:
        raise LabelError(f"probe {field_name}/{version} was saved by someone else meanwhile; train again") from exc
    write_bytes(f"{version}\n".encode(), folder / CURRENT)
    return version


def load(ws: Workspace, field_name: str, version: str) -> tuple[list, dict]:
    """The models and metadata of a saved version (refusing files holding anything but scikit-learn types)."""
    folder = ws.path(LABELS, MODELS, field_name, version)
    if not folder.is_dir():
        raise LabelError(f"no probe {field_name}/{version} in {ws.root}")
    path = folder / PROBE
    listed = skops.io.get_untrusted_types(file=path)
    unexpected = [t for t in listed if not t.startswith("sklearn.")]
    if unexpected:
        raise LabelError(f"{path} holds types other than scikit-learn's ({', '.join(unexpected)}): refusing it")
    return skops.io.load(path, trusted=listed), json.loads((folder / "probe.json").read_text())


def load_meta(ws: Workspace, field_name: str, version: str) -> dict:
    """The metadata (probe.json) of a saved version, without loading its models."""
    path = ws.path(LABELS, MODELS, field_name, version, "probe.json")
    if not path.is_file():
        raise LabelError(f"no probe {field_name}/{version} in {ws.root}")
    return json.loads(path.read_text())


def heldout(ws: Workspace, field_name: str, version: str) -> Path:
    return ws.path(LABELS, MODELS, field_name, version, "heldout.parquet")


def trained_on(ws: Workspace, field_name: str, version: str) -> list[str]:
    """The sample ids whose human labels trained a version."""
    return pq.read_table(heldout(ws, field_name, version), columns=["sample_id"])["sample_id"].to_pylist()
