"""Small videos for the clips tests: the synthetic corpus in a workspace, and every kind of bad input."""
import io
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curation.identity import sample_id
from curation.shards import ShardWriter
from curation.synthetic.corpus import CorpusSpec, generate_corpus
from curation.workspace import Workspace


def corpus_videos(out_dir: Path, n_videos: int = 12) -> list[dict]:
    """Generate the synthetic corpus (few images) and return its video ground-truth rows with their bytes."""
    generate_corpus(out_dir, CorpusSpec(seed=0, n_images=30, n_videos=n_videos))
    table = pq.read_table(out_dir / "ground_truth.parquet")
    rows = table.filter(pc.equal(table["media_type"], "video")).to_pylist()
    for row in rows:
        row["data"] = (out_dir / "media" / row["relpath"]).read_bytes()
    return rows


def video_row(name: str, caption: str = "a video") -> dict:
    """A SAMPLES row for a crawled video named `name` (its url is http://127.0.0.1/<name>)."""
    url = f"http://127.0.0.1/{name}"
    return dict(sample_id=sample_id(url, caption), url=url, caption=caption, media_type="video", status="success")


def build_workspace(root: Path, shards: dict[str, list[tuple[str, bytes]]]) -> Workspace:
    """A workspace whose crawl shards hold the given (name, mp4 bytes) videos, as the crawler writes them."""
    ws = Workspace.init(root)
    for shard, videos in shards.items():
        writer = ShardWriter(ws.root, shard)
        for name, data in videos:
            writer.add(video_row(name), media=data, ext="mp4")
        writer.commit()
    return ws


def encode(frames: np.ndarray, fps: int = 12, pts: list[int] | None = None, time_base: Fraction | None = None,
           rotation: int = 0, faststart: bool = False, gop: int | None = None) -> bytes:
    """H.264 mp4 of RGB frames; `pts` in `time_base` units makes variable frame rate; `rotation` sets the matrix."""
    tmp = tempfile.NamedTemporaryFile(suffix=".mp4", delete=False)  # faststart rewrites the file: needs a path
    tmp.close()
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(tmp.name, mode="w", format="mp4", options=options) as container:
        codec_options = {"threads": "1"} | ({"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"} if gop else {})
        stream = container.add_stream("libx264", rate=fps, options=codec_options)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if time_base is not None:
            stream.codec_context.time_base = time_base
        if rotation:
            stream.set_display_rotation(rotation)
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = pts[i] if pts is not None else i
            if time_base is not None:
                frame.time_base = time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = Path(tmp.name).read_bytes()
    os.unlink(tmp.name)
    return data


def encode_without_frame_count(frames: np.ndarray, fmt: str, fps: int = 12, gop: int = 12) -> bytes:
    """RGB frames as a file whose header has no frame count: fragmented mp4 (H.264) or webm (VP8)."""
    buffer = io.BytesIO()
    options = {"movflags": "frag_keyframe+empty_moov"} if fmt == "mp4" else {}
    with av.open(buffer, mode="w", format=fmt, options=options) as container:
        codec = "libx264" if fmt == "mp4" else "libvpx"
        stream = container.add_stream(codec, rate=fps, options={"g": str(gop), "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        for i, pixels in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def grey_levels(n: int, width: int = 64, height: int = 48, step: int = 8) -> np.ndarray:
    """n flat frames, frame i at grey level step * i: a frame's index can be read back from its pixels."""
    return np.stack([np.full((height, width, 3), step * i, np.uint8) for i in range(n)])


def audio_only(seconds: float = 1.0) -> bytes:
    """An mp4 holding only an AAC sine tone."""
    buffer = io.BytesIO()
    rate = 16000
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[:, start:start + 1024]), format="fltp",
                                               layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def textured(n: int, width: int = 160, height: int = 96, seed: int = 0, shift: int = 0) -> np.ndarray:
    """n frames of a random smooth texture panning `shift` px/frame to the right."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (height // 8 + 1, (width + shift * n) // 8 + 2, 3)).astype(np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), np.uint8))
    return np.stack([big[:height, i * shift:i * shift + width] for i in range(n)])
