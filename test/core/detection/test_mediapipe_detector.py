"""The MediaPipe detector on the real photos: hands found, valid boxes/scores, true sides, mirror symmetry,
and odd input images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures.data import HAND_PHOTOS, KNOWN_SIDES, MATCH_RADIUS_PX, find_near

from fast_hamer_core.detection import create_detector
from fast_hamer_core.detection.mediapipe_detector import MediaPipeHandDetector
from fast_hamer_core.detection.merge import nested_fit
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels
from fast_hamer_core.evaluation.hard_cases import make_hard_cases


def _centre(det) -> np.ndarray:
    return det.keypoints_2d.mean(axis=0)


@pytest.fixture(scope="module")
def photo_detections(detector, load_photo):
    """{photo: detections of the default (flip-consistent) detector}, computed once per module."""
    return {name: detector.detect(load_photo(name)) for name in HAND_PHOTOS}


@pytest.mark.parametrize("name", HAND_PHOTOS)
def test_finds_hands_with_valid_fields(photo_detections, load_photo, name):
    height, width = load_photo(name).shape[:2]
    dets = photo_detections[name]
    assert len(dets) >= 1
    for det in dets:
        x0, y0, x1, y1 = det.box
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert 0.0 <= det.score <= 1.0
        assert 0.5 <= det.side_score <= 1.0
        assert det.side in ("left", "right")
        assert det.keypoints_2d.shape == (21, 2)
        assert det.keypoints_3d_hand.shape == (21, 3)
        # Metric world landmarks: a hand spans a few centimetres to ~25 cm.
        span_m = np.ptp(det.keypoints_3d_hand, axis=0).max()
        assert 0.03 < span_m < 0.3
        # The box is the keypoints' min/max (HaMeR's way), clipped to the image.
        lo = np.clip(det.keypoints_2d.min(axis=0), 0, [width, height])
        hi = np.clip(det.keypoints_2d.max(axis=0), 0, [width, height])
        np.testing.assert_allclose(det.box, np.concatenate([lo, hi]), atol=1e-6)


@pytest.mark.parametrize(("name", "centre", "side"), KNOWN_SIDES)
def test_known_hands_get_their_anatomical_side(
    photo_detections, raw_detector, load_photo, name, centre, side
):
    det = find_near(photo_detections[name], centre)
    assert det is not None, f"no hand near {centre} in {name}"
    assert det.side == side
    # The convention the default builds on: raw labels are anatomical on a non-mirrored photo.
    raw = find_near(raw_detector.detect(load_photo(name)), centre)
    assert raw is not None and raw.side == side


def test_mirrored_input_swaps_every_side(task_path, photo_detections, load_photo):
    with MediaPipeHandDetector(model_path=task_path, mirrored_input=True) as mirrored:
        dets = mirrored.detect(load_photo("fasthamer_sample2.jpg"))
    normal = photo_detections["fasthamer_sample2.jpg"]
    assert len(dets) == len(normal) == 2
    for det in dets:
        twin = find_near(normal, _centre(det), radius=1.0)
        assert twin is not None and twin.side != det.side


@pytest.mark.parametrize("name", HAND_PHOTOS)
def test_flipping_the_image_swaps_every_label(detector, photo_detections, load_photo, name):
    rgb = load_photo(name)
    width = rgb.shape[1]
    dets = photo_detections[name]
    flipped = detector.detect(rgb[:, ::-1])  # a non-contiguous view, on purpose
    assert len(flipped) == len(dets)
    for det in flipped:
        mirrored_centre = (width - _centre(det)[0], _centre(det)[1])
        twin = find_near(dets, mirrored_centre, radius=1.0)
        assert twin is not None, f"{name}: hand at {mirrored_centre} found only in the flipped image"
        assert twin.side != det.side
        assert twin.side_score == pytest.approx(det.side_score, abs=1e-6)
        assert twin.score == det.score


def test_raw_mode_is_a_single_pass(raw_detector, photo_detections, load_photo):
    dets = raw_detector.detect(load_photo("hamer_test5.jpg"))
    assert len(dets) == 2
    assert all(d.score == 1.0 for d in dets)
    # The flip-consistent mode averages both passes, so its keypoints differ slightly from one pass.
    for det in dets:
        twin = find_near(photo_detections["hamer_test5.jpg"], _centre(det))
        assert twin is not None and twin.side == det.side


def test_a_finger_fitted_as_a_hand_is_not_reported(detector, load_photo):
    """On a close-up of hamer_test5 (the seed-0 close_up hard case) the landmarker, in both passes, also
    fits a small "hand" onto one hand's fingers; it lies inside that hand's box and is dropped."""
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test5.jpg")
    (case, *_) = make_hard_cases(load_photo("hamer_test5.jpg"), image, seed=0, makers=["close_up"])
    assert case.labels.file == "hamer_test5__close_up_0.jpg"
    found = detector.detect(case.image)
    assert len(found) == 2  # her two hands, each once
    for a in found:
        assert not any(nested_fit(a.keypoints_2d, b.keypoints_2d) for b in found if b is not a)


def test_registry_builds_the_mediapipe_detector(task_path):
    with create_detector("mediapipe", model_path=task_path, handedness="raw", max_hands=1) as det:
        assert isinstance(det, MediaPipeHandDetector)
        assert det.handedness == "raw"
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


def test_bad_options_are_rejected(task_path):
    with pytest.raises(ValueError, match="handedness"):
        MediaPipeHandDetector(model_path=task_path, handedness="mirror")
    with pytest.raises(ValueError, match="min_detection_confidence"):
        MediaPipeHandDetector(model_path=task_path, min_detection_confidence=1.5)
    with pytest.raises(ValueError, match="running_mode"):
        MediaPipeHandDetector(model_path=task_path, running_mode="stream")


def test_video_mode_tracks_over_frames(task_path, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    with MediaPipeHandDetector(model_path=task_path, running_mode="video") as det:
        frames = [det.detect(rgb, stamp_s=0.1 * i) for i in range(3)]
        frames.append(det.detect(rgb, stamp_s=0.0))  # a stamp going back is bumped, not an error
    for dets in frames:
        assert sorted(d.side for d in dets) == ["left", "right"]


# ------------------------------------------------------------------------------------------ odd inputs
def _sides_near(detections, centres):
    """Side of the hand near each centre (``None`` where there is none)."""
    return [(det.side if (det := find_near(detections, c)) else None) for c in centres]


HAMER5_HANDS = ((484, 670), (704, 660))


def test_grayscale_2d_and_3d_inputs(detector, load_photo):
    rgb = load_photo("hamer_test5.jpg")
    gray = (rgb.astype(np.float64) @ [0.299, 0.587, 0.114]).round().astype(np.uint8)  # (H, W)
    for image in (gray, gray[:, :, None]):
        dets = detector.detect(image)
        assert len(dets) >= 1
        assert all(0.0 <= d.score <= 1.0 for d in dets)


def test_rgba_uint16_float_inputs_match_rgb(detector, load_photo):
    rgb = load_photo("hamer_test5.jpg")
    expected = _sides_near(detector.detect(rgb), HAMER5_HANDS)
    assert expected == ["right", "left"]
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 7, np.uint8)], axis=2)
    as_uint16 = rgb.astype(np.uint16) * 257
    as_float = rgb.astype(np.float32) / 255.0
    for image in (rgba, as_uint16, as_float):
        dets = detector.detect(image)
        assert _sides_near(dets, HAMER5_HANDS) == expected


def test_non_contiguous_inputs(detector, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    strided = np.zeros((rgb.shape[0], rgb.shape[1] * 2, 3), np.uint8)
    strided[:, ::2] = rgb
    rgb_view_of_bgr = np.ascontiguousarray(rgb[:, :, ::-1])[:, :, ::-1]  # negative channel stride
    for image in (strided[:, ::2], rgb_view_of_bgr, np.asfortranarray(rgb), rgb[5:-5, 5:-5]):
        assert not image.flags.c_contiguous
        dets = detector.detect(image)
        assert sorted(d.side for d in dets) == ["left", "right"]


@pytest.mark.parametrize("shape", [(1, 1, 3), (1, 1), (10, 4000, 3)])
def test_tiny_images_give_no_hands(detector, shape):
    assert detector.detect(np.zeros(shape, np.uint8)) == []


def test_huge_image_is_downscaled_and_boxes_scaled_back(detector, load_photo):
    rgb = load_photo("hamer_test5.jpg")  # 1200 x 1799
    scale, offset = 4, np.array([1500.0, 400.0])
    big = np.full((8000, 8000, 3), 128, np.uint8)
    up = cv2.resize(rgb, (rgb.shape[1] * scale, rgb.shape[0] * scale), interpolation=cv2.INTER_LINEAR)
    big[400 : 400 + up.shape[0], 1500 : 1500 + up.shape[1]] = up
    dets = detector.detect(big)
    del big, up
    centres = [np.asarray(c) * scale + offset for c in HAMER5_HANDS]
    found = [find_near(dets, c, radius=MATCH_RADIUS_PX * scale) for c in centres]
    assert [f.side if f else None for f in found] == ["right", "left"]
    for det in dets:
        assert np.all(det.box >= 0) and np.all(det.box <= 8000)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 10, 3), np.uint8), "empty"),
        (np.zeros((10, 10, 2), np.uint8), "channels"),
        (np.zeros((2, 10, 10, 3), np.uint8), "shape"),
        (np.full((32, 32, 3), 2.0, np.float32), r"\[0, 1\]"),
        (np.full((32, 32, 3), np.nan, np.float32), "NaN"),
        (np.zeros((32, 32, 3), np.int32), "dtype"),
        (np.zeros((32, 32, 3), bool), "dtype"),
        ([[0, 1], [2, 3]], "numpy array"),
    ],
)
def test_bad_images_raise_clear_errors(detector, image, message):
    with pytest.raises(ValueError, match=message):
        detector.detect(image)
