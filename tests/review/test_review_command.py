"""`gristmill review`: argument defaults, compaction on start, and a clear error for a non-workspace."""
import argparse

import pytest

from curation.errors import GristmillError
from curation.reviews import ReviewLog
from gristmill.commands import review


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    review.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_defaults_bind_to_localhost():
    args = _args("ws")
    assert (args.address, args.port, args.reviewer, args.compact) == ("127.0.0.1", 8501, None, False)


def test_compact_only_moves_closed_journals_into_parquet(tmp_path, capsys):
    from curation.workspace import Workspace

    ws = Workspace.init(tmp_path / "ws")
    log = ReviewLog(ws, "alice")
    log.accept("a")
    log.close()
    assert review.run(_args(str(ws.root), "--compact")) == 0
    assert "compacted 1 event(s) into 00000.parquet" in capsys.readouterr().out
    assert [p.name for p in ws.parquet_files("reviews")] == ["00000.parquet"]
    assert not list(ws.path("reviews", "journal").glob("*.jsonl"))


def test_not_a_workspace_is_a_clear_error(tmp_path):
    with pytest.raises(GristmillError, match="not a gristmill workspace"):
        review.run(_args(str(tmp_path)))
