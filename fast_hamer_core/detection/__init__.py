"""Hand detectors behind one interface (:class:`HandDetector`), built by name with :func:`create_detector`.

Backends: ``"mediapipe"`` (default; MediaPipe HandLandmarker, ships offline, keypoints + metric 3D) and
``"yolo"`` (optional; Ultralytics YOLO with user weights, boxes + side only). Backends are imported
lazily so that a missing optional package only matters when its detector is asked for.
"""

from __future__ import annotations

import importlib

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.detection.base import HandDetector, as_rgb_uint8

#: Registry: name -> "module:class".
DETECTORS: dict[str, str] = {
    "mediapipe": "fast_hamer_core.detection.mediapipe_detector:MediaPipeHandDetector",
    "yolo": "fast_hamer_core.detection.yolo_detector:YOLOHandDetector",
}


def available_detectors() -> tuple[str, ...]:
    """Names accepted by :func:`create_detector`."""
    return tuple(DETECTORS)


def detector_class(name: str) -> type[HandDetector]:
    """The detector class registered as ``name``."""
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")
    module_name, class_name = DETECTORS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def create_detector(name: str = "mediapipe", **kwargs) -> HandDetector:
    """Build the detector ``name`` with its keyword arguments (see each class for them)."""
    return detector_class(name)(**kwargs)


__all__ = [
    "DETECTORS",
    "HandDetector",
    "as_rgb_uint8",
    "available_detectors",
    "create_detector",
    "detector_class",
    "ensure_detector_model",
]
