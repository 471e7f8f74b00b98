"""`gristmill engine train|route|status|resume WORKSPACE`: the model in the loop that learns from reviewers."""
import argparse
import json

from rich.table import Table

from gristmill.console import console

RECENT = 6  # routing runs shown in the over-time line of the status
ACTIONS = {
    "train": "train a new model version on every human decision, then route the undecided samples",
    "route": "route the undecided samples again with the current model (after new decisions or audits)",
    "status": "print stage, model quality, thresholds, queue sizes, audits and human decisions per 1,000",
    "resume": "resume automatic decisions after the audit stop rule halted them",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in ACTIONS.items():
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("workspace", help="workspace folder")
        if name == "train":
            p.add_argument("--if-due", action="store_true",
                           help="train only when retrain_every new human decisions arrived since the current model")
        if name == "status":
            p.add_argument("--json", action="store_true", help="print the status as one JSON object")
        if name == "resume":
            p.add_argument("--note", default="", help="why automatic decisions may resume")


def run(args: argparse.Namespace) -> int:
    from curation.engine import Engine  # scikit-learn and the catalog: only when the command runs

    engine = Engine(args.workspace)
    if args.action == "train":
        report = engine.maybe_retrain() if args.if_due else engine.train()
        if report is None:
            console.print(f"no training due: fewer than {engine.config.retrain_every} new human decisions since the "
                          "current model, or too few decisions to train a first one")
            return 0
        q = report.quality
        console.print(f"trained [bold]{report.version}[/] on {q.n} human decisions ({q.n_accept} accepts): "
                      f"held-out AUC {q.auc:.3f}, Brier {q.brier:.3f}")
        _route_summary(report.route)
    elif args.action == "route":
        _route_summary(engine.route())
    elif args.action == "resume":
        engine.resume(args.note)
        console.print("automatic decisions resumed; audits before now no longer count. Run `gristmill engine route`.")
    else:
        status = engine.status()
        if args.json:
            print(json.dumps(status, indent=2, default=str))
        else:
            print_status(status)
    return 0


def _route_summary(route) -> None:
    c = route.counts
    console.print(f"routing run {route.run} ({route.version}): {c['accept']} auto-accepted, {c['reject']} "
                  f"auto-rejected, {c['flag']} flagged for review, {c['audit']} sent to audit; stage "
                  f"[bold]{route.stage}[/]")
    console.print(f"automatic decisions: {route.decisions_path}")
    if route.audits.stopped:
        console.print(f"[bold red]{route.audits.message}[/]")


def _side(side: dict | None, word: str) -> str:
    if side is None:
        return f"no {word} threshold meets the target: {word} stays manual"
    return (f"{word} at p {'>=' if word == 'accept' else '<'} {side['threshold']:.3f}: estimated precision "
            f"{side['precision']:.1%} (CI {side['ci_low']:.1%}-{side['ci_high']:.1%}, {side['support']} decisions)")


def _per(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def print_status(status: dict) -> None:
    """The one-screen status of `gristmill engine status`."""
    from curation.engine.summary import model_summary

    console.print(f"[bold]{status['workspace']}[/]: stage [bold]{status['stage']}[/], "
                  f"{status['human_decisions']} human decisions")
    model = status["model"]
    if model is None:
        console.print("no model yet: review samples, then `gristmill engine train`")
    else:
        console.print(model_summary(model))
        console.print(f"target precision {status['target_precision']:.1%}: met by the lower end of each side's "
                      "confidence interval")
        for word in ("accept", "reject"):
            console.print("  " + _side(status["thresholds"][word], word))
    queues = status["queues"]
    console.print(f"queues: {queues['flagged']} flagged for review, {queues['audit']} audits pending; automatic: "
                  f"{queues['auto_accept']} accepted, {queues['auto_reject']} rejected")
    style = "bold red" if status["audits"]["stopped"] else ""
    console.print(f"audits: {status['audits']['message']}", style=style)
    table = Table(title="human decisions per 1,000 curated samples", title_justify="left")
    for col in ("stage", "human decisions", "curated", "per 1,000"):
        table.add_column(col, justify="right" if col != "stage" else "left")
    for stage, row in status["history"]["per_stage"].items():
        per = "" if row["per_1000"] is None else f"{row['per_1000']:.1f}"
        table.add_row(stage, str(row["human"]), str(row["curated"]), per)
    now = status["human_per_1000_curated"]
    table.add_row("overall now", str(status["human_decisions"]), "", "" if now is None else f"{now:.1f}")
    console.print(table)
    console.print("human caption edits per 1,000 reviewed samples: " + ", ".join(
        f"{stage} {_per(row['per_1000'])} ({row['edits']} of {row['reviewed']})"
        for stage, row in status["caption_edits"].items()))
    recent = status["history"]["over_time"][-RECENT:]
    console.print("over time (last routing runs, then now): " + ", ".join(
        f"{row['stage']} {row['per_1000']:.1f}" for row in recent if row["per_1000"] is not None))
