"""The `gristmill` command: one subcommand per stage, each in gristmill/commands/<name>.py.

Every subcommand takes a workspace path, prints progress, ends with a short summary, and exits 2 with a
one-line message on bad input (a GristmillError or a schema error), never with a traceback.

Only the module of the command being run is imported (the stages pull in torch, Beam and FiftyOne), so
`gristmill --help` and a command's `--help` answer quickly.
"""
import argparse
import importlib
import logging
import sys

from gristmill import __version__

# name -> one-line help, in the order of the flow of one sample; the code is gristmill.commands.<name>.
COMMANDS = {
    "init": "create a workspace (config file and folder layout)",
    "synth": "generate a synthetic image/video corpus with known defects and its ground truth",
    "crawl": "download a (URL, caption) list into WebDataset shards (resumable; Beam runners)",
    "clips": "cut crawled videos into shots: clips (mp4 + first/middle/last keyframes) and motion scores, per shard",
    "score": "run scorers over every crawled sample and clip: one Parquet per scorer and shard, resumable",
    "curate": "apply a curation recipe (built-in name or YAML file): decisions, funnel and score histograms",
    "review": "review samples in the Streamlit app (queues, captions, tags, threshold tuner) into the review log",
    "fiftyone": "build/update a persistent FiftyOne dataset of samples (`--brain`: embedding map, similarity, "
                "uniqueness), or `sync` its tag, caption and label edits into the review log",
    "engine": "the model in the loop: train it on review decisions, route samples automatically, report the stage",
    "labels": "label fields: define a vocabulary, propose labels zero-shot, train a probe on human labels, report",
    "export": "write a release (Parquet/WebDataset shards + manifest); `export verify DIR`, `export diff A B`",
    "query": "run SQL against the catalog views (samples, clips, <scorer>, embeddings, decisions, reviews)",
    "stats": "print sample counts, crawl status breakdown, score summaries and decision outcomes",
    "demo": "run the whole flow (synthetic web → crawl → score → curate → export) and print the funnel",
}
HELP_WIDTH = 100  # fixed, so the generated CLI reference does not depend on the terminal

# Third-party log lines that say nothing actionable to a gristmill user.
_NOISE = ("apitools not found, and bigquery client libraries",)


def quiet_third_party_noise() -> None:
    """Drop third-party log lines that say nothing actionable (Beam's apitools notice)."""
    logging.getLogger().addFilter(lambda record: not record.getMessage().startswith(_NOISE))


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.HelpFormatter(prog, width=HELP_WIDTH)


def build_parser(load: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser, with the full arguments of the commands in `load` (default: all of them).

    The other commands are listed with their one-line help only, which is all `gristmill --help` needs.
    """
    parser = argparse.ArgumentParser(
        prog="gristmill", formatter_class=_formatter,
        description="Build clean, deduplicated, human-audited image-text and video-text training corpora.",
    )
    parser.add_argument("--version", action="version", version=f"gristmill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, text in COMMANDS.items():
        p = sub.add_parser(name, help=text, description=text, formatter_class=_formatter)
        if load is None or name in load:
            module = importlib.import_module(f"gristmill.commands.{name}")
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def _command_in(argv: list[str]) -> list[str]:
    """The command named on the command line (the first word that is not an option), as a list."""
    return [word for word in argv[:1] if word in COMMANDS] if argv else []


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    argv = sys.argv[1:] if argv is None else argv
    quiet_third_party_noise()
    args = build_parser(load=_command_in(argv)).parse_args(argv)
    from curation.errors import GristmillError
    from schemas import SchemaError

    try:
        return args._module.run(args)
    except (GristmillError, SchemaError) as exc:
        print(f"gristmill {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gristmill {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
