"""ROS image messages -> numpy: colour as RGB uint8, depth as float32 metres (REP 118).

Duck-typed on the message fields (``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``,
``data``; ``format`` + ``data`` for CompressedImage), so the dataclasses of ``rosbags`` and rclpy's
messages both work. ROS-free.
"""

from __future__ import annotations

import cv2
import numpy as np

from fast_hamer_core.image_io import COLOR_ENCODINGS, DEPTH_ENCODINGS, decode_rgb


def is_compressed(msg) -> bool:
    """True for a ``sensor_msgs/CompressedImage`` (it has ``format`` and no ``encoding``)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def _rows(msg, dtype: np.dtype, channels: int) -> np.ndarray:
    """The (H, W, C) pixel array of a raw Image, honouring ``step`` (row padding) and byte order."""
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    data = np.frombuffer(bytes(msg.data) if not isinstance(msg.data, np.ndarray) else msg.data, np.uint8)
    row_bytes = w * channels * dtype.itemsize
    if step < row_bytes or data.size < h * step:
        raise ValueError(
            f"image {w}x{h} {msg.encoding}: step {step} and {data.size} data bytes are too small "
            f"(need step >= {row_bytes} and {h * step} bytes)"
        )
    rows = data[: h * step].reshape(h, step)[:, :row_bytes]  # (H, step) -> (H, W*C*itemsize)
    big = bool(getattr(msg, "is_bigendian", False))
    typed = np.ascontiguousarray(rows).view(dtype.newbyteorder(">" if big else "<"))
    return typed.reshape(h, w, channels).astype(dtype.newbyteorder("="), copy=False)


def decode_color(msg) -> np.ndarray:
    """An Image (encodings of :data:`COLOR_ENCODINGS`) or a CompressedImage -> RGB (H, W, 3) uint8."""
    if is_compressed(msg):
        return decode_rgb(bytes(msg.data), name=f"CompressedImage ({msg.format})")
    encoding = str(msg.encoding)
    if encoding not in COLOR_ENCODINGS:
        raise ValueError(
            f"colour image encoding {encoding!r} not supported; one of {sorted(COLOR_ENCODINGS)}"
        )
    channels, code = COLOR_ENCODINGS[encoding]
    pixels = _rows(msg, np.dtype("u1"), channels)
    if channels == 1:
        pixels = pixels[..., 0]
    return np.ascontiguousarray(pixels if code is None else cv2.cvtColor(pixels, code))


def decode_depth_m(msg) -> np.ndarray:
    """A depth Image (16UC1 / mono16 millimetres, 32FC1 metres) -> (H, W) float32 metres, NaN = no depth."""
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise ValueError(f"depth image encoding {encoding!r} not supported; one of {sorted(DEPTH_ENCODINGS)}")
    dtype, unit_m = DEPTH_ENCODINGS[encoding]
    raw = _rows(msg, np.dtype(dtype), 1)[..., 0]
    metres = raw.astype(np.float32) * np.float32(unit_m)
    metres[(raw == 0) | ~np.isfinite(metres)] = np.nan
    return metres
