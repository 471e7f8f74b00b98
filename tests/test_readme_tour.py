"""Every command of the README's 30-second tour runs, in order, as written (server address aside)."""
import os
import shlex
import socket
import subprocess
import sys
from pathlib import Path


from curation.synthetic.server import FixtureServer

README = (Path(__file__).parents[1] / "README.md").read_text()
README_BASE_URL = "http://127.0.0.1:8000"


def tour_lines() -> list[str]:
    block = README.split("## The 30-second tour", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.strip().splitlines()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tour_runs_as_written(tmp_path):
    lines = tour_lines()
    assert lines[0].startswith("gristmill synth") and lines[1].startswith("python -m http.server")
    port = _free_port()
    server = None
    try:
        for line in lines:
            if line.startswith("python -m http.server"):
                server = FixtureServer(tmp_path / "web" / "media", port=port).start()
                continue
            if line.startswith("gristmill review"):
                continue  # a long-running app: tests/review drives it in a real browser
            args = shlex.split(line.replace(README_BASE_URL, f"http://127.0.0.1:{port}"))
            assert args[0] == "gristmill", line
            proc = subprocess.run([sys.executable, "-m", "gristmill.cli", *args[1:]], cwd=tmp_path,
                                  capture_output=True, text=True, env={**os.environ, "COLUMNS": "160"})
            assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
    finally:
        if server:
            server.stop()
    assert (tmp_path / "release" / "manifest.json").is_file()
