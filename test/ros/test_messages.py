"""HandResult -> ROS messages: structure, names, frames, stamps, marker life cycle."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures.mano import make_synthetic_mano_arrays
from rclpy.serialization import deserialize_message, serialize_message
from scipy.spatial.transform import Rotation
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

from fast_hamer_core.skeleton import JOINT_NAMES, SKELETON_EDGES
from fast_hamer_core.types import HandResult
from fast_hamer_ros.messages import (
    MANO_POSE_JOINTS,
    HandMarkers,
    hand_pose_array,
    hand_transforms,
    mano_joint_names,
    mano_joint_state,
    primary_hands,
)

FACES = make_synthetic_mano_arrays()["f"].astype(np.int64)  # (1538, 3)


def _header(sec: int = 1700000000, nanosec: int = 123456789, frame: str = "camera_color_optical_frame"):
    header = Header(frame_id=frame)
    header.stamp.sec, header.stamp.nanosec = sec, nanosec
    return header


def _hand(side: str, score: float, seed: int, track_id: int | None = None, mesh: bool = True) -> HandResult:
    rng = np.random.default_rng(seed)
    kp = rng.normal([0.0, 0.0, 0.6], 0.05, (21, 3))
    rots = Rotation.random(21, random_state=seed).as_matrix()
    hand = HandResult(
        side=side,
        score=score,
        box=np.array([10.0, 20.0, 110.0, 140.0]),
        keypoints_2d=rng.uniform(0, 100, (21, 2)),
        keypoints_3d=kp,
        joint_rotations=rots,
        mode="mesh" if mesh else "landmarks",
        track_id=track_id,
    )
    if mesh:
        hand.vertices = rng.normal([0.0, 0.0, 0.6], 0.05, (778, 3))
        hand.cam_t = np.array([0.01, 0.02, 0.6])
        hand.global_orient_aa = rng.normal(0, 1, 3)
        hand.hand_pose_aa = rng.normal(0, 0.3, (15, 3))
        hand.betas = rng.normal(0, 1, 10)
    return hand


def _stamp(msg_header) -> tuple[int, int, str]:
    return msg_header.stamp.sec, msg_header.stamp.nanosec, msg_header.frame_id


def test_tf_frames_named_parented_stamped_and_oriented_for_the_best_hand_per_side():
    weak_right, right, left = _hand("right", 0.4, 1), _hand("right", 0.9, 2), _hand("left", 0.7, 3)
    header = _header()
    transforms = hand_transforms([weak_right, right, left], header, prefix="hands/")

    assert len(transforms) == 42  # 21 per side; the weaker right hand gets none
    names = [t.child_frame_id for t in transforms]
    assert names[:21] == [f"hands/left_{j}" for j in JOINT_NAMES]
    assert names[21:] == [f"hands/right_{j}" for j in JOINT_NAMES]
    assert "hands/right_wrist" in names and "hands/right_index_tip" in names
    for t in transforms:
        assert _stamp(t.header) == (1700000000, 123456789, "camera_color_optical_frame")
    right_tf = transforms[21:]
    for j, t in enumerate(right_tf):
        tr = t.transform.translation
        np.testing.assert_allclose([tr.x, tr.y, tr.z], right.keypoints_3d[j])
        q = t.transform.rotation
        np.testing.assert_allclose(
            Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), right.joint_rotations[j], atol=1e-9
        )
    assert transforms[0].header is not transforms[1].header  # copies, not one shared object
    assert hand_transforms([], header) == []


def test_primary_hands_picks_the_highest_score_per_side():
    hands = [_hand("left", 0.2, 1), _hand("left", 0.8, 2), _hand("right", 0.5, 3)]
    best = primary_hands(hands)
    assert best["left"] is hands[1] and best["right"] is hands[2]


def test_pose_array_has_21_oriented_poses_with_the_input_header():
    hand = _hand("left", 0.9, 4)
    msg = hand_pose_array(hand, _header(5, 6, "cam"))
    assert _stamp(msg.header) == (5, 6, "cam") and len(msg.poses) == 21
    for j, pose in enumerate(msg.poses):
        np.testing.assert_allclose([pose.position.x, pose.position.y, pose.position.z], hand.keypoints_3d[j])
        o = pose.orientation
        np.testing.assert_allclose(
            Rotation.from_quat([o.x, o.y, o.z, o.w]).as_matrix(), hand.joint_rotations[j], atol=1e-9
        )


def test_mano_joint_state_names_and_values():
    hand = _hand("right", 0.9, 5)
    msg = mano_joint_state(hand, _header())
    names = mano_joint_names("right")
    assert list(msg.name) == names and len(names) == 3 + 45 + 3 + 10
    assert names[:3] == ["right_global_orient_x", "right_global_orient_y", "right_global_orient_z"]
    assert names[3:6] == ["right_index1_x", "right_index1_y", "right_index1_z"]
    assert MANO_POSE_JOINTS[-1] == "thumb3" and names[-1] == "right_beta_9"
    values = dict(zip(msg.name, msg.position, strict=True))
    assert values["right_global_orient_y"] == pytest.approx(hand.global_orient_aa[1])
    assert values["right_pinky2_z"] == pytest.approx(hand.hand_pose_aa[7, 2])  # pinky = MANO joints 7..9
    assert values["right_transl_z"] == pytest.approx(0.6)
    assert values["right_beta_3"] == pytest.approx(hand.betas[3])
    assert _stamp(msg.header) == _stamp(_header())
    assert mano_joint_state(_hand("left", 0.9, 6, mesh=False), _header()) is None


def _by_key(array: MarkerArray) -> dict[tuple[str, int], Marker]:
    return {(m.ns, m.id): m for m in array.markers}


def test_markers_for_every_hand_then_deleted_when_the_hand_is_gone():
    markers = HandMarkers()
    right, left = _hand("right", 0.9, 7, track_id=3), _hand("left", 0.6, 8, track_id=5)
    header = _header()

    first = _by_key(markers.build([right, left], header, faces=FACES))
    assert set(first) == {(ns, i) for ns in ("mesh", "skeleton", "joints", "label") for i in (3, 5)}
    mesh = first[("mesh", 3)]
    assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == 3 * len(FACES)
    p = mesh.points[0]
    np.testing.assert_allclose([p.x, p.y, p.z], right.vertices[FACES[0, 0]])
    q = first[("mesh", 5)].points  # left hand: winding flipped so that its outside faces out
    np.testing.assert_allclose([q[0].x, q[0].y, q[0].z], left.vertices[FACES[0, 2]])
    bones = first[("skeleton", 3)]
    assert bones.type == Marker.LINE_LIST and len(bones.points) == 2 * len(SKELETON_EDGES)
    joints = first[("joints", 5)]
    assert joints.type == Marker.SPHERE_LIST and len(joints.points) == 21
    label = first[("label", 3)]
    assert label.type == Marker.TEXT_VIEW_FACING and label.text == "right #3 0.90"
    assert (mesh.color.r, mesh.color.g, mesh.color.b) != tuple(
        getattr(first[("mesh", 5)].color, c) for c in "rgb"
    )
    assert all(_stamp(m.header) == _stamp(header) and m.action == Marker.ADD for m in first.values())

    # The left hand leaves, the right one loses its mesh (landmarks only): their markers are deleted.
    right_landmarks = _hand("right", 0.9, 7, track_id=3, mesh=False)
    second = _by_key(markers.build([right_landmarks], _header(2), faces=FACES))
    deleted = {k for k, m in second.items() if m.action == Marker.DELETE}
    assert deleted == {("mesh", 3), ("mesh", 5), ("skeleton", 5), ("joints", 5), ("label", 5)}
    assert {k for k, m in second.items() if m.action == Marker.ADD} == {
        ("skeleton", 3),
        ("joints", 3),
        ("label", 3),
    }
    assert markers.live == {("skeleton", 3), ("joints", 3), ("label", 3)}

    third = markers.clear(_header(3))
    assert {(m.ns, m.id, m.action) for m in third.markers} == {
        ("skeleton", 3, Marker.DELETE),
        ("joints", 3, Marker.DELETE),
        ("label", 3, Marker.DELETE),
    }
    assert markers.live == frozenset()


def test_untracked_hands_get_distinct_stable_ids_per_side():
    markers = HandMarkers()
    hands = [_hand("right", 0.3, 1), _hand("right", 0.8, 2), _hand("left", 0.5, 3)]
    ids = {m.id for m in markers.build(hands, _header()).markers if m.ns == "joints"}
    assert len(ids) == 3
    again = {m.id for m in markers.build(hands, _header()).markers if m.ns == "joints"}
    assert again == ids


def test_messages_serialize_and_deserialize():
    hand = _hand("right", 0.9, 9, track_id=1)
    header = _header()
    for msg in (hand_pose_array(hand, header), mano_joint_state(hand, header)):
        assert deserialize_message(serialize_message(msg), type(msg)) == msg  # float64 fields: exact
    markers = HandMarkers().build([hand], header, faces=FACES)
    back = deserialize_message(serialize_message(markers), MarkerArray)
    assert len(back.markers) == len(markers.markers) == 4
    for a, b in zip(back.markers, markers.markers, strict=True):
        assert (a.ns, a.id, a.type, a.text, a.points) == (b.ns, b.id, b.type, b.text, b.points)
        assert a.color.r == pytest.approx(b.color.r, abs=1e-7)  # ColorRGBA is float32
