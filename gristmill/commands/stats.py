"""`gristmill stats DIR`: counts, status breakdown and score summaries."""
import argparse
import json

from rich.table import Table

from curation.catalog import Catalog
from curation.stats import workspace_stats
from curation.workspace import Workspace
from gristmill.console import console, warn_placeholders


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--json", action="store_true", help="print the statistics as one JSON object")


def run(args: argparse.Namespace) -> int:
    catalog = Catalog(Workspace.open(args.workspace))
    stats = workspace_stats(catalog)
    if args.json:
        print(json.dumps(stats, indent=2, default=str))
        return 0
    kinds = ", ".join(f"{n} {kind}" for kind, n in stats["by_kind"].items())
    console.print(f"[bold]{stats['samples']}[/] samples ({kinds or 'none yet'}), {stats['reviews']} review events")
    _counts("media type", stats["by_media_type"])
    _counts("crawl status", stats["by_status"])
    for view, summary in stats["scores"].items():
        table = Table(title=f"{view}: {summary['rows']} rows, {summary['errors']} errors", title_justify="left")
        for col in ("column", "min / true", "mean", "max"):
            table.add_column(col)
        for name, s in summary["columns"].items():
            if "true" in s:
                table.add_row(name, str(s["true"]), "", "")
            else:
                table.add_row(name, *(_fmt(s[k]) for k in ("min", "mean", "max")))
        console.print(table)
    if stats["decisions"]:
        _counts("decisions (reason dropped, or kept)", stats["decisions"])
    warn_placeholders(catalog)
    return 0


def _fmt(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _counts(title: str, counts: dict) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("value")
    table.add_column("count", justify="right")
    for key, n in counts.items():
        table.add_row(str(key), str(n))
    console.print(table)
