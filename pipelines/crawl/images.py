"""Image verification before resizing: a payload becomes a sample only if it is a whole, sane image.

OpenCV (which img2dataset's resizer uses) decodes truncated and damaged files without complaint, so each
payload is checked first, cheaply and without decoding twice where the format allows it:

* Pillow identifies the format and the declared size (headers only); unknown payloads are `not_an_image`,
  payloads with an image signature but an unreadable header `corrupt`;
* the declared pixel count is checked against the cap (`too_many_pixels`, `decompression_bomb`) before anything
  is decoded; Pillow's own bomb guard is left as configured and reported as `decompression_bomb` when it fires;
* JPEG: the marker structure is walked to the end-of-image marker (missing: `truncated`; stray or out-of-order
  markers inside the scan data: `corrupt`). Damage that leaves no marker trace is invisible to every decoder
  (libjpeg only warns), so a small fraction of damaged JPEGs passes;
* PNG: every chunk CRC is checked up to IEND (Pillow's `verify`);
* other formats: a full decode with truncated-image loading off.
"""
import io
from dataclasses import dataclass

from PIL import Image, ImageFile, UnidentifiedImageError

from pipelines.crawl import status
from pipelines.crawl.status import BOMB_PIXELS_PER_BYTE, Failure

IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
# markers that may follow the entropy-coded data of a scan (tables, next scan, comments, APPn, EOI)
_JPEG_BETWEEN_SCANS = frozenset({0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xFE, 0xD9, *range(0xE0, 0xF0)})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageInfo:
    """What verification learned: Pillow's format name, the MIME type and the declared size in px."""

    format: str
    mime_type: str
    width: int
    height: int


def verify_image(data: bytes, max_pixels: int) -> ImageInfo:
    """Check that `data` is a whole image within the pixel cap; raise Failure otherwise."""
    if not data:
        raise Failure(status.NOT_AN_IMAGE, "empty body")
    try:
        with Image.open(io.BytesIO(data)) as im:
            info = ImageInfo(im.format, Image.MIME.get(im.format, "image/" + im.format.lower()), *im.size)
    except Image.DecompressionBombError as exc:
        raise Failure(status.DECOMPRESSION_BOMB, str(exc)) from None
    except UnidentifiedImageError:
        if data.startswith(IMAGE_SIGNATURES):
            raise Failure(status.CORRUPT, f"image header cannot be parsed ({_first_bytes(data)})") from None
        raise Failure(status.NOT_AN_IMAGE, f"not a recognised image ({_first_bytes(data)})") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise Failure(status.CORRUPT, f"image header cannot be parsed: {exc}") from None
    check_pixels(info.width, info.height, len(data), max_pixels)
    _check_integrity(data, info.format)
    return info


def check_pixels(width: int, height: int, n_bytes: int, max_pixels: int) -> None:
    """Refuse a declared size above the pixel cap; a tiny payload declaring it is a decompression bomb."""
    pixels = width * height
    if pixels <= max_pixels:
        return
    if pixels > BOMB_PIXELS_PER_BYTE * max(n_bytes, 1):
        raise Failure(status.DECOMPRESSION_BOMB, f"{width}x{height} px declared by a {n_bytes} byte payload")
    raise Failure(status.TOO_MANY_PIXELS, f"{width}x{height} = {pixels} px exceeds the {max_pixels} px cap")


def _check_integrity(data: bytes, fmt: str) -> None:
    if fmt == "JPEG":
        problem = jpeg_problem(data)
        if problem is not None:
            raise Failure(*problem)
    elif fmt == "PNG":
        _verify_png(data)
    else:
        _full_decode(data)


def _verify_png(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.verify()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        kind = status.CORRUPT if b"IEND" in data[-32:] else status.TRUNCATED
        raise Failure(kind, f"PNG check failed: {exc}") from None


def _full_decode(data: bytes) -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; truncated images cannot be detected")
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        kind = status.TRUNCATED if "truncated" in str(exc).lower() else status.CORRUPT
        raise Failure(kind, f"decode failed: {exc}") from None


def jpeg_problem(data: bytes) -> tuple[str, str] | None:
    """(status, error) when the JPEG's marker structure is cut short or damaged, None when it is whole."""
    n, pos = len(data), 2
    after_scan = False
    while True:
        if pos + 2 > n:
            return status.TRUNCATED, f"no end-of-image marker ({n} bytes)"
        if data[pos] != 0xFF:
            return status.CORRUPT, f"expected a marker at byte {pos}"
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if after_scan and marker not in _JPEG_BETWEEN_SCANS:
            return status.CORRUPT, f"unexpected marker FF{marker:02X} in scan data at byte {pos}"
        if marker == 0xD9:
            return None
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if pos + 4 > n:
            return status.TRUNCATED, f"file ends inside marker FF{marker:02X}"
        end = pos + 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        if end > n:
            return status.TRUNCATED, f"file ends inside segment FF{marker:02X} at byte {pos}"
        after_scan = marker == 0xDA
        if not after_scan:
            pos = end
            continue
        pos, error = _skip_scan(data, end)
        if error:
            return status.CORRUPT, error
        if pos < 0:
            return status.TRUNCATED, f"file ends inside the scan data ({n} bytes, no end-of-image marker)"


def _skip_scan(data: bytes, start: int) -> tuple[int, str | None]:
    """Position of the marker ending the scan at `start` (-1: end of data), or an error for bad restart markers."""
    pos, expected_rst, n = start, 0, len(data)
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= n:
            return -1, None
        nxt = data[pos + 1]
        if nxt == 0x00 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        if 0xD0 <= nxt <= 0xD7:
            if nxt != 0xD0 + expected_rst:
                return pos, f"restart marker FF{nxt:02X} out of sequence at byte {pos}"
            expected_rst = (expected_rst + 1) % 8
            pos += 2
            continue
        return pos, None


def _first_bytes(data: bytes) -> str:
    head = data[:16]
    text = head.decode("ascii", "replace")
    return f"starts with {text!r}" if text.isprintable() else f"starts with {head.hex()}"
