"""`gristmill export`: write a release, verify one, or diff two.

    gristmill export WORKSPACE --out DIR [--format parquet|webdataset] [--shard-size 512MB] [--split val=0.01]
                     [--with-bytes | --references] [--decisions NAME | --recipe RECIPE] [--overwrite] [--parent DIR]
    gristmill export verify DIR
    gristmill export diff A B

Only the standard library is imported at module level, so `gristmill export --help` answers at once.
"""
import argparse
import json
from pathlib import Path

USAGE = "gristmill export WORKSPACE --out DIR [options] | gristmill export verify DIR | gristmill export diff A B"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = ("%(prog)s WORKSPACE --out DIR [--decisions NAME | --recipe RECIPE] [options]\n"
                    "       %(prog)s verify DIR\n       %(prog)s diff A B")
    parser.add_argument("target", nargs="+", metavar="WORKSPACE | verify DIR | diff A B",
                        help="the workspace to export, or `verify DIR`, or `diff A B` (two release folders)")
    parser.add_argument("--out", help="release folder to write (new or empty; an interrupted export resumes)")
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--decisions", metavar="NAME",
                        help="decisions file under WORKSPACE/decisions/ (default: the one decisions/CURRENT names)")
    chosen.add_argument("--recipe", metavar="RECIPE",
                        help="curate with RECIPE (built-in name or YAML file) and export its decisions: writes "
                             "decisions/<recipe>-<hash>.parquet and the funnel as `gristmill curate` does, but "
                             "leaves decisions/CURRENT as it is; the manifest records the recipe's name, hash and text")
    parser.add_argument("--format", dest="formats", action="append", choices=["parquet", "webdataset"],
                        help="output format; repeat for both (default: parquet)")
    parser.add_argument("--shard-size", default="512MB", help="target size of a shard, e.g. 512MB (default 512MB)")
    parser.add_argument("--row-group-size", default="64MiB", help="target size of a Parquet row group (default 64MiB)")
    parser.add_argument("--split", default="", metavar="NAME=FRACTION[,…]",
                        help="held-out splits by hash of sample_id, e.g. val=0.01; the rest is train (default none)")
    media = parser.add_mutually_exclusive_group()
    media.add_argument("--with-bytes", dest="media", action="store_const", const="bytes", default="bytes",
                       help="store the media bytes in the shards (default)")
    media.add_argument("--references", dest="media", action="store_const", const="references",
                       help="store only references (source URL and workspace tar/offset/size), no bytes")
    parser.add_argument("--workers", type=int, help="shards written at once (default: cores, at most 4)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the release already in --out (a folder holding anything else is refused)")
    parser.add_argument("--parent", help="release folder this one derives from (default: the workspace's last release)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--limit", type=int, default=3,
                        help="diff: how many example sample ids to show per kind of change (default 3)")


def run(args: argparse.Namespace) -> int:
    from curation.errors import GristmillError

    action, *rest = args.target
    if action in ("verify", "diff") and args.out:
        raise GristmillError(f"--out is for exporting; usage: {USAGE}")
    if action == "verify" and len(rest) == 1:
        return _verify(Path(rest[0]), args)
    if action == "diff" and len(rest) == 2:
        return _diff(Path(rest[0]), Path(rest[1]), args)
    if len(args.target) != 1:
        raise GristmillError(f"unexpected arguments {' '.join(args.target)!r}; usage: {USAGE}")
    return _export(Path(action), args)


def _export(workspace_path: Path, args: argparse.Namespace) -> int:
    from curation.catalog import Catalog
    from curation.workspace import Workspace
    from gristmill.console import console, warn_placeholders
    from pipelines.export import export

    config = _config(args)
    ws = Workspace.open(workspace_path)

    def progress(record, reused):
        if not args.json:
            verb = "kept (checksum ok)" if reused else "wrote"
            console.print(f"  {verb} {record.file}: {record.rows} rows, {record.bytes / 1e6:.1f} MB")

    if config.recipe and not args.json:
        console.print(f"curating with {config.recipe} (decisions/CURRENT stays as it is)")
    result = export(ws, config, on_shard=progress)
    if args.json:
        print(result.model_dump_json())
        return 0
    _print_summary(result)
    warn_placeholders(Catalog(ws))
    return 0


def _config(args: argparse.Namespace):
    """The ExportConfig of the command line; a GristmillError naming every bad option."""
    from pydantic import ValidationError

    from curation.errors import GristmillError
    from pipelines.export import ExportConfig

    if not args.out:
        raise GristmillError(f"--out DIR is required; usage: {USAGE}")
    try:
        return ExportConfig(out=args.out, decisions=args.decisions, recipe=args.recipe,
                            formats=args.formats or ["parquet"], media=args.media, shard_size=args.shard_size,
                            row_group_size=args.row_group_size, splits=args.split, overwrite=args.overwrite,
                            parent=args.parent, **({"workers": args.workers} if args.workers is not None else {}))
    except ValidationError as exc:
        raise GristmillError("; ".join(e["msg"] for e in exc.errors())) from exc


def _print_summary(result) -> None:
    from rich.table import Table

    from gristmill.console import console

    was = {"resume": " (resumed an interrupted export)", "overwrite": " (replaced what was there)"}.get(result.mode, "")
    console.print(f"[bold]release {result.release_id[:16]}[/] in {result.out}{was}; decisions: {result.decisions}")
    table = Table()
    for col in ("split", "rows", "shard files", "MB"):
        table.add_column(col, justify="right" if col != "split" else "left")
    for split, rows in result.rows_by_split.items():
        files = [s for s in result.shards if s.split == split]
        table.add_row(split, str(rows), str(len(files)), f"{sum(s.bytes for s in files) / 1e6:.1f}")
    console.print(table)
    console.print(f"{result.written} shard files written, {result.reused} kept from an earlier run, "
                  f"{result.bytes / 1e6:.1f} MB in {result.seconds:.1f} s; "
                  f"parent release: {result.parent[:16] if result.parent else 'none'}")
    for reason, n in result.not_exported.items():
        console.print(f"[yellow]{n} kept samples not exported: {reason}[/]")
    if result.placeholder_scorers:
        console.print(f"[red]the manifest records placeholder scores in: {', '.join(result.placeholder_scorers)}[/]")


def _verify(release: Path, args: argparse.Namespace) -> int:
    from gristmill.console import console
    from pipelines.export import load_manifest, verify

    problems = verify(release)
    if args.json:
        print(json.dumps({"ok": not problems, "problems": [p.__dict__ for p in problems]}))
        return 1 if problems else 0
    manifest = load_manifest(release)
    for p in problems:
        console.print(f"[red]{p.file}: {p.reason}[/] {p.detail}")
    if problems:
        console.print(f"[red bold]{release}: {len(problems)} problem(s) in {len(manifest['shards'])} files[/]")
        return 1
    console.print(f"{release}: all {len(manifest['shards'])} files match their checksums and row counts "
                  f"({manifest['counts']['rows']} samples, release {manifest['release_id'][:16]})")
    return 0


def _diff(a: Path, b: Path, args: argparse.Namespace) -> int:
    from gristmill.console import console
    from pipelines.export import diff

    result = diff(a, b)
    if args.json:
        print(json.dumps(result.__dict__))
        return 0
    console.print(f"{b} vs {a}: {len(result.added)} added, {len(result.removed)} removed, "
                  f"{result.in_both} in both", markup=False, soft_wrap=True)
    moved = [f"{c['sample_id']} ({c['old']} -> {c['new']})" for c in result.changed_splits]
    _line("added", result.added, args.limit)
    _line("removed", result.removed, args.limit)
    _line("caption", [c["sample_id"] for c in result.changed_captions], 0)
    for change in result.changed_captions[: args.limit]:
        console.print(f"    {change['sample_id']}: {change['old']!r} -> {change['new']!r}",
                      markup=False, soft_wrap=True)
    _line("split", moved, args.limit)
    _line(f"media (by {result.media_basis})", result.changed_media, args.limit)
    for scorer, ids in result.changed_scores.items():
        if ids:
            _line(f"scores.{scorer}", ids, args.limit)
    if not any(result.changed_scores.values()):
        _line("scores", [], 0)
    for label_field, changes in result.changed_labels.items():
        _line(f"labels.{label_field}", [f"{c['sample_id']} ({_label_text(c['old'])} -> {_label_text(c['new'])})"
                                        for c in changes], args.limit)
    return 0


def _label_text(label: dict | None) -> str:
    """'cat, dog (human)', 'none of these (automatic)' or 'unlabelled'."""
    if label is None:
        return "unlabelled"
    return f"{', '.join(label['classes']) or 'none of these'} ({label['source']})"


def _line(kind: str, items: list[str], limit: int) -> None:
    """'  kind: N: a, b, c, …' with at most `limit` examples."""
    from gristmill.console import console

    examples = ": " + ", ".join(items[:limit]) + (", …" if len(items) > limit else "") if items and limit > 0 else ""
    console.print(f"  {kind}: {len(items)}{examples}", markup=False, highlight=False, soft_wrap=True)
