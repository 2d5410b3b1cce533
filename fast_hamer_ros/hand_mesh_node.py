"""``hand_mesh_node``: camera images in, 3D hands out (markers, TF, poses, MANO joint states, overlay).

A thin ROS 2 adapter around :class:`fast_hamer_core.pipeline.HandReconstructor`; all maths lives in
fast_hamer_core. Topics (relative names, remap them or push the node into the camera's namespace):

=========================  =============================================  =================================
topic                      type                                           notes
=========================  =============================================  =================================
``image``                  sensor_msgs/Image (sub)                        rgb8, bgr8, rgba8, bgra8, mono8
``image/compressed``       sensor_msgs/CompressedImage (sub)              when ``image_transport=compressed``
``camera_info``            sensor_msgs/CameraInfo (sub)                   intrinsics K; else focal_length_px
``depth``                  sensor_msgs/Image (sub)                        when ``depth.enabled``; 16UC1/32FC1
``hands/markers``          visualization_msgs/MarkerArray                 mesh, skeleton, joints, label
``hands/left/joints``      geometry_msgs/PoseArray                        21 joints; empty when no hand
``hands/right/joints``     geometry_msgs/PoseArray                        idem
``hands/left/mano``        sensor_msgs/JointState                         mesh mode only
``hands/right/mano``       sensor_msgs/JointState                         mesh mode only
``hands/overlay``          sensor_msgs/Image (rgb8)                       only computed when subscribed
``/tf``                    tf2_msgs/TFMessage                             ``<tf_prefix><side>_<joint>``
``/diagnostics``           diagnostic_msgs/DiagnosticArray                rates, latency, drops, models
=========================  =============================================  =================================

Every output is stamped with the input image's header (stamp and frame_id). Frames are handled
newest-only: the subscription callback stores the message and a worker thread converts and infers
on the newest one. ``/diagnostics`` counts frames overwritten before the worker took them
(``frames_dropped``) and frames discarded before the node saw them, from gaps in the publisher's
sequence numbers (``frames_lost_before_node``: the keep-last-1 reader queue, or the network). Malformed
messages are logged with the reason and skipped; inference errors are logged; the node keeps running.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseArray
from rcl_interfaces.msg import SetParametersResult
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_system_default,
)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from visualization_msgs.msg import MarkerArray

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.skeleton import SIDES
from fast_hamer_ros import image_conversion as conv
from fast_hamer_ros import messages
from fast_hamer_ros.node_main import run_node
from fast_hamer_ros.parameters import (
    NODE_NAME,
    PARAMETERS,
    PARAMETERS_BY_NAME,
    ParamSpec,
    check_parameter,
    descriptor,
)
from fast_hamer_ros.tf_publisher import TfPublisher
from fast_hamer_ros.worker import LatestSlot, PipelineStats, ReasonThrottle, SequenceGaps

#: QoS of hands/overlay.
OVERLAY_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
#: Seconds without images after which /diagnostics reports WARN.
STALE_INPUT_S = 5.0


@dataclass
class _Frame:
    """A received image message, not yet converted (conversion happens on the worker)."""

    msg: Any
    received_at: float  #: time.monotonic() at reception


def image_qos(name: str) -> QoSProfile:
    """The QoS named by the ``image_qos`` parameter. 'sensor_data' is best effort, keep last 1, volatile:
    it matches reliable and best-effort publishers and never queues old frames."""
    if name == "sensor_data":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=1,
            reliability=ReliabilityPolicy.BEST_EFFORT,
            durability=DurabilityPolicy.VOLATILE,
        )
    if name == "reliable":
        return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
    if name == "system_default":
        return qos_profile_system_default
    raise ValueError(f"unknown image_qos {name!r}")


def stamp_seconds(header) -> float:
    return float(header.stamp.sec) + 1e-9 * float(header.stamp.nanosec)


def build_reconstructor(params: dict[str, Any]):
    """The HandReconstructor described by the node's parameters (model loaded once, here)."""
    from fast_hamer_core.pipeline import HandReconstructor

    tracking = None
    if params["tracking.enabled"]:
        tracking = {
            "ttl_frames": params["tracking.ttl_frames"],
            "detect_every": params["tracking.detect_every"],
        }
        if params["tracking.smoothing"]:
            tracking["one_euro"] = {
                "min_cutoff": params["tracking.min_cutoff_hz"],
                "beta": params["tracking.beta"],
            }
    reconstructor = HandReconstructor.from_options(
        checkpoint=params["checkpoint"] or None,
        mano=params["mano_path"] or None,
        detector_model=params["detector_model"] or None,
        device=params["device"],
        handedness=params["handedness"],
        mirrored_input=params["mirrored_input"],
        max_hands=params["max_hands"],
        min_detection_confidence=params["min_detection_confidence"],
        detection_mode=params["detection_mode"],
        tracking=tracking,
        fp16=params["fp16"],
        runtime=params["runtime"],
        runtime_model=params["runtime_model"] or None,
    )
    if not params["tracking.enabled"]:
        reconstructor.tracker = None
    return reconstructor


class HandMeshNode(Node):
    """The node. ``reconstructor`` may be given (tests, embedding); otherwise it is built from the
    parameters. See the module docstring for topics and behaviour."""

    def __init__(self, reconstructor=None, **node_kwargs) -> None:
        # Set before anything can fail: rclpy destroys nodes at shutdown even half-constructed ones.
        self._slot: LatestSlot[_Frame] = LatestSlot()
        self._worker: threading.Thread | None = None
        self._reconstructor = None
        super().__init__(NODE_NAME, **node_kwargs)
        self._params: dict[str, Any] = {}
        for spec in PARAMETERS:
            self._declare(spec)
        self.add_pre_set_parameters_callback(self._log_rejections)
        self.add_on_set_parameters_callback(self._validate_parameters)
        self.add_post_set_parameters_callback(self._store_parameters)
        p = self._params

        self._reconstructor = reconstructor if reconstructor is not None else build_reconstructor(p)
        self._faces = self._reconstructor.faces
        self._camera_info: CameraInfo | None = None
        self._camera_lock = threading.Lock()
        self._warned_no_info = False
        self._depth_slot: LatestSlot[_Frame] = LatestSlot()
        self._latest_depth: _Frame | None = None
        self._markers = messages.HandMarkers()
        self._stats = PipelineStats()
        self._gaps = SequenceGaps()
        self._throttle = ReasonThrottle(period_s=5.0)

        qos = image_qos(p["image_qos"])
        if p["image_transport"] == "compressed":
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_image, qos
            )
        else:
            self._image_sub = self.create_subscription(Image, "image", self._on_image, qos)
        self._info_sub = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        self._depth_sub = None
        if p["depth.enabled"]:
            self._depth_sub = self.create_subscription(Image, "depth", self._on_depth, qos)

        self._marker_pub = self.create_publisher(MarkerArray, "hands/markers", 10)
        self._joints_pub = {s: self.create_publisher(PoseArray, f"hands/{s}/joints", 10) for s in SIDES}
        self._mano_pub = {s: self.create_publisher(JointState, f"hands/{s}/mano", 10) for s in SIDES}
        # Reliable, keep last 1: matches reliable (RViz's default) and best-effort viewers, never queues.
        self._overlay_pub = self.create_publisher(Image, "hands/overlay", OVERLAY_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._tf = TfPublisher(self)
        self._diag_timer = self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)

        self._worker = threading.Thread(target=self._work, name="hand_mesh_worker", daemon=True)
        self._worker.start()
        mode = self._reconstructor.mode
        mode_line = (
            "landmarks-only mode (no mesh checkpoint: 21 joints from the detector, no mesh, no MANO)"
            if mode == "landmarks"
            else f"mesh mode (model {self._reconstructor.model_name})"
        )
        rec = self._reconstructor
        self.get_logger().info(
            f"{mode_line}; device {rec.device}; detector {rec.detector_name}; TF via {self._tf.backend}; "
            f"listening on {self._image_sub.topic_name}"
        )

    # ------------------------------------------------------------------ parameters
    def _declare(self, spec: ParamSpec) -> None:
        try:
            value = self.declare_parameter(spec.name, spec.default, descriptor(spec)).value
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            raise ValueError(f"invalid parameter {spec.name}: {exc}") from exc
        reason = spec.check(value)
        if reason is not None:  # ranges are checked by rclpy; choices and formats here
            raise ValueError(f"invalid parameter: {reason}")
        self._params[spec.name] = value

    def _log_rejections(self, params: list[Parameter]) -> list[Parameter]:
        """Log every change that will be rejected, with the reason (rclpy rejects read-only, type and
        range violations itself, silently; :meth:`_validate_parameters` rejects the rest)."""
        for param in params:
            spec = PARAMETERS_BY_NAME.get(param.name)
            if spec is not None and spec.read_only:
                reason = f"{param.name} is read-only (fixed when the node starts)"
            else:
                reason = check_parameter(param.name, param.value)
            if reason is not None:
                self.get_logger().warning(f"rejected parameter change: {reason}")
        return params

    def _validate_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Reject a bad value with the reason; the node keeps the old value (rclpy checks read-only,
        types and ranges before this; choices and formats are checked here)."""
        for param in params:
            reason = check_parameter(param.name, param.value)
            if reason is not None:
                return SetParametersResult(successful=False, reason=reason)
        return SetParametersResult(successful=True)

    def _store_parameters(self, params: list[Parameter]) -> None:
        for param in params:
            self._params[param.name] = param.value

    @property
    def reconstructor(self):
        return self._reconstructor

    @property
    def dropped_frames(self) -> int:
        return self._slot.dropped

    # ------------------------------------------------------------------ callbacks (executor thread)
    def _on_image(self, msg, info: dict) -> None:
        self._stats.input()
        gid = info.get("publisher_gid") or {}
        self._gaps.observe(bytes(gid.get("data", b"")), info.get("publication_sequence_number"))
        self._slot.put(_Frame(msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        with self._camera_lock:
            self._camera_info = msg

    def _on_depth(self, msg: Image) -> None:
        self._depth_slot.put(_Frame(msg, time.monotonic()))

    # ------------------------------------------------------------------ worker thread
    def _work(self) -> None:
        while not self._slot.closed:
            frame = self._slot.take(timeout_s=0.2)
            if frame is None:
                continue
            try:
                self._process(frame)
            except Exception as exc:  # keep the node alive whatever one frame does
                self._stats.error()
                if self._throttle.allow(("error", type(exc).__name__)):
                    self.get_logger().error(f"frame skipped: {type(exc).__name__}: {exc}")

    def _reject(self, what: str, exc: Exception) -> None:
        self._stats.reject()
        if self._throttle.allow((what, str(exc))):
            self.get_logger().warning(f"skipped malformed {what}: {exc}")

    def _camera(self, width: int, height: int) -> PinholeCamera:
        with self._camera_lock:
            info = self._camera_info
        k = np.asarray(info.k, dtype=np.float64) if info is not None else np.zeros(9)
        if info is not None and k[0] > 0 and k[4] > 0:
            cam = PinholeCamera.from_k(k, info.width or width, info.height or height)
            return cam.scaled_to(width, height)  # a binned / resized stream keeps its camera
        cam = PinholeCamera.assumed(width, height, self._params["focal_length_px"])
        if not self._warned_no_info:
            self._warned_no_info = True
            why = "no CameraInfo received" if info is None else "CameraInfo has no valid K"
            self.get_logger().warning(
                f"{why} on {self.resolve_topic_name('camera_info')}: using focal_length_px={cam.fx:.1f} "
                "with the principal point at the image centre; metric depth will be approximate"
            )
        return cam

    def _depth_for(self, header) -> np.ndarray | None:
        pending = self._depth_slot.take(timeout_s=0.0)
        if pending is not None:
            self._latest_depth = pending
        if self._latest_depth is None:
            return None
        depth_msg = self._latest_depth.msg
        if (
            abs(stamp_seconds(depth_msg.header) - stamp_seconds(header))
            > self._params["depth.max_time_difference_s"]
        ):
            return None
        try:
            return conv.depth_to_metres(depth_msg)
        except conv.ImageConversionError as exc:
            self._latest_depth = None
            self._reject("depth image", exc)
            return None

    def _process(self, frame: _Frame) -> None:
        msg = frame.msg
        try:
            rgb = conv.compressed_to_rgb(msg) if isinstance(msg, CompressedImage) else conv.image_to_rgb(msg)
        except conv.ImageConversionError as exc:
            self._reject("image", exc)
            return
        height, width = rgb.shape[:2]
        camera = self._camera(width, height)
        results = self._reconstructor.reconstruct(rgb, camera, stamp_s=stamp_seconds(msg.header))
        if self._depth_sub is not None and results:
            depth = self._depth_for(msg.header)
            if depth is not None:
                from fast_hamer_core.depth import correct_depth

                p = self._params
                options = {
                    "faces": self._faces,
                    "min_samples": p["depth.min_samples"],
                    "max_offset_m": p["depth.max_offset_m"],
                    "surface_offset_m": p["depth.surface_offset_m"],
                }
                results = [correct_depth(r, depth, camera, **options) for r in results]
        self._publish(msg.header, results, rgb, camera)
        self._stats.output(frame.received_at, len(results))

    def _publish(self, header, results, rgb: np.ndarray, camera: PinholeCamera) -> None:
        p = self._params
        if p["publish_tf"]:
            self._tf.send(messages.hand_transforms(results, header, prefix=p["tf_prefix"]))
        primary = messages.primary_hands(results)
        for side in SIDES:
            hand = primary.get(side)
            if hand is None:
                empty = PoseArray()
                empty.header = messages.copy_header(header)
                self._joints_pub[side].publish(empty)
                continue
            self._joints_pub[side].publish(messages.hand_pose_array(hand, header))
            state = messages.mano_joint_state(hand, header)
            if state is not None:
                self._mano_pub[side].publish(state)
        if p["publish_markers"] and self._marker_pub.get_subscription_count() > 0:
            self._marker_pub.publish(self._markers.build(results, header, faces=self._faces))
        if p["publish_overlay"] and self._overlay_pub.get_subscription_count() > 0:
            from fast_hamer_core.render import render_overlay

            overlay = render_overlay(
                rgb, results, camera, faces=self._faces, mesh_alpha=p["overlay_mesh_alpha"]
            )
            self._overlay_pub.publish(conv.rgb_to_image(overlay, header))

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> DiagnosticStatus:
        """The node's current DiagnosticStatus (what /diagnostics carries)."""
        snap = self._stats.snapshot(dropped=self._slot.dropped)
        status = DiagnosticStatus()
        status.name = f"{self.get_fully_qualified_name()}: hand pipeline"
        status.hardware_id = str(self._reconstructor.device)
        status.level, status.message = DiagnosticStatus.OK, "running"
        if snap.seconds_since_input is None:
            status.level, status.message = (
                DiagnosticStatus.WARN,
                f"no image received on {self._image_sub.topic_name}",
            )
        elif snap.seconds_since_input > STALE_INPUT_S:
            status.level = DiagnosticStatus.WARN
            status.message = f"no image for {snap.seconds_since_input:.1f} s on {self._image_sub.topic_name}"
        elif self._warned_no_info and self._camera_info is None:
            status.level, status.message = (
                DiagnosticStatus.WARN,
                "running without CameraInfo (focal_length_px)",
            )
        values = {
            "mode": self._reconstructor.mode,
            "device": self._reconstructor.device,
            "model": self._reconstructor.model_name,
            "detector": self._reconstructor.detector_name,
            "tf_backend": self._tf.backend,
            "input_rate_hz": f"{snap.input_rate_hz:.2f}",
            "output_rate_hz": f"{snap.output_rate_hz:.2f}",
            "latency_p50_ms": f"{snap.latency_p50_ms:.1f}",
            "latency_p95_ms": f"{snap.latency_p95_ms:.1f}",
            "frames_received": str(snap.received_total),
            "frames_processed": str(snap.processed_total),
            "frames_dropped": str(snap.dropped_total),
            "frames_lost_before_node": str(self._gaps.lost),
            "messages_rejected": str(snap.rejected_total),
            "inference_errors": str(snap.errors_total),
            "hands_last_frame": str(snap.hands_last_frame),
        }
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [self.diagnostics()]
        self._diag_pub.publish(array)

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        self._slot.close()
        if self._worker is not None and self._worker.is_alive():
            self._worker.join(timeout=10.0)
        try:
            if self._reconstructor is not None:
                self._reconstructor.close()
                self._reconstructor = None
        finally:
            super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``hand_mesh_node --ros-args --params-file config/hands.yaml``."""
    return run_node(
        args,
        HandMeshNode,
        name=NODE_NAME,
        setup_errors=(FileNotFoundError, ValueError, RuntimeError),  # bad set-up: one clear line
    )


if __name__ == "__main__":
    sys.exit(main())
