"""``hand_mesh_node``: camera images in, 3D hands out (markers, TF, poses, MANO joint states, overlay).

A thin ROS 2 adapter around :class:`fast_hamer_core.pipeline.HandReconstructor`; all maths lives in
fast_hamer_core. Topics (relative names, remap them or push the node into the camera's namespace):

================================  =================================  ====================================
topic                             type                               notes
================================  =================================  ====================================
``image``                         sensor_msgs/Image (sub)            rgb8, bgr8, rgba8, bgra8, mono8
``image/compressed``              sensor_msgs/CompressedImage (sub)  when ``image_transport=compressed``
``camera_info``                   sensor_msgs/CameraInfo (sub)       intrinsics K; else focal_length_px
``depth``                         sensor_msgs/Image (sub)            when ``depth.enabled``; 16UC1/32FC1
``hands/markers``                 visualization_msgs/MarkerArray     all hands; live marker_lifetime_s
``hands/<side>/joints``           geometry_msgs/PoseArray            21 joints; empty when no hand
``hands/<side>/tracked``          std_msgs/Bool                      every frame: detected this frame
``hands/<side>/openxr_joints``    geometry_msgs/PoseArray            26 OpenXR joints (publish_openxr)
``hands/<side>/mano``             sensor_msgs/JointState             mesh mode only
``hands/overlay``                 sensor_msgs/Image (rgb8)           only computed when subscribed
``/tf``                           tf2_msgs/TFMessage                 ``<tf_prefix><side>_<joint>``
``/diagnostics``                  diagnostic_msgs/DiagnosticArray    rates, latency, drops, models
================================  =================================  ====================================
``<side>`` is ``left`` or ``right``.

Every output is stamped with the input image's header (stamp and frame_id), except ``tracked`` (Bool has
no header: it is published right after the same frame's ``joints``). ``managed:=true`` runs the same
node as a lifecycle node (:mod:`fast_hamer_ros.lifecycle_node`). Frames are handled
newest-only through :class:`fast_hamer_core.stream.StreamPipeline`: the subscription callback hands the
message in, stage 1 converts it and finds the hands, stage 2 reconstructs and publishes; in stream mode
(``stream.enabled``) the two stages overlap on two threads, otherwise one thread runs both.
``/diagnostics`` counts frames overwritten before the worker took them (``frames_dropped``) and frames
discarded before the node saw them, from gaps in the publisher's sequence numbers
(``frames_lost_before_node``: the keep-last-1 reader queue, or the network). Malformed messages are
logged with the reason and skipped; inference errors are logged; the node keeps running.

Bad input never becomes a wrong number: every CameraInfo goes through the core's
:func:`~fast_hamer_core.camera_check.check_camera` (a refused one is warned with the field named and
replaced as ``camera_info_fallback`` says; /diagnostics WARN), lens distortion D is used (or P when
``image_rectified``), images over ``max_image_pixels`` are refused before decoding, an empty frame_id is
refused or replaced by ``default_frame_id``, and the core drops hands with a NaN / inf. /diagnostics is
ERROR, with the reason, when every frame of the last window failed or was refused.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, JointState
from std_msgs.msg import Bool
from visualization_msgs.msg import MarkerArray

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.openxr import openxr_from_result
from fast_hamer_core.skeleton import SIDES
from fast_hamer_core.stream import PreparedFrame, StreamOutput, StreamPipeline
from fast_hamer_ros import image_conversion as conv
from fast_hamer_ros import messages
from fast_hamer_ros.camera_intrinsics import CameraInfoState
from fast_hamer_ros.node_diagnostics import NodeDiagnostics
from fast_hamer_ros.node_main import run_node
from fast_hamer_ros.node_parameters import ParameterHandling
from fast_hamer_ros.node_setup import (
    OVERLAY_QOS,
    ReceivedFrame,
    build_reconstructor,
    image_qos,
    stamp_seconds,
)
from fast_hamer_ros.parameters import NODE_NAME
from fast_hamer_ros.tf_publisher import TfPublisher
from fast_hamer_ros.worker import DetectionRates, LatestSlot, PipelineStats, ReasonThrottle, SequenceGaps


class HandMeshFrames(NodeDiagnostics):
    """The node's job, shared by :class:`HandMeshNode` (plain) and
    :class:`~fast_hamer_ros.lifecycle_node.ManagedHandMeshNode` (lifecycle): load the models, make the
    publishers, start and stop the input, the two-stage frame path and the outputs, diagnostics. A mixin
    placed before :class:`ParameterHandling` and the rclpy node class; the node classes only decide *when*
    each step runs (at construction, or in the lifecycle transitions)."""

    def _init_frames(self, reconstructor=None) -> None:
        """Set before anything can fail: rclpy destroys nodes at shutdown, even half-constructed ones."""
        self._pipeline: StreamPipeline | None = None
        self._reconstructor = None
        self._given_reconstructor = reconstructor
        self._image_sub = self._info_sub = self._depth_sub = None
        self._diag_timer = None
        self._tf: TfPublisher | None = None
        self._outputs_made = False
        self._publishing = False  # False: frames in flight are dropped, nothing is published

    # ------------------------------------------------------------------ the steps of a node's life
    def _load(self) -> None:
        """Build the reconstructor (models loaded once, here) and the frame pipeline."""
        p = self._params
        given, self._given_reconstructor = self._given_reconstructor, None  # a given one is used once
        self._reconstructor = given if given is not None else build_reconstructor(p)
        self._check_unused_mano()
        self._faces = self._reconstructor.faces
        self._cameras = CameraInfoState(self.get_logger(), self.resolve_topic_name("camera_info"))
        self._warned_frame_id = False
        self._warned_grey = False
        self._depth_slot: LatestSlot[ReceivedFrame] = LatestSlot()
        self._latest_depth: ReceivedFrame | None = None
        self._markers = messages.HandMarkers()
        self._stats = PipelineStats()
        self._gaps = SequenceGaps()
        self._throttle = ReasonThrottle(period_s=5.0)
        self._detection_rates = DetectionRates(window_s=self._stats.window_s)
        self._pipeline = StreamPipeline(
            self._reconstructor,
            on_output=self._on_output,
            prepare=self._prepare,
            on_error=self._on_stream_error,
            overlap=p["stream.enabled"] and p["stream.overlap"],
            name="hand_mesh",
        )

    def _unload(self) -> None:
        """Stop the pipeline (a frame in progress finishes) and release the models. Idempotent."""
        if self._pipeline is not None:
            self._pipeline.close(timeout_s=10.0)
            self._pipeline = None
        if self._reconstructor is not None:
            reconstructor, self._reconstructor = self._reconstructor, None
            reconstructor.close()

    def _create_outputs(self) -> None:
        """Every publisher (hands/..., /tf, /diagnostics)."""
        self._marker_pub = self.create_publisher(MarkerArray, "hands/markers", 10)
        self._joints_pub = {s: self.create_publisher(PoseArray, f"hands/{s}/joints", 10) for s in SIDES}
        self._tracked_pub = {s: self.create_publisher(Bool, f"hands/{s}/tracked", 10) for s in SIDES}
        self._openxr_pub = {
            s: self.create_publisher(PoseArray, f"hands/{s}/openxr_joints", 10) for s in SIDES
        }
        self._mano_pub = {s: self.create_publisher(JointState, f"hands/{s}/mano", 10) for s in SIDES}
        # Reliable, keep last 1: matches reliable (RViz's default) and best-effort viewers, never queues.
        self._overlay_pub = self.create_publisher(Image, "hands/overlay", OVERLAY_QOS)
        self._diag_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._tf = TfPublisher(self)
        self._outputs_made = True

    def _destroy_outputs(self) -> None:
        if not self._outputs_made:
            return
        pubs = [self._marker_pub, self._overlay_pub, self._diag_pub]
        for table in (self._joints_pub, self._tracked_pub, self._openxr_pub, self._mano_pub):
            pubs.extend(table.values())
        for pub in pubs:
            self.destroy_publisher(pub)
        self._tf.destroy(self)
        self._outputs_made = False

    def _start(self) -> None:
        """Subscribe to the inputs and publish: frames flow from here on."""
        p = self._params
        self._publishing = True
        qos = image_qos(p["image_qos"])
        if p["image_transport"] == "compressed":
            self._image_sub = self.create_subscription(
                CompressedImage, "image/compressed", self._on_image, qos
            )
        else:
            self._image_sub = self.create_subscription(Image, "image", self._on_image, qos)
        self._info_sub = self.create_subscription(CameraInfo, "camera_info", self._on_camera_info, qos)
        if p["depth.enabled"]:
            self._depth_sub = self.create_subscription(Image, "depth", self._on_depth, qos)
        self._diag_timer = self.create_timer(p["diagnostics_period_s"], self._publish_diagnostics)

    def _stop(self) -> None:
        """Unsubscribe, let the frames in flight finish (published), then publish nothing more."""
        for sub in (self._image_sub, self._info_sub, self._depth_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._image_sub = self._info_sub = self._depth_sub = None
        if self._diag_timer is not None:
            self.destroy_timer(self._diag_timer)
            self._diag_timer = None
        if self._pipeline is not None and not self._pipeline.drain(timeout_s=10.0):
            self.get_logger().warning("a frame was still in progress after 10 s; its outputs are dropped")
        self._publishing = False

    def _log_started(self) -> None:
        mode = self._reconstructor.mode
        mode_line = (
            "landmarks-only mode (no mesh checkpoint: 21 joints from the detector, no mesh, no MANO)"
            if mode == "landmarks"
            else f"mesh mode (model {self._reconstructor.model_name})"
        )
        rec, p = self._reconstructor, self._params
        detection = (
            f"stream detection (palm search every {p['stream.search_every_frames']} frames while tracking"
            + (", overlapping stages)" if self._pipeline.overlap else ")")
            if rec.stream
            else "photo detection (full search every frame)"
        )
        self.get_logger().info(
            f"{mode_line}; {detection}; device {rec.device}; detector {rec.detector_name}; "
            f"TF via {self._tf.backend}; listening on {self._image_topic()}"
        )

    def _image_topic(self) -> str:
        name = "image/compressed" if self._params["image_transport"] == "compressed" else "image"
        return self.resolve_topic_name(name)

    # ------------------------------------------------------------------ checks and accessors
    def _check_unused_mano(self) -> None:
        """Landmarks mode does not load MANO; a ``mano_path`` given anyway is still checked, so that a
        wrong file is said now rather than when a mesh checkpoint is added (warned, not refused)."""
        path = self._params["mano_path"]
        if self._reconstructor.mode != "landmarks" or not path:
            return
        from fast_hamer_core.mano import load_mano_arrays, resolve_mano_path

        try:
            load_mano_arrays(resolve_mano_path(path))
        except (FileNotFoundError, ValueError) as exc:
            self.get_logger().warning(
                f"mano_path is not a usable MANO model ({exc}); landmarks-only mode does not use it, a mesh "
                "checkpoint would fail with it"
            )

    @property
    def reconstructor(self):
        return self._reconstructor

    @property
    def dropped_frames(self) -> int:
        return self._pipeline.dropped if self._pipeline is not None else 0

    # ------------------------------------------------------------------ callbacks (executor thread)
    def _on_image(self, msg, info: dict) -> None:
        self._stats.input()
        gid = info.get("publisher_gid") or {}
        self._gaps.observe(bytes(gid.get("data", b"")), info.get("publication_sequence_number"))
        self._pipeline.submit(ReceivedFrame(msg, time.monotonic()))

    def _on_camera_info(self, msg: CameraInfo) -> None:
        self._cameras.update(msg)

    def _on_depth(self, msg: Image) -> None:
        self._depth_slot.put(ReceivedFrame(msg, time.monotonic()))

    # ------------------------------------------------------------------ pipeline stages (worker threads)
    def _on_stream_error(self, stage: str, exc: Exception) -> None:
        """A frame failed in a pipeline stage: logged (throttled), counted; the node keeps running."""
        self._stats.error(f"inference failed ({stage}): {type(exc).__name__}: {exc}")
        if self._throttle.allow(("error", stage, type(exc).__name__)):
            self.get_logger().error(f"frame skipped ({stage}): {type(exc).__name__}: {exc}")

    def _reject(self, what: str, exc: Exception) -> None:
        self._stats.reject(f"malformed {what}: {exc}", frame=what != "depth image")
        if self._throttle.allow((what, str(exc))):
            self.get_logger().warning(f"skipped malformed {what}: {exc}")

    def _to_rgb(self, msg) -> np.ndarray | None:
        """The frame's RGB pixels, or None when it is refused (logged, counted): an empty frame_id (unless
        ``default_frame_id`` replaces it, warned once), more than ``max_image_pixels`` pixels (checked
        before decoding), a malformed message."""
        if not msg.header.frame_id:
            default = self._params["default_frame_id"]
            if not default:
                self._reject(
                    "image", ValueError("header.frame_id is empty (set default_frame_id to use one)")
                )
                return None
            if not self._warned_frame_id:
                self._warned_frame_id = True
                self.get_logger().warning(
                    f"images with an empty header.frame_id get {default!r} (default_frame_id)"
                )
            msg.header.frame_id = default
        if not self._warned_grey and getattr(msg, "encoding", "") in conv.GREY_ENCODINGS:
            self._warned_grey = True
            self.get_logger().warning(
                f"grey images ({msg.encoding}): the MediaPipe hand detector is trained on colour and finds "
                "fewer hands in grey (6 of 12 on the test photos, 0 of 2 on some); use a colour stream"
            )
        max_pixels = self._params["max_image_pixels"]
        try:
            if isinstance(msg, CompressedImage):
                return conv.compressed_to_rgb(msg, max_pixels)
            return conv.image_to_rgb(msg, max_pixels)
        except conv.ImageConversionError as exc:
            self._reject("image", exc)
            return None

    def _camera(self, width: int, height: int) -> PinholeCamera | None:
        """The camera of a ``width`` x ``height`` frame (:class:`CameraInfoState`: the newest CameraInfo
        when the core's check passes, else ``camera_info_fallback``); None: skip it, counted as refused."""
        p = self._params
        camera = self._cameras.camera_for(
            width, height, p["focal_length_px"], p["camera_info_fallback"], p["image_rectified"]
        )
        if camera is None:
            self._stats.reject(
                f"CameraInfo refused: {self._cameras.refusal} (camera_info_fallback=skip_frames)"
            )
        return camera

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

    def _prepare(self, frame: ReceivedFrame) -> PreparedFrame | None:
        """Stage 1: the message as RGB with its camera (and the matching depth image); None skips it."""
        msg = frame.msg
        rgb = self._to_rgb(msg)
        if rgb is None:
            return None
        height, width = rgb.shape[:2]
        camera = self._camera(width, height)
        if camera is None:  # a refused CameraInfo and camera_info_fallback=skip_frames
            return None
        depth = self._depth_for(msg.header) if self._depth_sub is not None else None
        p = self._params
        depth_options = {
            "faces": self._faces,
            "min_samples": p["depth.min_samples"],
            "max_offset_m": p["depth.max_offset_m"],
            "surface_offset_m": p["depth.surface_offset_m"],
        }
        return PreparedFrame(
            rgb,
            camera,
            stamp_seconds(msg.header),
            context=frame,
            depth_m=depth,
            depth_options=depth_options,
        )

    def _on_output(self, out: StreamOutput) -> None:
        """Stage 2: publish one frame's hands (results already depth-corrected by the pipeline)."""
        frame: ReceivedFrame = out.frame.context
        self._publish(frame.msg.header, out.results, out.frame.image_rgb, out.frame.camera)
        self._stats.output(frame.received_at, len(out.results))

    def _publish(self, header, results, rgb: np.ndarray, camera: PinholeCamera) -> None:
        if not self._publishing:  # a managed node being deactivated: frames in flight are dropped
            return
        p = self._params
        if p["publish_tf"]:  # only the hands of this frame: the frames of a hand that left are not re-sent
            self._tf.send(messages.hand_transforms(results, header, prefix=p["tf_prefix"]))
        primary = messages.primary_hands(results)
        for side in SIDES:
            hand = primary.get(side)
            if hand is None:
                self._joints_pub[side].publish(messages.empty_pose_array(header))
                if p["publish_openxr"]:
                    self._openxr_pub[side].publish(messages.empty_pose_array(header))
            else:
                self._joints_pub[side].publish(messages.hand_pose_array(hand, header))
                if p["publish_openxr"]:
                    self._openxr_pub[side].publish(
                        messages.openxr_pose_array(openxr_from_result(hand), header)
                    )
                state = messages.mano_joint_state(hand, header)
                if state is not None:
                    self._mano_pub[side].publish(state)
            self._tracked_pub[side].publish(Bool(data=messages.is_tracked(hand)))
        if p["publish_markers"] and self._marker_pub.get_subscription_count() > 0:
            self._marker_pub.publish(
                self._markers.build(results, header, faces=self._faces, lifetime_s=p["marker_lifetime_s"])
            )
        if p["publish_overlay"] and self._overlay_pub.get_subscription_count() > 0:
            from fast_hamer_core.render import render_overlay

            overlay = render_overlay(
                rgb, results, camera, faces=self._faces, mesh_alpha=p["overlay_mesh_alpha"]
            )
            self._overlay_pub.publish(conv.rgb_to_image(overlay, header))

    # ------------------------------------------------------------------ shutdown
    def destroy_node(self) -> None:
        try:
            self._unload()
        finally:
            super().destroy_node()


class HandMeshNode(HandMeshFrames, ParameterHandling, Node):
    """The plain node: loads the models, subscribes and publishes as soon as it is constructed.
    ``reconstructor`` may be given (tests, embedding); otherwise it is built from the parameters. See
    the module docstring for topics and behaviour; ``managed:=true`` runs
    :class:`~fast_hamer_ros.lifecycle_node.ManagedHandMeshNode` instead."""

    def __init__(self, reconstructor=None, **node_kwargs) -> None:
        self._init_frames(reconstructor)
        super().__init__(NODE_NAME, **node_kwargs)
        self._declare_parameters()
        self._load()
        self._create_outputs()
        self._start()
        self._log_started()


def main(args: list[str] | None = None) -> int:
    """Console entry point: ``hand_mesh_node --ros-args --params-file config/hands.yaml``; with the
    parameter ``managed:=true`` (command line or params file) the lifecycle node."""
    from fast_hamer_ros.lifecycle_node import ManagedHandMeshNode, managed_requested

    argv = list(args if args is not None else sys.argv)
    return run_node(
        argv,
        ManagedHandMeshNode if managed_requested(argv) else HandMeshNode,
        name=NODE_NAME,
        setup_errors=(FileNotFoundError, ValueError, RuntimeError),  # bad set-up: one clear line
    )


if __name__ == "__main__":
    sys.exit(main())
