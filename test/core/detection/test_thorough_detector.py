"""The thorough detector with the real models: known sides, no duplicates, small hands, the re-check."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures.data import HAND_PHOTOS, KNOWN_SIDES, MATCH_RADIUS_PX, find_near

from fast_hamer_core.detection import create_detector, resolve_detector_name
from fast_hamer_core.detection.blaze import RotatedRect
from fast_hamer_core.detection.merge import HandCandidate
from fast_hamer_core.detection.pose import HandProposal, PeopleSearchConfig
from fast_hamer_core.detection.regions import ArmAgreement, Region, arm_agrees, check_in_turn
from fast_hamer_core.detection.thorough import ThoroughConfig, ThoroughHandDetector
from fast_hamer_core.evaluation.detection import score_image
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels


@pytest.fixture(scope="module")
def thorough_results(thorough_detector, load_photo):
    """{photo: thorough detections}, computed once per module."""
    return {name: thorough_detector.detect(load_photo(name)) for name in HAND_PHOTOS}


@pytest.mark.parametrize(("name", "centre", "side"), KNOWN_SIDES)
def test_every_known_hand_is_found_with_its_side(thorough_results, name, centre, side):
    det = find_near(thorough_results[name], centre)
    assert det is not None, f"{name}: no hand near {centre}"
    assert det.side == side
    assert 0.8 <= det.score <= 1.0 and 0.5 <= det.side_score <= 1.0


def test_no_hand_is_reported_twice_and_every_detection_is_a_hand(thorough_results, load_photo):
    """Scored against the packaged labels of the shared photos: no duplicate, no false positive."""
    for image in load_labels(SHARED_LABELS_PATH):
        score = score_image(image, thorough_results[image.file])
        assert score.duplicates == {}, f"{image.file}: a hand reported twice"
        assert len(score.matches) == len(score.detections), f"{image.file}: a detection on no hand"
        height, width = load_photo(image.file).shape[:2]
        for det in score.detections:
            assert det.keypoints_2d.shape == (21, 2) and det.keypoints_3d_hand.shape == (21, 3)
            assert np.all(det.box >= 0) and det.box[2] <= width and det.box[3] <= height


def test_small_hands_on_a_big_canvas(thorough_detector, load_photo):
    """fasthamer_sample2 shrunk onto a 1920x1280 canvas: its hands become ~3 % of the longer side, about
    5 pixels for a whole-image palm search; the tiles find both, with their sides."""
    rgb = load_photo("fasthamer_sample2.jpg")  # 640 x 640, hands ~60 px
    scale, offset = 0.9, np.array([1100.0, 600.0])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full((1280, 1920, 3), 90, np.uint8)
    canvas[600 : 600 + small.shape[0], 1100 : 1100 + small.shape[1]] = small
    dets = thorough_detector.detect(canvas)
    for centre, side in (((396, 402), "right"), ((458, 394), "left")):
        det = find_near(dets, np.asarray(centre) * scale + offset, radius=15.0)
        assert det is not None and det.side == side
    assert len(dets) == 2


@pytest.mark.parametrize(("scale", "offset"), [(0.3, (600, 900)), (0.35, (300, 500))])
def test_two_small_hands_side_by_side_are_both_found(thorough_detector, load_photo, scale, offset):
    """hamer_test5 shrunk onto a canvas of its own size: its two hands touch and their regions overlap.
    Each hand's region must still be checked (both placements lost one hand when regions overlapping a
    better one were dropped unchecked)."""
    rgb = load_photo("hamer_test5.jpg")  # 1200 x 1799
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(rgb, 90)
    x0, y0 = offset
    h, w = min(small.shape[0], canvas.shape[0] - y0), min(small.shape[1], canvas.shape[1] - x0)
    canvas[y0 : y0 + h, x0 : x0 + w] = small[:h, :w]
    dets = thorough_detector.detect(canvas)
    for centre, side in (((484, 670), "right"), ((704, 660), "left")):
        det = find_near(dets, np.asarray(centre) * scale + offset, radius=10.0)
        assert det is not None and det.side == side, f"no {side} hand near {centre} x {scale} + {offset}"
    assert len(dets) == 2


@pytest.mark.parametrize("scale", [0.35, 0.45])
def test_the_lite_palm_detector_finds_a_hand_the_full_one_misses(
    thorough_detector, task_path, load_photo, scale
):
    """hamer_test1 shrunk onto a canvas of its own size: the girl's left hand on her knee (label box
    124-216 x 478-550) gets no palm from the full palm detector in any window, nor a region from her arm
    (the pose model takes the two people for one); the lite palm detector's palm leads to it."""
    rgb = load_photo("hamer_test1.jpg")  # 848 x 565
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(rgb, 90)
    canvas[50 : 50 + small.shape[0], 80 : 80 + small.shape[1]] = small
    centre = np.array([170.0, 514.0]) * scale + (80.0, 50.0)
    with ThoroughHandDetector(model_path=task_path, lite_palms=False) as full_only:
        assert full_only.lite_search is None
        assert find_near(full_only.detect(canvas), centre, radius=40.0 * scale) is None
    det = find_near(thorough_detector.detect(canvas), centre, radius=40.0 * scale)
    assert det is not None and det.side == "left"


def test_a_crowded_image_is_not_cut_to_ten_hands(thorough_detector, load_photo):
    """A 2x3 mosaic of the shared photos (14 hands, some tiny): more than 10 are found, and the default
    ``max_hands`` does not cut them (at 10 it did; the cap costs no time, only the regions checked do)."""
    names = [*HAND_PHOTOS, "fasthamer_sample2.jpg"]
    tiles = [cv2.resize(load_photo(name), (427, 360), interpolation=cv2.INTER_AREA) for name in names]
    mosaic = np.vstack([np.hstack(tiles[:3]), np.hstack(tiles[3:])])  # (720, 1281, 3)
    dets = thorough_detector.detect(mosaic)
    assert thorough_detector.max_hands >= 16 and 10 < len(dets) < thorough_detector.max_hands
    assert all(d.score >= thorough_detector.config.min_presence_with_arm for d in dets)  # all re-checked


def _found_at(x: float) -> HandCandidate:
    """A found hand whose keypoint box is x..x+100, y 0..100."""
    kp = np.array([[x, 0.0], [x + 100.0, 100.0]] + [[x + 50.0, 50.0]] * 19)  # (21, 2)
    return HandCandidate(kp, np.zeros((21, 3)), 0.95, 0.9, RotatedRect((x + 50.0, 50.0), 200.0))


def test_regions_are_checked_in_turn_best_first():
    """A fake check: a region finds a hand when its centre's x is below 1000 (a plain function, so what
    was looked at can be counted)."""
    looked: list[float] = []

    def check(region: Region) -> HandCandidate | None:
        looked.append(region.roi.center_px[0])
        x = region.roi.center_px[0]
        return _found_at(x - 50.0) if x < 1000 else None

    regions = [
        Region(RotatedRect((50.0, 50.0), 200.0), "palm", 0.9),  # finds the hand at 0..100
        Region(RotatedRect((60.0, 40.0), 190.0), "palm", 0.8),  # centre on that hand: skipped
        Region(RotatedRect((180.0, 50.0), 200.0), "pose", 0.4),  # overlaps the first, beside its hand
        Region(RotatedRect((1200.0, 50.0), 200.0), "palm", 0.7),  # checked in vain
        Region(RotatedRect((1210.0, 50.0), 200.0), "pose", 0.3),  # overlaps the vain one: skipped
    ]
    hands, failed = check_in_turn(regions[::-1], check)
    assert looked == [50.0, 1200.0, 180.0]  # best first, whatever the input order
    assert [h.box_px()[0] for h in hands] == [0.0, 130.0] and failed == [regions[3]]
    looked.clear()
    hands, _ = check_in_turn(regions, check, found=[_found_at(0.0)], budget=1)
    assert looked == [1200.0] and hands == []  # the found hand is not looked for again; one check only


def test_flipping_the_image_swaps_the_sides(thorough_detector, thorough_results, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    flipped = thorough_detector.detect(rgb[:, ::-1])
    assert len(flipped) == len(thorough_results["fasthamer_sample2.jpg"]) == 2
    for det in flipped:
        centre = det.keypoints_2d.mean(0)
        twin = find_near(
            thorough_results["fasthamer_sample2.jpg"], (rgb.shape[1] - centre[0], centre[1]), 5.0
        )
        assert twin is not None and twin.side != det.side


def test_the_recheck_rejects_a_region_without_a_hand(thorough_detector, load_photo):
    rgb = load_photo("hamer_test1.jpg")
    wall = RotatedRect((90.0, 90.0), 150.0)  # the plain wall at the top left
    assert thorough_detector.check(rgb, Region(wall, "palm", 1.0)) is None
    assert thorough_detector.check(rgb, Region(wall, "pose", 0.5)) is None
    hand = RotatedRect((317.0, 232.0), 260.0)  # the raised right hand
    found = thorough_detector.check(rgb, Region(hand, "pose", 0.5))
    assert found is not None and found.presence >= thorough_detector.min_presence
    assert np.linalg.norm(found.keypoints_2d.mean(0) - (317, 232)) < MATCH_RADIUS_PX


def test_an_image_without_hands_gives_none(thorough_detector):
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 3)
    assert thorough_detector.detect(noise) == []


def test_mode_selects_the_detector_and_bad_options_are_named(task_path):
    assert resolve_detector_name("mediapipe", "thorough") == "thorough"
    assert resolve_detector_name("mediapipe", "fast") == "mediapipe"
    with pytest.raises(ValueError, match="no 'thorough' mode"):
        resolve_detector_name("yolo", "thorough")
    with pytest.raises(ValueError, match="unknown detection mode"):
        resolve_detector_name("mediapipe", "slow")
    with create_detector("mediapipe", mode="thorough", model_path=task_path) as det:
        assert isinstance(det, ThoroughHandDetector) and det.max_hands == 20
    with ThoroughHandDetector(model_path=task_path, use_pose=False) as det:
        assert det.body is None and not det.config.use_pose
    no_lite = ThoroughConfig(lite_palms=None)
    with ThoroughHandDetector(model_path=task_path, config=no_lite, lite_palms=True) as det:
        assert det.config.lite_palms == det.config.search
        assert det.lite_search.detector.model_path.name == "palm_detection_lite.tflite"
    people = PeopleSearchConfig(max_people=2, min_tile_score=0.7)
    with ThoroughHandDetector(model_path=task_path, config=ThoroughConfig(people=people)) as det:
        assert det.body.people.config is people
        assert det.body.detector.min_score == pytest.approx(people.min_score)  # the lower of the two
    with pytest.raises(ValueError, match="handedness"):
        ThoroughHandDetector(model_path=task_path, handedness="mirror")
    with pytest.raises(ValueError, match="min_presence_confidence"):
        ThoroughHandDetector(model_path=task_path, min_presence_confidence=2.0)


# ---------------------------------------------------------------------------------------------- two cues
def _hand(presence: float, p_right: float) -> HandCandidate:
    """A hand of 21 keypoints in a 60 x 80 px box, wrist (keypoint 0) at (100, 200): size 100 px."""
    rng = np.random.default_rng(0)
    keypoints = np.column_stack([rng.uniform(70, 130, 21), rng.uniform(120, 200, 21)])
    keypoints[0] = (100.0, 200.0)
    keypoints[1], keypoints[2] = (70.0, 120.0), (130.0, 200.0)  # the box corners: 60 x 80, diagonal 100
    return HandCandidate(keypoints, np.zeros((21, 3)), presence, p_right, RotatedRect((100.0, 160.0), 200.0))


def _arm(side: str = "right", visibility: float = 0.95, wrist=(100.0, 200.0)) -> HandProposal:
    return HandProposal(side, RotatedRect((100.0, 160.0), 200.0), np.asarray(wrist), visibility, 0.9)


def test_the_arm_agrees_when_side_wrist_and_visibility_agree():
    hand = _hand(0.6, p_right=0.9)
    assert hand.size_px() == pytest.approx(100.0)
    assert arm_agrees(hand, _arm())
    assert arm_agrees(hand, _arm(wrist=(100.0 + 49.0, 200.0)))  # within half a hand size
    assert arm_agrees(_hand(0.6, p_right=0.1), _arm("left"))


def test_the_arm_disagrees_on_the_side():
    assert not arm_agrees(_hand(0.6, p_right=0.1), _arm("right"))
    assert not arm_agrees(_hand(0.6, p_right=0.9), _arm("left"))


def test_the_arm_disagrees_when_its_wrist_is_too_far():
    hand = _hand(0.6, p_right=0.9)
    assert not arm_agrees(hand, _arm(wrist=(100.0 + 51.0, 200.0)))
    assert arm_agrees(hand, _arm(wrist=(151.0, 200.0)), ArmAgreement(max_wrist_offset=0.6))


def test_the_arm_disagrees_when_its_wrist_is_hardly_visible():
    hand = _hand(0.6, p_right=0.9)
    assert not arm_agrees(hand, _arm(visibility=0.5))
    assert arm_agrees(hand, _arm(visibility=0.5), ArmAgreement(min_wrist_visibility=0.4))


def test_low_presence_is_accepted_only_with_an_agreeing_arm(thorough_detector):
    low = thorough_detector.config.min_presence_with_arm + 0.05
    assert low < thorough_detector.min_presence
    roi = RotatedRect((100.0, 160.0), 200.0)
    arm_region = Region.from_arm(_arm())
    assert thorough_detector.accepts(_hand(low, 0.9), arm_region)
    assert not thorough_detector.accepts(_hand(low, 0.1), arm_region)  # the other side
    assert not thorough_detector.accepts(_hand(low, 0.9), Region(roi, "palm", 0.9))  # no arm
    too_low = thorough_detector.config.min_presence_with_arm - 0.05
    assert not thorough_detector.accepts(_hand(too_low, 0.9), arm_region)
    # Present enough: no arm needed.
    assert thorough_detector.accepts(_hand(thorough_detector.min_presence, 0.1), Region(roi, "palm", 0.9))


def test_bad_two_cue_options():
    with pytest.raises(ValueError, match="min_presence_with_arm"):
        ThoroughConfig(min_presence_with_arm=1.2)
    with pytest.raises(ValueError, match="max_wrist_offset"):
        ArmAgreement(max_wrist_offset=0.0)
    with pytest.raises(ValueError, match="min_wrist_visibility"):
        ArmAgreement(min_wrist_visibility=-0.1)
