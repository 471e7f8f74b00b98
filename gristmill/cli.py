"""The `gristmill` command: one subcommand per stage, each in gristmill/commands/<name>.py.

Every subcommand takes a workspace path, prints progress, ends with a short summary, and exits 2 with a
one-line message on bad input (a GristmillError or a schema error), never with a traceback.
"""
import argparse
import importlib
import logging
import sys

from gristmill import __version__

# name -> module under gristmill.commands, in the order of the flow of one sample.
COMMANDS = {
    "init": "init",
    "synth": "synth",
    "crawl": "crawl",
    "clips": "clips",
    "score": "score",
    "curate": "curate",
    "review": "review",
    "fiftyone": "fiftyone",
    "engine": "engine",
    "export": "export",
    "query": "query",
    "stats": "stats",
    "demo": "demo",
}


# Third-party log lines that say nothing actionable to a gristmill user.
_NOISE = ("apitools not found, and bigquery client libraries",)


def _quiet_third_party_noise() -> None:
    logging.getLogger().addFilter(lambda record: not record.getMessage().startswith(_NOISE))


def _load(name: str):
    return importlib.import_module(f"gristmill.commands.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to generate the README's CLI reference)."""
    parser = argparse.ArgumentParser(
        prog="gristmill",
        description="Build clean, deduplicated, human-audited image-text and video-text training corpora.",
    )
    parser.add_argument("--version", action="version", version=f"gristmill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    from curation.errors import GristmillError
    from schemas import SchemaError

    _quiet_third_party_noise()
    args = build_parser().parse_args(argv)
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
