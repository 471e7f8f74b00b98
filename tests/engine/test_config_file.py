"""The engine's config file: defaults when absent, a clear error when malformed."""
import pytest

from curation.engine.config import EngineConfig, EngineError, load_config
from curation.workspace import Workspace


def test_missing_config_gives_defaults_and_bad_config_names_the_file(tmp_path):
    ws = Workspace.init(tmp_path / "ws")
    assert load_config(ws) == EngineConfig()
    ws.path("engine").mkdir(exist_ok=True)
    ws.path("engine", "config.yaml").write_text("no_such_setting: 1\n")
    with pytest.raises(EngineError, match=r"engine/config.yaml is not a valid engine config"):
        load_config(ws)
