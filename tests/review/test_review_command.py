"""`gristmill review`: argument defaults, compaction on start, a clear error for a non-workspace, and no
server left behind once the command is stopped."""
import argparse
import subprocess
import sys
import time
import urllib.request

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
    assert (args.auth, args.auth_header, args.insecure_no_auth, args.lease_s) == (None, None, False, 300.0)
    assert args.compact_every == 60.0  # background compaction while serving
    with pytest.raises(GristmillError, match="--compact-every must be 0"):
        review.sign_in_env(_args("ws", "--compact-every", "-1"))


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


def test_stopping_the_command_stops_the_server(tmp_path):
    from tests.review.test_browser import ROOT, SERVE, _free_port
    from tests.review.workspaces import small_workspace

    ws = small_workspace(tmp_path / "ws", n=2)
    port = _free_port()
    health = f"http://127.0.0.1:{port}/_stcore/health"
    command = subprocess.Popen([sys.executable, "-c", SERVE, str(ws.root), "--port", str(port)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(health, timeout=1)
                break
            except OSError:
                assert command.poll() is None, "the review app did not start"
                time.sleep(0.2)
    finally:
        command.terminate()  # what a test fixture or a process manager does
        command.wait(30)
    with pytest.raises(OSError):
        urllib.request.urlopen(health, timeout=1)
