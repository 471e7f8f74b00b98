"""`gristmill labels define|show|propose|train|report WORKSPACE`: label fields, proposals and the probe."""
import argparse
import json
from pathlib import Path

from rich.panel import Panel
from rich.table import Table

from curation.models import PRECISIONS
from gristmill.console import console

ACTIONS = {
    "define": "check a label vocabulary (YAML) and install it as the workspace's labels/vocabulary.yaml",
    "show": "print the workspace's label fields, their classes and prompts",
    "propose": "propose labels for every sample: zero-shot from stored embeddings, or with the current probe",
    "train": "train a new probe version on the human labels of a field, prove per-class thresholds, propose",
    "report": "per field: human labels per class, agreement of zero-shot and probe with them, thresholds",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in ACTIONS.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("workspace", help="workspace folder")
        if name == "define":
            p.add_argument("vocabulary", help="YAML file with a 'fields' list (see README, Labels)")
        if name in ("propose", "train"):
            p.add_argument("field", help="label field name")
        if name == "propose":
            p.add_argument("--source", choices=["zeroshot", "probe"], default="zeroshot",
                           help="zeroshot: CLIP prompts (default); probe: the field's current probe version")
            p.add_argument("--pretrained", default=None,
                           help="weights of the text encoder: a tag or local checkpoint (default: those the image "
                                "embeddings name; required when they came from a local checkpoint)")
            p.add_argument("--device", default="cpu", help="device of the text encoder (default: %(default)s)")
            p.add_argument("--precision", default="fp32", choices=list(PRECISIONS),
                           help="autocast precision of the text encoder (default: %(default)s)")
        if name == "report":
            p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def run(args: argparse.Namespace) -> int:
    from curation.labels import runs
    from curation.labels.report import report as labels_report
    from curation.labels.vocabulary import load_vocabulary, parse_vocabulary, save_vocabulary
    from curation.workspace import Workspace

    ws = Workspace.open(args.workspace)
    if args.action == "define":
        path = Path(args.vocabulary)
        vocabulary = parse_vocabulary(path.read_text(), str(path))
        console.print(f"installed {save_vocabulary(ws, vocabulary)}: " + ", ".join(
            f"{f.name} ({f.kind}, {len(f.classes)} classes)" for f in vocabulary.fields))
    elif args.action == "show":
        print_vocabulary(load_vocabulary(ws))
    elif args.action == "propose":
        if args.source == "zeroshot":
            text_model = runs.TextModel(args.pretrained, args.device, args.precision)
            print_proposals(runs.propose_zeroshot(ws, args.field, text_model))
        else:
            print_proposals(runs.propose_probe(ws, args.field))
    elif args.action == "train":
        report = runs.train_probe(ws, args.field)
        console.print(f"trained probe [bold]{report.field}/{report.version}[/] on {report.n_labels} human labels: "
                      f"held-out accuracy {report.accuracy:.1%}, ECE {report.ece:.3f}")
        for name, side in report.thresholds.items():
            console.print("  " + _threshold(name, side))
        print_proposals(report.proposals)
    else:
        status = labels_report(ws)
        if args.json:
            print(json.dumps(status, indent=2, default=str))
        else:
            print_report(status)
    return 0


def _threshold(name: str, side: dict | None) -> str:
    if side is None:
        return f"{name}: no threshold meets the target: stays manual"
    return (f"{name}: automatic at p >= {side['threshold']:.3f}, precision {side['precision']:.1%} "
            f"(CI {side['ci_low']:.1%}-{side['ci_high']:.1%}, {side['support']} held-out labels)")


def print_vocabulary(vocabulary) -> None:
    """Each field's kind and classes with their prompts."""
    if not vocabulary.fields:
        console.print("no label fields: `gristmill labels define WS FILE.yaml`")
    for f in vocabulary.fields:
        table = Table(title=f"{f.name} ({f.kind}-label)", title_justify="left")
        for col in ("class", "description", "prompts"):
            table.add_column(col)
        for c in f.classes:
            table.add_row(c.name, c.description or "", "; ".join(c.prompts))
        console.print(table)


def print_proposals(report) -> None:
    """What one proposal run wrote."""
    calibrated = (f"calibrated on {report.calibrated_on} human labels" if report.calibrated_on
                  else "uncalibrated: no human labels yet (the model's logit scale)")
    console.print(f"{report.source} proposals for [bold]{report.field}[/]: {report.samples} samples, {calibrated}; "
                  f"{report.model_id} → {report.path}")
    console.print("proposed: " + ", ".join(f"{c} {n}" for c, n in report.proposed.items()))
    if report.source == "probe":
        console.print("automatic: " + ", ".join(f"{c} {n}" for c, n in report.automatic.items()))
        console.print(f"audits: {report.audits}", style="bold red" if report.stopped else "")
    if report.placeholder:
        console.print(Panel(f"The {report.source} proposals for {report.field} come from random (placeholder) CLIP "
                            "weights (the embeddings were scored with --allow-random-weights). They carry no "
                            "meaning; score with real weights and propose again.",
                            title="WARNING: placeholder label proposals", style="bold red"))


def _agreement(source: dict | None) -> str:
    if source is None:
        return "-"
    rate = "" if source["rate"] is None else f" ({source['rate']:.1%})"
    return f"{source['agree']}/{source['labelled']}{rate}" + (" PLACEHOLDER" if source["placeholder"] else "")


def _version(version: dict | None) -> str:
    if version is None:
        return "-"
    stale = " (stale: the field changed)" if version["stale"] else ""
    return f"{version['version']}: held-out accuracy {version['quality']['accuracy']:.1%}{stale}"


def print_report(status: dict) -> None:
    """One table per workspace: per field, labels and agreement of each source with them."""
    table = Table(title=f"{status['workspace']}: labels (target precision {status['target_precision']:.0%})",
                  title_justify="left")
    for col in ("field", "kind", "human labels", "zero-shot agrees", "probe", "probe agrees on newer labels",
                "automatic"):
        table.add_column(col)
    for f in status["fields"]:
        version = f["probe_version"]
        auto = f["probe"]["automatic"] if f["probe"] else {}
        table.add_row(f["field"], f["kind"], ", ".join(f"{c} {n}" for c, n in f["labels_per_class"].items()),
                      _agreement(f["zeroshot"]), _version(version), _agreement(f["probe"]),
                      ", ".join(f"{c} {n}" for c, n in auto.items() if n) or "-")
    console.print(table)
