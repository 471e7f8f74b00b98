"""`gristmill init DIR`: create a workspace."""
import argparse

from curation.workspace import Workspace
from gristmill.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="folder to create the workspace in")
    parser.add_argument("--name", help="workspace name (default: the folder name)")


def run(args: argparse.Namespace) -> int:
    ws = Workspace.init(args.workspace, name=args.name)
    console.print(f"created workspace [bold]{ws.config.name}[/] at {ws.root} (schema version {ws.config.schema_version})")
    return 0
