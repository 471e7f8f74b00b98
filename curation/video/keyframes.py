"""Keyframes of a clip: its first, middle and last frame as JPEGs, for scorers and the review UI.

Stream-copied clips take their keyframes from the scan, so a video is decoded once for all of it:
`KeyframeCandidates` holds, while the scan decodes, the decoded pictures a copy-mode clip can need. Such a clip
starts at a codec keyframe and ends before the next one it keeps, or at the video's end, so its first and last
frames are among: every codec keyframe, the frame before each, and the last frame. For middles it also holds
a grid of frames, GRID_PER_SECOND per second; a clip's middle is the held frame nearest its midpoint, at most
an eighth of the clip away (`keyframe_frames` records which frame it is). The pictures held are bounded by
`max_bytes`: past it the grid is thinned (every other frame dropped, spacing doubled), and once the grid is
down to its floor new pictures are no longer held. A clip whose keyframes are not all held (and every
re-encoded clip) decodes them from its own mp4 instead (`extract_keyframes`).
"""
import io

import av
from PIL import Image

from curation.video.decode import Frame, VideoSource, frames_at, rgb_image

KEYFRAME_NAMES = ("first", "middle", "last")
GRID_PER_SECOND = 4
MIN_GRID_FRAMES = 4  # the grid is not thinned below this many frames; past the budget nothing new is held


def keyframe_positions(n_frames: int) -> list[tuple[str, int]]:
    """(name, frame index within the clip) of the first, middle and last frame; duplicates dropped."""
    return _named(zip(KEYFRAME_NAMES, (0, n_frames // 2, n_frames - 1)))


def _named(positions) -> list[tuple[str, int]]:
    out, seen = [], set()
    for name, index in positions:
        if index not in seen:
            out.append((name, index))
            seen.add(index)
    return out


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """An RGB image as JPEG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def extract_keyframes(clip: VideoSource, n_frames: int, max_side: int = 512,
                      quality: int = 90) -> list[tuple[str, int, bytes]]:
    """(name, frame index within the clip, JPEG bytes) per keyframe, long side at most `max_side` px, decoded
    from the clip itself."""
    positions = keyframe_positions(n_frames)
    images = frames_at(clip, [index for _, index in positions], max_side)
    return [(name, index, encode_jpeg(images[index], quality)) for name, index in positions]


def _bytes(picture: av.VideoFrame) -> int:
    return sum(plane.buffer_size for plane in picture.planes)


class KeyframeCandidates:
    """The decoded pictures of one scan that stream-copied clips may take as keyframes (see the module
    docstring); `feed` every frame in order, then `finish`, then `keyframes` per clip."""

    def __init__(self, fps: float, max_bytes: int):
        self.max_bytes = max_bytes
        self.step = max(1, round(fps / GRID_PER_SECOND))
        self.edges: dict[int, av.VideoFrame] = {}  # codec keyframes, the frames before them, the last frame
        self.grid: dict[int, av.VideoFrame] = {}
        self.held_bytes = 0
        self.full = False
        self._previous: Frame | None = None

    def feed(self, frame: Frame) -> None:
        """Hold what `frame` and the frame before it may be needed as."""
        if frame.key:
            self._hold(self.edges, frame)
            if self._previous is not None:
                self._hold(self.edges, self._previous)
        elif frame.index % self.step == 0:
            self._hold(self.grid, frame)
        self._previous = frame

    def finish(self) -> None:
        """Hold the last frame (every clip that ends at the video's end needs it)."""
        if self._previous is not None:
            self._hold(self.edges, self._previous)
            self._previous = None

    def keyframes(self, start: int, end: int, max_side: int, quality: int) -> list[tuple[str, int, bytes]] | None:
        """(name, frame index within the clip, JPEG bytes) of the clip [start, end), or None when its first or
        last frame is not held or no held frame is near its middle."""
        n = end - start
        first, last = self.edges.get(start), self.edges.get(end - 1)
        if first is None or last is None:
            return None
        target, tolerance = start + n // 2, max(1, n // 8)
        held = [i for i in (*self.grid, *self.edges) if start <= i < end and abs(i - target) <= tolerance]
        if not held:
            return None
        middle = min(held, key=lambda i: (abs(i - target), i))
        pictures = {start: first, middle: self.grid[middle] if middle in self.grid else self.edges[middle],
                    end - 1: last}
        return [(name, index - start, encode_jpeg(rgb_image(pictures[index], max_side), quality))
                for name, index in _named(zip(KEYFRAME_NAMES, (start, middle, end - 1)))]

    def _hold(self, into: dict[int, av.VideoFrame], frame: Frame) -> None:
        if frame.index in self.edges or frame.index in into:
            return
        if frame.index in self.grid:  # a grid frame turned out to be the frame before a keyframe
            self.edges[frame.index] = self.grid.pop(frame.index)
            return
        size = _bytes(frame.picture)
        while self.held_bytes + size > self.max_bytes and not self.full:
            self._thin()
        if self.full:
            return
        into[frame.index] = frame.picture
        self.held_bytes += size

    def _thin(self) -> None:
        """Halve the grid (double its spacing); below its floor, stop holding new pictures."""
        if len(self.grid) <= MIN_GRID_FRAMES:
            self.full = True
            return
        self.step *= 2
        for index in [i for i in self.grid if i % self.step]:
            self.held_bytes -= _bytes(self.grid.pop(index))
