"""Commands whose stage is not built yet: they say which roadmap issue delivers them and exit non-zero."""
import argparse

from gristmill.console import console

ROADMAP = {
    "engine": ("the model in the loop that learns from reviewers", "issue 8 (The data-engine loop)"),
}


def help_for(name: str) -> str:
    what, issue = ROADMAP[name]
    return f"[not built yet: {issue}] {what}"


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("workspace", nargs="?", help="workspace folder")
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    parser.set_defaults(_roadmap_name=name)


def run(args: argparse.Namespace) -> int:
    what, issue = ROADMAP[args._roadmap_name]
    console.print(f"gristmill {args._roadmap_name}: {what} is not built yet; it is planned in {issue}.")
    return 3
