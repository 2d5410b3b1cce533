"""Rotations (6D, axis-angle, quaternions, mirror), cameras, crop camera -> full camera, translation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transforms3d
from scipy.spatial.transform import Rotation

from fast_hamer_core.geometry import (
    PinholeCamera,
    axis_angle_to_rotmat,
    cam_crop_to_full,
    cam_crop_to_full_hamer,
    mirror_axis_angle,
    mirror_rotmat,
    quaternion_wxyz_to_xyzw,
    quaternion_xyzw_to_rotmat,
    quaternion_xyzw_to_wxyz,
    rot6d_to_rotmat,
    rotmat_to_axis_angle,
    rotmat_to_quaternion_xyzw,
    rotmat_to_rot6d,
    solve_translation,
)
from fast_hamer_core.preprocess import CropTransform, box_from_keypoints

torch.set_num_threads(1)
RNG = np.random.default_rng(0)
#: A camera with fx != fy and an off-centre principal point.
CAMERA = PinholeCamera(fx=612.0, fy=598.0, cx=341.5, cy=227.25, width=640, height=480)


def random_axis_angle(n: int, rng: np.random.Generator = RNG) -> np.ndarray:
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    return axis * rng.uniform(0.0, math.pi - 1e-3, (n, 1))


def random_rotmats(n: int) -> np.ndarray:
    return Rotation.from_rotvec(random_axis_angle(n)).as_matrix()


# ---------------------------------------------------------------------------------------------- rotations


def test_rot6d_round_trip():
    r = torch.as_tensor(random_rotmats(50))
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(r)), r)
    x = torch.randn(7, 2, 6, dtype=torch.float64)  # any 6D -> a rotation -> its 6D gives it back
    rx = rot6d_to_rotmat(x)
    torch.testing.assert_close(rot6d_to_rotmat(rotmat_to_rot6d(rx)), rx)
    torch.testing.assert_close(rx.det(), torch.ones(7, 2, dtype=torch.float64))


def test_axis_angle_matches_scipy_and_round_trips():
    aa = random_axis_angle(200)
    r = axis_angle_to_rotmat(aa)
    np.testing.assert_allclose(r, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(rotmat_to_axis_angle(r), aa, atol=1e-9)
    # torch, batched (4, 5, 3), float32
    aa_t = torch.as_tensor(random_axis_angle(20).reshape(4, 5, 3), dtype=torch.float32)
    torch.testing.assert_close(rotmat_to_axis_angle(axis_angle_to_rotmat(aa_t)), aa_t, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-6, 1e-3, math.pi - 1e-6, math.pi - 1e-3])
def test_axis_angle_near_zero_and_pi(angle):
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    aa = axis * angle
    r = axis_angle_to_rotmat(aa)
    np.testing.assert_allclose(r, Rotation.from_rotvec(aa).as_matrix(), atol=1e-12)
    back = rotmat_to_axis_angle(r)
    np.testing.assert_allclose(axis_angle_to_rotmat(back), r, atol=1e-9)
    if angle < math.pi - 1e-4:  # below pi the axis sign is determined
        np.testing.assert_allclose(back, aa, atol=1e-8)


def test_axis_angle_exactly_pi_gives_a_valid_inverse():
    for axis in np.eye(3):
        r = axis_angle_to_rotmat(axis * math.pi)
        back = rotmat_to_axis_angle(r)
        assert np.linalg.norm(back) == pytest.approx(math.pi)
        np.testing.assert_allclose(axis_angle_to_rotmat(back), r, atol=1e-12)


def test_axis_angle_gradient_finite_at_zero():
    aa = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    (axis_angle_to_rotmat(aa) * torch.randn(2, 3, 3, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(aa.grad).all()


def test_quaternion_hand_computed_cases():
    rz90 = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # 90 deg about z
    np.testing.assert_allclose(
        rotmat_to_quaternion_xyzw(rz90), [0, 0, math.sqrt(0.5), math.sqrt(0.5)], atol=1e-15
    )
    np.testing.assert_allclose(rotmat_to_quaternion_xyzw(np.eye(3)), [0, 0, 0, 1])
    rx180 = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(np.abs(rotmat_to_quaternion_xyzw(rx180)), [1, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(
        quaternion_xyzw_to_rotmat([0, 0, math.sqrt(0.5), math.sqrt(0.5)]), rz90, atol=1e-15
    )


def test_quaternion_round_trip_and_transforms3d_order():
    r = random_rotmats(100).reshape(10, 10, 3, 3)
    q = rotmat_to_quaternion_xyzw(r)
    assert q.shape == (10, 10, 4) and (q[..., 3] >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(quaternion_xyzw_to_rotmat(q), r, atol=1e-12)
    np.testing.assert_allclose(rotmat_to_quaternion_xyzw(quaternion_xyzw_to_rotmat(q)), q, atol=1e-12)
    # transforms3d is (w, x, y, z): one conversion function, checked both ways.
    for rm, qq in zip(r.reshape(-1, 3, 3)[:10], q.reshape(-1, 4)[:10], strict=True):
        wxyz = transforms3d.quaternions.mat2quat(rm)
        wxyz = wxyz if wxyz[0] >= 0 else -wxyz
        np.testing.assert_allclose(quaternion_wxyz_to_xyzw(wxyz), qq, atol=1e-12)
        np.testing.assert_allclose(quaternion_xyzw_to_wxyz(qq), wxyz, atol=1e-12)
    # scipy uses (x, y, z, w) too.
    np.testing.assert_allclose(
        Rotation.from_quat(q.reshape(-1, 4)).as_matrix(), r.reshape(-1, 3, 3), atol=1e-12
    )
    with pytest.raises(ValueError, match="zero-length"):
        quaternion_xyzw_to_rotmat([0, 0, 0, 0])


def test_mirror_rotmat_equals_negating_axis_angle_y_z():
    aa = random_axis_angle(100)
    r = axis_angle_to_rotmat(aa)
    mirrored = mirror_rotmat(r)
    np.testing.assert_allclose(mirrored, axis_angle_to_rotmat(mirror_axis_angle(aa)), atol=1e-12)
    np.testing.assert_allclose(mirror_rotmat(mirrored), r)  # its own inverse
    np.testing.assert_allclose(np.linalg.det(mirrored), 1.0)
    m = np.diag([-1.0, 1.0, 1.0])
    np.testing.assert_allclose(mirrored, m @ r @ m, atol=1e-15)  # M R M
    # Meaning: rotating a mirrored point by the mirrored rotation = mirroring the rotated point.
    p = RNG.normal(size=3)
    np.testing.assert_allclose(mirrored[0] @ (m @ p), m @ (r[0] @ p), atol=1e-12)
    rt = torch.as_tensor(r, dtype=torch.float32)
    torch.testing.assert_close(mirror_rotmat(rt), torch.as_tensor(mirrored, dtype=torch.float32))
    torch.testing.assert_close(
        mirror_axis_angle(torch.tensor([[0.1, 0.2, 0.3]])), torch.tensor([[0.1, -0.2, -0.3]])
    )


# ---------------------------------------------------------------------------------------------- cameras


def test_project_back_project_round_trip():
    pts = RNG.uniform([-0.3, -0.2, 0.3], [0.3, 0.2, 2.0], (4, 25, 3))
    px = CAMERA.project(pts)
    np.testing.assert_allclose(CAMERA.back_project(px, pts[..., 2]), pts, atol=1e-12)
    uv = RNG.uniform(0, 640, (10, 2))
    np.testing.assert_allclose(CAMERA.project(CAMERA.back_project(uv, 0.7)), uv, atol=1e-9)


def test_cam_crop_to_full_is_hamer_for_centred_single_focal_camera():
    b = 6
    pred_cam = torch.tensor(RNG.uniform([0.5, -0.3, -0.3], [2.0, 0.3, 0.3], (b, 3)))
    center = torch.tensor(RNG.uniform([0, 0], [640, 480], (b, 2)))
    size = torch.tensor(RNG.uniform(50, 400, b))
    w, h = 640, 480
    focal = 5000.0 / 256 * max(w, h)  # HaMeR demo's scaled focal length
    img_size = torch.tensor([[w, h]] * b, dtype=torch.float64)
    ref = cam_crop_to_full_hamer(pred_cam, center, size, img_size, focal)
    ours = cam_crop_to_full(pred_cam, center, size, PinholeCamera.from_focal(focal, w, h))
    assert torch.equal(ours, ref)  # the same numbers, bit for bit
    ours_np = cam_crop_to_full(
        pred_cam.numpy(), center.numpy(), size.numpy(), PinholeCamera.from_focal(focal, w, h)
    )
    np.testing.assert_allclose(ours_np, ref.numpy(), rtol=1e-15)


def test_cam_crop_to_full_places_the_origin_where_the_crop_camera_shows_it():
    """Real intrinsics (fx != fy, off-centre): MANO's origin projects to the image point the crop
    camera shows it at, and the hand keeps its image area."""
    crop = CropTransform(np.array([402.0, 151.0]), 180.0)
    pred_cam = np.array([[1.3, 0.07, -0.11]])
    t = cam_crop_to_full(pred_cam, crop.center_px[None], np.array([crop.size_px]), CAMERA)[0]
    s, tx_c, ty_c = pred_cam[0]
    tz_c = 2 * 5000.0 / (256 * s)  # the crop camera's depth
    origin_crop_px = 128 + 5000.0 * np.array([tx_c, ty_c]) / tz_c  # where the crop camera shows it
    np.testing.assert_allclose(CAMERA.project(t), crop.crop_to_image(origin_crop_px), atol=1e-9)
    # Image area of a small square at the origin: crop camera (mapped to the image) vs real camera.
    d = 1e-4
    crop_scale = 5000.0 / tz_c / crop.scale  # image px per metre through the crop camera
    real_scale_x, real_scale_y = CAMERA.fx / t[2], CAMERA.fy / t[2]
    assert real_scale_x * real_scale_y * d * d == pytest.approx((crop_scale * d) ** 2, rel=1e-9)


# ---------------------------------------------------------------------------------------------- translation


def synthetic_hand(rng: np.random.Generator) -> np.ndarray:
    """21 random joints in a 16 cm hand-sized cloud around MANO's origin (metres)."""
    return rng.uniform(-0.08, 0.08, (21, 3))


@pytest.mark.parametrize("flip", [False, True])
def test_solve_translation_through_crop_round_trip(flip):
    rng = np.random.default_rng(1)
    joints = synthetic_hand(rng)
    t_true = np.array([0.06, -0.04, 0.55])
    px = CAMERA.project(joints + t_true)
    crop = CropTransform.from_box(box_from_keypoints(px), flip=flip)
    crop_px = crop.image_to_crop(px)  # what the network predicts, in its crop
    assert np.all((crop_px > 0) & (crop_px < 256))
    back = crop.crop_to_image(crop_px)
    np.testing.assert_allclose(back, px, atol=1e-9)
    t = solve_translation(joints, back, CAMERA)
    np.testing.assert_allclose(t, t_true, atol=1e-9)
    reproj = np.linalg.norm(CAMERA.project(joints + t) - px, axis=-1)
    assert reproj.max() < 1e-6
    # With 0.5 px noise on the 2D joints: still sub-pixel on average, translation within ~1 cm.
    noisy = px + rng.normal(0, 0.5, px.shape)
    t_noisy = solve_translation(joints, noisy, CAMERA)
    assert np.linalg.norm(CAMERA.project(joints + t_noisy) - px, axis=-1).mean() < 1.0
    assert np.linalg.norm(t_noisy - t_true) < 0.01


def test_solve_translation_batched_and_weighted():
    rng = np.random.default_rng(2)
    joints = np.stack([synthetic_hand(rng) for _ in range(3)])
    t_true = np.array([[0.0, 0.0, 0.4], [-0.2, 0.1, 1.2], [0.1, 0.05, 0.8]])
    px = CAMERA.project(joints + t_true[:, None])
    px[:, 5] += 80.0  # an outlier joint ...
    weights = np.ones((3, 21))
    weights[:, 5] = 0.0  # ... that has no weight
    t = solve_translation(joints, px, CAMERA, weights=weights)
    assert t.shape == (3, 3)
    np.testing.assert_allclose(t, t_true, atol=1e-9)
    assert np.linalg.norm(solve_translation(joints, px, CAMERA) - t_true, axis=1).max() > 1e-3  # it mattered
    with pytest.raises(ValueError, match="at least 2"):
        solve_translation(joints[0], px[0], CAMERA, weights=np.eye(21)[0])


def test_closed_form_then_refined_translation():
    """The pipeline's path: crop camera -> cam_crop_to_full (closed form) -> solve_translation on the
    crop's 2D joints mapped to the image. The crop camera (focal 5000) is nearly orthographic, the real
    one is not, so no T reprojects every joint exactly; the refined T is the least-squares optimum of
    the pixel error (checked against a nonlinear solver) and better than the closed form."""
    from scipy.optimize import least_squares

    rng = np.random.default_rng(3)
    joints = synthetic_hand(rng)
    crop = CropTransform(np.array([300.0, 260.0]), 220.0)
    pred_cam = np.array([6.0, 0.02, -0.05])  # a hand filling about half the crop
    tz_c = 2 * 5000.0 / (256 * pred_cam[0])
    cam_pts = joints + np.array([pred_cam[1], pred_cam[2], tz_c])
    kp_crop = 128 + 5000.0 * cam_pts[:, :2] / cam_pts[:, 2:]  # the network's 2D joints (crop px)
    kp_img = crop.crop_to_image(kp_crop)
    t0 = cam_crop_to_full(pred_cam[None], crop.center_px[None], np.array([crop.size_px]), CAMERA)[0]
    t = solve_translation(joints, kp_img, CAMERA)

    def residual(tt: np.ndarray) -> np.ndarray:
        return (CAMERA.project(joints + tt) - kp_img).ravel()

    t_opt = least_squares(residual, t0).x
    rms = {name: np.sqrt(np.mean(residual(v) ** 2)) for name, v in (("t0", t0), ("t", t), ("opt", t_opt))}
    assert rms["t"] < rms["t0"]
    assert rms["t"] <= rms["opt"] * 1.01  # within 1 % of the optimum
    np.testing.assert_allclose(t, t_opt, atol=2e-3)
    assert abs(t[2] - t0[2]) / t0[2] < 0.05  # the closed form is close: same depth within 5 %


def test_assumed_camera_and_scaling():
    cam = PinholeCamera.assumed(640, 480)
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (640.0, 640.0, 320.0, 240.0)
    assert PinholeCamera.assumed(640, 480, 500.0).fx == 500.0
    # A camera scaled to a half-size image projects a point to half the pixel coordinates.
    full = PinholeCamera(700.0, 650.0, 330.0, 250.0, 640, 480)
    half = full.scaled_to(320, 240)
    point = np.array([0.05, -0.02, 0.6])
    np.testing.assert_allclose(half.project(point), full.project(point) / 2.0)
    assert (half.width, half.height) == (320, 240)


# ---------------------------------------------------------------------------------------- distortion
#: (model, D) of a wide pinhole lens, a rational-polynomial one and a fisheye lens.
LENSES = [
    ("plumb_bob", (-0.28, 0.09, 0.0012, -0.0008, -0.012)),
    ("rational_polynomial", (0.4, -0.1, 0.001, 0.0005, 0.01, 0.7, -0.05, 0.02)),
    ("equidistant", (0.12, -0.03, 0.01, -0.002)),
]


def _points_in_view(n: int, rng: np.random.Generator) -> np.ndarray:
    xy = rng.uniform(-0.5, 0.5, (n, 2))  # up to ~27 degrees off-axis, inside every lens's domain
    z = rng.uniform(0.3, 2.0, (n, 1))
    return np.concatenate([xy * z, z], axis=1)


@pytest.mark.parametrize(("model", "d"), LENSES)
def test_projection_through_distortion_matches_opencv(model, d):
    import cv2

    cam = PinholeCamera(600.0, 590.0, 330.0, 235.0, 640, 480, model, d)
    pts = _points_in_view(50, np.random.default_rng(1))
    zero = np.zeros(3)
    if model == "equidistant":
        ref = cv2.fisheye.projectPoints(pts[:, None], zero, zero, cam.k, np.array(d))[0]
    else:
        ref = cv2.projectPoints(pts, zero, zero, cam.k, np.array(d))[0]
    np.testing.assert_allclose(cam.project(pts), ref.reshape(-1, 2), atol=1e-9)
    assert np.abs(cam.project(pts) - cam.ideal().project(pts)).max() > 1.0  # the lens matters


@pytest.mark.parametrize(("model", "d"), LENSES)
def test_undistort_is_the_inverse_of_distort_and_back_project_of_project(model, d):
    cam = PinholeCamera(600.0, 590.0, 330.0, 235.0, 640, 480, model, d)
    pts = _points_in_view(50, np.random.default_rng(2))
    ideal_px = cam.ideal().project(pts)
    np.testing.assert_allclose(cam.undistort_pixels(cam.distort_pixels(ideal_px)), ideal_px, atol=1e-6)
    np.testing.assert_allclose(cam.distort_pixels(ideal_px), cam.project(pts), atol=1e-9)
    np.testing.assert_allclose(cam.back_project(cam.project(pts), pts[:, 2]), pts, atol=1e-8)
    scaled = cam.scaled_to(320, 240)  # D is in normalised coordinates: kept when binning
    np.testing.assert_allclose(scaled.project(pts), cam.project(pts) / 2.0, atol=1e-9)


@pytest.mark.parametrize(("model", "d"), LENSES)
def test_solve_translation_undistorts_image_pixels(model, d):
    cam = PinholeCamera(600.0, 590.0, 330.0, 235.0, 640, 480, model, d)
    rng = np.random.default_rng(3)
    hand = rng.normal(0.0, 0.04, (21, 3))
    t_true = np.array([0.18, -0.12, 0.6])  # towards a corner, where the lens bends most
    pixels = cam.project(hand + t_true)
    np.testing.assert_allclose(solve_translation(hand, pixels, cam), t_true, atol=1e-6)
    ignored = solve_translation(hand, pixels, cam.ideal())
    assert np.linalg.norm(ignored - t_true) > 0.01  # ignoring D is centimetres off
