"""HandResult -> ROS messages (markers, TF, PoseArray, JointState). Packing only, no maths.

Every message carries a copy of the input image's header (stamp and ``frame_id``): all 3D data is in
that camera's optical frame (x right, y down, z forward), in metres.

One hand per side for TF, PoseArray and JointState: frame names (``right_wrist``) cannot tell two
right hands apart, so :func:`primary_hands` picks, per side, the hand with the highest score. The
markers show every hand.

TF frames: ``<prefix><side>_<joint>`` with the joints of :data:`fast_hamer_core.skeleton.JOINT_NAMES`
(``right_wrist``, ``right_thumb_cmc`` ... ``right_index_tip`` ... ``left_pinky_tip``), parent = the
image's ``frame_id``, orientation = the joint's global rotation (``HandResult.joint_rotations``).

JointState names (:func:`mano_joint_names`), for retargeting, positions in radians (axis-angle
components, MANO's convention for the true side) except betas (unitless) and ``transl`` (metres):
``<side>_global_orient_{x,y,z}``, then the 15 MANO joints in MANO's order
``<side>_{index,middle,pinky,ring,thumb}{1,2,3}_{x,y,z}``, then ``<side>_transl_{x,y,z}`` (MANO root
translation in the camera frame) and ``<side>_beta_0`` .. ``<side>_beta_9``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from builtin_interfaces.msg import Duration
from geometry_msgs.msg import Point, Pose, PoseArray, Quaternion, TransformStamped, Vector3
from sensor_msgs.msg import JointState
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from fast_hamer_core.geometry import rotmat_to_quaternion_xyzw
from fast_hamer_core.openxr import OpenXRHand
from fast_hamer_core.pipeline import faces_for_side
from fast_hamer_core.render import SIDE_COLORS_RGB
from fast_hamer_core.skeleton import JOINT_NAMES, SIDES, SKELETON_EDGES, joint_frame_name
from fast_hamer_core.types import HandResult

#: MANO's 15 finger joints in MANO's order (hand_pose rows), as named in JointState.
MANO_POSE_JOINTS: tuple[str, ...] = tuple(
    f"{finger}{k}" for finger in ("index", "middle", "pinky", "ring", "thumb") for k in (1, 2, 3)
)
NUM_BETAS = 10

#: Marker namespaces, one per kind of marker; ids within a namespace identify the hand.
MARKER_NAMESPACES: tuple[str, ...] = ("mesh", "skeleton", "joints", "label")
#: Marker sizes in metres: bone line width, joint sphere diameter, label text height.
BONE_WIDTH_M = 0.004
JOINT_DIAMETER_M = 0.008
LABEL_HEIGHT_M = 0.02
#: Marker id of an untracked hand: base + 100 * side index + its rank within the side.
UNTRACKED_ID_BASE = 1_000_000


def copy_header(header: Header) -> Header:
    """A new Header with the same stamp and frame_id (messages never share one object)."""
    out = Header()
    out.stamp.sec, out.stamp.nanosec = int(header.stamp.sec), int(header.stamp.nanosec)
    out.frame_id = str(header.frame_id)
    return out


def quaternion_msg(rotation: np.ndarray) -> Quaternion:
    """3x3 rotation -> geometry_msgs/Quaternion (x, y, z, w)."""
    x, y, z, w = (float(v) for v in rotmat_to_quaternion_xyzw(np.asarray(rotation, dtype=np.float64)))
    return Quaternion(x=x, y=y, z=z, w=w)


def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=x, y=y, z=z) for x, y, z in np.asarray(xyz, dtype=np.float64).reshape(-1, 3).tolist()]


def primary_hands(results: Sequence[HandResult]) -> dict[str, HandResult]:
    """Per side, the hand with the highest score (the one that gets TF frames, PoseArray, JointState)."""
    best: dict[str, HandResult] = {}
    for hand in results:
        if hand.side in SIDES and (hand.side not in best or hand.score > best[hand.side].score):
            best[hand.side] = hand
    return best


# ---------------------------------------------------------------------------------------------- TF
def hand_transforms(
    results: Sequence[HandResult], header: Header, prefix: str = ""
) -> list[TransformStamped]:
    """21 TransformStamped per primary hand: parent = ``header.frame_id``, child = ``<prefix><side>_<joint>``,
    translation = the joint (metres, camera frame), rotation = the joint's global rotation."""
    out: list[TransformStamped] = []
    for side, hand in sorted(primary_hands(results).items()):
        quats = rotmat_to_quaternion_xyzw(np.asarray(hand.joint_rotations, dtype=np.float64))  # (21, 4)
        for j, name in enumerate(JOINT_NAMES):
            t = TransformStamped()
            t.header = copy_header(header)
            t.child_frame_id = joint_frame_name(side, name, prefix)
            x, y, z = (float(v) for v in hand.keypoints_3d[j])
            t.transform.translation = Vector3(x=x, y=y, z=z)
            qx, qy, qz, qw = (float(v) for v in quats[j])
            t.transform.rotation = Quaternion(x=qx, y=qy, z=qz, w=qw)
            out.append(t)
    return out


# ---------------------------------------------------------------------------------------------- poses
def hand_pose_array(hand: HandResult, header: Header) -> PoseArray:
    """PoseArray of the 21 joints (skeleton order): position in metres, orientation = joint rotation."""
    msg = PoseArray()
    msg.header = copy_header(header)
    quats = rotmat_to_quaternion_xyzw(np.asarray(hand.joint_rotations, dtype=np.float64))  # (21, 4)
    for p, q in zip(np.asarray(hand.keypoints_3d, dtype=np.float64).tolist(), quats.tolist(), strict=True):
        pose = Pose()
        pose.position = Point(x=p[0], y=p[1], z=p[2])
        pose.orientation = Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])
        msg.poses.append(pose)
    return msg


def empty_pose_array(header: Header) -> PoseArray:
    """The PoseArray of a side with no hand this frame (the frame's header, no poses)."""
    msg = PoseArray()
    msg.header = copy_header(header)
    return msg


def openxr_pose_array(hand: OpenXRHand, header: Header) -> PoseArray:
    """PoseArray of the 26 OpenXR joints in OpenXR's order (``fast_hamer_core.openxr.OPENXR_JOINT_NAMES``):
    position in metres, orientation = the joint's OpenXR frame (+Z back along the bone, +Y dorsal)."""
    msg = empty_pose_array(header)
    quats = rotmat_to_quaternion_xyzw(np.asarray(hand.rotations, dtype=np.float64))  # (26, 4)
    for p, q in zip(np.asarray(hand.positions_m, dtype=np.float64).tolist(), quats.tolist(), strict=True):
        pose = Pose()
        pose.position = Point(x=p[0], y=p[1], z=p[2])
        pose.orientation = Quaternion(x=q[0], y=q[1], z=q[2], w=q[3])
        msg.poses.append(pose)
    return msg


def is_tracked(hand: HandResult | None) -> bool:
    """``hands/<side>/tracked``: the side has a hand that the detector found in this frame. A hand carried
    by reconstruction alone (``extras['carried']``: the detector lost it, the mesh network follows it for
    up to ``stream.max_unconfirmed_frames``) is *not* tracked: its joints are still published, but a robot
    should hold its pose rather than follow an unconfirmed hand."""
    return hand is not None and not hand.extras.get("carried", False)


def mano_joint_names(side: str) -> list[str]:
    """The JointState names for one side (see the module docstring)."""
    names = [f"{side}_global_orient_{a}" for a in "xyz"]
    names += [f"{side}_{joint}_{a}" for joint in MANO_POSE_JOINTS for a in "xyz"]
    names += [f"{side}_transl_{a}" for a in "xyz"]
    names += [f"{side}_beta_{i}" for i in range(NUM_BETAS)]
    return names


def mano_joint_state(hand: HandResult, header: Header) -> JointState | None:
    """MANO pose (axis-angle), root translation and betas of a mesh hand; None for a landmarks hand."""
    if hand.global_orient_aa is None or hand.hand_pose_aa is None or hand.betas is None:
        return None
    transl = hand.cam_t if hand.cam_t is not None else np.full(3, np.nan)
    values = np.concatenate(
        [
            np.asarray(hand.global_orient_aa, dtype=np.float64).reshape(3),
            np.asarray(hand.hand_pose_aa, dtype=np.float64).reshape(15 * 3),  # (15, 3) -> (45,)
            np.asarray(transl, dtype=np.float64).reshape(3),
            np.asarray(hand.betas, dtype=np.float64).reshape(NUM_BETAS),
        ]
    )
    msg = JointState()
    msg.header = copy_header(header)
    msg.name = mano_joint_names(hand.side)
    msg.position = values.tolist()
    return msg


# ---------------------------------------------------------------------------------------------- markers
def side_color(side: str, alpha: float = 1.0) -> ColorRGBA:
    """The side's colour (same as the overlay), 0..1 floats."""
    r, g, b = SIDE_COLORS_RGB.get(side, (200, 200, 200))
    return ColorRGBA(r=r / 255.0, g=g / 255.0, b=b / 255.0, a=float(alpha))


def hand_marker_id(hand: HandResult, rank_in_side: int) -> int:
    """Marker id of a hand: its track id when tracked (stable over time), else a per-side slot."""
    if hand.track_id is not None:
        return int(hand.track_id)
    side_index = SIDES.index(hand.side) if hand.side in SIDES else len(SIDES)
    return UNTRACKED_ID_BASE + 100 * side_index + rank_in_side


def duration_msg(seconds: float) -> Duration:
    """builtin_interfaces/Duration of ``seconds`` (>= 0)."""
    nanoseconds = round(max(0.0, float(seconds)) * 1e9)
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def _marker(
    header: Header, ns: str, marker_id: int, kind: int, color: ColorRGBA, lifetime_s: float = 0.0
) -> Marker:
    m = Marker()
    m.header = copy_header(header)
    m.ns, m.id, m.type, m.action = ns, int(marker_id), kind, Marker.ADD
    m.pose.orientation.w = 1.0
    m.scale = Vector3(x=1.0, y=1.0, z=1.0)
    m.color = color
    m.lifetime = duration_msg(lifetime_s)  # RViz removes it then unless replaced; 0: until deleted
    return m


def hand_markers(
    hand: HandResult,
    header: Header,
    marker_id: int,
    faces: np.ndarray | None,
    lifetime_s: float = 0.0,
) -> list[Marker]:
    """The markers of one hand: mesh (when it has vertices and ``faces``), skeleton, joints, label; each
    lives ``lifetime_s`` seconds unless replaced (0: until deleted)."""
    markers: list[Marker] = []
    life = lifetime_s
    if hand.vertices is not None and faces is not None:
        mesh = _marker(header, "mesh", marker_id, Marker.TRIANGLE_LIST, side_color(hand.side, 0.8), life)
        tri = np.asarray(hand.vertices)[faces_for_side(np.asarray(faces), hand.side)]  # (F, 3, 3)
        mesh.points = _points(tri)  # 3 points per triangle
        markers.append(mesh)
    kp = np.asarray(hand.keypoints_3d, dtype=np.float64)  # (21, 3)
    bones = _marker(header, "skeleton", marker_id, Marker.LINE_LIST, side_color(hand.side), life)
    bones.scale = Vector3(x=BONE_WIDTH_M, y=0.0, z=0.0)
    bones.points = _points(kp[np.asarray(SKELETON_EDGES)])  # (20, 2, 3): a point pair per bone
    markers.append(bones)
    joints = _marker(header, "joints", marker_id, Marker.SPHERE_LIST, side_color(hand.side), life)
    joints.scale = Vector3(x=JOINT_DIAMETER_M, y=JOINT_DIAMETER_M, z=JOINT_DIAMETER_M)
    joints.points = _points(kp)
    markers.append(joints)
    white = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
    label = _marker(header, "label", marker_id, Marker.TEXT_VIEW_FACING, white, life)
    label.scale = Vector3(x=0.0, y=0.0, z=LABEL_HEIGHT_M)
    x, y, z = kp[0]
    label.pose.position = Point(x=float(x), y=float(y) - 0.03, z=float(z))  # 3 cm above the wrist (y down)
    track = f" #{hand.track_id}" if hand.track_id is not None else ""
    label.text = f"{hand.side}{track} {hand.score:.2f}"
    markers.append(label)
    return markers


class HandMarkers:
    """Builds one MarkerArray per frame and remembers what it published, so that the markers of a
    hand that is gone (or lost its mesh) are DELETEd in the next array rather than left behind."""

    def __init__(self) -> None:
        self._live: set[tuple[str, int]] = set()

    @property
    def live(self) -> frozenset[tuple[str, int]]:
        """(namespace, id) of the markers currently shown."""
        return frozenset(self._live)

    def build(
        self,
        results: Sequence[HandResult],
        header: Header,
        faces: np.ndarray | None = None,
        lifetime_s: float = 0.0,
    ) -> MarkerArray:
        """Markers for ``results`` plus DELETE markers for those of the previous call not shown now. Each
        lives ``lifetime_s`` (0: until deleted), so that a viewer clears them when the node stops."""
        array = MarkerArray()
        ranks: dict[str, int] = {}
        for hand in sorted(results, key=lambda h: -h.score):
            rank = ranks.get(hand.side, 0)
            ranks[hand.side] = rank + 1
            marker_id = hand_marker_id(hand, rank)
            array.markers.extend(hand_markers(hand, header, marker_id, faces, lifetime_s))
        shown = {(m.ns, m.id) for m in array.markers}
        for ns, marker_id in sorted(self._live - shown):
            gone = Marker()
            gone.header = copy_header(header)
            gone.ns, gone.id, gone.action = ns, marker_id, Marker.DELETE
            array.markers.append(gone)
        self._live = shown
        return array

    def clear(self, header: Header) -> MarkerArray:
        """DELETE every marker shown (e.g. at shutdown)."""
        return self.build([], header)
