"""`gristmill review WS`: compact the review log, then serve the Streamlit review app on 127.0.0.1."""
import argparse
import getpass
import os
import subprocess
import sys
from pathlib import Path

from curation.reviews import compact
from curation.workspace import Workspace
from gristmill.console import console
from labeling_ui import ENV_REVIEWER, ENV_WORKSPACE

APP = Path(__file__).parents[2] / "labeling_ui" / "app.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; use 0.0.0.0 to share the app on a network)")
    parser.add_argument("--reviewer", default=None, help="your reviewer id in the log (default: your user name)")
    parser.add_argument("--compact", action="store_true",
                        help="only compact the review journals into Parquet, then exit")


def run(args: argparse.Namespace) -> int:
    ws = Workspace.open(Path(args.workspace))
    report = compact(ws)
    for problem in report.problems:
        console.print(f"[yellow]review log: {problem}[/]")
    console.print(f"review log: compacted {report.events_written} event(s)"
                  + (f" into {report.parquet.name}" if report.parquet else "")
                  + f"; {len(report.journals_live)} journal(s) in use by running sessions")
    if args.compact:
        return 0
    reviewer = args.reviewer or getpass.getuser()
    env = dict(os.environ, **{ENV_WORKSPACE: str(ws.root.resolve()), ENV_REVIEWER: reviewer})
    command = [sys.executable, "-m", "streamlit", "run", str(APP),
               "--server.port", str(args.port), "--server.address", args.address,
               "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]
    console.print(f"reviewing [bold]{ws.config.name}[/] as [bold]{reviewer}[/] at http://{args.address}:{args.port}")
    return subprocess.call(command, env=env)
