"""The LiteRT palm detector and landmark model: region maths (inverses, crops, anchors, NMS) and the real
models on the real photos, checked against the Tasks HandLandmarker that runs the same two files."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fast_hamer_core.detection.blaze import (
    PALM_ANCHORS,
    HandLandmarkModel,
    PalmDetector,
    RotatedRect,
    decode_ssd,
    rotation_to_up,
    ssd_anchors,
    weighted_nms,
)


# ---------------------------------------------------------------------------------------------- maths
@pytest.mark.parametrize("rotation", [0.0, 0.7, -2.5, math.pi])
def test_rotated_rect_maps_are_inverses(rotation):
    rect = RotatedRect((120.5, 80.25), 64.0, rotation)
    pts = np.random.default_rng(0).uniform(-50, 250, (10, 2))
    assert np.allclose(rect.to_image(rect.to_crop(pts, 224), 224), pts)
    # The crop's centre is the region's centre; its top edge's midpoint lies "up" the rotated axis.
    assert np.allclose(rect.to_image([[112.0, 112.0]], 224), [rect.center_px])
    up = rect.to_image([[112.0, 0.0]], 224)[0] - np.asarray(rect.center_px)
    assert np.allclose(up, 32.0 * np.array([math.sin(rotation), -math.cos(rotation)]))


def test_crop_puts_image_points_where_to_crop_says():
    image = np.zeros((200, 300, 3), np.uint8)
    image[140, 210] = 255  # one bright pixel (centre convention: x=210, y=140)
    rect = RotatedRect((200.0, 120.0), 80.0, 0.4)
    crop = rect.crop(image.astype(np.uint8), 160).astype(np.float64).sum(-1)
    peak = np.array(np.unravel_index(np.argmax(crop), crop.shape))[::-1]  # (x, y) crop pixel centre
    expected = rect.to_crop([[210.5, 140.5]], 160)[0] - 0.5  # corner -> centre convention
    assert np.linalg.norm(peak - expected) <= 1.0
    mirrored = rect.crop(image, 160, mirror=True).astype(np.float64).sum(-1)
    peak_m = np.array(np.unravel_index(np.argmax(mirrored), mirrored.shape))[::-1]
    assert abs(peak_m[0] - (159 - peak[0])) <= 1 and abs(peak_m[1] - peak[1]) <= 1


def test_rotation_to_up_and_transformed_shift():
    assert rotation_to_up(np.array([0.0, 0.0]), np.array([0.0, -10.0])) == pytest.approx(0.0)
    # Fingers pointing right (+x) need a quarter turn clockwise to point up.
    assert rotation_to_up(np.array([0.0, 0.0]), np.array([10.0, 0.0])) == pytest.approx(math.pi / 2)
    rect = RotatedRect((100.0, 100.0), 50.0, math.pi / 2).transformed(scale=2.0, shift_y=-0.5)
    assert rect.size_px == pytest.approx(100.0)
    assert np.allclose(rect.center_px, (125.0, 100.0))  # moved 25 px "up" = +x for this rotation


def test_palm_anchors_match_the_model_outputs():
    anchors = ssd_anchors(PALM_ANCHORS)
    assert anchors.shape == (2016, 2)
    assert np.allclose(anchors[0], (0.5 / 24, 0.5 / 24)) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[1152], (0.5 / 12, 0.5 / 12))  # first stride-16 cell, 6 anchors each
    assert np.allclose(anchors[1152:1158], anchors[1152])


def test_decode_and_weighted_nms_merge_overlapping_boxes():
    anchors = np.array([[0.5, 0.5], [0.5, 0.5], [0.1, 0.1]])
    raw = np.zeros((3, 6))
    raw[:, 2:4] = 19.2  # 0.1 of a 192 input
    raw[1, 0] = 1.92  # shifted by 0.01
    raw[:, 4:6] = 0.0
    logits = np.array([3.0, 2.0, -5.0])
    boxes, kps, scores = decode_ssd(raw, logits, anchors, 192, min_score=0.5)
    assert len(scores) == 2 and np.allclose(boxes[0], [0.45, 0.45, 0.55, 0.55])
    merged, merged_kp, merged_s = weighted_nms(boxes, kps, scores, 0.3)
    assert len(merged_s) == 1 and merged_s[0] == pytest.approx(1 / (1 + math.exp(-3.0)))
    assert 0.45 < merged[0, 0] < 0.46  # the weighted mean leans towards the better box
    assert merged_kp.shape == (1, 1, 2)
    none = decode_ssd(raw, np.full(3, -9.0), anchors, 192, min_score=0.5)  # nothing above the threshold
    assert [a.shape for a in none] == [(0, 4), (0, 1, 2), (0,)]
    assert [a.shape for a in weighted_nms(*none, 0.3)] == [(0, 4), (0, 1, 2), (0,)]


# ---------------------------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def palm_detector(task_path):
    return PalmDetector(task_path)


@pytest.fixture(scope="module")
def landmark_model(task_path):
    return HandLandmarkModel(task_path)


@pytest.mark.parametrize("name", ["hamer_test5.jpg", "fasthamer_sample2.jpg"])
def test_palms_and_landmarks_agree_with_the_tasks_landmarker(
    name, palm_detector, landmark_model, raw_detector, load_photo
):
    rgb = load_photo(name)
    reference = raw_detector.detect(rgb)
    palms = palm_detector.detect(rgb)
    assert len(palms) == len(reference) == 2
    for palm in palms:
        assert 0.5 <= palm.score <= 1.0
        hand = landmark_model.run(rgb, palm.hand_roi)
        ref = min(reference, key=lambda r: np.abs(r.keypoints_2d - hand.keypoints_2d).mean())
        size = np.ptp(ref.keypoints_2d, axis=0).max()
        assert np.linalg.norm(ref.keypoints_2d - hand.keypoints_2d, axis=1).mean() < 0.05 * size
        assert hand.presence > 0.9
        assert ("right" if hand.p_right >= 0.5 else "left") == ref.side
        assert 0.03 < np.ptp(hand.keypoints_3d, axis=0).max() < 0.3  # metric hand


def test_the_lite_palm_detector_sees_the_palms_the_full_one_sees(palm_detector, landmark_model, load_photo):
    """MediaPipe's lite palm model runs through the same decoding (anchors, NMS, hand region): on clear
    photos it finds the full model's palms, and its hand regions hold the same hands."""
    lite = PalmDetector.lite()
    assert lite.model_path.name == "palm_detection_lite.tflite"
    for name in ("hamer_test5.jpg", "fasthamer_sample2.jpg"):
        rgb = load_photo(name)
        full, found = palm_detector.detect(rgb), lite.detect(rgb)
        assert len(found) == len(full) == 2
        for palm in found:
            assert 0.5 <= palm.score <= 1.0
            centre = np.asarray(palm.hand_roi.center_px)
            twin = min(full, key=lambda p: np.linalg.norm(np.asarray(p.hand_roi.center_px) - centre))
            assert np.linalg.norm(np.asarray(twin.hand_roi.center_px) - centre) < 0.15 * twin.hand_roi.size_px
            hand, reference = landmark_model.run(rgb, palm.hand_roi), landmark_model.run(rgb, twin.hand_roi)
            assert hand.presence > 0.9 and (hand.p_right >= 0.5) == (reference.p_right >= 0.5)
            span = np.ptp(reference.keypoints_2d, axis=0).max()
            assert np.linalg.norm(hand.keypoints_2d - reference.keypoints_2d, axis=1).mean() < 0.05 * span


def test_a_model_that_is_not_a_palm_detector_is_refused():
    from fast_hamer_core.detection.assets import ensure_loose_model

    pose_landmarks = ensure_loose_model("pose_landmark_full.tflite")  # a real TFLite model, 256x256 input
    with pytest.raises(ValueError, match="not a palm detector's 192x192"):
        PalmDetector(tflite_path=pose_landmarks)


def test_landmarks_follow_the_hand_from_their_own_region(palm_detector, landmark_model, load_photo):
    """Tracking without a palm search: the region from this frame's landmarks finds the same hand in a
    shifted image, and the mirrored crop gives the same side."""
    rgb = load_photo("fasthamer_sample2.jpg")
    for palm in palm_detector.detect(rgb):
        first = landmark_model.run(rgb, palm.hand_roi)
        shifted = np.roll(rgb, (6, -9), axis=(0, 1))
        second = landmark_model.run(shifted, landmark_model.roi_from_landmarks(first.keypoints_2d))
        assert second.presence > 0.9
        moved = second.keypoints_2d - first.keypoints_2d
        assert np.allclose(np.median(moved, axis=0), (-9, 6), atol=3.5)  # the model jitters ~2 px
        mirrored = landmark_model.run(rgb, first.roi, mirror=True)
        assert np.linalg.norm(mirrored.keypoints_2d - first.keypoints_2d, axis=1).mean() < 5.0
        assert (mirrored.p_right >= 0.5) == (first.p_right >= 0.5)


def test_presence_is_low_where_there_is_no_hand(landmark_model, load_photo):
    rgb = load_photo("hamer_test5.jpg")
    wall = landmark_model.run(rgb, RotatedRect((1100.0, 1700.0), 180.0))  # bottom-right corner: no hand
    assert wall.presence < 0.5
    blank = landmark_model.run(np.full((300, 300, 3), 128, np.uint8), RotatedRect((150.0, 150.0), 200.0))
    assert blank.presence < 0.5
