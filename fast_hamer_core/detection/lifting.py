"""Landmarks-only 3D: a detector's 21 keypoints lifted into the camera frame without a mesh network.

The detector gives the hand twice: 2D keypoints in pixels, and metric 3D keypoints in its own hand
frame (MediaPipe's world landmarks, metres). A rigid fit (rotation + translation, scale kept metric)
of the 3D keypoints to the 2D ones with the camera intrinsics (PnP) places the hand in the camera
optical frame (x right, y down, z forward, metres): :func:`lift_detection`.

Per-joint orientations (:func:`joint_frames`), since there is no MANO here, are built from the
fitted skeleton's geometry, as right-handed orthonormal frames (columns = axes, in the camera frame):

- wrist: x from the wrist to the middle-finger MCP, z the palm normal pointing out of the palm
  (palmar side) for either hand, y = z x x;
- every other joint with a child: x along the bone from the joint to its child (towards the fingertip);
  y and z carried over from the parent's frame by the smallest rotation that turns the parent's x into
  this bone (so z stays on the palmar side of each phalanx as the finger flexes);
- fingertips: their parent's frame.

Because both hands get a palmar z and a distal x, y points to the pinky side on a right hand and
to the thumb side on a left hand (mirror images of each other, both rotations with det +1).
These frames are not MANO's joint rotations (``mode="mesh"`` results carry those).
"""

from __future__ import annotations

import cv2
import numpy as np

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.skeleton import JOINT_PARENTS, NUM_JOINTS
from fast_hamer_core.types import Detection, HandResult

WRIST, INDEX_MCP, MIDDLE_MCP, PINKY_MCP = 0, 5, 9, 17

#: First child of each joint in the skeleton (-1 for fingertips).
JOINT_CHILD: tuple[int, ...] = tuple(
    next((c for c, p in enumerate(JOINT_PARENTS) if p == j and j != WRIST), -1) for j in range(NUM_JOINTS)
)


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v)
    if norm < 1e-12:
        raise ValueError("degenerate hand geometry: two keypoints coincide")
    return v / norm


def _min_rotation(a: np.ndarray, b: np.ndarray, fallback_axis: np.ndarray) -> np.ndarray:
    """Smallest rotation taking unit vector ``a`` to unit vector ``b`` (Rodrigues).

    For ``b = -a`` (no unique smallest rotation) it turns by pi about ``fallback_axis`` (orthogonal to a).
    """
    axis = np.cross(a, b)
    sin, cos = np.linalg.norm(axis), float(np.dot(a, b))
    if sin < 1e-9:
        if cos > 0:
            return np.eye(3)
        axis, sin, cos = fallback_axis, 0.0, -1.0
    else:
        axis = axis / sin
    kx = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + sin * kx + (1.0 - cos) * (kx @ kx)


def joint_frames(keypoints_3d: np.ndarray, side: str) -> np.ndarray:
    """(21, 3) joint positions of a ``side`` hand -> (21, 3, 3) joint frames (see the module docstring)."""
    if side not in ("left", "right"):
        raise ValueError(f"side must be 'left' or 'right', got {side!r}")
    p = np.asarray(keypoints_3d, dtype=np.float64).reshape(NUM_JOINTS, 3)
    normal = np.cross(p[INDEX_MCP] - p[WRIST], p[PINKY_MCP] - p[WRIST])  # palmar for a right hand
    if side == "left":
        normal = -normal
    x = _unit(p[MIDDLE_MCP] - p[WRIST])
    z = _unit(normal - np.dot(normal, x) * x)
    frames = np.zeros((NUM_JOINTS, 3, 3))
    frames[WRIST] = np.stack([x, np.cross(z, x), z], axis=1)  # columns x, y, z
    for j in range(1, NUM_JOINTS):  # parents come before children in the skeleton order
        parent = JOINT_PARENTS[j]
        child = JOINT_CHILD[j]
        if child < 0:
            frames[j] = frames[parent]
            continue
        parent_x = frames[parent][:, 0]
        bone = _unit(p[child] - p[j])
        turn = _min_rotation(parent_x, bone, fallback_axis=frames[parent][:, 1])
        frames[j] = turn @ frames[parent]
    return frames


def _weak_perspective_pose(
    keypoints_hand_m: np.ndarray, keypoints_2d_px: np.ndarray, camera: PinholeCamera
) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form initial pose assuming the hand's depth range is small against its distance.

    The normalised image points ``u = K^-1 p`` of the centred hand ``X`` satisfy ``u - u_c ~= s R[:2] X``
    with ``s = 1 / z``: a linear least-squares fit of the 2x3 map, projected onto two orthonormal rows.
    """
    uv = np.stack(
        ((keypoints_2d_px[:, 0] - camera.cx) / camera.fx, (keypoints_2d_px[:, 1] - camera.cy) / camera.fy), -1
    )  # (21, 2) normalised image coordinates
    centre_3d, centre_uv = keypoints_hand_m.mean(axis=0), uv.mean(axis=0)
    x = keypoints_hand_m - centre_3d  # (21, 3)
    affine = np.linalg.lstsq(x, uv - centre_uv, rcond=None)[0].T  # (2, 3) = s * R[:2]
    u_svd, sing, vt = np.linalg.svd(affine, full_matrices=False)
    rows = u_svd @ vt  # (2, 3) nearest orthonormal rows
    rot = np.vstack([rows, np.cross(rows[0], rows[1])])
    depth = 1.0 / max(float(sing.mean()), 1e-12)
    t = np.array([centre_uv[0] * depth, centre_uv[1] * depth, depth]) - rot @ centre_3d
    return rot, t


def fit_hand_pose(
    keypoints_hand_m: np.ndarray, keypoints_2d_px: np.ndarray, camera: PinholeCamera
) -> tuple[np.ndarray, np.ndarray]:
    """Rigid PnP: rotation ``R`` (3, 3) and translation ``t`` (3,) with ``x_cam = R @ x_hand + t``.

    Two starts, each refined by Levenberg-Marquardt on the reprojection error, the better one kept:
    SQPnP (a global solution of its algebraic error; OpenCV refuses it for nearly parallel rays, i.e.
    very long focal lengths) and a closed-form weak-perspective pose (good exactly there). Raises
    ``RuntimeError`` if no solution puts the hand in front of the camera. With lens distortion in
    ``camera`` the image keypoints are undistorted first and the fit runs on the ideal pinhole camera.
    """
    obj = np.ascontiguousarray(keypoints_hand_m, dtype=np.float64).reshape(-1, 3)
    img = np.ascontiguousarray(camera.undistort_pixels(keypoints_2d_px), dtype=np.float64).reshape(-1, 2)
    camera = camera.ideal()
    k = camera.k
    starts = []
    try:
        ok, rvec, tvec = cv2.solvePnP(obj[:, None], img[:, None], k, None, flags=cv2.SOLVEPNP_SQPNP)
        if ok:
            starts.append((rvec, tvec))
    except cv2.error:
        pass
    rot0, t0 = _weak_perspective_pose(obj, img, camera)
    starts.append((cv2.Rodrigues(rot0)[0], t0.reshape(3, 1)))
    best = None
    for rvec, tvec in starts:
        rvec, tvec = cv2.solvePnPRefineLM(obj[:, None], img[:, None], k, None, rvec.copy(), tvec.copy())
        rot, t = cv2.Rodrigues(rvec)[0], tvec.reshape(3)
        cam_points = obj @ rot.T + t  # (21, 3) metres
        if not np.all(cam_points[:, 2] > 0):
            continue
        error = float(np.sum((camera.project(cam_points) - img) ** 2))
        if best is None or error < best[0]:
            best = (error, rot, t)
    if best is None:
        raise RuntimeError("PnP found no pose with the hand in front of the camera")
    return best[1], best[2]


def lift_detection(det: Detection, camera: PinholeCamera) -> HandResult:
    """A detection with 2D and metric hand-frame keypoints -> a ``mode="landmarks"`` :class:`HandResult`.

    ``keypoints_3d`` is the fitted metric skeleton in the camera frame; ``joint_rotations`` the frames
    of :func:`joint_frames`; ``keypoints_2d`` stays the detector's (image pixels; with lens distortion
    the fit undistorts them, and ``reprojection_rmse_px`` projects back through the distortion).
    No vertices, no MANO parameters, ``cam_t`` is ``None``. ``extras`` holds the fit, JSON-ready:
    ``hand_rotation`` (3x3 nested list) and ``hand_translation_m`` (3 floats) with
    ``x_cam = R @ x_hand + t``, and ``reprojection_rmse_px``.
    """
    if det.keypoints_2d is None or det.keypoints_3d_hand is None:
        raise ValueError("landmarks-only lifting needs a detection with keypoints_2d and keypoints_3d_hand")
    kp2d = np.asarray(det.keypoints_2d, dtype=np.float64).reshape(NUM_JOINTS, 2)
    kp_hand = np.asarray(det.keypoints_3d_hand, dtype=np.float64).reshape(NUM_JOINTS, 3)
    rot, t = fit_hand_pose(kp_hand, kp2d, camera)
    kp3d = kp_hand @ rot.T + t  # (21, 3) camera frame, metres
    rmse = float(np.sqrt(np.mean(np.sum((camera.project(kp3d) - kp2d) ** 2, axis=1))))
    return HandResult(
        side=det.side,
        score=float(det.score),
        box=det.box.copy(),
        keypoints_2d=kp2d.copy(),
        keypoints_3d=kp3d,
        joint_rotations=joint_frames(kp3d, det.side),
        mode="landmarks",
        extras={
            "hand_rotation": rot.tolist(),
            "hand_translation_m": t.tolist(),
            "reprojection_rmse_px": rmse,
        },
    )
