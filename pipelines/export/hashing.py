"""sha256 of files, including one still being appended to (hashed alongside the writer, on another core).

The tail hasher also starts the disk write of every chunk it has hashed (posix_fadvise DONTNEED: write back
now, then drop from the page cache). A shard's bytes then reach the disk while the rest is written, so the
fsync that commits it finds little left to do, and a long export does not fill memory with dirty pages
that the kernel would later flush in one stall. The exported files do not stay in the page cache.
"""
import hashlib
import os
import threading
from pathlib import Path

CHUNK = 8 * 2**20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class TailHasher:
    """Hash a file in a background thread while another writer only appends to it, starting the disk write of
    what it has hashed; `digest()` after the writer closes it.

    The writer must never seek back (Parquet and tar writers do not). Use as a context manager so the thread
    stops if writing fails.
    """

    def __init__(self, path: Path):
        self._fh = open(path, "rb", buffering=0)
        self._hash = hashlib.sha256()
        self._closed = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"sha256 {Path(path).name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = memoryview(bytearray(CHUNK))  # reused: no fresh memory (page faults) per read
        offset = 0
        try:
            while True:
                finished = self._closed.is_set()
                n = self._fh.readinto(buffer)
                if n:
                    self._hash.update(buffer[:n])
                    os.posix_fadvise(self._fh.fileno(), offset, n, os.POSIX_FADV_DONTNEED)
                    offset += n
                elif finished:
                    return
                else:
                    self._closed.wait(0.005)
        except BaseException as exc:  # handed to digest()
            self._error = exc

    def digest(self) -> str:
        """Hex sha256 of the whole file; call after the writer has closed it."""
        self._closed.set()
        self._thread.join()
        self._fh.close()
        if self._error:
            raise self._error
        return self._hash.hexdigest()

    def __enter__(self) -> "TailHasher":
        return self

    def __exit__(self, *exc) -> None:
        self._closed.set()
        self._thread.join()
        self._fh.close()
