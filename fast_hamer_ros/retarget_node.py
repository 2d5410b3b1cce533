"""``hand_retarget_node``: one side's human joints in, a robot hand's joint angles out (dex-retargeting).

=================================  ===========================  ==============================================
topic                              type                         notes
=================================  ===========================  ==============================================
``hands/<side>/joints`` (sub)      geometry_msgs/PoseArray      hand_mesh_node's 21 joints, camera frame
``hands/<side>/robot_joints``      sensor_msgs/JointState       the robot's joints (URDF names), radians /
                                                                metres; the input's header (stamp, frame_id)
=================================  ===========================  ==============================================

Each PoseArray with 21 poses is converted to dex-retargeting's MANO wrist frame and solved by its vector or
DexPilot optimiser (:class:`fast_hamer_core.retarget.HandRetargeter`; all maths is there); the solution is
published with the input's stamp. An empty PoseArray (no hand this frame) publishes nothing (the robot
holds its last command) and forgets the warm start, so that the hand's return does not blend with a stale
pose. Needs the extra ``retarget`` (``pip install 'fast_hamer_ros[retarget]'``) and the robot URDFs of
dexsuite/dex-urdf (``urdf_dir``). Parameters: :data:`RETARGET_PARAMETERS`, ``config/retarget.yaml``.
"""

from __future__ import annotations

import sys

import numpy as np
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import JointState

from fast_hamer_core.retarget import RETARGETING_TYPES, ROBOTS, HandRetargeter, shipped_config_path
from fast_hamer_core.skeleton import NUM_JOINTS, SIDES
from fast_hamer_ros.messages import copy_header
from fast_hamer_ros.node_main import run_node
from fast_hamer_ros.parameters import ParamSpec, descriptor
from fast_hamer_ros.worker import ReasonThrottle

NODE_NAME = "hand_retarget_node"
#: Seconds between the solve-time log lines.
TIMING_LOG_PERIOD_S = 30.0

RETARGET_PARAMETERS: tuple[ParamSpec, ...] = (
    ParamSpec("side", "right", "Which hand drives the robot: subscribes to hands/<side>/joints.", True,
              choices=SIDES),
    ParamSpec("robot", "allegro", "Robot hand: one of dex-retargeting's shipped teleop configs ("
              + ", ".join(ROBOTS) + "), for `side` and `retargeting`.", True, choices=tuple(ROBOTS)),
    ParamSpec("retargeting", "vector", "Optimiser: 'vector' (fingertip vectors from the wrist) or "
              "'dexpilot' (vector + DexPilot's finger-closing prior, better pinches).", True,
              choices=RETARGETING_TYPES),
    ParamSpec("urdf_dir", "", "Folder the config's urdf_path is relative to: a dexsuite/dex-urdf "
              "checkout's robots/hands (e.g. ~/dex-urdf/robots/hands). Required.", True),
    ParamSpec("config_file", "", "Your own dex-retargeting YAML (vector or DexPilot); overrides robot "
              "and retargeting. Empty: the shipped config.", True),
)  # fmt: skip


class HandRetargetNode(Node):
    """The node; see the module docstring."""

    def __init__(self, **node_kwargs) -> None:
        super().__init__(NODE_NAME, **node_kwargs)
        p = {}
        for spec in RETARGET_PARAMETERS:
            value = self.declare_parameter(spec.name, spec.default, descriptor(spec)).value
            reason = spec.check(value)
            if reason is not None:
                raise ValueError(f"invalid parameter: {reason}")
            p[spec.name] = value
        if not p["urdf_dir"]:
            raise ValueError(
                "urdf_dir is empty: set it to a dexsuite/dex-urdf checkout's robots/hands folder"
            )
        side = p["side"]
        config = p["config_file"] or shipped_config_path(p["robot"], side, p["retargeting"])
        self._retargeter = HandRetargeter(config, p["urdf_dir"], side)
        self._throttle = ReasonThrottle(period_s=5.0)
        self._sub = self.create_subscription(PoseArray, f"hands/{side}/joints", self._on_joints, 10)
        self._pub = self.create_publisher(JointState, f"hands/{side}/robot_joints", 10)
        self._timer = self.create_timer(TIMING_LOG_PERIOD_S, self._log_timing)
        self.get_logger().info(
            f"retargeting the {side} hand with {self._retargeter.retargeting_type} ({config}); "
            f"{len(self._retargeter.joint_names)} robot joints on {self._pub.topic_name}"
        )

    @property
    def retargeter(self) -> HandRetargeter:
        return self._retargeter

    def _on_joints(self, msg: PoseArray) -> None:
        if not msg.poses:  # no hand this frame: hold (publish nothing), forget the warm start
            self._retargeter.reset()
            return
        if len(msg.poses) != NUM_JOINTS:
            if self._throttle.allow(("count", len(msg.poses))):
                self.get_logger().warning(
                    f"skipped a PoseArray of {len(msg.poses)} poses ({NUM_JOINTS} expected)"
                )
            return
        joints = np.array([[q.position.x, q.position.y, q.position.z] for q in msg.poses])  # (21, 3) m
        try:
            qpos = self._retargeter.retarget(joints)
        except ValueError as exc:  # non-finite or degenerate joints
            if self._throttle.allow(("bad", str(exc))):
                self.get_logger().warning(f"skipped joints: {exc}")
            return
        out = JointState()
        out.header = copy_header(msg.header)
        out.name = self._retargeter.joint_names
        out.position = qpos.tolist()
        self._pub.publish(out)

    def _log_timing(self) -> None:
        times = self._retargeter.times
        if times.solves:
            last_ms = 1000.0 * times.last_s
            self.get_logger().info(
                f"{times.solves} solves, mean {times.mean_ms:.2f} ms per frame, last {last_ms:.2f} ms"
            )


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``hand_retarget_node --ros-args --params-file config/retarget.yaml``."""
    return run_node(
        args, HandRetargetNode, name=NODE_NAME, setup_errors=(FileNotFoundError, ValueError, ImportError)
    )


if __name__ == "__main__":
    sys.exit(main())
