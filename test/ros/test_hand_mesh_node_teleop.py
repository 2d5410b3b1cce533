"""The teleop outputs of hand_mesh_node in its own process (landmarks mode, real DDS): hands/<side>/tracked
every frame, the 26 OpenXR joints, marker lifetimes, and nothing re-sent for a hand that left."""

from __future__ import annotations

import numpy as np
import pytest
from ros_harness import (
    camera_info,
    image_message,
    load_photo,
    node_rig,
)
from visualization_msgs.msg import Marker

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.openxr import NUM_OPENXR_JOINTS, OURS_AT_OPENXR
from fast_hamer_core.skeleton import SIDES
from fast_hamer_core.types import HandResult
from fast_hamer_ros import messages

FRAME = "camera_optical"
LIFETIME_S = 0.5


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    params = {
        "detector_model": str(ensure_detector_model()),
        "checkpoint": "",
        "device": "cpu",
        "stream.enabled": False,
        "publish_openxr": True,
        "marker_lifetime_s": LIFETIME_S,
    }
    with node_rig(tmp_path_factory.mktemp("teleop_node"), params) as rig:
        yield rig


def _xyz(poses) -> np.ndarray:
    return np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses]).reshape(-1, 3)


def test_tracked_openxr_and_marker_lifetime_then_a_hand_that_left(rig):
    rgb = load_photo("hamer_test5.jpg")  # two hands in front of the face
    info = camera_info(rgb.shape[1], rgb.shape[0], FRAME)
    out = rig.send(image_message(rgb, sec=500, frame_id=FRAME), info)
    present = {side for side in SIDES if out["joints"][side][0].poses}
    assert present, "no hand found in hamer_test5.jpg"
    for side in SIDES:
        assert rig.tracked[side] and rig.tracked[side][-1].data == (side in present), side
        (xr,) = out["openxr"][side]
        if side not in present:
            assert not xr.poses
            continue
        assert len(xr.poses) == NUM_OPENXR_JOINTS
        joints, xr_xyz = _xyz(out["joints"][side][0]), _xyz(xr)
        for k, ours in enumerate(OURS_AT_OPENXR):
            if ours >= 0:
                np.testing.assert_allclose(xr_xyz[k], joints[ours], atol=1e-9)
        quats = np.array(
            [[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in xr.poses]
        )
        np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1.0, atol=1e-6)
    (markers,) = out["markers"]
    added = [m for m in markers.markers if m.action == Marker.ADD]
    assert added and all(
        m.lifetime.sec + 1e-9 * m.lifetime.nanosec == pytest.approx(LIFETIME_S) for m in added
    )

    # The hands leave: an empty scene. Tracked is false, nothing is sent for them on /tf, markers deleted.
    blank = np.full_like(rgb, 128)
    out = rig.send(image_message(blank, sec=501, frame_id=FRAME), info)
    for side in SIDES:
        assert not out["joints"][side][0].poses and rig.tracked[side][-1].data is False
        assert not out["openxr"][side][0].poses
    assert out["tf"] == []
    (markers,) = out["markers"]
    assert markers.markers and all(m.action == Marker.DELETE for m in markers.markers)
    # Exactly one Bool per side per processed frame, so a consumer can pair it with that frame's joints.
    assert [len(rig.tracked[s]) for s in SIDES] == [len(rig.joints[s]) for s in SIDES]


def test_a_hand_carried_without_a_detection_is_not_tracked():
    hand = HandResult(
        side="right",
        score=0.9,
        box=np.zeros(4),
        keypoints_2d=np.zeros((21, 2)),
        keypoints_3d=np.zeros((21, 3)),
        joint_rotations=np.tile(np.eye(3), (21, 1, 1)),
    )
    assert messages.is_tracked(hand)
    hand.extras["carried"] = True
    assert not messages.is_tracked(hand)
    assert not messages.is_tracked(None)


def test_duration_message():
    d = messages.duration_msg(1.25)
    assert (d.sec, d.nanosec) == (1, 250_000_000)
    assert (messages.duration_msg(0.0).sec, messages.duration_msg(-1.0).nanosec) == (0, 0)
