"""``image_source``: a video file, an image folder, a V4L2 camera or a rosbag2 bag -> ``image`` +
``camera_info`` (+ ``depth``).

For demos and tests without a camera driver. Publishes ``sensor_msgs/Image`` (``rgb8``/``bgr8``) on
``image`` (or ``sensor_msgs/CompressedImage`` JPEG on ``image/compressed``) and a matching
``sensor_msgs/CameraInfo`` on ``camera_info`` (K from ``focal_length_px``, principal point at the
centre, no distortion) at ``rate_hz``, stamped with the node clock and ``frame_id``.

A bag (a rosbag2 folder, or a ``.mcap`` / ``.db3`` file; read with ``rosbags``, no ROS install needed)
is played with its own stamps, frame id and recorded rate (times ``playback_rate``): its colour image
topic (raw or compressed; ``image_topic``, chosen automatically when there is one), its CameraInfo
(``info_topic``) republished unchanged, and an aligned depth image (``depth_topic``) on ``depth``.
An ambiguous or missing topic stops it with a listing of the bag's topics.

``lockstep:=true`` publishes the next frame only once the hand node has answered the previous one
(its ``hands/right/joints`` PoseArray, published for every processed frame, carries the stamp), so an
offline video is processed frame by frame instead of at camera speed with drops.
"""

from __future__ import annotations

import sys
import time

from fast_hamer_core.bags import BagReader, is_bag
from fast_hamer_core.frames import FrameReader
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_ros.node_main import run_node
from fast_hamer_ros.rematch import RematchingPublisher, RematchingSubscription

#: Lockstep: seconds between the node's answer publisher matching and the first frame.
ANSWER_SETTLE_S = 1.0

#: Parameters of image_source: (name, default, description, (min, max) or None).
SOURCE_PARAMETERS: tuple[tuple[str, object, str, tuple | None], ...] = (
    (
        "source",
        "",
        "video file, image folder or file, /dev/videoN, a camera index or a rosbag2 bag (read-only)",
        None,
    ),
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
    (
        "answer_subscribers",
        1,
        "lockstep: start once this many subscribers (this source included) listen to the answers, "
        "e.g. 2 with a recorder, so that none misses the first frames",
        (1, 100),
    ),
    ("image_topic", "", "bag: colour image topic (raw or compressed); '' = the only one", None),
    ("info_topic", "", "bag: CameraInfo topic; '' = the one next to the image (none: assumed camera)", None),
    ("depth_topic", "", "bag: aligned depth topic; '' = the one named *depth*, 'none' = no depth", None),
    ("wait_for_subscriber", False, "start once image and camera_info (and depth) have subscribers", None),
    ("playback_rate", 1.0, "bag: speed relative to the recording (2.0 = twice as fast)", (0.01, 100.0)),
)

#: Timer period while playing a bag (s): frames go out when their recorded time is due.
BAG_TICK_S = 0.005


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
                raise ValueError(
                    "parameter 'source' is required (video file, image folder, /dev/videoN, bag)"
                )
            self.bag = None
            if is_bag(g("source")):
                if g("resize_width"):
                    raise ValueError("resize_width is not supported for bags (their CameraInfo is kept)")
                self.bag = BagReader(g("source"), g("image_topic"), g("info_topic"), g("depth_topic"))
                self.reader = self.bag
                self.frames = self.bag.frames()
                self.playback_rate = float(g("playback_rate"))
                self._last_sent: tuple[float, int] | None = None  # (monotonic s, log time ns)
                self.depth_pub = self.create_publisher(
                    Image, "depth", QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
                )
            else:
                self.reader = FrameReader(g("source"), loop=g("loop"), resize_width=g("resize_width"))
                self.frames = self.reader.frames()
            self.frame_id, self.encoding, self.focal = g("frame_id"), g("encoding"), g("focal_length_px")
            self.max_frames, self.lockstep, self.timeout_s = (
                g("max_frames"),
                g("lockstep"),
                g("lockstep_timeout_s"),
            )
            self.compressed = g("compressed")
            self.wait_for_subscriber = bool(g("wait_for_subscriber"))
            self.answer_subscribers = int(g("answer_subscribers"))
            qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
            # Made anew if a listed peer stays unmatched (fast_hamer_ros/rematch.py), the answers' too.
            if self.compressed:
                self._image_endpoint = RematchingPublisher(self, CompressedImage, "image/compressed", qos)
            else:
                self._image_endpoint = RematchingPublisher(self, Image, "image", qos)
            self._info_endpoint = RematchingPublisher(self, CameraInfo, "camera_info", qos)
            self.answered: set[tuple[int, int]] = set()
            self._answers_endpoint = None
            if self.lockstep:
                self._answers_endpoint = RematchingSubscription(
                    self, PoseArray, "hands/right/joints", self._on_answer, 10
                )
            self._answers_matched_at: float | None = None
            self.published = 0
            self.pending: tuple | None = None  # (stamp key, image msg, info msg, sent at)
            self.done = False
            self.timer = self.create_timer(BAG_TICK_S if self.bag else 1.0 / g("rate_hz"), self._tick)
            if self.bag is not None:
                self.get_logger().info(
                    f"playing bag {g('source')}: {self.bag.image_topic} -> {self.image_pub.topic_name}, "
                    f"camera_info {self.bag.info_topic or '(none: assumed camera)'}, "
                    f"depth {self.bag.depth_topic or '(none)'}, rate x{self.playback_rate:g}"
                )
            else:
                self.get_logger().info(
                    f"publishing {self.reader.kind} {g('source')} on {self.image_pub.topic_name}"
                )
            self._bag_frame = None  # the next bag frame, read ahead until it is due

        @property
        def image_pub(self):
            return self._image_endpoint.publisher

        @property
        def info_pub(self):
            return self._info_endpoint.publisher

        @property
        def answer_sub(self):
            """The lockstep answers' subscription (``None`` without lockstep)."""
            return None if self._answers_endpoint is None else self._answers_endpoint.subscription

        def _on_answer(self, msg) -> None:
            self.answered.add((msg.header.stamp.sec, msg.header.stamp.nanosec))

        def _tick(self) -> None:
            if self.done:
                return
            for endpoint in (self._image_endpoint, self._info_endpoint, self._answers_endpoint):
                if endpoint is not None:
                    endpoint.check()
            if (
                self.wait_for_subscriber
                and self.published == 0
                and self.image_pub.get_subscription_count() == 0
            ):
                return
            if self.lockstep and self.published == 0 and not self._answers_ready():
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
            if self.bag is not None:
                frame = self._due_bag_frame()
                if frame is False:
                    return  # not due yet
                if frame is None:
                    self._finish()
                    return
                rgb, header, info = frame.rgb, self._bag_header(frame), self._bag_info(frame)
                if frame.depth_cdr is not None:
                    self.depth_pub.publish(self._bag_message(frame.depth_cdr, Image, header))
            else:
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

        def _answers_ready(self) -> bool:
            """Lockstep: the node's answers can reach us (its publisher is matched), and for
            :data:`ANSWER_SETTLE_S` already, so that the node's other subscribers (a recorder) matched too;
            else the first frame's answer can be lost in discovery and the frame sent twice. With
            ``answer_subscribers`` > 1 the graph must also show that many subscribers of the answers (a
            recorder that discovers the node late, on a loaded machine, missed 8 of 12 answers once)."""
            listening = self.count_subscribers(self.answer_sub.topic_name)
            if self.answer_sub.get_publisher_count() == 0 or listening < self.answer_subscribers:
                self._answers_matched_at = None
                return False
            if self._answers_matched_at is None:
                self._answers_matched_at = time.monotonic()
            return time.monotonic() - self._answers_matched_at >= ANSWER_SETTLE_S

        def _subscribed(self) -> bool:
            """Image, camera_info (and depth, for a bag with depth) all have a subscriber."""
            pubs = [self.image_pub, self.info_pub]
            if self.bag is not None and self.bag.depth_topic:
                pubs.append(self.depth_pub)
            return all(pub.get_subscription_count() > 0 for pub in pubs)

        def _due_bag_frame(self):
            """The next bag frame once its recorded time (scaled by playback_rate) has come; False while
            it is not due, None at the end of the bag."""
            if self._bag_frame is None:
                self._bag_frame = next(self.frames, None)
                if self._bag_frame is None:
                    return None
            frame, now = self._bag_frame, time.monotonic()
            if self._last_sent is not None:
                sent_at, log_ns = self._last_sent
                if now < sent_at + (frame.log_time_ns - log_ns) / 1e9 / self.playback_rate:
                    return False
            self._bag_frame, self._last_sent = None, (now, frame.log_time_ns)
            return frame

        def _bag_header(self, frame):
            from std_msgs.msg import Header

            header = Header(frame_id=frame.frame_id or self.frame_id)
            header.stamp.sec, header.stamp.nanosec = frame.stamp
            return header

        def _bag_message(self, cdr: bytes, kind, header):
            """A bag message (serialised CDR) as an rclpy message, with the colour image's header."""
            from rclpy.serialization import deserialize_message

            msg = deserialize_message(cdr, kind)
            msg.header = header
            return msg

        def _bag_info(self, frame):
            if frame.info_cdr is None:
                h, w = frame.rgb.shape[:2]
                return camera_info_for(w, h, self.focal, self._bag_header(frame))
            return self._bag_message(frame.info_cdr, CameraInfo, self._bag_header(frame))

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
