"""Plain result types passed between detector, reconstructor, tracker and the ROS adapter.

Conventions, stated once for the whole library:
- Pixels: image coordinates of the full input image, x right, y down, integer values at pixel centres
  (OpenCV's convention: the top-left pixel is (0, 0), so a horizontal flip maps x to ``width - 1 - x``);
  boxes are ``xyxy`` in pixels.
- 3D: metres, in the camera optical frame (x right, y down, z forward), the frame of the input image's
  ``frame_id`` in ROS.
- Rotations: 3x3 matrices unless a name ends in ``_aa`` (axis-angle, radians).
- Sides: ``"left"`` / ``"right"`` are the anatomical side of the hand, not the side of the image.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Detection:
    """One hand found by a detector."""

    box: np.ndarray  #: (4,) xyxy pixels, float
    score: float  #: detection confidence in [0, 1]
    side: str  #: "left" | "right", anatomical
    side_score: float  #: confidence in ``side``, in [0, 1]
    keypoints_2d: np.ndarray | None = None  #: (21, 2) pixels, skeleton order
    keypoints_3d_hand: np.ndarray | None = None  #: (21, 3) metres, detector's metric hand frame

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)


@dataclass
class HandResult:
    """One reconstructed hand. All 3D quantities in metres in the camera optical frame.

    ``mode`` says which path produced it: ``"mesh"`` (network + MANO) or ``"landmarks"`` (detector
    keypoints lifted to 3D by PnP; no MANO parameters, no vertices).
    """

    side: str
    score: float
    box: np.ndarray  #: (4,) xyxy pixels
    keypoints_2d: np.ndarray  #: (21, 2) pixels
    keypoints_3d: np.ndarray  #: (21, 3) metres, camera frame
    joint_rotations: np.ndarray  #: (21, 3, 3) orientation of each joint in the camera frame
    mode: str = "mesh"
    cam_t: np.ndarray | None = None  #: (3,) metres, MANO root translation in the camera frame
    vertices: np.ndarray | None = None  #: (778, 3) metres, camera frame
    global_orient: np.ndarray | None = None  #: (3, 3) MANO root rotation, camera frame, true side
    hand_pose: np.ndarray | None = None  #: (15, 3, 3) MANO joint rotations (relative), true side
    global_orient_aa: np.ndarray | None = None  #: (3,) axis-angle of ``global_orient``
    hand_pose_aa: np.ndarray | None = None  #: (15, 3) axis-angle of ``hand_pose``
    betas: np.ndarray | None = None  #: (10,) MANO shape
    track_id: int | None = None
    extras: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (arrays become nested lists; ``None`` stays ``None``)."""
        out: dict = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out
