"""Stable sample identity: the same (URL, caption) pair gets the same id in every crawl, on every machine."""
import hashlib


def sample_id(url: str, caption: str | None) -> str:
    """32-hex-char id of a pair: BLAKE2b-128 over the normalised URL and the repaired caption."""
    h = hashlib.blake2b(digest_size=16)
    h.update(url.encode("utf-8"))
    h.update(b"\x00")
    h.update((caption or "").encode("utf-8"))
    return h.hexdigest()


def clip_id(parent_id: str, start_frame: int, end_frame: int) -> str:
    """Id of the clip [start_frame, end_frame) of the video `parent_id`."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{parent_id}:{start_frame}:{end_frame}".encode())
    return h.hexdigest()
