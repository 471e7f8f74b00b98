"""End to end: `gristmill demo` as a user runs it, then the catalog answers what the funnel printed."""
import json
import re
import subprocess
import sys

import pytest


def gristmill(*args, cwd=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "gristmill.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**__import__("os").environ, "COLUMNS": "160"})
    if check and proc.returncode != 0:
        raise AssertionError(f"gristmill {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    proc = gristmill("demo", root / "ws", "--out", root / "release", "--allow-random-weights")
    return root, proc.stdout


def _funnel_count(stdout: str, label: str) -> int:
    match = re.search(rf"{label}\s*│?\s*(\d+)", stdout)
    assert match, f"no '{label}' row in the demo output:\n{stdout}"
    return int(match.group(1))


def test_demo_prints_funnel_and_placeholder_warning(demo):
    _, stdout = demo
    assert "gristmill demo funnel" in stdout
    assert "PLACEHOLDER" in stdout
    assert _funnel_count(stdout, "exported") > 0


def test_query_answers_the_funnel_count(demo):
    root, stdout = demo
    out = gristmill("query", root / "ws", "SELECT count(*) AS n FROM samples", "--format", "json").stdout
    assert json.loads(out.strip().splitlines()[-1])["n"] == _funnel_count(stdout, "input pairs")


def test_demo_recorded_hostile_urls_as_failures_not_crashes(demo):
    root, _ = demo
    out = gristmill("query", root / "ws", "SELECT count(*) AS n FROM samples WHERE status <> 'success'",
                    "--format", "json").stdout
    assert json.loads(out.strip().splitlines()[-1])["n"] >= 8


def test_demo_refuses_to_overwrite_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    proc = gristmill("demo", tmp_path, "--allow-random-weights", check=False)
    assert proc.returncode == 2 and "not made by `gristmill demo`" in proc.stderr
    assert (tmp_path / "precious.txt").exists()


def test_demo_without_weights_stops_before_crawling(tmp_path):
    proc = gristmill("demo", tmp_path / "ws", check=False)
    assert proc.returncode == 2 and "--allow-random-weights" in proc.stderr
    assert not (tmp_path / "ws").exists()
