"""HandReconstructor end to end on CPU: random-weight student, synthetic MANO, real image sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures.mano import write_synthetic_mano_npz

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.models import create_model
from fast_hamer_core.pipeline import HandReconstructor, faces_for_side
from fast_hamer_core.types import Detection


@pytest.fixture(scope="module")
def reconstructor(tmp_path_factory):
    torch.manual_seed(0)
    mano_path = write_synthetic_mano_npz(tmp_path_factory.mktemp("mano") / "MANO_RIGHT.npz")
    model = create_model("mobilenetv3_large", mano=mano_path)
    return HandReconstructor(model=model, device="cpu")


def _image(seed: int = 0, size=(480, 640)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(img[::8, ::8], 8, 0), 8, 1)[: size[0], : size[1]])


def test_mesh_results_structure_and_projection(reconstructor):
    camera = PinholeCamera(fx=610.0, fy=590.0, cx=300.0, cy=250.0, width=640, height=480)
    dets = [
        Detection(box=[100, 120, 220, 260], score=0.9, side="right", side_score=0.9),
        Detection(box=[380, 140, 500, 300], score=0.8, side="left", side_score=0.7),
    ]
    results = reconstructor.reconstruct(_image(), camera, detections=dets)
    assert [r.side for r in results] == ["right", "left"]
    for r in results:
        assert r.mode == "mesh"
        assert r.vertices.shape == (778, 3) and r.keypoints_3d.shape == (21, 3)
        assert r.keypoints_2d.shape == (21, 2) and r.joint_rotations.shape == (21, 3, 3)
        assert r.hand_pose.shape == (15, 3, 3) and r.hand_pose_aa.shape == (15, 3)
        assert r.betas.shape == (10,)
        assert np.all(r.keypoints_3d[:, 2] > 0), "hands must be in front of the camera"
        # 2D joints are the full-camera projection of the 3D joints.
        np.testing.assert_allclose(camera.project(r.keypoints_3d), r.keypoints_2d, atol=1e-6)
        # Joint frames are rotations.
        eye = np.einsum("nij,nkj->nik", r.joint_rotations, r.joint_rotations)
        np.testing.assert_allclose(eye, np.broadcast_to(np.eye(3), eye.shape), atol=1e-4)
        np.testing.assert_allclose(np.linalg.det(r.joint_rotations), 1.0, atol=1e-4)
    # Faces of a left hand are re-wound, not changed.
    faces = reconstructor.faces
    assert faces.shape == (1538, 3)
    assert np.array_equal(np.sort(faces_for_side(faces, "left"), 1), np.sort(faces, 1))


def test_translation_lands_on_network_keypoints(reconstructor):
    """The full-image projection of the 3D joints matches the crop 2D joints mapped back to the image."""
    from fast_hamer_core.preprocess import crop_hands, normalize_crops

    camera = PinholeCamera(fx=700.0, fy=650.0, cx=350.0, cy=210.0, width=640, height=480)
    det = Detection(box=[200, 100, 330, 260], score=1.0, side="right", side_score=1.0)
    image = _image(1)
    results = reconstructor.reconstruct(image, camera, detections=[det])
    crops, transforms = crop_hands(image, det.box[None], np.array([True]))
    with torch.inference_mode():
        out = reconstructor.model(normalize_crops(crops))
    kp_crop = (out["pred_keypoints_2d"][0].numpy() + 0.5) * 256
    kp_img = transforms[0].crop_to_image(kp_crop)
    # Random weights -> arbitrary hands; the least-squares translation reproduces them closely, the
    # residual being only the crop camera's (nearly orthographic) perspective vs the real one.
    err = np.linalg.norm(results[0].keypoints_2d - kp_img, axis=1)
    assert np.median(err) < 0.1 * np.ptp(kp_img, axis=0).max()


def test_left_hand_is_the_mirror_of_the_right_hand(reconstructor):
    """A left hand in an image and the mirrored image's right hand give mirrored 3D output."""
    w, h = 640, 480
    # Pixel centres are integers, so the flip maps x -> w - 1 - x; this camera is symmetric under it.
    camera = PinholeCamera(600.0, 600.0, (w - 1) / 2.0, h / 2.0, w, h)
    image = _image(2)
    box = np.array([150.0, 140.0, 290.0, 320.0])
    mirrored_box = np.array([w - 1 - box[2], box[1], w - 1 - box[0], box[3]])
    left = reconstructor.reconstruct(
        image, camera, detections=[Detection(box=box, score=1.0, side="left", side_score=1.0)]
    )[0]
    right = reconstructor.reconstruct(
        np.ascontiguousarray(image[:, ::-1]),
        camera,
        detections=[Detection(box=mirrored_box, score=1.0, side="right", side_score=1.0)],
    )[0]
    mirror = np.array([-1.0, 1.0, 1.0])
    assert np.abs(left.vertices - right.vertices * mirror).max() < 1e-3  # metres
    np.testing.assert_allclose(left.keypoints_2d[:, 0], w - 1 - right.keypoints_2d[:, 0], atol=0.05)
    # Axis-angle of a mirrored hand: y and z components negate (DESIGN.md).
    flip_yz = np.array([1.0, -1.0, -1.0])
    np.testing.assert_allclose(left.hand_pose_aa, right.hand_pose_aa * flip_yz, atol=1e-3)
    np.testing.assert_allclose(left.global_orient_aa, right.global_orient_aa * flip_yz, atol=1e-3)


def test_empty_detections_give_no_hands(reconstructor):
    camera = PinholeCamera.from_focal(500.0, 64, 48)
    assert reconstructor.reconstruct(_image(3, (48, 64)), camera, detections=[]) == []


def test_non_finite_hands_are_dropped_and_counted(reconstructor):
    """A camera with NaN in it would put NaN into every number: no such hand leaves reconstruct."""
    nan_camera = PinholeCamera(fx=610.0, fy=590.0, cx=float("nan"), cy=250.0, width=640, height=480)
    dets = [Detection(box=[100, 120, 220, 260], score=0.9, side="right", side_score=0.9)]
    before = reconstructor.dropped_non_finite
    assert reconstructor.reconstruct(_image(), nan_camera, detections=dets) == []
    assert reconstructor.dropped_non_finite == before + 1
    good = PinholeCamera(fx=610.0, fy=590.0, cx=300.0, cy=250.0, width=640, height=480)
    assert len(reconstructor.reconstruct(_image(), good, detections=dets)) == 1
    assert reconstructor.dropped_non_finite == before + 1
