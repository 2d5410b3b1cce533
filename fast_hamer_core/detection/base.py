"""The hand-detector interface and the one place where input images are checked and normalised.

Every detector takes an RGB image of the full frame and returns :class:`~fast_hamer_core.types.Detection`
objects in that frame's pixel coordinates. :meth:`HandDetector.detect` validates and converts the input
once (:func:`as_rgb_uint8`), downscales very large images for detection (:func:`downscale_for_detection`)
and scales the results back (:func:`scale_detection`), so backends only ever see a contiguous
``(H, W, 3)`` uint8 RGB array of at most ``max_side_px`` pixels on its longer side.

Accepted input (anything else raises :class:`ValueError` naming what is wrong):

- ``uint8`` RGB ``(H, W, 3)`` (the native format), RGBA ``(H, W, 4)`` (alpha dropped),
  grayscale ``(H, W)`` or ``(H, W, 1)`` (replicated to three channels);
- ``uint16`` (scaled from the full 0..65535 range to 0..255), ``bool`` is rejected;
- floating point in ``[0, 1]`` (scaled by 255); NaN/inf or values outside ``[0, 1]`` are rejected;
- any strides (non-contiguous views, negative strides from flips are copied once).

Images with a side of zero pixels raise; images smaller than :data:`MIN_IMAGE_SIDE_PX` on a side are
valid but cannot show a detectable hand, so they return an empty list without running the model.
"""

from __future__ import annotations

import abc
from dataclasses import replace

import cv2
import numpy as np

from fast_hamer_core.types import Detection

#: Images smaller than this on either side return no detections (no hand is detectable in them).
MIN_IMAGE_SIDE_PX: int = 16

#: Default longest side, in pixels, of the image a detector actually sees; larger inputs are downscaled.
DEFAULT_MAX_SIDE_PX: int = 1920


#: Left/right decisions of the MediaPipe-based detectors: both passes (image and mirror) or the raw label.
HANDEDNESS_MODES: tuple[str, ...] = ("flip_consistent", "raw")


def require_choice(name: str, value: object, choices: tuple) -> None:
    """ValueError unless ``value`` is one of ``choices`` (the detectors' constructor checks)."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def require_at_least(name: str, value: float, low: float) -> None:
    """ValueError unless ``value >= low``."""
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")


def require_fractions(**values: float) -> None:
    """ValueError naming the first of ``values`` outside [0, 1]."""
    for name, value in values.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value}")


def as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Validate ``image`` and return it as a C-contiguous ``(H, W, 3)`` uint8 RGB array.

    See the module docstring for the accepted formats. The input is never modified; a uint8 RGB
    C-contiguous input is returned as is (no copy).
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"image must be a numpy array, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3:
        raise ValueError(
            f"image must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {image.shape}"
        )
    height, width, channels = image.shape
    if height == 0 or width == 0:
        raise ValueError(f"image is empty: shape {image.shape}")
    if channels not in (1, 3, 4):
        raise ValueError(f"image must have 1 (gray), 3 (RGB) or 4 (RGBA) channels, got {channels}")

    if image.dtype == np.uint8:
        pass
    elif image.dtype == np.uint16:
        # Full-range scaling 0..65535 -> 0..255 with rounding (65535 / 257 = 255 exactly).
        image = ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    elif np.issubdtype(image.dtype, np.floating):
        if not np.all(np.isfinite(image)):
            raise ValueError("float image contains NaN or inf")
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            raise ValueError(
                f"float images must hold values in [0, 1]; got range [{low:g}, {high:g}] "
                "(pass uint8 0..255 instead, or divide by 255)"
            )
        image = np.rint(image * 255.0).astype(np.uint8)
    else:
        raise ValueError(
            f"unsupported image dtype {image.dtype}; use uint8 RGB (uint16 and float in [0, 1] also work)"
        )

    if channels == 1:
        image = np.repeat(image, 3, axis=2)  # (H, W, 1) -> (H, W, 3), a new contiguous array
    elif channels == 4:
        image = image[:, :, :3]  # drop alpha
    return np.ascontiguousarray(image)


def downscale_for_detection(rgb: np.ndarray, max_side_px: int) -> tuple[np.ndarray, float, float]:
    """Shrink ``rgb`` so that its longer side is at most ``max_side_px``.

    Returns ``(small, sx, sy)`` with ``x_full = x_small * sx`` and ``y_full = y_small * sy`` (pixel-corner
    coordinates), i.e. the factors that :func:`scale_detection` needs to map results back. Images already
    small enough come back unchanged with ``sx = sy = 1``.
    """
    height, width = rgb.shape[:2]
    longest = max(height, width)
    if longest <= max_side_px:
        return rgb, 1.0, 1.0
    factor = max_side_px / longest
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    small = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return small, width / new_w, height / new_h


def scale_detection(det: Detection, sx: float, sy: float) -> Detection:
    """A copy of ``det`` with its pixel quantities (box, 2D keypoints) multiplied by ``(sx, sy)``.

    Inverse: ``scale_detection(det, 1 / sx, 1 / sy)``. Metric 3D keypoints are unchanged.
    """
    if sx == 1.0 and sy == 1.0:
        return det
    scale = np.array([sx, sy])
    keypoints = None if det.keypoints_2d is None else np.asarray(det.keypoints_2d, dtype=np.float64) * scale
    return replace(det, box=det.box * np.tile(scale, 2), keypoints_2d=keypoints)


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip an xyxy pixel box to the image ``[0, width] x [0, height]``."""
    box = np.asarray(box, dtype=np.float64).copy()
    box[[0, 2]] = np.clip(box[[0, 2]], 0.0, float(width))
    box[[1, 3]] = np.clip(box[[1, 3]], 0.0, float(height))
    return box


class HandDetector(abc.ABC):
    """Finds hands in full RGB frames. Subclasses implement :meth:`_detect` on a validated image.

    Use as a context manager (or call :meth:`close`) to release the backend's native resources.
    """

    #: Registry name of the backend (``create_detector(name)``).
    name: str = "base"

    def __init__(self, max_side_px: int = DEFAULT_MAX_SIDE_PX) -> None:
        if max_side_px < MIN_IMAGE_SIDE_PX:
            raise ValueError(f"max_side_px must be >= {MIN_IMAGE_SIDE_PX}, got {max_side_px}")
        self.max_side_px = int(max_side_px)
        self._closed = False

    def detect(self, rgb: np.ndarray, stamp_s: float | None = None) -> list[Detection]:
        """Hands in ``rgb`` (see :func:`as_rgb_uint8` for accepted formats), in its pixel coordinates.

        ``stamp_s`` is the frame's time in seconds; only video-mode backends use it (they need
        increasing stamps). Boxes are clipped to the image.
        """
        if self._closed:
            raise RuntimeError(f"{type(self).__name__} is closed")
        image = as_rgb_uint8(rgb)
        height, width = image.shape[:2]
        if min(height, width) < MIN_IMAGE_SIDE_PX:
            return []
        small, sx, sy = downscale_for_detection(image, self.max_side_px)
        detections = [scale_detection(d, sx, sy) for d in self._detect(small, stamp_s)]
        for det in detections:
            det.box = clip_box(det.box, width, height)
        return detections

    @abc.abstractmethod
    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        """Backend: detect in a validated contiguous ``(H, W, 3)`` uint8 RGB image."""

    def close(self) -> None:
        """Release native resources. Idempotent; :meth:`detect` raises afterwards."""
        self._closed = True

    def __enter__(self) -> HandDetector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
