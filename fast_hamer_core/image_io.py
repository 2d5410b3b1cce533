"""Encoded images (JPEG / PNG bytes, image files) -> RGB arrays, with the checks every reader shares.

One decoder for the CLI (``fast-hamer infer`` / ``detect`` through :func:`read_rgb`), the ROS node's
``CompressedImage`` input and the training shards, so that they accept and refuse the same bytes:

- the size is read from the PNG / JPEG header *before* decoding (:func:`encoded_image_size`), so an
  image larger than ``max_pixels`` is refused without allocating it;
- a truncated stream is refused (JPEG: no end-of-image marker after the scan data; PNG: no ``IEND``
  chunk), where ``cv2.imread`` would return a partly grey image with only a warning on stderr;
- EXIF orientation: applied by default (what ``cv2.imread`` and HaMeR's demo do); ``apply_orientation=False``
  keeps the stored pixel order (what HaMeR's training loader, PIL through webdataset, does).
"""

from __future__ import annotations

import os
import struct

import cv2
import numpy as np

#: ROS ``sensor_msgs/Image`` colour encodings: (channels, OpenCV conversion to RGB or None). One table for
#: the node's messages (fast_hamer_ros.image_conversion) and a bag's (fast_hamer_core.bags).
COLOR_ENCODINGS: dict[str, tuple[int, int | None]] = {
    "rgb8": (3, None),
    "bgr8": (3, cv2.COLOR_BGR2RGB),
    "rgba8": (4, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, cv2.COLOR_BGRA2RGB),
    "mono8": (1, cv2.COLOR_GRAY2RGB),
    "8UC1": (1, cv2.COLOR_GRAY2RGB),
    "8UC3": (3, cv2.COLOR_BGR2RGB),  # OpenCV's default channel order
}
#: ROS depth encodings: (numpy dtype, metres per unit).
DEPTH_ENCODINGS: dict[str, tuple[str, float]] = {
    "16UC1": ("u2", 1e-3),
    "mono16": ("u2", 1e-3),
    "32FC1": ("f4", 1.0),
}

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: JPEG start-of-frame markers (baseline, extended, progressive, lossless; Huffman and arithmetic).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
#: JPEG markers without a length field.
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})


class ImageDecodeError(ValueError):
    """Bytes that are not a complete, decodable image of an acceptable size; the message says why."""


def _jpeg_header(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, offset of the first start-of-scan marker) of a JPEG stream, or None."""
    pos, n = 2, len(data)
    size = None
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF and pos + 9 <= n:
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            size = (width, height)
        if marker == 0xDA:  # start of scan: the header is over
            return None if size is None else (*size, pos)
        pos += 2 + length
    return None


def encoded_image_size(data: bytes) -> tuple[str, int, int] | None:
    """``(format, width, height)`` read from a PNG or JPEG header without decoding, else None."""
    data = bytes(data[: 1 << 20]) if len(data) > 1 << 20 else bytes(data)  # headers sit at the start
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return "png", width, height
    if data.startswith(b"\xff\xd8"):
        header = _jpeg_header(data)
        if header is not None:
            return "jpeg", header[0], header[1]
    return None


def check_encoded(data: bytes, name: str = "image", max_pixels: int | None = None) -> tuple[int, int] | None:
    """(width, height) of complete PNG / JPEG bytes no larger than ``max_pixels``; else
    :class:`ImageDecodeError` naming the problem. Reads headers and the stream's end only.

    Other formats (BMP, TIFF, WebP, ...) have no size check before decoding: refused when ``max_pixels``
    is given, else None (the caller decodes them as they are)."""
    if len(data) == 0:
        raise ImageDecodeError(f"cannot decode {name}: no data")
    info = encoded_image_size(data)
    if info is None:
        if max_pixels is None:
            return None
        raise ImageDecodeError(
            f"cannot decode {name}: {len(data)} bytes that are not a PNG or JPEG stream with a header"
        )
    fmt, width, height = info
    if width <= 0 or height <= 0:
        raise ImageDecodeError(f"cannot decode {name}: {fmt} header says {width}x{height} pixels")
    if max_pixels is not None and width * height > max_pixels:
        raise ImageDecodeError(
            f"cannot decode {name}: {width}x{height} = {width * height} pixels is more than "
            f"max_image_pixels={max_pixels}"
        )
    if fmt == "jpeg":
        sos = _jpeg_header(bytes(data[: 1 << 20]))[2]
        if bytes(data).find(b"\xff\xd9", sos) < 0:
            raise ImageDecodeError(
                f"cannot decode {name}: truncated JPEG ({len(data)} bytes, no end-of-image marker)"
            )
    elif b"IEND" not in bytes(data[-64:]):
        raise ImageDecodeError(f"cannot decode {name}: truncated PNG ({len(data)} bytes, no IEND chunk)")
    return width, height


def decode_rgb(
    data: bytes, name: str = "image", max_pixels: int | None = None, apply_orientation: bool = True
) -> np.ndarray:
    """Complete PNG / JPEG bytes (other formats OpenCV reads when ``max_pixels`` is None) -> (H, W, 3)
    uint8 RGB (grey images are replicated to 3 channels).

    Checked first by :func:`check_encoded`; ``apply_orientation`` follows the EXIF orientation tag
    (False: the stored pixel order). Raises :class:`ImageDecodeError`."""
    check_encoded(data, name, max_pixels)
    flags = cv2.IMREAD_COLOR if apply_orientation else cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    if bgr is None or bgr.size == 0:
        raise ImageDecodeError(f"cannot decode {name}: OpenCV cannot read its {len(data)} bytes")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_rgb(path: str | os.PathLike, apply_orientation: bool = True) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB through :func:`decode_rgb`. FileNotFoundError when the file
    is missing; :class:`ImageDecodeError` (a ValueError) naming the file when it is not a complete
    PNG / JPEG image."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        raise FileNotFoundError(f"cannot read image {path}: it is a directory") from None
    except OSError as exc:
        raise FileNotFoundError(f"cannot read image {path}: {exc.strerror}") from None
    return decode_rgb(data, str(path), apply_orientation=apply_orientation)


__all__ = ["ImageDecodeError", "check_encoded", "decode_rgb", "encoded_image_size", "read_rgb"]
