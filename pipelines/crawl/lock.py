"""One crawl at a time per workspace: an exclusive `flock` on `.crawl.lock` in the workspace.

The kernel releases a flock when its holder's last file descriptor closes, so a crawl that dies (even by SIGKILL)
leaves no stale lock behind; the file itself stays, holding the current holder's pid, host and start time for
the message a refused crawl prints. Needs a filesystem with working flock (local disks; not every NFS mount).
"""
import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from curation.errors import GristmillError

LOCK_FILE = ".crawl.lock"


@contextmanager
def crawl_lock(root: Path) -> Iterator[None]:
    """Hold the workspace's crawl lock for the block; GristmillError naming the holder when another has it."""
    path = Path(root) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GristmillError(f"{root} is already being crawled ({_holder(path)}); wait for that crawl to end "
                                 "or stop it, then re-run to resume") from None
        _write_holder(fd)
        yield
    finally:
        os.close(fd)  # releases the lock


def _write_holder(fd: int) -> None:
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}).encode(), 0)


def _holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text())
        return f"pid {holder['pid']} on host {holder['host']}, started {holder['started']}"
    except (OSError, ValueError, KeyError, TypeError):  # the holder is still writing its details
        return "holder details not yet written"
