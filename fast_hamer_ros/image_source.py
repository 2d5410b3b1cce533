"""``image_source``: a video file, an image folder or a V4L2 camera -> ``image`` + ``camera_info``.

For demos and tests without a camera driver. Publishes ``sensor_msgs/Image`` (``rgb8``/``bgr8``) on
``image`` (or ``sensor_msgs/CompressedImage`` JPEG on ``image/compressed``) and a matching
``sensor_msgs/CameraInfo`` on ``camera_info`` (K from ``focal_length_px``, principal point at the
centre, no distortion) at ``rate_hz``, stamped with the node clock and ``frame_id``.

``lockstep:=true`` publishes the next frame only once the hand node has answered the previous one
(its ``hands/right/joints`` PoseArray, published for every processed frame, carries the stamp), so an
offline video is processed frame by frame instead of at camera speed with drops.
"""

from __future__ import annotations

import sys
import time

from fast_hamer_core.frames import FrameReader
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_ros.node_main import run_node

#: Parameters of image_source: (name, default, description, (min, max) or None).
SOURCE_PARAMETERS: tuple[tuple[str, object, str, tuple | None], ...] = (
    ("source", "", "video file, image folder or file, /dev/videoN or a camera index (read-only)", None),
    ("rate_hz", 10.0, "publishing rate (Hz)", (0.1, 1000.0)),
    ("loop", False, "restart files at the end", None),
    ("frame_id", "camera_optical", "header.frame_id of the images and camera info", None),
    (
        "focal_length_px",
        0.0,
        "focal length of the published CameraInfo; 0 = the larger image side",
        (0.0, 1e5),
    ),
    ("encoding", "rgb8", "rgb8 or bgr8", None),
    ("compressed", False, "publish JPEG on image/compressed instead of raw on image", None),
    ("resize_width", 0, "scale frames to this width (aspect kept); 0 = as read", (0, 16384)),
    ("max_frames", 0, "stop after this many frames; 0 = no limit", (0, 2**31 - 1)),
    ("lockstep", False, "publish the next frame only after the hand node answered the previous one", None),
    ("lockstep_timeout_s", 10.0, "resend a frame not answered within this time (s)", (0.1, 600.0)),
)


def camera_info_for(width: int, height: int, focal_length_px: float, header):
    """CameraInfo of an ideal pinhole camera (principal point at the centre, no distortion);
    ``focal_length_px`` 0 = the larger image side."""
    from sensor_msgs.msg import CameraInfo

    cam = PinholeCamera.assumed(width, height, focal_length_px)
    f, cx, cy = cam.fx, cam.cx, cam.cy
    info = CameraInfo()
    info.header = header
    info.width, info.height = int(width), int(height)
    info.distortion_model = "plumb_bob"
    info.d = [0.0] * 5
    info.k = [f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0]
    info.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    info.p = [f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def main(args: list[str] | None = None) -> int:
    """Console entry point ``image_source --ros-args -p source:=PATH -p rate_hz:=10.0 ...``."""
    import rclpy
    from geometry_msgs.msg import PoseArray
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import CameraInfo, CompressedImage, Image

    from fast_hamer_ros.image_conversion import rgb_to_compressed, rgb_to_image

    class ImageSource(Node):
        def __init__(self) -> None:
            super().__init__("image_source")
            for name, default, description, bounds in SOURCE_PARAMETERS:
                desc = ParameterDescriptor(description=description, read_only=name == "source")
                if isinstance(bounds, tuple) and isinstance(default, float):
                    desc.floating_point_range = [FloatingPointRange(from_value=bounds[0], to_value=bounds[1])]
                elif isinstance(bounds, tuple):
                    desc.integer_range = [IntegerRange(from_value=bounds[0], to_value=bounds[1], step=1)]
                self.declare_parameter(name, default, desc)
            g = lambda name: self.get_parameter(name).value  # noqa: E731
            if g("encoding") not in ("rgb8", "bgr8"):
                raise ValueError(f"encoding must be rgb8 or bgr8, got {g('encoding')!r}")
            if not g("source"):
                raise ValueError("parameter 'source' is required (video file, image folder, /dev/videoN)")
            self.reader = FrameReader(g("source"), loop=g("loop"), resize_width=g("resize_width"))
            self.frames = self.reader.frames()
            self.frame_id, self.encoding, self.focal = g("frame_id"), g("encoding"), g("focal_length_px")
            self.max_frames, self.lockstep, self.timeout_s = (
                g("max_frames"),
                g("lockstep"),
                g("lockstep_timeout_s"),
            )
            self.compressed = g("compressed")
            qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
            if self.compressed:
                self.image_pub = self.create_publisher(CompressedImage, "image/compressed", qos)
            else:
                self.image_pub = self.create_publisher(Image, "image", qos)
            self.info_pub = self.create_publisher(CameraInfo, "camera_info", qos)
            self.answered: set[tuple[int, int]] = set()
            if self.lockstep:
                self.create_subscription(PoseArray, "hands/right/joints", self._on_answer, 10)
            self.published = 0
            self.pending: tuple | None = None  # (stamp key, image msg, info msg, sent at)
            self.done = False
            self.timer = self.create_timer(1.0 / g("rate_hz"), self._tick)
            self.get_logger().info(
                f"publishing {self.reader.kind} {g('source')} on {self.image_pub.topic_name}"
            )

        def _on_answer(self, msg) -> None:
            self.answered.add((msg.header.stamp.sec, msg.header.stamp.nanosec))

        def _tick(self) -> None:
            if self.done:
                return
            if self.lockstep and self.pending is not None:
                key, image, info, sent_at = self.pending
                if key not in self.answered:
                    if (
                        self.image_pub.get_subscription_count() == 0
                        or time.monotonic() - sent_at > self.timeout_s
                    ):
                        self.info_pub.publish(info)
                        self.image_pub.publish(image)  # nobody took it yet, or it was lost: resend
                        self.pending = (key, image, info, time.monotonic())
                    return
                self.answered.discard(key)
                self.pending = None
            if self.max_frames and self.published >= self.max_frames:
                self._finish()
                return
            rgb = next(self.frames, None)
            if rgb is None:
                self._finish()
                return
            header = self._header()
            info = camera_info_for(rgb.shape[1], rgb.shape[0], self.focal, header)
            if self.compressed:
                image = rgb_to_compressed(rgb, header)
            else:
                image = rgb_to_image(rgb, header, encoding=self.encoding)
            if self.lockstep and self.image_pub.get_subscription_count() == 0:
                self.pending = ((header.stamp.sec, header.stamp.nanosec), image, info, 0.0)
            else:
                self.info_pub.publish(info)
                self.image_pub.publish(image)
                self.pending = ((header.stamp.sec, header.stamp.nanosec), image, info, time.monotonic())
            self.published += 1

        def _header(self):
            from std_msgs.msg import Header

            header = Header(frame_id=self.frame_id)
            header.stamp = self.get_clock().now().to_msg()
            return header

        def _finish(self) -> None:
            self.done = True
            self.get_logger().info(f"done: published {self.published} frames")

    def spin_until_done(node: ImageSource) -> None:
        while rclpy.ok() and not node.done:
            rclpy.spin_once(node, timeout_sec=0.1)

    return run_node(
        args,
        ImageSource,
        name="image_source",
        spin=spin_until_done,
        setup_errors=(FileNotFoundError, ValueError),
        on_exit=lambda node: node.reader.close(),
    )


if __name__ == "__main__":
    sys.exit(main())
