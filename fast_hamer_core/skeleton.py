"""The 21-joint hand skeleton shared by the network, the detector, TF and the markers.

One order everywhere: OpenPose's, which is also MediaPipe's landmark order and HaMeR's output order.
Index 0 is the wrist; then four joints per finger from the palm outwards, thumb first.
"""

from __future__ import annotations

FINGERS: tuple[str, ...] = ("thumb", "index", "middle", "ring", "pinky")

#: Joint names in the OpenPose / MediaPipe order. TF frames are ``<prefix><side>_<name>``.
JOINT_NAMES: tuple[str, ...] = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)  # fmt: skip

NUM_JOINTS: int = len(JOINT_NAMES)

#: Parent of each joint in the 21-joint order (-1 for the wrist, the root).
JOINT_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)

#: Bones as (parent, child) pairs, for skeleton drawing and markers.
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(JOINT_PARENTS) if p >= 0)

#: MANO's 16 regressed joints + 5 fingertip vertices -> the 21-joint order above (HaMeR's map).
MANO_TO_OPENPOSE: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)

#: For each of the 21 joints, the MANO joint (0..15) whose global rotation orients it.
#: MANO joints follow the order wrist, index(1-3), middle(4-6), pinky(7-9), ring(10-12), thumb(13-15);
#: a fingertip takes the rotation of the last joint of its finger.
JOINT_TO_MANO_ROTATION: tuple[int, ...] = tuple(
    m if m < 16 else {16: 15, 17: 3, 18: 6, 19: 12, 20: 9}[m] for m in MANO_TO_OPENPOSE
)

SIDES: tuple[str, ...] = ("left", "right")


def joint_frame_name(side: str, joint: str | int, prefix: str = "") -> str:
    """TF frame name of one joint, e.g. ``right_index_tip``."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    name = JOINT_NAMES[joint] if isinstance(joint, int) else joint
    if name not in JOINT_NAMES:
        raise ValueError(f"unknown joint {joint!r}; known: {', '.join(JOINT_NAMES)}")
    return f"{prefix}{side}_{name}"
