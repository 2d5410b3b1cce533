"""Hand detectors behind one interface (:class:`HandDetector`), built by name with :func:`create_detector`.

Backends: ``"mediapipe"`` (default; MediaPipe HandLandmarker, ships offline, keypoints + metric 3D),
``"thorough"`` (MediaPipe's palm, landmark and body models run directly: multi-scale search and hands
from the body, every region re-checked; slower, finds more) and ``"yolo"`` (optional; Ultralytics YOLO
with user weights, boxes + side only). Backends are imported lazily so that a missing optional package
only matters when its detector is asked for.

Detection modes (:data:`DETECTION_MODES`), the one knob that trades time for recall: ``"fast"`` is the
backend as named; ``"thorough"`` turns ``"mediapipe"`` into the ``"thorough"`` backend.
"""

from __future__ import annotations

import importlib

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.detection.base import HandDetector, as_rgb_uint8

#: Registry: name -> "module:class".
DETECTORS: dict[str, str] = {
    "mediapipe": "fast_hamer_core.detection.mediapipe_detector:MediaPipeHandDetector",
    "thorough": "fast_hamer_core.detection.thorough:ThoroughHandDetector",
    "yolo": "fast_hamer_core.detection.yolo_detector:YOLOHandDetector",
}

#: Detection mode -> {backend asked for: backend built}. A backend missing from a mode has no such mode.
DETECTION_MODES: dict[str, dict[str, str]] = {
    "fast": {"mediapipe": "mediapipe", "thorough": "thorough", "yolo": "yolo"},
    "thorough": {"mediapipe": "thorough", "thorough": "thorough"},
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


def resolve_detector_name(name: str = "mediapipe", mode: str = "fast") -> str:
    """The registry name that backend ``name`` in detection ``mode`` builds."""
    if mode not in DETECTION_MODES:
        raise ValueError(f"unknown detection mode {mode!r}; available: {', '.join(DETECTION_MODES)}")
    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(DETECTORS)}")
    if name not in DETECTION_MODES[mode]:
        raise ValueError(f"detector {name!r} has no {mode!r} mode (only {', '.join(DETECTION_MODES[mode])})")
    return DETECTION_MODES[mode][name]


def create_detector(name: str = "mediapipe", mode: str = "fast", **kwargs) -> HandDetector:
    """Build the detector ``name`` in detection ``mode`` with its keyword arguments (see each class)."""
    return detector_class(resolve_detector_name(name, mode))(**kwargs)


__all__ = [
    "DETECTION_MODES",
    "DETECTORS",
    "HandDetector",
    "as_rgb_uint8",
    "available_detectors",
    "create_detector",
    "detector_class",
    "ensure_detector_model",
    "resolve_detector_name",
]
