"""Broadcast TF frames: tf2_ros when it exists, else tf2_msgs/TFMessage on ``/tf`` ourselves.

The pip-installed ROS 2 has no tf2_ros; ``python -m fast_hamer_ros.bootstrap`` builds the
``tf2_msgs`` interface so that this module can publish the same message on the same topic with the
same QoS as tf2_ros's ``TransformBroadcaster`` (reliable, volatile, keep last 100). Any TF listener
on the ROS graph sees no difference.
"""

from __future__ import annotations

from collections.abc import Sequence

from geometry_msgs.msg import TransformStamped
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:  # a ROS install
    from tf2_ros import TransformBroadcaster as _TransformBroadcaster
except ImportError:  # the pip wheels: publish tf2_msgs/TFMessage ourselves
    _TransformBroadcaster = None

TF_TOPIC = "/tf"
#: tf2_ros's broadcaster QoS.
TF_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=100,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)


class TfPublisher:
    """Sends lists of TransformStamped on ``/tf``. ``backend`` says which path is used."""

    def __init__(self, node: Node) -> None:
        if _TransformBroadcaster is not None:  # pragma: no cover - only with a ROS install
            self._broadcaster = _TransformBroadcaster(node, qos=TF_QOS)
            self._publisher = None
            self.backend = "tf2_ros"
            return
        try:
            from tf2_msgs.msg import TFMessage
        except ImportError as exc:
            raise RuntimeError(
                "neither tf2_ros nor tf2_msgs is importable: run `python -m fast_hamer_ros.bootstrap` "
                "once in this environment to build tf2_msgs"
            ) from exc
        self._message = TFMessage
        self._broadcaster = None
        self._publisher = node.create_publisher(TFMessage, TF_TOPIC, TF_QOS)
        self.backend = "tf2_msgs"

    def send(self, transforms: Sequence[TransformStamped]) -> None:
        """Publish the transforms in one message (nothing is sent for an empty list)."""
        if not transforms:
            return
        if self._broadcaster is not None:  # pragma: no cover - only with a ROS install
            self._broadcaster.sendTransform(list(transforms))
            return
        self._publisher.publish(self._message(transforms=list(transforms)))

    def destroy(self, node: Node) -> None:
        """Release the publisher."""
        if self._publisher is not None:
            node.destroy_publisher(self._publisher)
            self._publisher = None
