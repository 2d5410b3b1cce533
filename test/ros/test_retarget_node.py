"""hand_retarget_node in a child process, real dex-retargeting, real DDS: PoseArray joints in, the robot's
JointState out with the input's stamp; the shipped-config path (``robot``) with a URDF the test writes."""

from __future__ import annotations

import numpy as np
import yaml
from fixtures.data import REPO_ROOT
from fixtures.robot_hand import (
    human_hand_mano,
    random_rotation,
    to_camera,
    write_retarget_config,
    write_robot_hand,
)
from geometry_msgs.msg import Point, Pose, PoseArray
from ros_harness import module_node, wait_for_subscriber
from sensor_msgs.msg import JointState

from fast_hamer_core.retarget import HandRetargeter, shipped_config_path
from fast_hamer_ros.retarget_node import RETARGET_PARAMETERS

MODULE = "fast_hamer_ros.retarget_node"


def _pose_array(joints: np.ndarray, sec: int) -> PoseArray:
    msg = PoseArray()
    msg.header.stamp.sec, msg.header.frame_id = sec, "camera_optical"
    for x, y, z in joints.tolist():
        pose = Pose()
        pose.position = Point(x=x, y=y, z=z)
        pose.orientation.w = 1.0
        msg.poses.append(pose)
    return msg


def _send(peer, pub, node, received, msg, timeout_s: float = 30.0) -> JointState:
    stamp = (msg.header.stamp.sec, msg.header.stamp.nanosec)

    def answered():
        return any((m.header.stamp.sec, m.header.stamp.nanosec) == stamp for m in received)

    pub.publish(msg)
    assert peer.spin_until(lambda: answered() or not node.alive(), timeout_s), node.log()[-3000:]
    return next(m for m in received if (m.header.stamp.sec, m.header.stamp.nanosec) == stamp)


def test_retarget_node_publishes_the_robot_joints_of_each_frame(tmp_path, peer):
    write_robot_hand(tmp_path)
    config = write_retarget_config(tmp_path / "hand.yml", "test_hand.urdf", "dexpilot")
    args = ["-p", f"urdf_dir:={tmp_path}", "-p", f"config_file:={config}", "-p", "side:=left"]
    received: list[JointState] = peer.collect(JointState, "hands/left/robot_joints")
    pub = peer.node.create_publisher(PoseArray, "hands/left/joints", 10)
    rotation = random_rotation(np.random.default_rng(7))
    with module_node(tmp_path, MODULE, args, "hand_retarget_node") as node:
        wait_for_subscriber(peer, pub, node, timeout_s=60.0)
        # A left hand: the right hand of the fixture seen in a mirror (x negated).
        hand = to_camera(human_hand_mano(0.8), rotation, [0.05, 0.0, 0.5]) * [-1.0, 1.0, 1.0]
        out = _send(peer, pub, node, received, _pose_array(hand, 11))
        assert out.header.frame_id == "camera_optical"
        local = HandRetargeter(config, tmp_path, "left")
        assert list(out.name) == local.joint_names
        np.testing.assert_allclose(out.position, local.retarget(hand), atol=1e-3)
        # An empty PoseArray (no hand) publishes nothing; the next hand is answered again.
        empty = PoseArray()
        empty.header.stamp.sec = 12
        pub.publish(empty)
        out = _send(peer, pub, node, received, _pose_array(hand, 13))
        assert not any(m.header.stamp.sec == 12 for m in received)
        # A malformed PoseArray is skipped with a warning, the node keeps running.
        pub.publish(_pose_array(hand[:20], 14))
        _send(peer, pub, node, received, _pose_array(hand, 15))
        assert "skipped a PoseArray of 20 poses" in node.log()


def test_robot_parameter_uses_the_shipped_config(tmp_path, peer):
    # A four-finger hand with the link names of dex-retargeting's Allegro right-hand config.
    tips = {
        "thumb": "link_15.0_tip",
        "index": "link_3.0_tip",
        "middle": "link_7.0_tip",
        "ring": "link_11.0_tip",
    }
    urdf = "allegro_hand/allegro_hand_right.urdf"
    write_robot_hand(tmp_path, ("thumb", "index", "middle", "ring"), name=urdf, base="wrist", tips=tips)
    received: list[JointState] = peer.collect(JointState, "hands/right/robot_joints")
    pub = peer.node.create_publisher(PoseArray, "hands/right/joints", 10)
    args = ["-p", f"urdf_dir:={tmp_path}", "-p", "robot:=allegro", "-p", "retargeting:=vector"]
    with module_node(tmp_path, MODULE, args, "hand_retarget_node") as node:
        wait_for_subscriber(peer, pub, node, timeout_s=60.0)
        hand = to_camera(human_hand_mano(0.3), np.eye(3), [0.0, 0.0, 0.4])
        out = _send(peer, pub, node, received, _pose_array(hand, 21))
        assert len(out.name) == 8 and np.all(np.isfinite(out.position))
    assert shipped_config_path("allegro", "right", "vector").name in node.log()


def test_bad_set_up_is_one_clear_line(tmp_path, peer):
    with module_node(tmp_path, MODULE, ["-p", "robot:=allegro"], "hand_retarget_node") as node:
        node.proc.wait(timeout=60)
    assert node.proc.returncode == 1
    assert "hand_retarget_node: error: urdf_dir is empty" in node.log()
    assert "Traceback" not in node.log()


def test_config_file_lists_every_parameter_with_a_valid_default():
    section = yaml.safe_load((REPO_ROOT / "config" / "retarget.yaml").read_text())["hand_retarget_node"]
    values = section["ros__parameters"]
    assert set(values) == {spec.name for spec in RETARGET_PARAMETERS}
    for spec in RETARGET_PARAMETERS:
        assert spec.check(values[spec.name]) is None, spec.name
