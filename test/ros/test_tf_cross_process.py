"""tf2_msgs/TFMessage (built by the bootstrap) published by TfPublisher in one process reaches another."""

from __future__ import annotations

import os
import subprocess
import sys

from ros_harness import REPO_ROOT
from tf2_msgs.msg import TFMessage

from fast_hamer_ros.tf_publisher import TF_QOS

PUBLISHER = """
import sys, time
import rclpy
from geometry_msgs.msg import TransformStamped
from fast_hamer_ros.tf_publisher import TfPublisher
rclpy.init()
node = rclpy.create_node("tf_test_publisher")
tf = TfPublisher(node)
print("backend", tf.backend, flush=True)
deadline = time.monotonic() + 60
while tf._publisher.get_subscription_count() == 0 and time.monotonic() < deadline:
    time.sleep(0.05)
t = TransformStamped()
t.header.frame_id = "camera_optical"
t.header.stamp.sec, t.header.stamp.nanosec = 42, 7
t.child_frame_id = "right_wrist"
t.transform.translation.x, t.transform.translation.z = 0.1, 0.5
t.transform.rotation.w = 1.0
for _ in range(50):  # reliable QoS: the first is enough; more guard against a late-matching reader
    tf.send([t])
    time.sleep(0.05)
node.destroy_node()
rclpy.shutdown()
"""


def test_tf_message_crosses_processes_on_slash_tf(peer):
    received = peer.collect(TFMessage, "/tf", TF_QOS)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    proc = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        assert peer.spin_until(lambda: len(received) > 0, timeout_s=60), "no TFMessage received"
    finally:
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "backend tf2_msgs" in out or "backend tf2_ros" in out
    t = received[0].transforms[0]
    assert (t.header.frame_id, t.child_frame_id) == ("camera_optical", "right_wrist")
    assert (t.header.stamp.sec, t.header.stamp.nanosec) == (42, 7)
    assert (t.transform.translation.x, t.transform.translation.z, t.transform.rotation.w) == (0.1, 0.5, 1.0)
    # The topic's type is the one every TF listener expects.
    types = dict(peer.node.get_topic_names_and_types())
    assert types["/tf"] == ["tf2_msgs/msg/TFMessage"]
