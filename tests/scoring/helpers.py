"""Building small workspaces for scoring tests without crawling: shards written straight from media files."""
from pathlib import Path

from curation.identity import sample_id
from curation.shards import ShardWriter, shard_name
from curation.workspace import Workspace


def media_row(url: str, caption: str | None, media_type: str = "image") -> dict:
    """A successful SAMPLES row for `url` (the shard writer fills shard and media columns)."""
    return {"sample_id": sample_id(url, caption), "url": url, "caption": caption, "media_type": media_type,
            "status": "success"}


def write_shards(ws: Workspace, items: list[tuple[dict, bytes | None, str | None]], shard_size: int) -> list[str]:
    """Commit `items` (row, media bytes, extension) as consecutive shards of `shard_size`; their names."""
    names = []
    for start in range(0, len(items), shard_size):
        writer = ShardWriter(ws.root, shard_name(start // shard_size))
        for row, data, ext in items[start:start + shard_size]:
            writer.add(row, data, ext)
        writer.commit()
        names.append(writer.shard)
    return names


def corpus_items(corpus) -> list[tuple[dict, bytes, str]]:
    """(row, bytes, ext) for every item of a generated corpus; the URL is the item's relpath."""
    items = []
    for item in corpus.items:
        url = f"http://corpus.test/{item.relpath}"
        data = Path(corpus.path(item.item_id)).read_bytes()
        items.append((media_row(url, item.caption, item.media_type), data, item.relpath.rsplit(".", 1)[1]))
    return items


def workspace_from_corpus(root: Path, corpus, shard_size: int = 64) -> tuple[Workspace, dict[str, str]]:
    """A workspace holding the whole corpus, and the map sample_id -> item_id."""
    ws = Workspace.init(root)
    items = corpus_items(corpus)
    write_shards(ws, items, shard_size)
    return ws, {row["sample_id"]: item.item_id for (row, _, _), item in zip(items, corpus.items)}


def write_clip_shard(ws: Workspace, shard: str, clips: list[tuple[dict, bytes | None, list[bytes]]]) -> None:
    """Commit `clips/<shard>.{tar,parquet,done}` as the clips stage lays them out: rows (CLIPS columns beyond
    the required ones may be left out), clip mp4 bytes and keyframe JPEGs located by offset and size."""
    import io
    import tarfile

    import pyarrow as pa

    from curation.atomic import write_json, write_parquet
    from schemas import CLIPS, conform

    def add(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return tar.offset - -(-len(data) // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE

    rows = []
    with tarfile.open(ws.path("clips", f"{shard}.tar"), "w", format=tarfile.PAX_FORMAT) as tar:
        for row, mp4, keyframes in clips:
            row = dict(row, shard=shard, media_path=f"clips/{shard}.tar" if mp4 else None)
            if mp4:
                row.update(media_offset=add(tar, f"{row['sample_id']}.mp4", mp4), media_size=len(mp4))
            if keyframes:
                row["keyframe_offsets"] = [add(tar, f"{row['sample_id']}.{i}.jpg", k) for i, k in enumerate(keyframes)]
                row["keyframe_sizes"] = [len(k) for k in keyframes]
            rows.append(row)
    table = pa.table({f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in CLIPS})
    write_parquet(conform(table, CLIPS), ws.path("clips", f"{shard}.parquet"))
    write_json({"shard": shard}, ws.path("clips", f"{shard}.done"))


def decoded_like_the_job(data: bytes, side: int):
    """An image decoded as a job whose smallest model input is `side` px decodes it, written out with Pillow alone:
    a JPEG at the largest of 1/8, 1/4, 1/2 of its size whose shorter side stays >= `side`, else in full."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(data))
    if image.format == "JPEG":
        scale = next((s for s in (8, 4, 2) if -(-min(image.size) // s) >= side), 1)
        image.draft("RGB", (image.width // scale, image.height // scale))
    return image.convert("RGB")
