"""`gristmill review WS`: compact the review log, then serve the Streamlit review app (127.0.0.1 by default),
which goes on compacting the log in the background while it runs (`--compact-every`).

Reviewers sign in (labeling_ui.auth) with a per-reviewer token (`--auth tokens.yaml`) or through an
authenticating reverse proxy (`--auth-header X-Forwarded-User`); without either the app trusts whoever
reaches it, so it only binds to a loopback address unless `--insecure-no-auth` is given.
"""
import argparse
import getpass
import ipaddress
import os
import sys
from pathlib import Path

from curation.errors import GristmillError
from curation.leases import LEASE_S
from curation.reviews import compact
from curation.workspace import Workspace
from gristmill.console import console
from labeling_ui import ENV_COMPACT_S, ENV_LEASE_S, ENV_REVIEWER, ENV_WORKSPACE
from labeling_ui.auth import ENV_ADMINS, ENV_AUTH_HEADER, ENV_AUTH_TOKENS, load_tokens
from labeling_ui.compactor import INTERVAL_S as COMPACT_S

APP = Path(__file__).parents[2] / "labeling_ui" / "app.py"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workspace", help="workspace folder")
    parser.add_argument("--port", type=int, default=8501, help="port to serve on (default 8501)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; any other address needs --auth or --auth-header)")
    sign_in = parser.add_mutually_exclusive_group()
    sign_in.add_argument("--auth", type=Path, default=None, metavar="TOKENS_YAML",
                         help="sign reviewers in with per-reviewer tokens: a YAML file of `reviewers:` with name, "
                              "role (reviewer|admin) and token_sha256")
    sign_in.add_argument("--auth-header", default=None, metavar="HEADER",
                         help="trust this request header (e.g. X-Forwarded-User) set by an authenticating reverse "
                              "proxy to name the reviewer; serve behind that proxy only")
    sign_in.add_argument("--insecure-no-auth", action="store_true",
                         help="serve on a non-loopback --address without sign-in (anyone who reaches it reviews "
                              "as anyone and is an admin)")
    parser.add_argument("--admins", default="",
                        help="with --auth-header: comma-separated reviewer names with the admin role")
    parser.add_argument("--reviewer", default=None,
                        help="without sign-in: your reviewer id in the log (default: your user name)")
    parser.add_argument("--lease-s", type=float, default=LEASE_S,
                        help=f"seconds a page of samples stays reserved for its reviewer without a click "
                             f"(default {LEASE_S:g})")
    parser.add_argument("--compact-every", type=float, default=COMPACT_S, metavar="SECONDS",
                        help=f"while serving, compact the review log in the background every SECONDS when enough "
                             f"new events arrived (default {COMPACT_S:g}; 0: only at start)")
    parser.add_argument("--compact", action="store_true",
                        help="only compact the review journals into Parquet, then exit")


def sign_in_env(args: argparse.Namespace) -> dict[str, str]:
    """The environment that tells the app how reviewers sign in; GristmillError for a setup that is not safe."""
    if args.admins and not args.auth_header:
        raise GristmillError("--admins names admins for --auth-header; a token file gives each reviewer a role")
    if args.reviewer and (args.auth or args.auth_header):
        raise GristmillError("--reviewer is for use without sign-in; with --auth or --auth-header the reviewer "
                             "is whoever signs in")
    if args.lease_s <= 0:
        raise GristmillError(f"--lease-s must be positive, not {args.lease_s:g}")
    if args.compact_every < 0:
        raise GristmillError(f"--compact-every must be 0 (off) or positive, not {args.compact_every:g}")
    if args.auth:
        load_tokens(args.auth)  # a bad file is an error now, not in every browser that opens the app
        return {ENV_AUTH_TOKENS: str(args.auth.resolve())}
    if args.auth_header:
        if not _loopback(args.address):
            console.print(f"[yellow]--auth-header on {args.address}: anyone who reaches this port directly can "
                          f"send {args.auth_header}; let only the proxy reach it[/]")
        return {ENV_AUTH_HEADER: args.auth_header, ENV_ADMINS: args.admins}
    if not _loopback(args.address) and not args.insecure_no_auth:
        raise GristmillError(f"refusing to serve the review app on {args.address} without sign-in: use --auth "
                             "TOKENS_YAML or --auth-header HEADER (see docs/review.md), or --insecure-no-auth")
    return {}


def _loopback(address: str) -> bool:
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    ws = Workspace.open(Path(args.workspace))
    auth_env = {} if args.compact else sign_in_env(args)
    report = compact(ws)
    for problem in report.problems:
        console.print(f"[yellow]review log: {problem}[/]")
    console.print(f"review log: compacted {report.events_written} event(s)"
                  + (f" into {report.parquet.name}" if report.parquet else "")
                  + f"; {len(report.journals_live)} journal(s) in use by running sessions")
    if args.compact:
        return 0
    who = (f"the reviewers of {args.auth}" if args.auth else
           f"reviewers named by {args.auth_header}" if args.auth_header else args.reviewer or getpass.getuser())
    env = {k: v for k, v in os.environ.items() if k not in (ENV_AUTH_TOKENS, ENV_AUTH_HEADER, ENV_ADMINS)}
    env.update(auth_env, **{ENV_WORKSPACE: str(ws.root.resolve()), ENV_LEASE_S: repr(args.lease_s),
                            ENV_COMPACT_S: repr(args.compact_every),
                            ENV_REVIEWER: args.reviewer or getpass.getuser()})
    command = [sys.executable, "-m", "streamlit", "run", str(APP),
               "--server.port", str(args.port), "--server.address", args.address,
               "--server.headless", "true", "--server.fileWatcherType", "none",
               "--browser.gatherUsageStats", "false", "--global.developmentMode", "false"]
    console.print(f"reviewing [bold]{ws.config.name}[/] as {who} at http://{args.address}:{args.port}")
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, command, env)  # the server replaces this process: a signal to it stops the server
