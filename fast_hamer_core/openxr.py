"""Our 21 hand joints -> the 26 joints of OpenXR's hand tracking (XR_EXT_hand_tracking), with poses.

OpenXR (and NVIDIA IsaacTeleop, which describes hands the same way) orders the joints as
``XrHandJointEXT``: palm, wrist, then the thumb's metacarpal, proximal, distal and tip, then for the index,
middle, ring and little fingers metacarpal, proximal, intermediate, distal and tip (26 joints). Joint by
joint (our joint names from :data:`fast_hamer_core.skeleton.JOINT_NAMES`):

==  ======================  =============================================================================
 #  OpenXR joint            position
==  ======================  =============================================================================
 0  palm                    centre of the middle metacarpal bone: midway between joint 11 and ``middle_mcp``
 1  wrist                   ``wrist``
 2  thumb_metacarpal        ``thumb_cmc`` (the base of the thumb's metacarpal)
 3  thumb_proximal          ``thumb_mcp``
 4  thumb_distal            ``thumb_ip``
 5  thumb_tip               ``thumb_tip``
 6  index_metacarpal        *estimated*: ``wrist`` + 0.3 x (``index_mcp`` - ``wrist``), see below
 7  index_proximal          ``index_mcp``
 8  index_intermediate      ``index_pip``
 9  index_distal            ``index_dip``
10  index_tip               ``index_tip``
11-15 middle_...            as the index, from the ``middle_*`` joints
16-20 ring_...              as the index, from the ``ring_*`` joints
21-25 little_...            as the index, from the ``pinky_*`` joints
==  ======================  =============================================================================

The four finger metacarpal bases (carpometacarpal joints) are not among our 21 joints (neither MediaPipe's
nor MANO's); they are placed on the wrist -> knuckle line, 0.3 of the way (the carpal bones take about
that share of the wrist-to-knuckle distance). Every other position is one of our joints exactly; in mesh
mode those are MANO's regressed joints, the tips MANO mesh vertices.

Orientations follow OpenXR's joint convention (right-handed for both hands): **+Z points backward along
the joint's bone, away from the fingertip** (-Z is the direction from the joint to the next joint toward
the tip; a tip uses the bone it ends), **+Y points out of the back of the hand** (dorsal, perpendicular to
the bone), X = Y x Z. Wrist and palm use the wrist -> middle knuckle direction for -Z. The dorsal direction:

- landmarks mode (the detector's 21 joints): the palm's normal, from the wrist and the index and little
  knuckles, for every joint (made perpendicular to each bone, so that flexion turns it with the finger);
- mesh mode: the same palm normal at the wrist, carried to each joint by MANO's rotations:
  ``R_joint @ R_wrist.T @ normal``, so that a finger's twist about its bone (which positions alone cannot
  show) turns its frame. The thumb shares the palm's dorsal direction at the wrist, so its Y is the palm
  normal turned by the thumb's rotations (OpenXR's thumb nail direction is an anatomical convention that
  neither model gives).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fast_hamer_core.skeleton import NUM_JOINTS, SIDES
from fast_hamer_core.types import HandResult

OPENXR_FINGERS: tuple[str, ...] = ("index", "middle", "ring", "little")
_FINGER_JOINTS: tuple[str, ...] = ("metacarpal", "proximal", "intermediate", "distal", "tip")
#: The 26 joints in OpenXR's order (``XrHandJointEXT`` values 0..25, lower case without the prefix).
OPENXR_JOINT_NAMES: tuple[str, ...] = (
    "palm",
    "wrist",
    "thumb_metacarpal",
    "thumb_proximal",
    "thumb_distal",
    "thumb_tip",
    *(
        f"{f}_{j}"
        for f in OPENXR_FINGERS
        for j in ("metacarpal", "proximal", "intermediate", "distal", "tip")
    ),
)
NUM_OPENXR_JOINTS = len(OPENXR_JOINT_NAMES)
#: Finger metacarpal bases sit this fraction of the way from the wrist to the knuckle (see the docstring).
METACARPAL_BASE_FRACTION = 0.3

WRIST = 0
#: Our joint at each OpenXR joint, or -1 where the joint is estimated (palm, finger metacarpals).
OURS_AT_OPENXR: tuple[int, ...] = (
    -1,
    WRIST,
    1, 2, 3, 4,
    -1, 5, 6, 7, 8,
    -1, 9, 10, 11, 12,
    -1, 13, 14, 15, 16,
    -1, 17, 18, 19, 20,
)  # fmt: skip
#: For each OpenXR joint, the OpenXR joint its -Z points to (the next joint toward the tip); a tip points
#: from its distal joint (negative: the direction is reversed, -Z = tip - distal). Palm and wrist: the
#: middle knuckle.
_TOWARD_TIP: tuple[int, ...] = (
    12,
    12,
    3, 4, 5, -4,
    7, 8, 9, 10, -9,
    12, 13, 14, 15, -14,
    17, 18, 19, 20, -19,
    22, 23, 24, 25, -24,
)  # fmt: skip


@dataclass
class OpenXRHand:
    """The 26 OpenXR joints of one hand, camera optical frame, metres."""

    side: str
    positions_m: np.ndarray  #: (26, 3)
    rotations: np.ndarray  #: (26, 3, 3), columns = the joint's X, Y, Z axes in the camera frame

    @property
    def names(self) -> tuple[str, ...]:
        return OPENXR_JOINT_NAMES


def openxr_positions(joints_m: np.ndarray) -> np.ndarray:
    """(21, 3) our joints -> (26, 3) OpenXR joint positions (table in the module docstring)."""
    joints_m = np.asarray(joints_m, dtype=np.float64).reshape(NUM_JOINTS, 3)
    out = np.empty((NUM_OPENXR_JOINTS, 3))
    for k, ours in enumerate(OURS_AT_OPENXR):
        if ours >= 0:
            out[k] = joints_m[ours]
    for base in (6, 11, 16, 21):  # finger metacarpals: on the wrist -> knuckle line
        out[base] = joints_m[WRIST] + METACARPAL_BASE_FRACTION * (out[base + 1] - joints_m[WRIST])
    out[0] = 0.5 * (out[11] + out[12])  # palm: centre of the middle metacarpal bone
    return out


def palm_dorsal(joints_m: np.ndarray, side: str) -> np.ndarray:
    """(3,) unit vector out of the back of the hand: (little knuckle - wrist) x (index knuckle - wrist)
    for a right hand, the opposite for a left hand (its mirror image)."""
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    joints_m = np.asarray(joints_m, dtype=np.float64)
    normal = np.cross(joints_m[17] - joints_m[WRIST], joints_m[5] - joints_m[WRIST])
    normal = normal / np.linalg.norm(normal)
    return normal if side == "right" else -normal


def _frame(back_along_bone: np.ndarray, dorsal: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """(3, 3) columns X, Y, Z: Z = ``back_along_bone``, Y = ``dorsal`` made perpendicular to Z (else
    ``fallback``), X = Y x Z."""
    z = back_along_bone / np.linalg.norm(back_along_bone)
    for up in (dorsal, fallback, np.eye(3)[np.argmin(np.abs(z))]):
        y = up - np.dot(up, z) * z
        if np.linalg.norm(y) > 1e-6:
            break
    y = y / np.linalg.norm(y)
    return np.stack([np.cross(y, z), y, z], axis=1)


def openxr_hand(joints_m: np.ndarray, side: str, mano_rotations: np.ndarray | None = None) -> OpenXRHand:
    """The 26 OpenXR joints of a hand from our (21, 3) joints (camera frame, metres). ``mano_rotations``:
    (21, 3, 3) MANO global joint rotations (a mesh result's ``joint_rotations``), used for the dorsal
    direction as the module docstring says; None: the palm normal (landmarks mode)."""
    joints_m = np.asarray(joints_m, dtype=np.float64).reshape(NUM_JOINTS, 3)
    if not np.isfinite(joints_m).all():
        raise ValueError("joints contain NaN or inf")
    positions = openxr_positions(joints_m)
    normal = palm_dorsal(joints_m, side)
    dorsal = np.tile(normal, (NUM_OPENXR_JOINTS, 1))  # (26, 3)
    if mano_rotations is not None:
        rots = np.asarray(mano_rotations, dtype=np.float64).reshape(NUM_JOINTS, 3, 3)
        rest = rots[WRIST].T @ normal  # the palm normal in the wrist's rest frame
        for k, ours in enumerate(OURS_AT_OPENXR):
            if ours >= 0:
                dorsal[k] = rots[ours] @ rest
    rotations = np.empty((NUM_OPENXR_JOINTS, 3, 3))
    for k, toward in enumerate(_TOWARD_TIP):
        # A tip (negative entry) takes the bone from its distal joint.
        back = positions[k] - positions[toward] if toward >= 0 else positions[-toward] - positions[k]
        rotations[k] = _frame(back, dorsal[k], normal)
    return OpenXRHand(side=side, positions_m=positions, rotations=rotations)


def openxr_from_result(hand: HandResult) -> OpenXRHand:
    """:func:`openxr_hand` of a result: MANO's rotations in mesh mode, the palm normal in landmarks mode."""
    rotations = hand.joint_rotations if hand.mode == "mesh" else None
    return openxr_hand(hand.keypoints_3d, hand.side, rotations)
