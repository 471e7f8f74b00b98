"""Read the media bytes of a batch of rows from the workspace shard tars into one Arrow binary array.

Each row's bytes are read (pread) straight into their place in one buffer, so a row group's media costs one
copy. Reads go in (tar, offset) order rather than row order, so each tar is read front to back, which is what
the kernel's readahead expects when the tars are not in the page cache. The reader owns two buffers and fills
them in turn: an array it returned stays valid until the second next read, which is what a writer that
finishes one row group while the next one is read needs. Reusing buffers avoids faulting in fresh memory for
every row group.
"""
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.errors import GristmillError


class MediaReader:
    """Reads media by (media_path, media_offset, media_size); keeps the tars it has opened open until close()."""

    def __init__(self, workspace_root: Path):
        self.root = Path(workspace_root).resolve()
        self._fds: dict[str, int] = {}
        self._buffers: list[pa.Buffer | None] = [None, None]
        self._turn = 0

    def _fd(self, media_path: str) -> int:
        fd = self._fds.get(media_path)
        if fd is None:
            path = (self.root / media_path).resolve()
            if not path.is_relative_to(self.root):
                raise GristmillError(f"media_path {media_path!r} points outside the workspace {self.root}")
            fd = self._fds[media_path] = os.open(path, os.O_RDONLY)
        return fd

    def read(self, batch: pa.RecordBatch | pa.Table) -> pa.Array:
        """The media of every row of `batch` (columns media_path, media_offset, media_size) as a binary array."""
        paths = batch.column("media_path").to_pylist()
        offsets = batch.column("media_offset").to_pylist()
        sizes = np.asarray(batch.column("media_size").to_numpy(zero_copy_only=False), dtype=np.int64)
        ends = np.zeros(len(sizes) + 1, dtype=np.int64)
        np.cumsum(sizes, out=ends[1:])
        if ends[-1] >= 2**31:
            raise GristmillError(
                f"a row group of {len(sizes)} samples holds {ends[-1]} media bytes, more than a Parquet binary "
                "column chunk can (2 GiB); lower --row-group-size (one sample above 2 GiB cannot be exported)"
            )
        buffer = self._buffer(int(ends[-1]))
        view = memoryview(buffer).cast("B")
        order = pc.sort_indices(batch.select(["media_path", "media_offset"]),
                                sort_keys=[("media_path", "ascending"), ("media_offset", "ascending")])
        for i in order.to_numpy():
            path, offset, start, end = paths[i], offsets[i], ends[i], ends[i + 1]
            got = os.preadv(self._fd(path), [view[start:end]], offset)
            if got != end - start:
                raise GristmillError(
                    f"{path}: expected {end - start} bytes at offset {offset}, got {got} (truncated shard?)"
                )
        return pa.Array.from_buffers(pa.binary(), len(sizes), [None, pa.py_buffer(ends.astype(np.int32)), buffer])

    def _buffer(self, size: int) -> pa.Buffer:
        """The next of the two buffers, grown to hold at least `size` bytes."""
        self._turn = 1 - self._turn
        buffer = self._buffers[self._turn]
        if buffer is None or buffer.size < size:
            buffer = self._buffers[self._turn] = pa.allocate_buffer(max(size, 1), resizable=False)
        return buffer

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
