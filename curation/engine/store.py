"""The engine's files in a workspace: every model version and every routing run is new, never overwritten.

    engine/config.yaml                 EngineConfig (optional)
    engine/CURRENT                     the current model version, e.g. 'v0003'
    engine/models/<version>/           model.skops (the boosted trees), model.npz (calibration, feature spec),
                                       model.json (metadata: training decisions, quality, thresholds, config),
                                       heldout.parquet (sample_id, label, out-of-fold probability)
    engine/routes/<run>.parquet        one routing run: sample_id, p, route, audit, version, routed_at
    engine/routes/<run>.json           its summary: version, stage, counts, audit agreement
    engine/resumes/<ts>.json           an operator resumed automatic decisions after an audit stop
    decisions/engine-<version>-<run>.parquet   the run's automatic decisions as DECISIONS rows (source 'engine')
A model folder is assembled under a hidden name and renamed into place; files are linked into place,
which fails rather than replaces when the name exists.
"""
from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.atomic import write_bytes, write_json
from curation.engine.config import ENGINE, EngineError
from curation.workspace import Workspace

MODELS = "models"
ROUTES = "routes"
RESUMES = "resumes"
CURRENT = "CURRENT"
TREES = "model.skops"


def _create(path: Path, write) -> Path:
    """Write a new file with `write(tmp_path)`, then link it into place; refuse an existing name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise EngineError(f"{path} exists already; engine files are never overwritten") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def versions(ws: Workspace) -> list[str]:
    """Model versions saved in the workspace, oldest first."""
    return [v for v in ws.subfolders(ENGINE, MODELS) if not v.startswith(".")]


def current_version(ws: Workspace) -> str | None:
    """The version engine/CURRENT names, or None before the first training."""
    pointer = ws.path(ENGINE, CURRENT)
    return pointer.read_text().strip() if pointer.is_file() else None


def save_model(ws: Workspace, trees: Callable[[Path], None], arrays: dict[str, np.ndarray], meta: dict,
               heldout: pa.Table) -> str:
    """Save a new model version (the next number; `trees(path)` writes model.skops) and make it current;
    return the version."""
    folder = ws.path(ENGINE, MODELS)
    folder.mkdir(parents=True, exist_ok=True)
    existing = versions(ws)
    version = f"v{int(existing[-1][1:]) + 1 if existing else 1:04d}"
    tmp = folder / f".{version}.tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    trees(tmp / TREES)
    np.savez(tmp / "model.npz", **arrays)
    write_json(dict(meta, version=version), tmp / "model.json")
    pq.write_table(heldout, tmp / "heldout.parquet")
    for path in tmp.iterdir():
        with open(path, "rb+") as fh:
            os.fsync(fh.fileno())
    try:
        os.rename(tmp, folder / version)
    except OSError as exc:
        raise EngineError(f"model version {version} was saved by someone else meanwhile; train again") from exc
    write_bytes(f"{version}\n".encode(), ws.path(ENGINE, CURRENT))
    return version


def load_model(ws: Workspace, version: str) -> tuple[Path, dict[str, np.ndarray], dict]:
    """The trees' file, the arrays and the metadata of a saved model version."""
    folder = ws.path(ENGINE, MODELS, version)
    if not folder.is_dir():
        raise EngineError(f"no engine model {version} in {ws.root}")
    if not (folder / TREES).is_file():
        raise EngineError(f"engine model {version} in {ws.root} has no {TREES} (saved by an older gristmill, "
                          "whose model was linear): `gristmill engine train` makes a new version")
    with np.load(folder / "model.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return folder / TREES, arrays, json.loads((folder / "model.json").read_text())


def route_runs(ws: Workspace) -> list[dict]:
    """Summaries of every routing run, oldest first."""
    folder = ws.path(ENGINE, ROUTES)
    files = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    return [json.loads(p.read_text()) for p in files]


def route_files(ws: Workspace) -> list[Path]:
    """Every routing run's Parquet file, oldest first."""
    return ws.parquet_files(ENGINE, ROUTES)


def save_route(ws: Workspace, table: pa.Table, meta: dict) -> str:
    """Save a routing run under the next run number (Parquet first, then its summary); return the run."""
    runs = route_files(ws)
    run = f"{int(runs[-1].stem) + 1 if runs else 1:05d}"
    _create(ws.path(ENGINE, ROUTES, f"{run}.parquet"), lambda tmp: pq.write_table(table, tmp))
    _create(ws.path(ENGINE, ROUTES, f"{run}.json"),
            lambda tmp: tmp.write_text(json.dumps(dict(meta, run=run), indent=2, sort_keys=True) + "\n"))
    return run


def route_version(ws: Workspace, run: str) -> str:
    """The model version of a routing run."""
    return json.loads(ws.path(ENGINE, ROUTES, f"{run}.json").read_text())["version"]


def read_route(ws: Workspace, run: str) -> pa.Table:
    """The rows of one routing run."""
    return pq.read_table(ws.path(ENGINE, ROUTES, f"{run}.parquet"))


def save_decisions(ws: Workspace, table: pa.Table, version: str, run: str) -> Path:
    """Write a run's automatic decisions to decisions/engine-<version>-<run>.parquet."""
    return _create(ws.path("decisions", f"engine-{version}-{run}.parquet"),
                   lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def save_resume(ws: Workspace, ts_us: int, note: str) -> Path:
    """Record that automatic decisions were resumed at `ts_us` (µs since the epoch)."""
    return _create(ws.path(ENGINE, RESUMES, f"{ts_us}.json"),
                   lambda tmp: tmp.write_text(json.dumps({"ts_us": ts_us, "note": note}) + "\n"))


def last_resume_us(ws: Workspace) -> int:
    """When automatic decisions were last resumed (µs since the epoch), 0 if never."""
    folder = ws.path(ENGINE, RESUMES)
    stamps = [int(p.stem) for p in folder.glob("*.json") if p.stem.isdigit()] if folder.is_dir() else []
    return max(stamps, default=0)
