"""Depth correction: a hand predicted at the wrong distance moves onto the measured surface."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.depth import (
    correct_depth,
    keypoint_depth_samples,
    mesh_depth_samples,
    robust_depth_offset,
    translate_along_ray,
)
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.types import HandResult

CAMERA = PinholeCamera(fx=600.0, fy=610.0, cx=330.0, cy=235.0, width=640, height=480)
PLANE_NORMAL = np.array([0.35, -0.2, -1.0]) / np.linalg.norm([0.35, -0.2, -1.0])  # tilted, facing the camera


def _plane_mesh(centre: np.ndarray, size_m: float = 0.12, n: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """A square grid of triangles on the tilted plane through ``centre``: (n*n, 3) vertices, faces."""
    a = np.cross(PLANE_NORMAL, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(PLANE_NORMAL, a)
    s = np.linspace(-size_m / 2, size_m / 2, n)
    uu, vv = np.meshgrid(s, s)  # (n, n)
    vertices = centre + uu.reshape(-1, 1) * a + vv.reshape(-1, 1) * b  # (n*n, 3)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            k = i * n + j
            faces += [(k, k + 1, k + n), (k + 1, k + n + 1, k + n)]
    return vertices, np.asarray(faces, dtype=np.int64)


def _plane_depth(point_on_plane: np.ndarray, shape=(480, 640)) -> np.ndarray:
    """Depth (metres) of the tilted plane through ``point_on_plane`` seen by CAMERA at every pixel."""
    v, u = np.mgrid[0 : shape[0], 0 : shape[1]]
    rays = np.stack(((u - CAMERA.cx) / CAMERA.fx, (v - CAMERA.cy) / CAMERA.fy, np.ones_like(u, float)), -1)
    z = (PLANE_NORMAL @ point_on_plane) / (rays @ PLANE_NORMAL)  # ray (x, y, 1) * z meets the plane
    return z.astype(np.float32)


def _mesh_hand(centre: np.ndarray) -> tuple[HandResult, np.ndarray]:
    vertices, faces = _plane_mesh(centre)
    keypoints = vertices[np.linspace(0, len(vertices) - 1, 21).astype(int)]
    hand = HandResult(
        side="right",
        score=0.9,
        box=np.array([0, 0, 10, 10.0]),
        keypoints_2d=CAMERA.project(keypoints),
        keypoints_3d=keypoints,
        joint_rotations=np.tile(np.eye(3), (21, 1, 1)),
        mode="mesh",
        cam_t=centre.copy(),
        vertices=vertices,
    )
    return hand, faces


def _with_background(depth: np.ndarray, seed: int = 0) -> np.ndarray:
    """30% of pixels see the wall at 3 m, 10% have no depth (NaN), as between fingers and at edges."""
    rng = np.random.default_rng(seed)
    depth = depth.copy()
    r = rng.random(depth.shape)
    depth[r < 0.3] = 3.0
    depth[(r >= 0.3) & (r < 0.4)] = np.nan
    return depth


def test_mesh_hand_moves_onto_the_measured_surface_despite_background_and_holes():
    predicted_centre = np.array([0.05, -0.03, 0.50])
    hand, faces = _mesh_hand(predicted_centre)
    true_shift = 0.06 * predicted_centre / predicted_centre[2]  # truth is 6 cm further along the root ray
    depth = _with_background(_plane_depth(predicted_centre + true_shift))

    corrected = correct_depth(hand, depth, CAMERA, faces=faces)

    info = corrected.extras["depth_correction"]
    assert info["applied"] and info["samples"] > 500
    assert info["offset_m"] == pytest.approx(0.06, abs=2e-3)
    np.testing.assert_allclose(corrected.vertices, hand.vertices + true_shift, atol=2.5e-3)
    np.testing.assert_allclose(corrected.cam_t, predicted_centre + true_shift, atol=2.5e-3)
    # The root keeps its pixel; 2D keypoints of a mesh hand are re-projected from the moved 3D joints.
    np.testing.assert_allclose(CAMERA.project(corrected.cam_t), CAMERA.project(hand.cam_t), atol=1e-6)
    np.testing.assert_allclose(corrected.keypoints_2d, CAMERA.project(corrected.keypoints_3d), atol=1e-9)
    assert "depth_correction" not in hand.extras  # the input is not modified


def test_depth_image_of_another_resolution_is_sampled_at_scaled_pixels():
    centre = np.array([0.0, 0.02, 0.45])
    hand, faces = _mesh_hand(centre)
    shift = -0.04 * centre / centre[2]
    full = _plane_depth(centre + shift)
    half = full[::2, ::2]  # a depth camera at half the colour resolution, same field of view
    corrected = correct_depth(hand, half, CAMERA, faces=faces)
    assert corrected.extras["depth_correction"]["offset_m"] == pytest.approx(-0.04, abs=3e-3)


def test_landmark_hand_uses_keypoints_minus_the_skin_offset():
    rng = np.random.default_rng(2)
    keypoints = np.array([-0.04, 0.01, 0.70]) + np.c_[rng.uniform(-0.05, 0.05, (21, 2)), np.zeros(21)]
    hand = HandResult(
        side="left",
        score=0.8,
        box=np.array([0, 0, 10, 10.0]),
        keypoints_2d=CAMERA.project(keypoints) + 0.3,  # detector pixels, not re-projections
        keypoints_3d=keypoints,
        joint_rotations=np.tile(np.eye(3), (21, 1, 1)),
        mode="landmarks",
    )
    truth = 0.08
    # A hand facing the camera 8 cm further away: the sensor sees skin 1 cm in front of its joints.
    depth = np.full((480, 640), 0.70 + truth - 0.01, dtype=np.float32)

    corrected = correct_depth(hand, depth, CAMERA, surface_offset_m=0.01)

    assert corrected.extras["depth_correction"]["applied"]
    assert corrected.extras["depth_correction"]["offset_m"] == pytest.approx(truth, abs=1e-5)
    np.testing.assert_allclose(corrected.keypoints_3d[:, 2], 0.70 + truth, atol=1e-5)
    np.testing.assert_array_equal(corrected.keypoints_2d, hand.keypoints_2d)  # detector evidence kept


def test_too_few_samples_or_too_large_offset_leave_the_hand_unchanged_with_a_reason():
    centre = np.array([0.0, 0.0, 0.5])
    hand, faces = _mesh_hand(centre)
    no_depth = np.full((480, 640), np.nan, dtype=np.float32)
    out = correct_depth(hand, no_depth, CAMERA, faces=faces)
    assert not out.extras["depth_correction"]["applied"]
    assert "fewer than" in out.extras["depth_correction"]["reason"]
    np.testing.assert_array_equal(out.vertices, hand.vertices)

    far_wall = np.full((480, 640), 2.5, dtype=np.float32)  # hand not seen by the depth camera at all
    out = correct_depth(hand, far_wall, CAMERA, faces=faces, max_offset_m=0.3)
    assert not out.extras["depth_correction"]["applied"]
    assert "exceeds max_offset_m" in out.extras["depth_correction"]["reason"]
    np.testing.assert_array_equal(out.keypoints_3d, hand.keypoints_3d)


def test_hand_outside_the_depth_image_gives_no_samples():
    hand, faces = _mesh_hand(np.array([5.0, 0.0, 0.5]))  # projects far right of the image
    measured, predicted = mesh_depth_samples(hand.vertices, faces, np.ones((480, 640), np.float32), CAMERA)
    assert measured.size == 0 and predicted.size == 0
    measured, _ = keypoint_depth_samples(hand.keypoints_3d, np.ones((480, 640), np.float32), CAMERA)
    assert measured.size == 0


def test_robust_offset_ignores_a_minority_of_outliers():
    rng = np.random.default_rng(1)
    predicted = rng.uniform(0.4, 0.5, 200)
    measured = predicted + 0.03 + rng.normal(0, 0.002, 200)
    measured[:80] = 2.0  # 40% background
    assert robust_depth_offset(measured, predicted) == pytest.approx(0.03, abs=1.5e-3)
    assert robust_depth_offset(measured[:5], predicted[:5], min_samples=20) is None


def test_translate_along_ray_inverse_and_bad_root():
    hand, _ = _mesh_hand(np.array([0.1, 0.05, 0.6]))
    back = translate_along_ray(translate_along_ray(hand, 0.07, CAMERA), -0.07, CAMERA)
    np.testing.assert_allclose(back.vertices, hand.vertices, atol=1e-12)
    hand.cam_t = np.array([0.0, 0.0, -0.2])
    with pytest.raises(ValueError, match="in front of the camera"):
        translate_along_ray(hand, 0.1, CAMERA)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        correct_depth(hand, np.zeros((4, 4, 3)), CAMERA)
