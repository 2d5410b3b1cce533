"""ROS-shaped messages -> the plain data a 3D view draws (ROS-free, duck-typed on the message fields).

:class:`HandScene` keeps the hands of the latest ``hands/markers`` MarkerArray (namespaces ``mesh``,
``skeleton``, ``joints``, ``label`` of :mod:`fast_hamer_ros.messages`; ADD, DELETE and DELETEALL are
honoured) and the joint frames of the latest ``/tf`` message. Works for rclpy messages and for the
``rosbags`` objects read from a bag (same field names). All 3D data is in the camera optical frame
(x right, y down, z forward), metres.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from fast_hamer_core.geometry import PinholeCamera

#: visualization_msgs/Marker action codes.
ADD, DELETE, DELETEALL = 0, 2, 3
_LABEL = re.compile(r"^(?P<side>\w+)(?: #(?P<track>\d+))?")


@dataclass
class HandDrawing:
    """One hand as drawn: ``hand_id`` = its marker id (the track id when tracked).

    ``triangles_m`` (F, 3, 3) mesh triangles or None, ``bones_m`` (B, 2, 3) skeleton segments,
    ``joints_m`` (21, 3), ``color_rgb`` 0..255, ``label`` e.g. ``"right #3 0.97"`` at ``label_m`` (3,)."""

    hand_id: int
    color_rgb: tuple[int, int, int] = (200, 200, 200)
    triangles_m: np.ndarray | None = None
    bones_m: np.ndarray | None = None
    joints_m: np.ndarray | None = None
    label: str = ""
    label_m: np.ndarray | None = None

    @property
    def side(self) -> str | None:
        """``left`` / ``right`` from the label (None without one)."""
        match = _LABEL.match(self.label)
        return match.group("side") if match else None

    @property
    def track_id(self) -> int | None:
        """The track id from the label (``#3``), None when untracked."""
        match = _LABEL.match(self.label)
        return int(match.group("track")) if match and match.group("track") else None


@dataclass
class JointFrame:
    """One TF frame: ``child`` in ``parent`` at ``translation_m`` with rotation ``quaternion_wxyz``."""

    child: str
    parent: str
    translation_m: np.ndarray
    quaternion_wxyz: np.ndarray


def _points(points) -> np.ndarray:
    """A list of geometry_msgs/Point -> (N, 3) float64."""
    return np.array([[p.x, p.y, p.z] for p in points], dtype=np.float64).reshape(-1, 3)


def _rgb(color) -> tuple[int, int, int]:
    return tuple(round(255 * min(max(float(c), 0.0), 1.0)) for c in (color.r, color.g, color.b))


@dataclass
class HandScene:
    """The current hands (by marker id) and joint frames (by child frame name)."""

    hands: dict[int, HandDrawing] = field(default_factory=dict)
    frames: dict[str, JointFrame] = field(default_factory=dict)
    stamp_ns: int = 0

    def apply_markers(self, marker_array) -> None:
        """Update the hands from a MarkerArray (ADD replaces a part, DELETE removes it, DELETEALL all)."""
        for m in marker_array.markers:
            self.stamp_ns = int(m.header.stamp.sec) * 1_000_000_000 + int(m.header.stamp.nanosec)
            if int(m.action) == DELETEALL:
                self.hands.clear()
                continue
            hand = self.hands.get(int(m.id))
            if int(m.action) == DELETE:
                if hand is not None:
                    self._clear_part(hand, str(m.ns))
                    if hand.triangles_m is None and hand.bones_m is None and hand.joints_m is None:
                        del self.hands[int(m.id)]
                continue
            if hand is None:
                hand = self.hands[int(m.id)] = HandDrawing(int(m.id))
            self._set_part(hand, m)

    @staticmethod
    def _set_part(hand: HandDrawing, m) -> None:
        ns = str(m.ns)
        if ns == "mesh":
            hand.triangles_m = _points(m.points).reshape(-1, 3, 3)  # 3 points per triangle -> (F, 3, 3)
            hand.color_rgb = _rgb(m.color)
        elif ns == "skeleton":
            hand.bones_m = _points(m.points).reshape(-1, 2, 3)  # a point pair per bone -> (B, 2, 3)
            hand.color_rgb = hand.color_rgb if hand.triangles_m is not None else _rgb(m.color)
        elif ns == "joints":
            hand.joints_m = _points(m.points)
        elif ns == "label":
            hand.label = str(m.text)
            p = m.pose.position
            hand.label_m = np.array([p.x, p.y, p.z], dtype=np.float64)

    @staticmethod
    def _clear_part(hand: HandDrawing, ns: str) -> None:
        if ns == "mesh":
            hand.triangles_m = None
        elif ns == "skeleton":
            hand.bones_m = None
        elif ns == "joints":
            hand.joints_m = None
        elif ns == "label":
            hand.label, hand.label_m = "", None

    def apply_tf(self, tf_message, replace: bool = True) -> None:
        """Joint frames of a TFMessage; ``replace`` drops the frames of the previous message (a hand that
        left the view loses its frames)."""
        if replace:
            self.frames.clear()
        for t in tf_message.transforms:
            tr, q = t.transform.translation, t.transform.rotation
            self.frames[str(t.child_frame_id)] = JointFrame(
                str(t.child_frame_id),
                str(t.header.frame_id),
                np.array([tr.x, tr.y, tr.z], dtype=np.float64),
                np.array([q.w, q.x, q.y, q.z], dtype=np.float64),  # ROS (x, y, z, w) -> viser (w, x, y, z)
            )


def camera_from_info(info) -> PinholeCamera | None:
    """A CameraInfo's intrinsics (None when K is unset)."""
    k = np.asarray(info.k, dtype=np.float64)
    if k.size != 9 or k[0] <= 0 or int(info.width) <= 0:
        return None
    return PinholeCamera.from_k(k, int(info.width), int(info.height))
