"""The clips stage over a workspace: local batch job, Beam pipeline, CLI; storage layout and resumption."""
import argparse
import io
import json
import subprocess
import sys

import pytest
from PIL import Image

from curation.catalog import Catalog
from curation.clips import ClipsConfig, make_clips
from curation.errors import GristmillError
from curation.shards import read_media
from curation.video.decode import frames_at
from gristmill.commands import clips as clips_command
from pipelines.clips import run_clips_pipeline
from tests.video.media import audio_only, build_workspace

CONFIG = ClipsConfig(cut_mode="reencode")


@pytest.fixture
def workspace(tmp_path, corpus):
    videos = [(v["item_id"] + ".mp4", v["data"]) for v in corpus]
    bad = [("empty.mp4", b""), ("audio.mp4", audio_only()), ("truncated.mp4", corpus[0]["data"][:3000])]
    return build_workspace(tmp_path / "ws", {"00000": videos[:6], "00001": videos[6:] + bad, "00002": []})


def _tables(ws) -> dict[str, list[dict]]:
    catalog = Catalog(ws)
    return {view: catalog.query(f"SELECT * FROM {view} ORDER BY sample_id").to_pylist() for view in ("clips", "motion")}


def test_batch_job_writes_clips_keyframes_and_motion(workspace, corpus):
    report = make_clips(workspace, CONFIG)
    assert report.shards_done == ["00000", "00001", "00002"] and report.videos == 15
    assert dict(report.video_errors) == {"empty_file": 1, "audio_only": 1, "truncated": 1}
    tables = _tables(workspace)
    kept = [r for r in tables["clips"] if r["status"] == "success"]
    n_shots = sum(len(v["scene_cuts"]) + 1 for v in corpus)
    assert len(tables["clips"]) == n_shots and report.clips["success"] == len(kept) > 0
    for row in tables["clips"]:
        assert row["status"] in ("success", "too_short") and row["media_type"] == "video"
        assert row["url"].startswith("http://127.0.0.1/") and "#t=" in row["url"]
    for row in kept:
        mp4 = read_media(workspace.root, row["media_path"], row["media_offset"], row["media_size"])
        assert len(frames_at(mp4, [row["frame_count"] - 1], 64)) == 1
        for offset, size in zip(row["keyframe_offsets"], row["keyframe_sizes"]):
            Image.open(io.BytesIO(read_media(workspace.root, row["media_path"], offset, size))).verify()
    scored = {r["sample_id"]: r for r in tables["motion"]}
    assert all(scored[r["sample_id"]]["error"] is None for r in kept), "every stored clip has motion scores"
    assert sorted(r["error"] for r in tables["motion"] if r["error"]) == ["audio_only", "empty_file", "truncated"]
    listed = Catalog(workspace).query(
        "SELECT c.sample_id, c.kind, c.media_type, c.start_s, p.kind AS parent_kind, p.media_type AS parent_type "
        "FROM samples c LEFT JOIN samples p ON p.sample_id = c.parent_id WHERE c.parent_id IS NOT NULL "
        "ORDER BY c.sample_id").to_pylist()
    assert [r["sample_id"] for r in listed] == [r["sample_id"] for r in tables["clips"]], "every clip is a sample"
    assert {(r["kind"], r["media_type"], r["parent_kind"], r["parent_type"]) for r in listed} == {
        ("clip", "video", "crawled", "video")}
    assert [r["start_s"] for r in listed] == [r["start_s"] for r in tables["clips"]]
    marker = json.loads(workspace.path("clips", "00001.done").read_text())
    assert {f["reason"] for f in marker["failed_videos"]} == {"empty_file", "audio_only", "truncated"}


def test_rerun_skips_done_shards_and_redoes_an_uncommitted_one(workspace):
    make_clips(workspace, CONFIG)
    before = _tables(workspace)
    tar_before = workspace.path("clips", "00000.tar").read_bytes()
    again = make_clips(workspace, CONFIG)
    assert again.shards_done == [] and again.shards_skipped == ["00000", "00001", "00002"]
    workspace.path("clips", "00000.done").unlink()  # as if killed after writing the files, before the marker
    redo = make_clips(workspace, CONFIG)
    assert redo.shards_done == ["00000"]
    assert _tables(workspace) == before
    assert workspace.path("clips", "00000.tar").read_bytes() == tar_before
    assert not [p for p in workspace.path("clips").iterdir() if p.name.startswith(".")]


def test_beam_pipeline_matches_the_batch_job(tmp_path, corpus):
    shards = {"00000": [(v["item_id"] + ".mp4", v["data"]) for v in corpus[:4]], "00001": [("empty.mp4", b"")]}
    local = build_workspace(tmp_path / "local", shards)
    beam = build_workspace(tmp_path / "beam", shards)
    make_clips(local, CONFIG)
    report = run_clips_pipeline(beam, CONFIG)
    assert report.shards_done == ["00000", "00001"] and report.video_errors["empty_file"] == 1
    assert _tables(beam) == _tables(local)
    assert run_clips_pipeline(beam, CONFIG).shards_skipped == ["00000", "00001"]


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    clips_command.add_arguments(parser)
    return clips_command.run(parser.parse_args(list(argv)))


def test_cli_runs_and_refuses_raft_without_weights(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(GristmillError, match="no raft_small weights"):
        _cli(str(workspace.root), "--motion", "raft_small")
    assert not workspace.path("clips", "00000.done").exists()
    assert _cli(str(workspace.root), "--detector", "cascade", "--min-seconds", "1", "--max-seconds", "3") == 0
    clips = Catalog(workspace).query("SELECT * FROM clips WHERE status = 'success'").to_pylist()
    assert clips and all(1 <= r["duration_s"] <= 3 for r in clips)
    assert {r["detector"].split("(")[0] for r in clips} == {"cascade"}


def test_cli_help_loads_no_media_libraries():
    """The command's options come from curation.video.config; PyAV, OpenCV and PySceneDetect load in `run`."""
    code = ("import sys\nfrom gristmill.cli import main\ntry:\n    main(['clips', '--help'])\nexcept SystemExit:\n"
            "    pass\nprint('LOADED', sorted(m for m in ('av', 'cv2', 'scenedetect', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--detector" in out and out.strip().splitlines()[-1] == "LOADED []"
