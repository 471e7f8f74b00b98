"""Atomic, resumable, deterministic: SIGKILL mid-export then resume gives the bytes of an uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from curation.errors import GristmillError
from pipelines.export import ExportConfig, export, verify

REPO = Path(__file__).resolve().parents[2]
OPTIONS = dict(formats=["parquet", "webdataset"], shard_size="40KB", splits="val=0.2")


def release_files(out: Path) -> dict[str, bytes]:
    """Every file of a release except the hidden journal, by relative path."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and not str(p.relative_to(out)).startswith(".export")}


def comparable_manifest(out: Path) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    return {k: v for k, v in manifest.items() if k not in ("created", "parent")}


def start_slow_export(ws_root: Path, out: Path) -> subprocess.Popen:
    """Run the export in a child process whose shard writes are slowed down, so a kill lands mid-export."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from pipelines.export import ExportConfig, export, parquet_writer
        write = parquet_writer.ParquetShard.write
        def slow_write(self, rows):
            time.sleep(0.05)
            write(self, rows)
        parquet_writer.ParquetShard.write = slow_write
        export({str(ws_root)!r}, ExportConfig(out={str(out)!r}, **{OPTIONS!r}))
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after(proc: subprocess.Popen, out: Path, n_files: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = out / "data"
        if data.is_dir() and len([p for p in data.iterdir() if not p.name.startswith(".")]) >= n_files:
            break
        if proc.poll() is not None:
            pytest.fail(f"export finished or failed before the kill: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("n_files", [1, 6])
def test_sigkill_then_resume_gives_identical_bytes(ws, tmp_path, n_files):
    interrupted, clean = tmp_path / "interrupted", tmp_path / "clean"
    kill_after(start_slow_export(ws.root, interrupted), interrupted, n_files)
    assert not (interrupted / "manifest.json").exists()
    with pytest.raises(GristmillError, match="not a complete release"):
        verify(interrupted)
    finished = len(list((interrupted / ".export" / "journal").glob("*.json")))

    resumed = export(ws, ExportConfig(out=interrupted, **OPTIONS))
    assert resumed.mode == "resume" and resumed.reused == finished and resumed.written == len(resumed.shards) - finished
    assert finished >= (4 if n_files == 6 else 0)
    uninterrupted = export(ws, ExportConfig(out=clean, **OPTIONS))
    assert uninterrupted.reused == 0 and len(uninterrupted.shards) > 8

    assert release_files(interrupted).keys() == release_files(clean).keys()
    for name, data in release_files(clean).items():
        if name != "manifest.json":
            assert release_files(interrupted)[name] == data, name
    assert comparable_manifest(interrupted) == comparable_manifest(clean)
    assert resumed.release_id == uninterrupted.release_id
    assert not [p for p in interrupted.rglob(".*tmp-*")]
    assert verify(interrupted) == []


def test_same_inputs_give_byte_identical_releases_whatever_the_workers(ws, tmp_path):
    a = export(ws, ExportConfig(out=tmp_path / "a", workers=1, **OPTIONS))
    b = export(ws, ExportConfig(out=tmp_path / "b", workers=3, **OPTIONS))
    assert a.release_id == b.release_id
    files_a, files_b = release_files(tmp_path / "a"), release_files(tmp_path / "b")
    assert {k: v for k, v in files_a.items() if k != "manifest.json"} == \
        {k: v for k, v in files_b.items() if k != "manifest.json"}


def test_rerun_rewrites_only_a_damaged_shard(ws, tmp_path):
    out = tmp_path / "out"
    first = export(ws, ExportConfig(out=out, **OPTIONS))
    victim = out / first.shards[3].file
    victim.write_bytes(b"\0" * victim.stat().st_size)
    others = {s.file: os.stat(out / s.file).st_ino for s in first.shards if s.file != first.shards[3].file}
    again = export(ws, ExportConfig(out=out, overwrite=True, **OPTIONS))
    assert (again.written, again.reused) == (1, len(first.shards) - 1)
    assert {s.file: os.stat(out / s.file).st_ino for s in again.shards if s.file in others} == others
    assert again.release_id == first.release_id and verify(out) == []


def test_changed_options_rewrite_and_prune_stale_shards(ws, tmp_path):
    out = tmp_path / "out"
    export(ws, ExportConfig(out=out, **OPTIONS))
    again = export(ws, ExportConfig(out=out, overwrite=True, formats=["parquet"], shard_size="10MB"))
    assert [s.file for s in again.shards] == ["data/train-00000.parquet"]
    assert not (out / "webdataset").exists()
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train-00000.parquet"]
    assert verify(out) == []
