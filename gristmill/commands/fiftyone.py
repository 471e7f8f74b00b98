"""`gristmill fiftyone WS` builds or updates a FiftyOne dataset; `gristmill fiftyone sync WS` imports its edits."""
import argparse
from pathlib import Path

from curation.errors import GristmillError
from curation.workspace import Workspace
from gristmill.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("words", nargs="+", metavar="[sync] WORKSPACE",
                        help="the workspace folder; `sync WORKSPACE` imports edits made in FiftyOne")
    parser.add_argument("--where", help="SQL condition over the catalog views, e.g. "
                                        "\"NOT decisions.kept AND clip.clip_score < 0.2\" (build only)")
    parser.add_argument("--name", help="dataset name (default gristmill-<workspace name>)")
    parser.add_argument("--brain", action="store_true",
                        help="also attach the stored embeddings and compute FiftyOne Brain runs: embedding map "
                             "gm_map, similarity index gm_similarity, uniqueness gm_uniqueness (build only)")
    parser.add_argument("--user", help="FiftyOne user recorded as reviewer fiftyone:<user> (default: your user name)")
    parser.add_argument("--launch", action="store_true", help="open the FiftyOne App on the dataset afterwards")
    parser.add_argument("--port", type=int, default=5151, help="FiftyOne App port (default 5151)")
    parser.add_argument("--address", default="127.0.0.1", help="FiftyOne App address (default 127.0.0.1)")


def run(args: argparse.Namespace) -> int:
    from labeling_ui import fiftyone_bridge as bridge

    if len(args.words) == 2 and args.words[0] == "sync":
        ws = Workspace.open(Path(args.words[1]))
        report = bridge.sync(ws, args.name or bridge.default_name(ws), args.user)
        _print_sync(report)
        name = args.name or bridge.default_name(ws)
    elif len(args.words) == 1:
        ws = Workspace.open(Path(args.words[0]))
        report = bridge.build(ws, args.name, args.where, args.user, args.brain)
        if report.synced:
            _print_sync(report.synced)
        console.print(f"FiftyOne dataset [bold]{report.name}[/]: {report.added} sample(s) added, "
                      f"{report.updated} updated")
        if report.brain:
            _print_brain(report.brain)
        name = report.name
    else:
        raise GristmillError(f"expected WORKSPACE or `sync WORKSPACE`, got: {' '.join(args.words)}")
    if args.launch:
        console.print(f"FiftyOne App at http://{args.address}:{args.port} (Ctrl-C to stop)")
        bridge.launch(name, args.address, args.port)
    return 0


def _print_sync(report) -> None:
    recorded = ", ".join(f"{n} {action}" for action, n in sorted(report.events.items())) or "no new edits"
    console.print(f"synced edits from FiftyOne as {report.reviewer}: {recorded}"
                  + (f" ({report.already_recorded} already in the review log)" if report.already_recorded else ""))
    for problem in report.problems:
        console.print(f"[yellow]not synced[/]: {problem}")


def _print_brain(report) -> None:
    from labeling_ui.fiftyone_brain import MAP_KEY, SIMILARITY_KEY, UNIQUENESS_KEY

    console.print(f"FiftyOne Brain over {report.embedded} sample(s) with embeddings of {report.model} "
                  f"({report.missing} without): embedding map {MAP_KEY} ({report.method}), similarity index "
                  f"{SIMILARITY_KEY}, uniqueness {UNIQUENESS_KEY}")
