"""Atomic file commits: write under a hidden temporary name in the same folder, fsync, then rename.

A reader never sees a half-written file, and a crash leaves at most a `.tmp-*` file that the next run
ignores (every reader skips names starting with '.').
"""
import json
import os
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq


def fsync_path(path: Path) -> None:
    """fsync a file or a folder (a folder's fsync makes a rename in it durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(path: Path) -> Path:
    """A hidden, unique temporary name beside `path` (every reader skips names starting with '.')."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:12]}")


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync it and rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_path(path)
    try:
        yield tmp
        fsync_path(tmp)
        os.replace(tmp, path)
        fsync_path(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(table: pa.Table, path: Path, **kwargs) -> Path:
    """Atomically write `table` as zstd-compressed Parquet at `path`."""
    kwargs.setdefault("compression", "zstd")
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **kwargs)
    return Path(path)


def write_bytes(data: bytes, path: Path) -> Path:
    """Atomically write raw bytes at `path`."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(obj, path: Path) -> Path:
    """Atomically write `obj` as indented, key-sorted JSON at `path`."""
    return write_bytes((json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode(), path)
