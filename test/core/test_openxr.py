"""fast_hamer_core.openxr: the 26 OpenXR joints from our 21 (order, positions, orthonormal frames with
OpenXR's axis convention, left hands as mirror images, MANO twist in mesh mode)."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.robot_hand import human_hand_mano, random_rotation, to_camera

from fast_hamer_core.openxr import (
    METACARPAL_BASE_FRACTION,
    NUM_OPENXR_JOINTS,
    OPENXR_JOINT_NAMES,
    OURS_AT_OPENXR,
    openxr_from_result,
    openxr_hand,
    palm_dorsal,
)
from fast_hamer_core.skeleton import JOINT_NAMES
from fast_hamer_core.types import HandResult

MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def _hand(flex: float = 0.4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return to_camera(human_hand_mano(flex), random_rotation(rng), [0.05, -0.02, 0.5])


def test_joint_order_is_openxrs():
    assert NUM_OPENXR_JOINTS == 26
    # XrHandJointEXT values of a few joints.
    expected = {"palm": 0, "wrist": 1, "thumb_metacarpal": 2, "thumb_tip": 5, "index_metacarpal": 6,
                "index_intermediate": 8, "middle_metacarpal": 11, "ring_proximal": 17,
                "little_tip": 25}  # fmt: skip
    for name, value in expected.items():
        assert OPENXR_JOINT_NAMES.index(name) == value
    # Where an OpenXR joint is one of ours, the names agree (thumb: cmc/mcp/ip; fingers: mcp/pip/dip).
    ours = {"metacarpal": "cmc", "proximal": "mcp", "distal": "ip"}
    for k, j in enumerate(OURS_AT_OPENXR):
        if j < 0:
            continue
        name = OPENXR_JOINT_NAMES[k]
        finger, _, part = name.partition("_")
        if finger == "thumb":
            assert JOINT_NAMES[j] == f"thumb_{ours.get(part, part)}", name
        elif finger != "wrist":
            part = {"proximal": "mcp", "intermediate": "pip", "distal": "dip"}.get(part, part)
            assert JOINT_NAMES[j] == f"{finger.replace('little', 'pinky')}_{part}", name


def test_positions_are_our_joints_where_they_coincide():
    joints = _hand()
    xr = openxr_hand(joints, "right")
    for k, j in enumerate(OURS_AT_OPENXR):
        if j >= 0:
            np.testing.assert_array_equal(xr.positions_m[k], joints[j])
    base = OPENXR_JOINT_NAMES.index("ring_metacarpal")
    np.testing.assert_allclose(
        xr.positions_m[base], joints[0] + METACARPAL_BASE_FRACTION * (joints[13] - joints[0])
    )
    np.testing.assert_allclose(xr.positions_m[0], 0.5 * (xr.positions_m[11] + joints[9]))


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("mesh", [False, True])
def test_frames_are_right_handed_orthonormal_and_follow_openxrs_axes(side, mesh):
    joints = _hand(0.5, seed=1)
    if side == "left":
        joints = joints @ MIRROR_X
    rotations = random_rotation(np.random.default_rng(2))[None].repeat(21, 0) if mesh else None
    xr = openxr_hand(joints, side, rotations)
    r = xr.rotations
    np.testing.assert_allclose(np.einsum("kji,kjl->kil", r, r), np.eye(3)[None].repeat(26, 0), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    p = xr.positions_m
    names = OPENXR_JOINT_NAMES
    for k, name in enumerate(names):
        if name.endswith("tip"):
            bone = p[k] - p[k - 1]
        elif name in ("palm", "wrist"):
            bone = p[names.index("middle_proximal")] - p[k]
        else:
            bone = p[k + 1] - p[k]
        np.testing.assert_allclose(-r[k, :, 2], bone / np.linalg.norm(bone), atol=1e-12, err_msg=name)
    # Y (dorsal) is the palm normal made perpendicular to the bone: on the normal's side, X across it.
    dorsal = palm_dorsal(joints, side)
    assert np.all(r[:, :, 1] @ dorsal > 0.05)
    np.testing.assert_allclose(r[:, :, 0] @ dorsal, 0.0, atol=1e-12)


def test_dorsal_points_away_from_the_palm():
    hand_mano = human_hand_mano(0.0)  # palm toward +x in this frame
    assert palm_dorsal(hand_mano, "right")[0] < -0.9


def test_left_hand_is_the_mirror_image_of_the_right():
    right = _hand(0.6, seed=3)
    xr_r = openxr_hand(right, "right")
    xr_l = openxr_hand(right @ MIRROR_X, "left")
    np.testing.assert_allclose(xr_l.positions_m, xr_r.positions_m @ MIRROR_X, atol=1e-12)
    # Z and Y mirror; X = Y x Z flips again (both frames stay right-handed).
    np.testing.assert_allclose(
        xr_l.rotations, MIRROR_X @ xr_r.rotations @ np.diag([-1.0, 1.0, 1.0]), atol=1e-9
    )


def test_mesh_mode_turns_a_twisted_finger_and_matches_landmarks_without_twist():
    joints = _hand(0.3, seed=4)
    identity = np.eye(3)[None].repeat(21, 0)
    plain = openxr_hand(joints, "right")
    np.testing.assert_allclose(openxr_hand(joints, "right", identity).rotations, plain.rotations, atol=1e-12)
    # Twist the index finger's MANO rotations 60 degrees about its proximal bone.
    axis = (joints[6] - joints[5]) / np.linalg.norm(joints[6] - joints[5])
    angle = np.pi / 3
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    twist = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k
    rots = identity.copy()
    rots[5] = twist
    twisted = openxr_hand(joints, "right", rots)
    idx = OPENXR_JOINT_NAMES.index("index_proximal")
    cos = float(twisted.rotations[idx, :, 1] @ plain.rotations[idx, :, 1])
    assert cos == pytest.approx(np.cos(angle), abs=1e-6)
    others = [i for i in range(26) if i != idx]
    np.testing.assert_allclose(twisted.rotations[others], plain.rotations[others], atol=1e-12)


def test_results_choose_by_mode_and_bad_input_is_refused():
    joints = _hand()
    rots = random_rotation(np.random.default_rng(5))[None].repeat(21, 0)
    base = {"side": "right", "score": 0.9, "box": np.zeros(4), "keypoints_2d": np.zeros((21, 2)),
            "keypoints_3d": joints, "joint_rotations": rots}  # fmt: skip
    landmarks = openxr_from_result(HandResult(mode="landmarks", **base))
    np.testing.assert_allclose(landmarks.rotations, openxr_hand(joints, "right").rotations)
    mesh = openxr_from_result(HandResult(mode="mesh", **base))
    np.testing.assert_allclose(mesh.rotations, openxr_hand(joints, "right", rots).rotations)
    with pytest.raises(ValueError, match="NaN"):
        openxr_hand(np.full((21, 3), np.nan), "right")
    with pytest.raises(ValueError, match="side"):
        openxr_hand(joints, "both")
