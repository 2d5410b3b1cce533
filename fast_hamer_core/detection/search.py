"""Multi-scale palm search: the palm detector on several square windows of one image, merged.

The palm detector sees its input at 192x192. On the whole image a hand of 5 % of the longer side is a
few detector pixels, and a hand that fills the frame is larger than its biggest anchors. So the search
runs it on a list of square windows (:func:`search_windows`), each resampled to 192x192:

- ``whole``: the letterboxed image (what the fast path sees);
- ``padded``: the image shrunk inside a larger black square (``pad_factor`` x the longer side), for
  close-ups;
- ``tiles``: for every ``n`` of ``tile_grids``, overlapping squares of ``longer side / n`` (grown by
  ``tile_overlap``), for small hands.

The whole and padded windows can also be searched mirrored (``mirror_whole``), the tiles too
(``mirror_tiles``): the detector is not mirror-symmetric, and a palm it misses is sometimes found in the
mirror image. Palms of all windows, mapped back to image pixels,
are merged by MediaPipe's weighted non-maximum suppression (:func:`merge_palms`).

:func:`grey_copy` gives the colour-invariant view of an image that the thorough detector's grey pass
searches (and re-checks) as well: the palm detector learned skin colour along with shape, and on hands
whose colour is not skin's (gloves) it finds more palms in the grey image than in the colour one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from fast_hamer_core.detection.blaze import Palm, PalmDetector, RotatedRect, weighted_nms


@dataclass(frozen=True)
class WindowConfig:
    """Which square windows a detector looks at (see the module docstring); shared by the palm search and
    the people search (:class:`~fast_hamer_core.detection.pose.PeopleSearch`)."""

    whole: bool = True
    pad_factor: float = 1.6  #: side of the padded window over the longer side; <= 1: no padded pass
    tile_grids: tuple[int, ...] = (3,)  #: tiles per longer side, one grid per entry
    tile_overlap: float = 0.25  #: each tile's side grown by this fraction of the grid step
    min_tile_px: float = 96.0  #: no tiles smaller than this (their hands are below the landmark model's use)

    def __post_init__(self) -> None:
        if any(n < 1 for n in self.tile_grids):
            raise ValueError(f"tile_grids must be >= 1, got {self.tile_grids}")
        if not 0.0 <= self.tile_overlap < 1.0:
            raise ValueError(f"tile_overlap must be in [0, 1), got {self.tile_overlap}")


@dataclass(frozen=True)
class SearchConfig(WindowConfig):
    """The palm search: its windows (:class:`WindowConfig`), which of them also mirrored, the merge."""

    mirror_whole: bool = True  #: search the whole and padded windows mirrored too
    mirror_tiles: bool = False  #: search the tiles mirrored too
    merge_iou: float = 0.3  #: weighted NMS threshold across windows (MediaPipe's palm NMS)


@dataclass(frozen=True)
class Window:
    """One square, axis-aligned search window (may reach outside the image: black there)."""

    kind: str  #: "whole", "padded" or "tile"
    region: RotatedRect


def spaced_centres(length: float, side: float, step: float = 0.75) -> list[float]:
    """Centres of the fewest squares of ``side`` covering ``[0, length]``, evenly spaced at most
    ``step * side`` apart (0.75: at least a quarter of overlap), the first and last a half side from the
    ends; one in the middle when the side covers the length. Tiles and border regions
    (:mod:`~fast_hamer_core.detection.borders`) are laid out with it."""
    if side >= length:
        return [length / 2.0]
    count = math.ceil((length - side) / (step * side)) + 1
    return [side / 2.0 + i * (length - side) / (count - 1) for i in range(count)]


def search_windows(width: int, height: int, config: WindowConfig = WindowConfig()) -> list[Window]:
    """The windows of ``config`` (a :class:`WindowConfig` or :class:`SearchConfig`) for a ``width`` x
    ``height`` image, largest first."""
    longer = float(max(width, height))
    centre = (width / 2.0, height / 2.0)
    windows = []
    if config.pad_factor > 1.0:
        windows.append(Window("padded", RotatedRect(centre, longer * config.pad_factor)))
    if config.whole:
        windows.append(Window("whole", RotatedRect(centre, longer)))
    for n in sorted(set(config.tile_grids)):
        if n == 1:
            continue
        tile = longer / n * (1.0 + config.tile_overlap)
        if tile < config.min_tile_px:
            continue
        for cy in spaced_centres(float(height), tile):
            for cx in spaced_centres(float(width), tile):
                windows.append(Window("tile", RotatedRect((cx, cy), tile)))
    return windows


def palms_in_window(detector: PalmDetector, rgb: np.ndarray, window: Window, mirror: bool) -> list[Palm]:
    """The palms the detector finds in one window (mirrored if ``mirror``), in image pixels."""
    size = detector.config.anchors.input_size_px
    crop = window.region.crop(rgb, size, mirror=mirror)  # (192, 192, 3): the detector's own input size
    palms = []
    for palm in detector.detect(crop):
        kp = palm.keypoints_px.copy()  # (7, 2) crop px
        corners = palm.box_px.reshape(2, 2).copy()
        if mirror:  # back from the mirrored crop (x -> S - x, its own inverse)
            kp[:, 0] = size - kp[:, 0]
            corners[:, 0] = size - corners[:, 0]
        kp_px = window.region.to_image(kp, size)
        c = window.region.to_image(corners, size)
        box_px = np.concatenate([c.min(0), c.max(0)])
        palms.append(Palm(box_px, palm.score, kp_px, detector.hand_roi(box_px, kp_px)))
    return palms


def merge_palms(palms: list[Palm], detector: PalmDetector, iou_threshold: float) -> list[Palm]:
    """One palm per cluster of overlapping palms (weighted NMS across windows), best first."""
    if not palms:
        return []
    boxes = np.stack([p.box_px for p in palms])  # (N, 4)
    kps = np.stack([p.keypoints_px for p in palms])  # (N, 7, 2)
    scores = np.array([p.score for p in palms])
    boxes, kps, scores = weighted_nms(boxes, kps, scores, iou_threshold)
    return [Palm(b, float(s), k, detector.hand_roi(b, k)) for b, k, s in zip(boxes, kps, scores, strict=True)]


def grey_copy(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` uint8: every channel the luma of the RGB uint8 image ``rgb`` (OpenCV's Rec. 601)."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)  # (H, W)
    return np.repeat(grey[..., None], 3, axis=2)


class PalmSearch:
    """The palm detector over :func:`search_windows`, palms merged across windows."""

    def __init__(self, detector: PalmDetector, config: SearchConfig = SearchConfig()) -> None:
        self.detector = detector
        self.config = config

    def windows(self, width: int, height: int) -> list[Window]:
        return search_windows(width, height, self.config)

    def find(self, rgb: np.ndarray) -> list[Palm]:
        """Palms in an RGB uint8 image, merged across all windows, best first."""
        height, width = rgb.shape[:2]
        found: list[Palm] = []
        for window in self.windows(width, height):
            found += palms_in_window(self.detector, rgb, window, mirror=False)
            if self.config.mirror_tiles if window.kind == "tile" else self.config.mirror_whole:
                found += palms_in_window(self.detector, rgb, window, mirror=True)
        return merge_palms(found, self.detector, self.config.merge_iou)


__all__ = [
    "PalmSearch",
    "SearchConfig",
    "Window",
    "WindowConfig",
    "grey_copy",
    "merge_palms",
    "search_windows",
    "spaced_centres",
]
