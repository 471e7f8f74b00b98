"""`gristmill engine train|route|status|resume` on a small synthetic corpus."""
import argparse
import json

from gristmill.commands import engine as command
from tests.engine.conftest import review_random


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_train_route_status_resume(corpus, reviewer, capsys):
    review_random(corpus, reviewer, 300)
    ws = str(corpus.workspace.root)
    assert _run("train", ws) == 0
    out = capsys.readouterr().out
    assert "trained v0001 on 300 human decisions" in out and "auto-accepted" in out
    assert _run("train", ws, "--if-due") == 0
    assert "no training due" in capsys.readouterr().out
    assert _run("route", ws) == 0
    assert "routing run 00002 (v0001)" in capsys.readouterr().out
    assert _run("status", ws) == 0
    out = capsys.readouterr().out
    for text in ("stage", "held-out AUC", "accept at p >=", "flagged for review", "per 1,000"):
        assert text in out
    assert "over time" in out
    assert _run("status", ws, "--json") == 0
    status = json.loads(capsys.readouterr().out)
    assert status["model"]["version"] == "v0001" and status["human_decisions"] == 300
    assert _run("resume", ws, "--note", "checked") == 0
    assert len(list(corpus.workspace.path("engine", "resumes").glob("*.json"))) == 1


def test_status_before_any_model(corpus, capsys):
    assert _run("status", str(corpus.workspace.root)) == 0
    out = capsys.readouterr().out
    assert "assisted-manual" in out and "no model yet" in out
