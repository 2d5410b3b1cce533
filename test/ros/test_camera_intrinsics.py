"""CameraInfoState: the camera each frame uses, the fallbacks, and what is logged (real CameraInfo)."""

from __future__ import annotations

import math

import numpy as np
from ros_harness import camera_info

from fast_hamer_ros.camera_intrinsics import CameraInfoState, check_camera_info

W, H = 640, 480


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def info(self, text: str) -> None:
        self.lines.append(("info", text))

    def warning(self, text: str) -> None:
        self.lines.append(("warning", text))


def _bad():
    info = camera_info(W, H)
    info.k = [info.k[0], 0.0, math.nan, *info.k[3:]]
    return info


def test_fallbacks_and_every_change_between_valid_and_refused_is_logged():
    log = _Log()
    state = CameraInfoState(log, "/cam/camera_info", period_s=60.0)
    assumed = state.camera_for(W, H, 0.0, "last_valid")
    assert assumed.fx == 640.0 and not state.received  # no CameraInfo yet: the assumed camera, warned once
    state.camera_for(W, H, 0.0, "last_valid")
    assert sum("no CameraInfo received on /cam/camera_info" in t for _, t in log.lines) == 1

    good = camera_info(W, H)
    state.update(good)
    valid = state.camera_for(W, H, 0.0, "last_valid")
    assert valid.fx == good.k[0] and state.refusal is None
    state.update(_bad())
    for _ in range(3):  # the last valid camera, one warning (throttled) naming the field
        assert state.camera_for(W, H, 0.0, "last_valid") == valid
    refusals = [t for level, t in log.lines if "refused: K has a non-finite cx = nan" in t]
    assert len(refusals) == 1 and "camera_info_fallback=last_valid" in refusals[0]
    assert state.camera_for(W, H, 500.0, "focal_length_px").fx == 500.0
    assert state.camera_for(W, H, 0.0, "skip_frames") is None
    assert state.camera_for(2 * W, 2 * H, 0.0, "last_valid").fx == 2 * valid.fx  # scaled to the frame
    state.update(good)
    assert state.camera_for(W, H, 0.0, "skip_frames") == valid and state.refusal is None
    assert any(level == "info" and "valid again: fx=" in t for level, t in log.lines)


def test_rectified_images_use_p_and_raw_images_k_and_d():
    info = camera_info(W, H)
    info.d = [-0.2, 0.05, 0.0, 0.0, 0.0]
    info.p = [500.0, 0.0, 320.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    raw = check_camera_info(info, W, H).camera
    assert raw.has_distortion and raw.fx == info.k[0]
    rect = check_camera_info(info, W, H, rectified=True).camera
    assert not rect.has_distortion and (rect.fx, rect.cx, rect.cy) == (500.0, 320.0, 240.0)
    info.p = [0.0] * 12
    refused = check_camera_info(info, W, H, rectified=True)
    assert not refused.ok and refused.reason.startswith("P (image_rectified): ")
    np.testing.assert_allclose(raw.k, np.asarray(info.k).reshape(3, 3))
