"""``hands_recorder``: records what ``hand_mesh_node`` publishes, for demos and checks.

Writes into ``output_dir``:

- ``overlay/<sec>_<nanosec>.jpg``: every ``hands/overlay`` image received (``save_images``),
- ``overlay.mp4``: the same frames as a video at ``video_fps`` (``save_video``; frames of another size
  than the first are scaled to it),
- ``summary.json``: message counts per topic, the TF frames and parents seen, per-frame hands per side,
  the first and last stamps, and the node's last ``/diagnostics`` values (mode, model, rates, drops);
  rewritten every ``summary_period_s`` and at exit,
- ``record_path`` (optional, e.g. ``hands.mcap``): a rosbag2 MCAP bag (the folder ``hands`` with
  ``hands.mcap`` + ``metadata.yaml``) of everything the node publishes (:data:`RECORDED_TOPICS`: markers,
  joints, MANO, overlay, ``/tf``, ``/diagnostics``) plus its input (``image`` or ``image/compressed``,
  ``camera_info``, ``depth``), as received (serialised CDR, log time = arrival). ``ros2 bag``, Foxglove
  and ``rosbags`` read it; ``fast-hamer view`` plays it in the browser viewer.

The summary is built by :class:`PublishedSummary` (ROS-free; fed with plain values), so it is easy to
read back and to test.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_ros.node_main import run_node

#: At most this many per-frame records are kept in the summary (bounded memory on long runs).
MAX_FRAME_RECORDS = 100_000

#: What ``record_path`` records: topic (relative to the recorder's namespace) -> (message type, QoS kind).
#: QoS kinds: "overlay" / "tf" (the node's publisher QoS), "input" (``input_qos``), "default" (depth 10).
RECORDED_TOPICS: dict[str, tuple[str, str]] = {
    "hands/overlay": ("sensor_msgs/msg/Image", "overlay"),
    "hands/markers": ("visualization_msgs/msg/MarkerArray", "default"),
    **{f"hands/{side}/joints": ("geometry_msgs/msg/PoseArray", "default") for side in ("left", "right")},
    **{f"hands/{side}/mano": ("sensor_msgs/msg/JointState", "default") for side in ("left", "right")},
    "/tf": ("tf2_msgs/msg/TFMessage", "tf"),
    "/diagnostics": ("diagnostic_msgs/msg/DiagnosticArray", "default"),
    "image": ("sensor_msgs/msg/Image", "input"),
    "image/compressed": ("sensor_msgs/msg/CompressedImage", "input"),
    "camera_info": ("sensor_msgs/msg/CameraInfo", "input"),
    "depth": ("sensor_msgs/msg/Image", "input"),
}


class PublishedSummary:
    """Accumulates what was published; :meth:`to_dict` is the JSON summary."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.tf_frames: set[str] = set()
        self.tf_parents: set[str] = set()
        self.frames: dict[str, dict] = {}  # "sec.nanosec" -> {"stamp": [sec, ns], "hands": {side: n}}
        self.diagnostics: dict[str, str] = {}
        self.overlay_files: list[str] = []
        self.recording: dict | None = None  # {"bag": folder, "mcap": file, "message_counts": {...}}

    @staticmethod
    def key(sec: int, nanosec: int) -> str:
        return f"{int(sec)}.{int(nanosec):09d}"

    def count(self, topic: str) -> None:
        self.counts[topic] = self.counts.get(topic, 0) + 1

    def frame(self, sec: int, nanosec: int) -> dict:
        key = self.key(sec, nanosec)
        record = self.frames.get(key)
        if record is None:
            if len(self.frames) >= MAX_FRAME_RECORDS:
                self.frames.pop(next(iter(self.frames)))
            record = self.frames[key] = {"stamp": [int(sec), int(nanosec)], "hands": {}}
        return record

    def joints(self, side: str, sec: int, nanosec: int, n_poses: int) -> None:
        """A PoseArray of ``side`` with ``n_poses`` poses (0: no hand of that side in the frame)."""
        self.count(f"hands/{side}/joints")
        if n_poses:
            self.frame(sec, nanosec)["hands"][side] = int(n_poses)
        else:
            self.frame(sec, nanosec)

    def transforms(self, pairs: list[tuple[str, str]]) -> None:
        """(parent, child) frame names of one TFMessage."""
        self.count("/tf")
        for parent, child in pairs:
            self.tf_parents.add(parent)
            self.tf_frames.add(child)

    def to_dict(self) -> dict:
        frames = sorted(self.frames.values(), key=lambda r: tuple(r["stamp"]))
        with_hands = [f for f in frames if f["hands"]]
        return {
            "mode": self.diagnostics.get("mode"),
            "model": self.diagnostics.get("model"),
            "detector": self.diagnostics.get("detector"),
            "pipeline_mode": self.diagnostics.get("pipeline_mode"),
            "device": self.diagnostics.get("device"),
            "message_counts": dict(sorted(self.counts.items())),
            "frames_answered": len(frames),
            "frames_with_hands": len(with_hands),
            "first_stamp": frames[0]["stamp"] if frames else None,
            "last_stamp": frames[-1]["stamp"] if frames else None,
            "tf_parent_frames": sorted(self.tf_parents),
            "tf_child_frames": sorted(self.tf_frames),
            "overlay_images": len(self.overlay_files),
            "recording": self.recording,
            "diagnostics": dict(self.diagnostics),
            "frames": frames,
        }

    def write(self, path: Path) -> None:
        """Write the JSON summary atomically."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)


class OverlayWriter:
    """Overlay frames -> numbered JPEGs and/or an MP4 video."""

    def __init__(self, output_dir: Path, save_images: bool, save_video: bool, fps: float) -> None:
        self.output_dir = output_dir
        self.save_images, self.save_video, self.fps = save_images, save_video, float(fps)
        self._video = None
        self._size: tuple[int, int] | None = None
        if save_images:
            (output_dir / "overlay").mkdir(parents=True, exist_ok=True)

    def add(self, rgb: np.ndarray, name: str) -> str | None:
        """Store one frame; returns the image file written (or None)."""
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        written = None
        if self.save_images:
            path = self.output_dir / "overlay" / f"{name}.jpg"
            cv2.imwrite(str(path), bgr)
            written = str(path)
        if self.save_video:
            if self._video is None:
                self._size = (bgr.shape[1], bgr.shape[0])
                path = str(self.output_dir / "overlay.mp4")
                self._video = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, self._size)
            if (bgr.shape[1], bgr.shape[0]) != self._size:
                bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
            self._video.write(bgr)
        return written

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None


def ros_message_class(msgtype: str):
    """``pkg/msg/Name`` -> the rclpy message class."""
    import importlib

    package, _, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), name)


class BagRecording:
    """Raw subscriptions to :data:`RECORDED_TOPICS` on ``node``, written to an MCAP bag as they arrive."""

    def __init__(self, node, path: str, input_qos: str) -> None:
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

        from fast_hamer_core.bags import BagWriter
        from fast_hamer_ros.node_setup import OVERLAY_QOS
        from fast_hamer_ros.tf_publisher import TF_QOS

        if input_qos not in ("reliable", "sensor_data"):
            raise ValueError(f"input_qos must be reliable or sensor_data, got {input_qos!r}")
        qos = {
            "overlay": OVERLAY_QOS,
            "tf": TF_QOS,
            "default": QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
            "input": qos_profile_sensor_data
            if input_qos == "sensor_data"
            else QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE),
        }
        self.node = node
        self.writer = BagWriter(path)
        self.path, self.mcap_file, self.counts = self.writer.path, self.writer.mcap_file, self.writer.counts
        self.subscriptions = []
        for topic, (msgtype, qos_kind) in RECORDED_TOPICS.items():
            resolved = node.resolve_topic_name(topic)  # e.g. /image, /ns/hands/overlay
            callback = self._writer_for(resolved, msgtype)
            self.subscriptions.append(
                node.create_subscription(ros_message_class(msgtype), topic, callback, qos[qos_kind], raw=True)
            )

    def _writer_for(self, topic: str, msgtype: str):
        def write(raw: bytes) -> None:
            if self.writer is None:
                return
            self.writer.add_topic(topic, msgtype)  # on the first message: the bag lists what arrived
            self.writer.write_cdr(topic, self.node.get_clock().now().nanoseconds, raw)

        return write

    def info(self) -> dict:
        """The bag folder, its MCAP file and the messages written per topic (for the summary)."""
        return {
            "bag": str(self.path),
            "mcap": str(self.mcap_file),
            "message_counts": dict(sorted(self.counts.items())),
        }

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def main(args: list[str] | None = None) -> int:
    """Console entry point ``hands_recorder --ros-args -p output_dir:=DIR [-p record_path:=hands.mcap]``."""
    from diagnostic_msgs.msg import DiagnosticArray
    from geometry_msgs.msg import PoseArray
    from rcl_interfaces.msg import ParameterDescriptor
    from rclpy.node import Node
    from sensor_msgs.msg import Image, JointState
    from visualization_msgs.msg import MarkerArray

    from fast_hamer_core.skeleton import SIDES
    from fast_hamer_ros.hand_mesh_node import OVERLAY_QOS
    from fast_hamer_ros.image_conversion import ImageConversionError, image_to_rgb
    from fast_hamer_ros.tf_publisher import TF_QOS

    class Recorder(Node):
        def __init__(self) -> None:
            super().__init__("hands_recorder")
            d = ParameterDescriptor
            self.declare_parameter(
                "output_dir", "hands_output", d(description="where to write", read_only=True)
            )
            self.declare_parameter("save_images", True, d(description="write overlay/<stamp>.jpg"))
            self.declare_parameter("save_video", True, d(description="write overlay.mp4"))
            self.declare_parameter("video_fps", 10.0, d(description="frame rate of overlay.mp4"))
            self.declare_parameter(
                "summary_period_s", 1.0, d(description="how often summary.json is rewritten")
            )
            self.declare_parameter(
                "record_path",
                "",
                d(description="write an MCAP bag of all topics here ('' = no bag)", read_only=True),
            )
            self.declare_parameter(
                "input_qos", "reliable", d(description="QoS of the recorded input: reliable | sensor_data")
            )
            g = lambda name: self.get_parameter(name).value  # noqa: E731
            self.output_dir = Path(g("output_dir")).expanduser()
            self.output_dir.mkdir(parents=True, exist_ok=True)
            self.summary = PublishedSummary()
            self.writer = OverlayWriter(self.output_dir, g("save_images"), g("save_video"), g("video_fps"))
            self.bag = BagRecording(self, g("record_path"), g("input_qos")) if g("record_path") else None
            if self.bag is not None:
                self.get_logger().info(f"recording to {self.bag.mcap_file}")
            self.create_subscription(Image, "hands/overlay", self._on_overlay, OVERLAY_QOS)
            self.create_subscription(
                MarkerArray, "hands/markers", lambda m: self.summary.count("hands/markers"), 10
            )
            for side in SIDES:
                self.create_subscription(PoseArray, f"hands/{side}/joints", self._joints_cb(side), 10)
                self.create_subscription(
                    JointState,
                    f"hands/{side}/mano",
                    lambda m, s=side: self.summary.count(f"hands/{s}/mano"),
                    10,
                )
            from tf2_msgs.msg import TFMessage

            self.create_subscription(TFMessage, "/tf", self._on_tf, TF_QOS)
            self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
            self.create_timer(g("summary_period_s"), self.write_summary)

        def _joints_cb(self, side: str):
            def cb(msg) -> None:
                self.summary.joints(side, msg.header.stamp.sec, msg.header.stamp.nanosec, len(msg.poses))

            return cb

        def _on_tf(self, msg) -> None:
            self.summary.transforms([(t.header.frame_id, t.child_frame_id) for t in msg.transforms])

        def _on_diagnostics(self, msg) -> None:
            for status in msg.status:
                if status.name.endswith("hand pipeline"):
                    self.summary.diagnostics = {kv.key: kv.value for kv in status.values}

        def _on_overlay(self, msg) -> None:
            self.summary.count("hands/overlay")
            try:
                rgb = image_to_rgb(msg)
            except ImageConversionError as exc:
                self.get_logger().warning(f"bad overlay image: {exc}")
                return
            name = f"{msg.header.stamp.sec:010d}_{msg.header.stamp.nanosec:09d}"
            written = self.writer.add(rgb, name)
            if written:
                self.summary.overlay_files.append(written)

        def write_summary(self) -> None:
            if self.bag is not None:
                self.summary.recording = self.bag.info()
            self.summary.write(self.output_dir / "summary.json")

    def finish(node: Recorder) -> None:
        node.writer.close()
        if node.bag is not None:
            node.bag.close()  # metadata.yaml is written here
        node.write_summary()

    return run_node(
        args, Recorder, name="hands_recorder", on_exit=finish, setup_errors=(FileExistsError, ValueError)
    )


if __name__ == "__main__":
    sys.exit(main())
