"""Regions along the image's border: where they lie, which way they point, and a cut hand they find."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.detection.borders import BorderConfig, border_regions
from fast_hamer_core.detection.thorough import ThoroughHandDetector
from fast_hamer_core.evaluation.detection import box_iou
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels
from fast_hamer_core.evaluation.hard_cases import make_hard_cases
from fast_hamer_core.preprocess import read_rgb


def _up(rotation_rad: float) -> np.ndarray:
    """The region's "up" (towards the fingers) on screen: (0, -1) turned clockwise by the rotation."""
    return np.array([math.sin(rotation_rad), -math.cos(rotation_rad)])


def test_border_regions_reach_past_each_border_and_point_into_the_image():
    width, height = 640, 480
    config = BorderConfig()
    regions = border_regions(width, height, config)
    side = config.size * min(width, height)
    centre = np.array([width / 2, height / 2])
    assert all(r.size_px == pytest.approx(side) for r in regions)
    counts = {"bottom": 0, "top": 0, "left": 0, "right": 0}
    for r in regions:
        box = r.box_px()  # (4,) xyxy of the square (axis-aligned for these rotations)
        beyond = {
            "bottom": box[3] - height,
            "top": -box[1],
            "left": -box[0],
            "right": box[2] - width,
        }
        (border,) = [name for name, past in beyond.items() if past > 1e-6]  # exactly one border crossed
        counts[border] += 1
        assert beyond[border] == pytest.approx(config.outside * side)
        towards_centre = centre - np.asarray(r.center_px)
        cosine = np.dot(_up(r.rotation_rad), towards_centre) / np.linalg.norm(towards_centre)
        assert cosine > 0.5, f"{border} region at {r.center_px} points away from the image"
    # Spaced at most 0.75 sides apart along 640 / 480 px, ends covered: 3 + 3 and 2 + 2 regions.
    assert counts == {"bottom": 3, "top": 3, "left": 2, "right": 2}
    assert [np.degrees(r.rotation_rad) for r in regions[:3]] == [0.0] * 3  # bottom first, upright
    assert border_regions(width, height, BorderConfig(enabled=False)) == []


def test_bad_border_options():
    with pytest.raises(ValueError, match="size"):
        BorderConfig(size=0.0)
    with pytest.raises(ValueError, match="step"):
        BorderConfig(step=1.5)
    with pytest.raises(ValueError, match="outside"):
        BorderConfig(outside=1.5)


@pytest.fixture(scope="module")
def cut_hand():
    """hamer_test1's raised "OK" hand cut by the bottom border of a crop (the at_border hard case, seed 1),
    and its label box."""
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test1.jpg")
    cases = make_hard_cases(read_rgb(HANDS_DIR / image.file), image, seed=1, makers=["at_border"])
    case = next(c for c in cases if c.labels.file == "hamer_test1__at_border_3.jpg")
    (hand,) = [h for h in case.labels.hands if h.box[3] >= case.labels.height - 1 and not h.ignore]
    return case.image, hand.box


def test_a_hand_cut_by_the_border_is_found_by_the_border_regions(thorough_detector, task_path, cut_hand):
    rgb, box = cut_hand

    def found(detections) -> bool:
        return any(box_iou(d.box[None], box[None])[0, 0] >= 0.3 for d in detections)

    assert found(thorough_detector.detect(rgb))
    assert not found(ThoroughHandDetector(task_path, borders=False).detect(rgb))  # the palms and arms miss it
