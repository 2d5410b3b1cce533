"""``/diagnostics`` of ``hand_mesh_node``: one DiagnosticStatus with the pipeline's health and rates.

A mixin of :class:`~fast_hamer_ros.hand_mesh_node.HandMeshFrames` (which owns the state it reads: the
reconstructor, :class:`~fast_hamer_ros.worker.PipelineStats`, the CameraInfo state, the TF backend), kept
in its own module so that the node file holds the frame path. Levels: ERROR when every frame of the last
window failed or was refused, WARN for a refused CameraInfo, no or stale images, no CameraInfo; else OK.
"""

from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

from fast_hamer_ros.node_setup import STALE_INPUT_S


class NodeDiagnostics:
    """What /diagnostics carries (see the module docstring)."""

    def diagnostics(self) -> DiagnosticStatus:
        """The node's current DiagnosticStatus (what /diagnostics carries)."""
        snap = self._stats.snapshot(dropped=self.dropped_frames)
        status = DiagnosticStatus()
        status.name = f"{self.get_fully_qualified_name()}: hand pipeline"
        status.hardware_id = str(self._reconstructor.device)
        status.level, status.message = DiagnosticStatus.OK, "running"
        if snap.failed_in_window > 0 and snap.processed_in_window == 0:
            status.level = DiagnosticStatus.ERROR
            status.message = (
                f"every frame of the last {self._stats.window_s:.0f} s failed or was refused "
                f"({snap.failed_in_window}); last: {snap.last_failure}"
            )
        elif self._cameras.refusal is not None:
            status.level = DiagnosticStatus.WARN
            status.message = (
                f"CameraInfo refused: {self._cameras.refusal} "
                f"(camera_info_fallback={self._params['camera_info_fallback']})"
            )
        elif snap.seconds_since_input is None:
            status.level, status.message = (
                DiagnosticStatus.WARN,
                f"no image received on {self._image_topic()}",
            )
        elif snap.seconds_since_input > STALE_INPUT_S:
            status.level = DiagnosticStatus.WARN
            status.message = f"no image for {snap.seconds_since_input:.1f} s on {self._image_topic()}"
        elif not self._cameras.received:
            status.level, status.message = (
                DiagnosticStatus.WARN,
                "running without CameraInfo (focal_length_px)",
            )
        values = {
            "mode": self._reconstructor.mode,
            "pipeline_mode": "stream" if self._reconstructor.stream else "frame",
            "detection_mode": self._params["detection_mode"],
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
            "hands_dropped_non_finite": str(getattr(self._reconstructor, "dropped_non_finite", 0)),
            "camera_info": self._camera_state(),
        }
        values.update(self._detection_rates.update(self._reconstructor.detection_counts_raw()))
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        return status

    def _camera_state(self) -> str:
        if not self._cameras.received:
            return "none received"
        refusal = self._cameras.refusal
        return "valid" if refusal is None else f"refused: {refusal}"

    def _publish_diagnostics(self) -> None:
        array = DiagnosticArray()
        array.header.stamp = self.get_clock().now().to_msg()
        array.status = [self.diagnostics()]
        self._diag_pub.publish(array)
