"""Landmarks-only 3D: PnP lifting of a detector's metric hand-frame keypoints into the camera frame."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fast_hamer_core.detection.lifting import JOINT_CHILD, fit_hand_pose, joint_frames, lift_detection
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.skeleton import JOINT_PARENTS
from fast_hamer_core.types import Detection

#: A right hand in metres, palm facing the camera (-z), fingers up (-y), thumb on the image's right (+x),
#: fingers curling slightly towards the palm; wrist at the origin.
RIGHT_HAND_M = np.array(
    [
        [0.000, 0.000, 0.000],
        [0.025, -0.020, -0.010], [0.045, -0.045, -0.015], [0.060, -0.070, -0.020], [0.070, -0.090, -0.025],
        [0.025, -0.090, 0.000], [0.027, -0.130, -0.005], [0.028, -0.155, -0.012], [0.029, -0.175, -0.020],
        [0.005, -0.095, 0.000], [0.005, -0.140, -0.006], [0.005, -0.167, -0.014], [0.005, -0.188, -0.024],
        [-0.013, -0.090, 0.000], [-0.015, -0.130, -0.006], [-0.016, -0.155, -0.013], [-0.017, -0.174, -0.022],
        [-0.030, -0.080, 0.000], [-0.034, -0.110, -0.005], [-0.036, -0.128, -0.010], [-0.038, -0.145, -0.016],
    ]
)  # fmt: skip

CAMERA = PinholeCamera(fx=610.0, fy=575.0, cx=350.0, cy=215.0, width=640, height=480)


def _scene(seed: int, side: str = "right"):
    """A posed hand in the camera frame and its detection (2D projection + hand-frame keypoints)."""
    rng = np.random.default_rng(seed)
    hand = RIGHT_HAND_M * ([-1.0, 1.0, 1.0] if side == "left" else 1.0)
    rot = Rotation.from_rotvec(rng.normal(0, 0.5, 3)).as_matrix()
    t = np.array([rng.uniform(-0.1, 0.1), rng.uniform(-0.08, 0.08), rng.uniform(0.4, 0.9)])
    cam_points = (hand - hand.mean(axis=0)) @ rot.T + t  # (21, 3) camera frame
    # The detector's hand frame: another arbitrary rigid pose of the same metric hand.
    hand_frame = hand @ Rotation.from_rotvec([0.3, -0.2, 1.0]).as_matrix().T + [0.01, 0.02, -0.03]
    kp2d = CAMERA.project(cam_points)
    det = Detection(np.r_[kp2d.min(0), kp2d.max(0)], 0.9, side, 0.95, kp2d, hand_frame)
    return cam_points, det


@pytest.mark.parametrize("seed", range(5))
def test_synthetic_hand_recovered_below_1mm(seed):
    truth, det = _scene(seed)
    result = lift_detection(det, CAMERA)
    assert result.mode == "landmarks"
    error_m = np.linalg.norm(result.keypoints_3d - truth, axis=1)
    assert error_m.max() < 1e-3
    assert result.extras["reprojection_rmse_px"] < 1e-3
    assert result.vertices is None and result.hand_pose is None and result.cam_t is None
    np.testing.assert_array_equal(result.keypoints_2d, det.keypoints_2d)
    assert result.side == "right" and result.score == 0.9


def test_telephoto_camera_where_sqpnp_refuses():
    """Long focal lengths (HaMeR's default camera is 5000/256 px per image px) give near-parallel rays."""
    camera = PinholeCamera(fx=35000.0, fy=33600.0, cx=330.0, cy=230.0, width=640, height=480)
    rot = Rotation.from_rotvec([0.3, 2.5, -0.4]).as_matrix()
    truth = (RIGHT_HAND_M - RIGHT_HAND_M.mean(axis=0)) @ rot.T + [0.05, -0.1, 30.0]
    kp2d = camera.project(truth)
    with pytest.raises(cv2.error):  # the case the weak-perspective start exists for
        cv2.solvePnP(RIGHT_HAND_M[:, None], kp2d[:, None], camera.k, None, flags=cv2.SOLVEPNP_SQPNP)
    det = Detection(np.r_[kp2d.min(0), kp2d.max(0)], 1.0, "right", 1.0, kp2d, RIGHT_HAND_M)
    error_m = np.linalg.norm(lift_detection(det, camera).keypoints_3d - truth, axis=1)
    assert error_m.max() < 1e-3


def test_intrinsics_matter():
    """Fitting with a generic camera (one focal, centred principal point) misplaces the hand."""
    truth, det = _scene(1)
    generic = PinholeCamera.from_focal(592.5, 640, 480)
    error_m = np.linalg.norm(lift_detection(det, generic).keypoints_3d - truth, axis=1)
    assert error_m.mean() > 5e-3


def test_pixel_noise_gives_millimetre_errors():
    truth, det = _scene(2)
    det.keypoints_2d = det.keypoints_2d + np.random.default_rng(0).normal(0, 0.5, (21, 2))
    error_m = np.linalg.norm(lift_detection(det, CAMERA).keypoints_3d - truth, axis=1)
    assert error_m.mean() < 0.01


def test_fit_returns_the_rigid_transform():
    truth, det = _scene(3)
    rot, t = fit_hand_pose(det.keypoints_3d_hand, det.keypoints_2d, CAMERA)
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-9)
    np.testing.assert_allclose(det.keypoints_3d_hand @ rot.T + t, truth, atol=1e-5)


@pytest.mark.parametrize("side", ["right", "left"])
def test_joint_frames_are_rotations_along_bones_with_palmar_z(side):
    hand = RIGHT_HAND_M * ([-1.0, 1.0, 1.0] if side == "left" else 1.0)
    frames = joint_frames(hand, side)
    assert frames.shape == (21, 3, 3)
    np.testing.assert_allclose(
        frames @ frames.transpose(0, 2, 1), np.broadcast_to(np.eye(3), (21, 3, 3)), atol=1e-9
    )
    np.testing.assert_allclose(np.linalg.det(frames), 1.0, atol=1e-9)
    for j, child in enumerate(JOINT_CHILD):
        if child > 0:  # x along the bone towards the fingertip
            bone = hand[child] - hand[j]
            np.testing.assert_allclose(frames[j][:, 0], bone / np.linalg.norm(bone), atol=1e-9)
        elif j > 0:  # fingertips take the parent's frame
            np.testing.assert_array_equal(frames[j], frames[JOINT_PARENTS[j]])
    # The palm faces the camera (-z) in this pose, for either side; z stays palmar along the fingers.
    assert frames[0][2, 2] < -0.9
    assert np.all(frames[1:, 2, 2] < 0.0)
    # Mirror images: the left hand's frames are the right hand's mirrored (x -> -x), y axis reversed.
    if side == "left":
        right = joint_frames(RIGHT_HAND_M, "right")
        mirror = np.diag([-1.0, 1.0, 1.0])
        np.testing.assert_allclose(frames[:, :, 0], (mirror @ right)[:, :, 0], atol=1e-9)
        np.testing.assert_allclose(frames[:, :, 2], (mirror @ right)[:, :, 2], atol=1e-9)
        np.testing.assert_allclose(frames[:, :, 1], -(mirror @ right)[:, :, 1], atol=1e-9)


def test_frames_follow_the_hand_rigidly():
    rot = Rotation.from_rotvec([0.4, -1.1, 0.7]).as_matrix()
    moved = joint_frames(RIGHT_HAND_M @ rot.T + [0.1, 0.2, 0.5], "right")
    np.testing.assert_allclose(moved, rot @ joint_frames(RIGHT_HAND_M, "right"), atol=1e-9)


def test_missing_keypoints_are_a_clear_error():
    det = Detection(np.array([0, 0, 10, 10]), 1.0, "right", 1.0)
    with pytest.raises(ValueError, match="keypoints_3d_hand"):
        lift_detection(det, CAMERA)
    with pytest.raises(ValueError, match="side"):
        joint_frames(RIGHT_HAND_M, "both")


def test_real_detection_lifts_in_front_of_the_camera(detector, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    height, width = rgb.shape[:2]
    camera = PinholeCamera.from_focal(5000.0 / 256.0 * max(width, height), width, height)
    dets = detector.detect(rgb)
    assert dets
    for det in dets:
        result = lift_detection(det, camera)
        assert np.all(result.keypoints_3d[:, 2] > 0.1)
        # MediaPipe's world landmarks are not an exact rigid copy of its 2D landmarks: a few px of misfit.
        assert result.extras["reprojection_rmse_px"] < 0.05 * np.linalg.norm(np.ptp(det.keypoints_2d, axis=0))
        bone_m = np.linalg.norm(result.keypoints_3d[9] - result.keypoints_3d[0])  # wrist -> middle MCP
        assert 0.05 < bone_m < 0.15


@pytest.mark.parametrize(
    ("model", "d"),
    [("plumb_bob", (-0.28, 0.09, 0.0012, -0.0008, -0.012)), ("equidistant", (0.12, -0.03, 0.01, -0.002))],
)
def test_lifting_through_lens_distortion(model, d):
    """Keypoints seen through a distorted lens: lifting with D recovers the hand; ignoring D does not."""
    lens = PinholeCamera(CAMERA.fx, CAMERA.fy, CAMERA.cx, CAMERA.cy, 640, 480, model, d)
    truth, det = _scene(3)
    truth = truth + np.array([0.15, 0.1, 0.0])  # off-axis, where the distortion is large
    kp2d = lens.project(truth)
    det = Detection(np.r_[kp2d.min(0), kp2d.max(0)], 0.9, "right", 0.95, kp2d, det.keypoints_3d_hand)
    result = lift_detection(det, lens)
    assert np.linalg.norm(result.keypoints_3d - truth, axis=1).max() < 1e-3
    assert result.extras["reprojection_rmse_px"] < 1e-3
    ignored = lift_detection(det, lens.ideal())
    assert np.linalg.norm(ignored.keypoints_3d - truth, axis=1).max() > 5e-3
