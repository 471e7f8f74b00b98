"""Write one WebDataset shard: a tar with `<sample_id>.<ext>` (media), `.txt` (final caption), `.json` (the rest).

Members carry no timestamps or owners, and JSON keys are sorted, so the same rows always give the same bytes.
The .json holds every exported column except the media (scores as nested objects); in a release made with
--references there is no media member and the .json's media_path/offset/size point into the workspace.
"""
import io
import json
import re
import tarfile
from pathlib import Path

import pyarrow as pa

from pipelines.export.schema import MEDIA, media_bytes

EXTENSION = "tar"
_EXTENSIONS = {
    "image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif", "image/bmp": "bmp",
    "image/tiff": "tiff", "image/avif": "avif", "video/mp4": "mp4", "video/webm": "webm",
    "video/quicktime": "mov", "video/x-matroska": "mkv", "video/x-msvideo": "avi",
}


def media_extension(mime_type: str | None, media_type: str) -> str:
    """Member extension for a mime type: the usual one, else the mime subtype's letters and digits.

    Without a mime type it is the media type ('image' or 'video'), so a loader still sees bytes.
    """
    if mime_type in _EXTENSIONS:
        return _EXTENSIONS[mime_type]
    if mime_type:
        return re.sub(r"[^a-z0-9]", "", mime_type.split("/")[-1].lower()) or media_type
    return media_type


class TarShard:
    """A WebDataset tar being written at `path`; write() batches of rows, then close()."""

    extension = EXTENSION

    def __init__(self, path: Path, schema: pa.Schema):
        self._fh = open(path, "wb")
        self._tar = tarfile.open(fileobj=self._fh, mode="w", format=tarfile.PAX_FORMAT)

    def write(self, rows: pa.Table) -> None:
        """Append the members of every row."""
        media = media_bytes(rows.column(MEDIA))
        for i, meta in enumerate(rows.drop_columns([MEDIA]).to_pylist()):
            key = meta["sample_id"]
            data = media[i].as_buffer()
            if data is not None:
                self._add(f"{key}.{media_extension(meta['mime_type'], meta['media_type'])}", data)
            self._add(f"{key}.txt", (meta["caption"] or "").encode("utf-8"))
            self._add(f"{key}.json", json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8"))

    def _add(self, name: str, data) -> None:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 0
        self._tar.addfile(info, io.BytesIO(data))

    def close(self) -> None:
        self._tar.close()
        self._fh.close()


def count_rows(path: Path) -> int:
    """Samples in a WebDataset shard: its .json members."""
    with tarfile.open(path) as tar:
        return sum(1 for m in tar if m.name.endswith(".json"))
