"""The optional YOLO backend: clear errors for missing weights and for the missing optional package."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from fast_hamer_core.detection import available_detectors, create_detector, detector_class
from fast_hamer_core.detection.yolo_detector import YOLO_CLASS_SIDES, YOLOHandDetector


def test_registry_knows_the_backends():
    assert available_detectors() == ("mediapipe", "thorough", "yolo")
    assert detector_class("yolo") is YOLOHandDetector
    with pytest.raises(ValueError, match=r"unknown detector 'ssd'.*mediapipe, thorough, yolo"):
        create_detector("ssd")


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights not found: .*detector\.pt"):
        create_detector("yolo", weights_path=tmp_path / "detector.pt")


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is not None, reason="checks the extra is absent")
def test_missing_ultralytics_names_the_extra(tmp_path):
    weights = tmp_path / "detector.pt"
    torch.save({"model": None}, weights)  # a torch checkpoint file; never loaded without ultralytics
    with pytest.raises(RuntimeError, match=r"ultralytics.*fast_hamer_ros\[yolo\]"):
        YOLOHandDetector(weights)


def test_class_convention_is_wilors():
    # WiLoR's detector.pt: class 0 = left, class 1 = right (its demo uses boxes.cls as is_right).
    assert YOLO_CLASS_SIDES == ("left", "right")
