"""``hands_viewer``: the browser 3D viewer (:mod:`fast_hamer_core.viewer`) fed live from the node's topics.

For machines without RViz: subscribes to ``hands/markers`` (meshes, skeletons, labels with side and track
id), ``/tf`` (joint axes), ``hands/overlay``, the input ``image`` (or ``image/compressed``) and
``camera_info``, and serves a viser page at ``http://host:port/`` (printed at start) that any browser
opens, offline. Only message unpacking here; the scene and drawing are ROS-free.

    hands_viewer --ros-args -p port:=8080
"""

from __future__ import annotations

import sys
import time

from fast_hamer_ros.node_main import run_node

#: Parameters: (name, default, description).
VIEWER_PARAMETERS: tuple[tuple[str, object, str], ...] = (
    ("host", "127.0.0.1", "address to serve on (0.0.0.0: reachable from other machines)"),
    ("port", 8080, "port of the web page (the next free one if taken)"),
    ("image_depth_m", 2.0, "distance of the input image in the 3D view (m)"),
    ("input_compressed", False, "subscribe to image/compressed instead of image"),
    ("max_image_rate_hz", 10.0, "largest rate at which images are sent to the browser"),
    ("show_panel", True, "start with the control panel (overlay image, joint axes toggle) open"),
)


def main(args: list[str] | None = None) -> int:
    """Console entry point ``hands_viewer --ros-args -p port:=8080``."""
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image
    from tf2_msgs.msg import TFMessage
    from visualization_msgs.msg import MarkerArray

    from fast_hamer_core.viewer.scene import HandScene, camera_from_info
    from fast_hamer_core.viewer.viser_view import HandViewer
    from fast_hamer_ros.image_conversion import ImageConversionError, compressed_to_rgb, image_to_rgb
    from fast_hamer_ros.node_setup import OVERLAY_QOS
    from fast_hamer_ros.tf_publisher import TF_QOS

    class Viewer(Node):
        def __init__(self) -> None:
            super().__init__("hands_viewer")
            for name, default, description in VIEWER_PARAMETERS:
                self.declare_parameter(name, default, ParameterDescriptor(description=description))
            g = lambda name: self.get_parameter(name).value  # noqa: E731
            self.viewer = HandViewer(
                g("host"),
                int(g("port")),
                image_depth_m=float(g("image_depth_m")),
                panel=bool(g("show_panel")),
            )
            self.scene = HandScene()
            self.min_image_period_s = 1.0 / max(float(g("max_image_rate_hz")), 0.1)
            self._last_image = self._last_overlay = 0.0
            reliable = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
            self.create_subscription(MarkerArray, "hands/markers", self._on_markers, reliable)
            self.create_subscription(TFMessage, "/tf", self.scene.apply_tf, TF_QOS)
            self.create_subscription(Image, "hands/overlay", self._on_overlay, OVERLAY_QOS)
            if g("input_compressed"):
                self.create_subscription(
                    CompressedImage, "image/compressed", self._on_image, qos_profile_sensor_data
                )
            else:
                self.create_subscription(Image, "image", self._on_image, qos_profile_sensor_data)
            self.create_subscription(CameraInfo, "camera_info", self._on_info, qos_profile_sensor_data)
            self.get_logger().info(f"viewer: {self.viewer.url} (open it in a browser)")

        def _on_markers(self, msg) -> None:
            self.scene.apply_markers(msg)
            self.viewer.show_scene(self.scene)

        def _on_info(self, msg) -> None:
            camera = camera_from_info(msg)
            if camera is not None:
                self.viewer.show_camera(camera)

        def _decode(self, msg):
            try:
                return compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else image_to_rgb(msg)
            except ImageConversionError as exc:
                self.get_logger().warning(f"bad image: {exc}", throttle_duration_sec=5.0)
                return None

        def _on_image(self, msg) -> None:
            now = time.monotonic()
            if now - self._last_image < self.min_image_period_s:
                return
            rgb = self._decode(msg)
            if rgb is not None:
                self._last_image = now
                self.viewer.show_image(rgb)

        def _on_overlay(self, msg) -> None:
            now = time.monotonic()
            if now - self._last_overlay < self.min_image_period_s:
                return
            rgb = self._decode(msg)
            if rgb is not None:
                self._last_overlay = now
                self.viewer.show_overlay(rgb)

    return run_node(
        args,
        Viewer,
        name="hands_viewer",
        setup_errors=(OSError, ValueError),
        on_exit=lambda n: n.viewer.close(),
    )


if __name__ == "__main__":
    sys.exit(main())
