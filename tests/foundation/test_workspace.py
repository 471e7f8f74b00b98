import pytest
import yaml

from curation.workspace import CONFIG_NAME, LAYOUT, Workspace, WorkspaceError
from schemas import SCHEMA_VERSION


def test_init_creates_layout_and_config(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    for sub in LAYOUT:
        assert (ws.root / sub).is_dir()
    cfg = yaml.safe_load((ws.root / CONFIG_NAME).read_text())
    assert cfg["schema_version"] == SCHEMA_VERSION and cfg["name"] == "ws"
    assert Workspace.open(ws.root).config == ws.config


def test_init_refuses_existing_workspace(tmp_path):
    Workspace.init(tmp_path)
    with pytest.raises(WorkspaceError, match="already a gristmill workspace"):
        Workspace.init(tmp_path)


def test_open_non_workspace_says_how_to_create_one(tmp_path):
    with pytest.raises(WorkspaceError, match=r"not a gristmill workspace .*gristmill init"):
        Workspace.open(tmp_path)


def test_open_newer_schema_version_refused(tmp_path):
    ws = Workspace.init(tmp_path)
    cfg = yaml.safe_load((ws.root / CONFIG_NAME).read_text())
    cfg["schema_version"] = SCHEMA_VERSION + 1
    (ws.root / CONFIG_NAME).write_text(yaml.safe_dump(cfg))
    with pytest.raises(WorkspaceError, match=f"version {SCHEMA_VERSION + 1}, newer than this gristmill"):
        Workspace.open(ws.root)


def test_open_garbled_config_is_a_clear_error(tmp_path):
    ws = Workspace.init(tmp_path)
    (ws.root / CONFIG_NAME).write_text("schema_version: [unclosed")
    with pytest.raises(WorkspaceError, match="not a valid workspace config"):
        Workspace.open(ws.root)


def test_parquet_files_skip_temporaries(tmp_path):
    ws = Workspace.init(tmp_path)
    (ws.root / "shards" / "00000.parquet").write_bytes(b"x")
    (ws.root / "shards" / ".00001.parquet.tmp-abc").write_bytes(b"x")
    assert [p.name for p in ws.parquet_files("shards")] == ["00000.parquet"]
