"""What ``hand_mesh_node`` builds from its parameters before it runs: QoS profiles and the pipeline.

Kept apart from the node class so that the node file holds the node's job (callbacks, publishing) and
construction can be read (and tested) on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_system_default,
)

#: QoS of hands/overlay.
OVERLAY_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE)
#: Seconds without images after which /diagnostics reports WARN.
STALE_INPUT_S = 5.0


@dataclass
class ReceivedFrame:
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
        detector=params["detector"],
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
        stream=params["stream.enabled"],
        search_every=params["stream.search_every_frames"],
        scan_windows=params["stream.scan_windows"],
        body_every=params["stream.body_every_frames"],
        lite_palms=params["stream.lite_palms"],
        max_unconfirmed_frames=params["stream.max_unconfirmed_frames"],
    )
    if not params["tracking.enabled"]:
        reconstructor.tracker = None
    return reconstructor
