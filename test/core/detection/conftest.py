"""Shared fixtures for the detector tests: one real MediaPipe model bundle and one detector per session.

The bundle is resolved like the product does (``ensure_detector_model``): an explicit
``$FAST_HAMER_DETECTOR_MODEL``, else the models directory, else built once there from the
``mediapipe==0.10.21`` wheel (needs the package index the first time only).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.detection.mediapipe_detector import MediaPipeHandDetector


@pytest.fixture(scope="session")
def task_path() -> Path:
    return ensure_detector_model()


@pytest.fixture(scope="session")
def detector(task_path):
    """The default detector (flip-consistent handedness), shared by every test of the session."""
    with MediaPipeHandDetector(model_path=task_path) as det:
        yield det


@pytest.fixture(scope="session")
def raw_detector(task_path):
    with MediaPipeHandDetector(model_path=task_path, handedness="raw") as det:
        yield det


@pytest.fixture(scope="session")
def hands_dir() -> Path:
    """The shared real photos (read-only; see its README.md)."""
    assert HANDS_DIR.is_dir(), f"missing {HANDS_DIR}"
    return HANDS_DIR


@pytest.fixture(scope="session")
def load_photo(hands_dir):
    """``load_photo(name)`` -> (H, W, 3) uint8 RGB of a photo in ``hands_dir`` (read-only array, cached)."""
    cache: dict[str, np.ndarray] = {}

    def load(name: str) -> np.ndarray:
        if name not in cache:
            bgr = cv2.imread(str(hands_dir / name), cv2.IMREAD_COLOR)
            assert bgr is not None, f"cannot read {hands_dir / name}"
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            rgb.setflags(write=False)
            cache[name] = rgb
        return cache[name]

    return load


@pytest.fixture(scope="session")
def thorough_detector(task_path):
    """The thorough detector with its defaults (palm search + body proposals), shared by the session."""
    from fast_hamer_core.detection.thorough import ThoroughHandDetector

    with ThoroughHandDetector(model_path=task_path) as det:
        yield det
