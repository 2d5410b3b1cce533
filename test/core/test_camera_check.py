"""The one camera check: every way a calibration can be wrong is refused with the field named."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fast_hamer_core.camera_check import check_camera

W, H = 640, 480
GOOD_K = [600.0, 0.0, 330.0, 0.0, 590.0, 235.0, 0.0, 0.0, 1.0]


def _k(**changes) -> list[float]:
    index = {"fx": 0, "skew": 1, "cx": 2, "fy": 4, "cy": 5, "k22": 8}
    k = list(GOOD_K)
    for name, value in changes.items():
        k[index[name]] = value
    return k


def test_a_good_calibration_gives_its_camera_with_distortion():
    check = check_camera(GOOD_K, W, H, W, H, [0.1, -0.05, 0.001, 0.0, 0.0], "plumb_bob")
    assert check.ok and check.reason is None and check.note is None
    cam = check.camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width, cam.height) == (600.0, 590.0, 330.0, 235.0, W, H)
    assert cam.distortion_model == "plumb_bob" and cam.has_distortion


def test_a_calibration_of_a_binned_stream_is_scaled_to_the_image():
    check = check_camera([2 * v for v in GOOD_K[:6]] + [0.0, 0.0, 1.0], W, H, 2 * W, 2 * H)
    assert check.ok
    np.testing.assert_allclose([check.camera.fx, check.camera.cx, check.camera.cy], [600.0, 330.0, 235.0])


def test_unknown_resolution_takes_the_image_size_and_says_so():
    check = check_camera(GOOD_K, W, H, 0, 0)
    assert check.ok and (check.camera.width, check.camera.height) == (W, H)
    assert "width/height are 0" in check.note


@pytest.mark.parametrize(
    ("k", "size", "d", "model", "reason"),
    [
        (_k(cx=math.nan), (W, H), (), "", "non-finite cx"),
        (_k(fx=math.inf), (W, H), (), "", "non-finite fx"),
        (_k(fy=-math.inf), (W, H), (), "", "non-finite fy"),
        ([0.0] * 9, (W, H), (), "", "last row"),
        (_k(fx=0.0, fy=0.0), (W, H), (), "", "fx = 0.0 is not positive"),
        (_k(fx=-600.0), (W, H), (), "", "fx = -600.0 is not positive"),
        (_k(fx=1e-9, fy=1e-9), (W, H), (), "", "fx = 1e-09 px is not a sane focal length"),
        (_k(fy=1e7), (W, H), (), "", "fy = 1e+07 px is not a sane focal length"),
        (_k(fy=100.0), (W, H), (), "", "fx / fy = 6"),
        (_k(skew=1.5), (W, H), (), "", "skew"),
        (_k(cx=700.0), (W, H), (), "", "principal point (cx, cy) = (700, 235) is outside the 640x480"),
        (_k(cy=-3.0), (W, H), (), "", "principal point"),
        (GOOD_K[:8], (W, H), (), "", "K has 8 values"),
        (GOOD_K, (1920, 1080), (), "", "calibration is for 1920x1080 but the image is 640x480"),
        (GOOD_K, (W, 0), (), "", "width=640, height=0"),
        (GOOD_K, (W, H), (0.1, math.nan, 0, 0, 0), "plumb_bob", "D = [0.1, nan"),
        (GOOD_K, (W, H), (0.1, 0, 0, 0), "kannala_brandt8", "distortion_model 'kannala_brandt8'"),
        (GOOD_K, (W, H), (0.1, 0, 0, 0, 0.2), "equidistant", "at most 4"),
    ],
)
def test_bad_calibrations_are_refused_naming_the_field(k, size, d, model, reason):
    check = check_camera(k, W, H, *size, d, model)
    assert not check.ok and check.camera is None
    assert reason in check.reason, check.reason


def test_zero_distortion_with_any_model_name_is_no_distortion():
    check = check_camera(GOOD_K, W, H, W, H, [0.0] * 5, "")
    assert check.ok and not check.camera.has_distortion


def test_a_k_for_another_resolution_without_size_is_caught_by_its_principal_point():
    """A 1920x1080 K announced as size 0x0 on a 640x640 image: its centre (960, 540) is off the image."""
    k = [1400.0, 0.0, 960.0, 0.0, 1400.0, 540.0, 0.0, 0.0, 1.0]
    check = check_camera(k, 640, 640, 0, 0)
    assert not check.ok and "outside the 640x640 image" in check.reason
