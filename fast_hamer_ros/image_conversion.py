"""sensor_msgs Image / CompressedImage <-> numpy arrays, validated.

cv_bridge is used when importable (a ROS install); otherwise (the pip wheels, where no ROS 2
cv_bridge exists) a numpy/OpenCV converter that honours ``step`` (row padding) and
``is_bigendian``. Both paths validate the message first, so a malformed message raises the same
:class:`ImageConversionError` naming what is wrong, whichever converter runs.

Pairs of inverses:
- :func:`image_to_rgb` / :func:`rgb_to_image` (colour, ``rgb8`` out),
- :func:`depth_to_metres` / :func:`metres_to_depth_image` (``16UC1`` millimetres or ``32FC1`` metres,
  REP 118; pixels without depth are NaN in metres and 0 / NaN in the message).

Messages are duck-typed (``height``, ``width``, ``encoding``, ``is_bigendian``, ``step``, ``data``), so
this module imports no ROS package at module level except for building messages.
"""

from __future__ import annotations

import cv2
import numpy as np

from fast_hamer_core.image_io import COLOR_ENCODINGS, DEPTH_ENCODINGS, ImageDecodeError, decode_rgb

try:  # a ROS install's cv_bridge; absent from the pip wheels
    from cv_bridge import CvBridge as _CvBridge
except ImportError:  # pragma: no cover - depends on the installation
    _CvBridge = None


#: One-channel encodings, replicated to grey RGB (the hand detector finds fewer hands in them).
GREY_ENCODINGS = frozenset({"mono8", "8UC1"})

#: Colour encodings that cv_bridge converts to rgb8 (the generic 8UC* ones are done with numpy).
_CV_BRIDGE_ENCODINGS = frozenset({"rgb8", "bgr8", "rgba8", "bgra8", "mono8"})


class ImageConversionError(ValueError):
    """A message that cannot be converted; the message says which field is wrong and why."""


def cv_bridge_available() -> bool:
    """True when a ROS cv_bridge is importable and used for raw images."""
    return _CvBridge is not None


def _check_geometry(msg, channels: int, bytes_per_channel: int, max_pixels: int | None = None) -> int:
    """Validate size, step and data length of a raw image message; returns the row length in bytes.

    Exact: ``data`` must hold ``height * step`` bytes (fewer or more is malformed), ``step`` at least a
    row, and row padding must not be a whole number of bytes per pixel (``rgb8`` with ``step =
    width * 4`` is 4-channel data under the wrong encoding, not padding)."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    if height <= 0 or width <= 0:
        raise ImageConversionError(f"empty image: height={height}, width={width}")
    if max_pixels is not None and height * width > max_pixels:
        raise ImageConversionError(
            f"{width}x{height} = {width * height} pixels is more than max_image_pixels={max_pixels}"
        )
    pixel_bytes = channels * bytes_per_channel
    row_bytes = width * pixel_bytes
    if step < row_bytes:
        raise ImageConversionError(
            f"step {step} is smaller than width*channels*bytes = {width}*{channels}*{bytes_per_channel} "
            f"= {row_bytes} for encoding {msg.encoding!r}"
        )
    if step > row_bytes and step % width == 0:
        raise ImageConversionError(
            f"step {step} = width*{step // width}: {step // width} bytes per pixel, but {msg.encoding!r} has "
            f"{pixel_bytes} (the data is another encoding, not row padding)"
        )
    if len(msg.data) != height * step:
        relation = "fewer" if len(msg.data) < height * step else "more"
        raise ImageConversionError(
            f"data has {len(msg.data)} bytes, {relation} than height*step = {height}*{step} = {height * step}"
        )
    return row_bytes


def _rows(msg, row_bytes: int) -> np.ndarray:
    """(height, row_bytes) uint8 view of the message data without the row padding."""
    buf = np.frombuffer(msg.data, dtype=np.uint8, count=int(msg.height) * int(msg.step))
    return buf.reshape(int(msg.height), int(msg.step))[:, :row_bytes]  # (H, step) -> (H, row_bytes)


def image_to_rgb(msg, max_pixels: int | None = None) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 RGB. Inverse: :func:`rgb_to_image`.

    Encodings: see :data:`COLOR_ENCODINGS` (mono8 is replicated to 3 channels). Raises
    :class:`ImageConversionError` on a malformed message or one of more than ``max_pixels`` pixels."""
    encoding = str(msg.encoding)
    if encoding not in COLOR_ENCODINGS:
        raise ImageConversionError(
            f"unsupported image encoding {encoding!r}; supported: {', '.join(COLOR_ENCODINGS)}"
        )
    channels, code = COLOR_ENCODINGS[encoding]
    row_bytes = _check_geometry(msg, channels, 1, max_pixels)
    if _CvBridge is not None and encoding in _CV_BRIDGE_ENCODINGS:  # pragma: no cover - ROS install only
        try:
            return np.ascontiguousarray(_CvBridge().imgmsg_to_cv2(msg, desired_encoding="rgb8"))
        except Exception as exc:  # CvBridgeError and OpenCV errors: one error type for callers
            raise ImageConversionError(f"cv_bridge cannot convert {encoding!r}: {exc}") from exc
    pixels = _rows(msg, row_bytes).reshape(int(msg.height), int(msg.width), channels)  # (H, W, C)
    if code is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), code)


def depth_to_metres(msg, max_pixels: int | None = None) -> np.ndarray:
    """Depth sensor_msgs/Image -> (H, W) float32 metres; NaN where the sensor has no depth
    (0 in ``16UC1``, 0 / NaN / inf in ``32FC1``). Honours ``is_bigendian``.
    Inverse: :func:`metres_to_depth_image`."""
    encoding = str(msg.encoding)
    if encoding not in DEPTH_ENCODINGS:
        raise ImageConversionError(
            f"unsupported depth encoding {encoding!r}; supported: {', '.join(DEPTH_ENCODINGS)}"
        )
    kind, scale = DEPTH_ENCODINGS[encoding]
    dtype = np.dtype((">" if msg.is_bigendian else "<") + kind)
    row_bytes = _check_geometry(msg, 1, dtype.itemsize, max_pixels)
    rows = np.ascontiguousarray(_rows(msg, row_bytes))  # (H, W * itemsize) bytes
    raw = rows.view(dtype).reshape(int(msg.height), int(msg.width))  # (H, W)
    depth = raw.astype(np.float32) * np.float32(scale)
    depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    return depth


def compressed_to_rgb(msg, max_pixels: int | None = None) -> np.ndarray:
    """sensor_msgs/CompressedImage (JPEG/PNG) -> (H, W, 3) uint8 RGB, by the decoder ``fast-hamer infer``
    uses (:func:`fast_hamer_core.image_io.decode_rgb`): the size is read from the header and an image
    of more than ``max_pixels`` pixels refused before decoding; truncated streams are refused."""
    fmt = str(getattr(msg, "format", "")).lower()
    if "compresseddepth" in fmt:
        raise ImageConversionError(f"compressed depth format {msg.format!r} is not a colour image")
    if len(msg.data) == 0:
        raise ImageConversionError("compressed image has no data")
    try:
        return decode_rgb(bytes(msg.data), f"compressed image of format {msg.format!r}", max_pixels)
    except ImageDecodeError as exc:
        raise ImageConversionError(str(exc)) from None


def _header(header):
    from std_msgs.msg import Header

    return header if header is not None else Header()


def rgb_to_image(rgb: np.ndarray, header=None, encoding: str = "rgb8"):
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image in ``rgb8`` or ``bgr8`` (no padding, little-endian).
    Inverse: :func:`image_to_rgb`."""
    from sensor_msgs.msg import Image

    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ImageConversionError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if encoding == "bgr8":
        rgb = rgb[:, :, ::-1]
    elif encoding != "rgb8":
        raise ImageConversionError(f"rgb_to_image writes rgb8 or bgr8, not {encoding!r}")
    msg = Image()
    msg.header = _header(header)
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(rgb.shape[1] * 3)
    msg.data = np.ascontiguousarray(rgb).tobytes()
    return msg


def metres_to_depth_image(depth_m: np.ndarray, header=None, encoding: str = "32FC1"):
    """(H, W) metres (NaN = no depth) -> depth sensor_msgs/Image, ``32FC1`` metres or ``16UC1``
    millimetres (NaN -> 0). Inverse of :func:`depth_to_metres` (to the millimetre for ``16UC1``)."""
    from sensor_msgs.msg import Image

    depth_m = np.asarray(depth_m, dtype=np.float64)
    if depth_m.ndim != 2:
        raise ImageConversionError(f"expected an (H, W) depth map, got shape {depth_m.shape}")
    if encoding == "32FC1":
        data = depth_m.astype("<f4")
    elif encoding == "16UC1":
        mm = np.where(np.isfinite(depth_m), np.round(depth_m * 1000.0), 0.0)
        data = np.clip(mm, 0, 65535).astype("<u2")
    else:
        raise ImageConversionError(f"depth images are 16UC1 or 32FC1, not {encoding!r}")
    msg = Image()
    msg.header = _header(header)
    msg.height, msg.width = int(depth_m.shape[0]), int(depth_m.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(depth_m.shape[1] * data.itemsize)
    msg.data = data.tobytes()
    return msg


def rgb_to_compressed(rgb: np.ndarray, header=None, fmt: str = "jpeg", quality: int = 90):
    """(H, W, 3) uint8 RGB -> sensor_msgs/CompressedImage (``jpeg`` or ``png``).
    Inverse (lossy for JPEG): :func:`compressed_to_rgb`."""
    from sensor_msgs.msg import CompressedImage

    ext = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png"}.get(fmt)
    if ext is None:
        raise ImageConversionError(f"compressed format must be jpeg or png, not {fmt!r}")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]), params)
    if not ok:
        raise ImageConversionError(f"cannot encode image of shape {np.shape(rgb)} as {fmt}")
    msg = CompressedImage()
    msg.header = _header(header)
    msg.format = "jpeg" if ext == ".jpg" else "png"
    msg.data = buf.tobytes()
    return msg


__all__ = [
    "COLOR_ENCODINGS",
    "DEPTH_ENCODINGS",
    "GREY_ENCODINGS",
    "ImageConversionError",
    "compressed_to_rgb",
    "cv_bridge_available",
    "depth_to_metres",
    "image_to_rgb",
    "metres_to_depth_image",
    "rgb_to_compressed",
    "rgb_to_image",
]
