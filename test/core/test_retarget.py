"""fast_hamer_core.retarget: our camera-frame joints -> dex-retargeting's wrist frame, and the real
dex-retargeting optimisers on a small robot hand written by the test."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.robot_hand import (
    human_hand_mano,
    random_rotation,
    to_camera,
    write_retarget_config,
    write_robot_hand,
)

from fast_hamer_core.retarget import (
    OPERATOR2MANO,
    HandRetargeter,
    estimate_wrist_rotation,
    joints_from_wrist_frame,
    joints_in_wrist_frame,
    reference_vectors,
    shipped_config_path,
)

MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def test_operator2mano_matches_dex_retargeting():
    from dex_retargeting.constants import OPERATOR2MANO as DEX
    from dex_retargeting.constants import HandType

    np.testing.assert_array_equal(OPERATOR2MANO["right"], DEX[HandType.right])
    np.testing.assert_array_equal(OPERATOR2MANO["left"], DEX[HandType.left])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_camera_joints_come_back_in_the_wrist_frame_whatever_the_camera_pose(seed):
    rng = np.random.default_rng(seed)
    hand = human_hand_mano(flex=0.4)  # wrist, index and middle knuckles in the plane x = 0
    camera = to_camera(hand, random_rotation(rng), rng.uniform(-0.3, 0.6, size=3))
    np.testing.assert_allclose(joints_in_wrist_frame(camera, "right"), hand, atol=1e-9)


def test_wrist_rotation_is_a_rotation_and_the_inverse_restores_the_input():
    rng = np.random.default_rng(3)
    camera = to_camera(human_hand_mano(0.2), random_rotation(rng), [0.1, -0.05, 0.5])
    rotation = estimate_wrist_rotation(camera)
    np.testing.assert_allclose(rotation.T @ rotation, np.eye(3), atol=1e-12)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    wrist = joints_in_wrist_frame(camera, "left")
    np.testing.assert_allclose(
        joints_from_wrist_frame(wrist, "left", camera[0], rotation), camera, atol=1e-12
    )


def test_a_mirrored_left_hand_is_the_right_hand_mirrored_in_y():
    rng = np.random.default_rng(4)
    right = to_camera(human_hand_mano(0.5), random_rotation(rng), [0.0, 0.0, 0.6])
    left = right @ MIRROR_X  # the same hand seen in a mirror: anatomically a left hand
    np.testing.assert_allclose(
        joints_in_wrist_frame(left, "left"), joints_in_wrist_frame(right, "right") * [1, -1, 1], atol=1e-9
    )


def test_reference_vectors_and_bad_input():
    joints = human_hand_mano()
    vectors = reference_vectors(joints, np.array([[0, 0], [4, 8]]))
    np.testing.assert_allclose(vectors, joints[[4, 8]] - joints[0])
    with pytest.raises(ValueError, match=r"\(21, 3\)"):
        joints_in_wrist_frame(np.zeros((20, 3)), "right")
    with pytest.raises(ValueError, match="side"):
        joints_in_wrist_frame(joints, "up")
    with pytest.raises(ValueError, match="NaN"):
        joints_in_wrist_frame(np.full((21, 3), np.nan), "right")


def test_shipped_configs_exist_for_every_robot_side_and_type():
    from fast_hamer_core.retarget import RETARGETING_TYPES, ROBOTS

    for robot in ROBOTS:
        for side in ("left", "right"):
            for kind in RETARGETING_TYPES:
                assert shipped_config_path(robot, side, kind).is_file(), (robot, side, kind)
    with pytest.raises(ValueError, match="unknown robot 'alegro'"):
        shipped_config_path("alegro", "right", "vector")


def _retargeter(tmp_path, kind: str, side: str = "right") -> HandRetargeter:
    write_robot_hand(tmp_path, mirror=side == "left")
    config = write_retarget_config(tmp_path / f"{kind}.yml", "test_hand.urdf", kind)
    return HandRetargeter(config, tmp_path, side)


@pytest.mark.parametrize("kind", ["vector", "dexpilot"])
def test_real_optimiser_bends_the_robot_fingers_with_the_human_ones(tmp_path, kind):
    retargeter = _retargeter(tmp_path, kind)
    assert retargeter.retargeting_type == kind
    names = retargeter.joint_names
    assert set(names) == {f"{f}_joint_{k}" for f in ("thumb", "index", "middle") for k in (0, 1)}
    pose = random_rotation(np.random.default_rng(5))
    open_q = retargeter.retarget(to_camera(human_hand_mano(0.0), pose, [0, 0, 0.5]))
    retargeter.reset()
    bent_q = retargeter.retarget(to_camera(human_hand_mano(0.9), pose, [0, 0, 0.5]))
    assert open_q.shape == bent_q.shape == (len(names),)
    assert np.all((open_q >= -2e-3) & (open_q <= 1.6 + 2e-3))  # nlopt keeps 1 mrad of slack
    for finger in ("index", "middle"):
        flex = [bent_q[names.index(f"{finger}_joint_{k}")] - open_q[names.index(f"{finger}_joint_{k}")]
                for k in (0, 1)]  # fmt: skip
        assert sum(flex) > 0.5, (finger, flex)
    assert retargeter.times.solves == 2 and retargeter.times.mean_ms > 0


def test_left_hand_on_the_mirrored_robot_gives_the_right_hands_angles(tmp_path):
    right = _retargeter(tmp_path / "r", "vector", "right")
    left = _retargeter(tmp_path / "l", "vector", "left")
    hand = to_camera(human_hand_mano(0.6), random_rotation(np.random.default_rng(6)), [0, 0, 0.5])
    q_right = right.retarget(hand)
    q_left = left.retarget(hand @ MIRROR_X)
    order = [left.joint_names.index(n) for n in right.joint_names]
    np.testing.assert_allclose(q_left[order], q_right, atol=1e-3)


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="retargeting config"):
        HandRetargeter(tmp_path / "none.yml", tmp_path, "right")
    config = write_retarget_config(tmp_path / "c.yml", "absent.urdf")
    with pytest.raises(ValueError, match="does not exist"):
        HandRetargeter(config, tmp_path, "right")
