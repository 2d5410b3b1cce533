"""Merging hand evidence: mirrored looks, overlapping regions, duplicates (synthetic hands, no models)."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.detection.blaze import HandLandmarks, RotatedRect
from fast_hamer_core.detection.merge import (
    HandCandidate,
    box_cover,
    centre_on_hand,
    combine_mirrored,
    keypoint_distance,
    merge_duplicates,
    nested_fit,
    regions_overlap,
    same_hand,
    without_finger_fits,
)


def _hand_keypoints(wrist, size, angle_rad=0.0) -> np.ndarray:
    """(21, 2) a stylised upright hand of ``size`` px (wrist to fingertips), turned clockwise by ``angle``."""
    pts = [(0.0, 0.0)]
    for finger, x in enumerate((-0.45, -0.2, 0.0, 0.2, 0.38)):  # thumb .. pinky bases
        reach = 0.7 if finger == 0 else 1.0
        pts += [(x * (0.6 + 0.15 * k), -(0.3 + 0.7 * reach * k / 3)) for k in range(4)]
    local = np.array(pts) * size  # (21, 2)
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return local @ np.array([[c, -s], [s, c]]).T + np.asarray(wrist, dtype=float)


def _candidate(keypoints, presence=0.95, p_right=0.9) -> HandCandidate:
    roi = RotatedRect(tuple(keypoints.mean(0)), 2 * float(np.ptp(keypoints, 0).max()))
    return HandCandidate(keypoints, np.zeros((21, 3)), presence, p_right, roi)


def test_combine_mirrored_averages_both_looks_and_is_symmetric():
    roi = RotatedRect((50.0, 50.0), 100.0)
    a = HandLandmarks(_hand_keypoints((50, 90), 60), np.ones((21, 3)), 0.9, 0.8, roi)
    b = HandLandmarks(_hand_keypoints((52, 90), 60), 3 * np.ones((21, 3)), 0.7, 0.6, roi)
    ab, ba = combine_mirrored(a, b), combine_mirrored(b, a)
    assert ab.presence == pytest.approx(0.8) and ab.p_right == pytest.approx(0.7)
    assert np.allclose(ab.keypoints_3d, 2.0) and np.allclose(ab.keypoints_2d[:, 0], a.keypoints_2d[:, 0] + 1)
    assert ab.p_right == ba.p_right and np.allclose(ab.keypoints_2d, ba.keypoints_2d)
    alone = combine_mirrored(a, None, source="pose")
    assert (
        alone.presence == 0.9
        and alone.source == "pose"
        and np.array_equal(alone.keypoints_2d, a.keypoints_2d)
    )


def test_regions_overlap_on_iou_or_on_a_near_centre_at_a_similar_size():
    best = RotatedRect((100.0, 100.0), 80.0)
    assert regions_overlap(best, RotatedRect((105.0, 98.0), 90.0))  # the same hand, another window
    assert not regions_overlap(best, RotatedRect((100.0, 100.0), 300.0))  # same centre, another scale
    assert not regions_overlap(best, RotatedRect((400.0, 100.0), 80.0))  # another hand
    near = RotatedRect((125.0, 100.0), 100.0)  # IoU 0.46, centres apart: the threshold decides
    assert regions_overlap(best, near) and not regions_overlap(best, near, iou_threshold=0.5)
    assert regions_overlap(near, best)  # symmetric


def test_a_centre_on_a_found_hand_is_told_apart_from_one_beside_it():
    hand = _candidate(_hand_keypoints((200, 300), 120))  # keypoint box about x 143..248, y 180..300
    box = hand.box_px()
    assert centre_on_hand(RotatedRect(tuple(0.5 * (box[:2] + box[2:])), 200.0), [hand])
    beside = (box[2] + 0.3 * (box[2] - box[0]), 250.0)  # the next hand's centre, touching this one
    assert not centre_on_hand(RotatedRect(beside, 200.0), [hand])
    assert centre_on_hand(RotatedRect(beside, 200.0), [hand], margin=0.35)
    assert not centre_on_hand(RotatedRect((200.0, 250.0), 100.0), [])


def test_the_same_hand_twice_is_merged_once():
    hand = _hand_keypoints((200, 300), 120)
    again = _candidate(hand + np.array([4.0, -3.0]), presence=0.9)  # another region's look at it
    other = _candidate(_hand_keypoints((500, 300), 120), presence=0.85)
    assert keypoint_distance(hand, again.keypoints_2d) < 0.05
    merged = merge_duplicates([again, _candidate(hand), other])
    assert len(merged) == 2
    assert merged[0].presence == 0.95 and merged[0].support == 2  # the most present one is kept
    assert merged[1] is other


def test_a_finger_fitted_as_a_small_hand_is_merged_into_its_hand():
    hand = _candidate(_hand_keypoints((200, 300), 120))
    finger_tip_hand = _candidate(_hand_keypoints((200, 230), 30), presence=0.99)
    assert box_cover(finger_tip_hand.box_px(), hand.box_px()) > 0.9
    assert same_hand(hand, finger_tip_hand)
    assert len(merge_duplicates([hand, finger_tip_hand])) == 1
    assert nested_fit(finger_tip_hand.keypoints_2d, hand.keypoints_2d)
    assert not nested_fit(hand.keypoints_2d, finger_tip_hand.keypoints_2d)  # the larger is never the fit
    beside = _hand_keypoints((400, 230), 30)
    assert not nested_fit(beside, hand.keypoints_2d)
    fits = [finger_tip_hand.keypoints_2d, hand.keypoints_2d, beside]
    assert without_finger_fits(fits) == [1, 2]  # the fit goes, whatever comes first


def test_two_hands_with_interlaced_fingers_stay_two():
    """Two hands whose fingers overlap from opposite sides: boxes overlap, keypoints do not agree."""
    right = _candidate(_hand_keypoints((150, 300), 160, np.radians(60)))
    left = _candidate(_hand_keypoints((400, 300), 160, np.radians(-60)))
    iou_boxes = (right.box_px(), left.box_px())
    assert box_cover(*iou_boxes) > 0.3
    assert not same_hand(right, left)
    assert len(merge_duplicates([right, left])) == 2
