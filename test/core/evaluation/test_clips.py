"""Labelled moving clips: labels follow the motion, and detectors are scored frame by frame on them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.evaluation.clips import evaluate_on_clips, labelled_clip, transform_box, transform_labels
from fast_hamer_core.evaluation.detection import summarise
from fast_hamer_core.evaluation.hand_labels import (
    SHARED_LABELS_PATH,
    LabelledHand,
    LabelledImage,
    load_labels,
)
from fast_hamer_core.frames import moving_transforms
from fast_hamer_core.types import Detection


def test_transform_box_is_the_box_around_the_moved_corners():
    shift = np.array([[1.0, 0.0, 10.0], [0.0, 1.0, -5.0]])
    assert transform_box(np.array([0, 0, 20, 10]), shift) == pytest.approx([10, -5, 30, 5])
    turn = cv2.getRotationMatrix2D((0.0, 0.0), -90.0, 2.0)  # 90 degrees, twice as large
    assert transform_box(np.array([0, 0, 20, 10]), turn) == pytest.approx([-20, 0, 0, 40], abs=1e-9)


def test_labels_are_clipped_ignored_or_dropped_as_they_leave_the_frame():
    image = LabelledImage(
        "p.jpg",
        100,
        100,
        [
            LabelledHand([10, 10, 30, 30], "left", frozenset({"holding_object", "small"})),
            LabelledHand([60, 60, 90, 90], "right"),
            LabelledHand([80, 40, 99, 50]),
        ],
    )
    shift = np.array([[1.0, 0.0, 25.0], [0.0, 1.0, 0.0]])  # 25 px to the right
    moved = transform_labels(image, shift, 100, 100, "p@1")
    assert moved.file == "p@1" and (moved.width, moved.height) == (100, 100)
    assert len(moved.hands) == 2  # the third hand left the frame completely
    first, second = moved.hands
    assert first.box == pytest.approx([35, 10, 55, 30]) and not first.ignore
    assert first.kinds == frozenset({"holding_object"})  # size kinds come from the new box
    assert second.box == pytest.approx([85, 60, 100, 90]) and second.ignore  # half of it is left


def test_a_clip_moves_the_photo_and_its_labels_together():
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test5.jpg")
    rgb = cv2.cvtColor(cv2.imread(str(HANDS_DIR / image.file)), cv2.COLOR_BGR2RGB)
    clip = list(labelled_clip(rgb, image, frames=12))
    assert len(clip) == 12
    motions = list(moving_transforms(image.width, image.height, 12, (image.width, image.height)))
    for (picture, labels), m in zip(clip, motions, strict=True):
        assert picture.shape == rgb.shape and labels.file.startswith("hamer_test5@")
        for hand, moved in zip(image.hands, labels.hands, strict=True):
            centre = 0.5 * (hand.box[:2] + hand.box[2:])
            assert 0.5 * (moved.box[:2] + moved.box[2:]) == pytest.approx(
                m[:, :2] @ centre + m[:, 2], abs=2.0
            )
    corner = clip[5][0][:3, :3]
    assert corner.max() == 0  # black beyond the photo: no mirrored copy of a hand


class _Oracle:
    """A 'detector' that reports the labelled boxes of the frame it is shown (by matching the frame
    number it counts), and counts resets: to check the scoring loop, not a model."""

    def __init__(self, clips):
        self.boxes = [labels for _, labels in clips]
        self.frame = 0
        self.resets = 0

    def reset(self):
        self.resets += 1

    def detect(self, rgb, stamp_s=None):
        labels = self.boxes[self.frame]
        self.frame += 1
        return [Detection(h.box, 1.0, h.side or "left", 1.0) for h in labels.hands]


def test_every_frame_is_scored_and_every_clip_is_a_new_stream(tmp_path):
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "fasthamer_sample2.jpg")
    (tmp_path / image.file).write_bytes((HANDS_DIR / image.file).read_bytes())
    rgb = cv2.cvtColor(cv2.imread(str(tmp_path / image.file)), cv2.COLOR_BGR2RGB)
    oracle = _Oracle(list(labelled_clip(rgb, image, 8)) * 2)
    scores = evaluate_on_clips(oracle, [image, image], tmp_path, frames=8, progress=False)
    assert len(scores) == 16 and oracle.resets == 2
    summary = summarise(scores)
    counted = sum(len(s.counted) for s in scores)
    assert summary["images"] == 16 and summary["hands"] == counted and summary["found"] == counted
    assert summary["precision"] == 1.0  # a detection on an ignored (cut) hand is not a false positive
    with pytest.raises(ValueError, match="at least one frame"):
        evaluate_on_clips(oracle, [image], tmp_path, frames=0)
    # One stream: the clips play back to back, the detector starts once.
    again = _Oracle(list(labelled_clip(rgb, image, 8)) * 3)
    scores = evaluate_on_clips(again, [image] * 3, tmp_path, frames=8, progress=False, one_stream=True)
    assert len(scores) == 24 and again.resets == 1 and summarise(scores)["found"] == 3 * counted // 2
