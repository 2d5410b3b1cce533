"""Input normalisation and pixel-scaling helpers of the detector interface (no model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.detection.base import (
    MIN_IMAGE_SIDE_PX,
    HandDetector,
    as_rgb_uint8,
    clip_box,
    downscale_for_detection,
    scale_detection,
)
from fast_hamer_core.preprocess import box_from_keypoints
from fast_hamer_core.types import Detection


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_uint8_rgb_passes_through_without_copy():
    rgb = _rgb()
    assert as_rgb_uint8(rgb) is rgb


def test_gray_rgba_uint16_float_conversions():
    rgb = _rgb()
    gray = rgb[:, :, 0]
    np.testing.assert_array_equal(as_rgb_uint8(gray), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(as_rgb_uint8(gray[:, :, None]), np.repeat(gray[:, :, None], 3, axis=2))
    rgba = np.concatenate([rgb, np.zeros_like(rgb[:, :, :1])], axis=2)
    np.testing.assert_array_equal(as_rgb_uint8(rgba), rgb)
    # uint16: the full range maps onto 0..255; v * 257 is exactly v again.
    np.testing.assert_array_equal(as_rgb_uint8(rgb.astype(np.uint16) * 257), rgb)
    assert as_rgb_uint8(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    np.testing.assert_array_equal(as_rgb_uint8(rgb / 255.0), rgb)
    np.testing.assert_array_equal(as_rgb_uint8(rgb.astype(np.float32) / 255.0), rgb)


def test_non_contiguous_views_become_contiguous_copies():
    rgb = _rgb()
    for view in (rgb[:, ::-1], rgb[::2, 1::3], np.asfortranarray(rgb)):
        out = as_rgb_uint8(view)
        assert out.flags.c_contiguous and out.dtype == np.uint8
        np.testing.assert_array_equal(out, view)


def test_input_is_never_modified():
    image = np.linspace(0, 1, 20 * 30 * 3).reshape(20, 30, 3)
    before = image.copy()
    as_rgb_uint8(image)
    np.testing.assert_array_equal(image, before)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((5, 5, 5), np.uint8), "channels"),
        (np.zeros(5, np.uint8), "shape"),
        (np.full((5, 5), -0.1), r"\[0, 1\]"),
        (np.full((5, 5), np.inf), "inf"),
        (np.zeros((5, 5, 3), np.int16), "dtype int16"),
        (np.zeros((5, 5, 3), np.complex64), "dtype complex64"),
        ("image.png", "numpy array"),
    ],
)
def test_bad_inputs_name_the_problem(image, message):
    with pytest.raises(ValueError, match=message):
        as_rgb_uint8(image)


def test_downscale_and_scale_back_are_inverse():
    rgb = np.zeros((3000, 7001, 3), np.uint8)
    small, sx, sy = downscale_for_detection(rgb, 1920)
    assert max(small.shape[:2]) == 1920
    assert sx * small.shape[1] == pytest.approx(7001) and sy * small.shape[0] == pytest.approx(3000)
    kp = np.random.default_rng(1).uniform(0, 800, (21, 2))
    det = Detection(box_from_keypoints(kp), 0.9, "left", 0.8, kp, np.zeros((21, 3)))
    big = scale_detection(det, sx, sy)
    np.testing.assert_allclose(big.keypoints_2d, kp * [sx, sy])
    np.testing.assert_allclose(big.box, det.box * [sx, sy, sx, sy])
    back = scale_detection(big, 1 / sx, 1 / sy)
    np.testing.assert_allclose(back.keypoints_2d, kp)
    np.testing.assert_allclose(back.box, det.box)
    assert back.keypoints_3d_hand is det.keypoints_3d_hand  # metric 3D is not a pixel quantity
    same, one_x, one_y = downscale_for_detection(small, 1920)
    assert same is small and one_x == one_y == 1.0


def test_clip_box():
    np.testing.assert_array_equal(clip_box(np.array([-5.0, 3, 120, 90]), 100, 80), [0, 3, 100, 80])


class _CentreDetector(HandDetector):
    """A backend that reports one fixed hand in the middle of whatever it is shown, and the size it saw."""

    name = "centre"

    def _detect(self, rgb, stamp_s):
        height, width = rgb.shape[:2]
        self.seen = rgb.shape
        kp = np.array([[width * 0.4, height * 0.4], [width * 0.6, height * 0.7]])
        return [Detection(box_from_keypoints(kp), 1.0, "right", 1.0, kp)]


def test_detect_downscales_large_images_and_maps_results_back():
    det = _CentreDetector(max_side_px=100)
    out = det.detect(np.zeros((400, 1000, 3), np.uint8))
    assert max(det.seen[:2]) == 100
    np.testing.assert_allclose(out[0].keypoints_2d, [[400, 160], [600, 280]])
    np.testing.assert_allclose(out[0].box, [400, 160, 600, 280])
    assert det.detect(np.zeros((MIN_IMAGE_SIDE_PX - 1, 50, 3), np.uint8)) == []
    with det:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        det.detect(np.zeros((40, 40, 3), np.uint8))
