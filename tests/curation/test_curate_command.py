"""`gristmill curate`: the command module's arguments, summary and errors."""
import argparse

import pytest

from curation.errors import GristmillError
from gristmill.commands import curate as command

from .conftest import sid


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="gristmill curate")
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))


def test_list_shows_the_builtins(capsys):
    assert run("--list") == 0
    out = capsys.readouterr().out
    for name in ("no-filter", "datacomp-basic", "datacomp-clip-threshold", "datacomp-clip-top30", "laion2b",
                 "video-opensora", "demo"):
        assert name in out


def test_curate_prints_the_funnel_and_where_things_went(workspace_factory, tmp_path, capsys):
    ws = workspace_factory([{"sample_id": sid(i), "caption": "a cat on a mat", "sha256": f"s{i % 3}"}
                            for i in range(6)])
    recipe = tmp_path / "mine.yaml"
    recipe.write_text("name: mine\nsteps:\n  - dedup: exact\n  - caption: {min_words: 2}\n")
    assert run(str(ws.root), str(recipe)) == 0
    out = capsys.readouterr().out
    assert "dedup:exact" in out and "kept 3 of 6 samples" in out and "decisions" in out


def test_bad_input_raises_a_user_error(workspace_factory, tmp_path):
    ws = workspace_factory([{"sample_id": sid(0)}])
    with pytest.raises(GristmillError, match="neither a file nor a built-in"):
        run(str(ws.root), "nope")
    with pytest.raises(GristmillError, match="give a workspace and a recipe"):
        run(str(ws.root))
