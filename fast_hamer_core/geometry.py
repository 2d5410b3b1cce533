"""Rotations, pinhole cameras and the crop-camera -> full-image-camera conversion.

Conventions (stated once): 3D points in metres in the camera optical frame (x right, y down, z forward);
pixels with the origin at the top-left corner; rotation matrices act on column vectors.
HaMeR's 6D rotation convention: the 6 numbers reshaped to (2, 3) and transposed are the first two
columns of the matrix, orthonormalised by Gram-Schmidt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F


def rot6d_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    """6D rotation (..., 6) -> rotation matrix (..., 3, 3), HaMeR's Gram-Schmidt convention.

    Inverse: :func:`rotmat_to_rot6d` (exact for rotation matrices).
    """
    lead = x.shape[:-1]
    cols = x.reshape(-1, 2, 3).transpose(1, 2)  # (N, 3, 2): the two columns
    a1, a2 = cols[:, :, 0], cols[:, :, 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.linalg.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1).reshape(*lead, 3, 3)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> 6D (..., 6). Inverse of :func:`rot6d_to_rotmat`."""
    lead = rotmat.shape[:-2]
    return rotmat[..., :, :2].transpose(-1, -2).reshape(*lead, 6)


def perspective_projection(
    points: torch.Tensor,
    translation: torch.Tensor,
    focal_length: torch.Tensor,
    camera_center: torch.Tensor | None = None,
) -> torch.Tensor:
    """Project (B, N, 3) points shifted by (B, 3) translation with per-item (B, 2) focal lengths
    and (B, 2) principal points (default 0) -> (B, N, 2) pixels."""
    p = points + translation[:, None, :]  # (B, N, 3)
    uv = p[..., :2] / p[..., 2:3]  # (B, N, 2) normalised image coordinates
    uv = uv * focal_length[:, None, :]
    if camera_center is not None:
        uv = uv + camera_center[:, None, :]
    return uv


#: OpenCV's pinhole model with radial + tangential terms: D = (k1, k2, p1, p2[, k3[, k4, k5, k6]]).
PINHOLE_DISTORTION_MODELS: tuple[str, ...] = ("plumb_bob", "rational_polynomial")
#: OpenCV's fisheye (equidistant) model: D = (k1, k2, k3, k4).
FISHEYE_DISTORTION_MODELS: tuple[str, ...] = ("equidistant", "fisheye")
#: Iterations / tolerance of OpenCV's iterative undistortion (its default of 5 iterations leaves
#: pixel-sized errors at the edges of a wide lens).
_UNDISTORT_CRITERIA = (3, 100, 1e-12)  # cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS


def distort_normalized(xy: np.ndarray, model: str, d: Sequence[float]) -> np.ndarray:
    """Ideal normalised image coordinates (..., 2) (``x/z, y/z``) -> distorted ones, OpenCV's models.

    ``model`` in :data:`PINHOLE_DISTORTION_MODELS` (``cv2.projectPoints``):
    ``r2 = x^2 + y^2``, ``radial = (1 + k1 r2 + k2 r2^2 + k3 r2^3) / (1 + k4 r2 + k5 r2^2 + k6 r2^3)``,
    ``x' = x radial + 2 p1 x y + p2 (r2 + 2 x^2)``, ``y' = y radial + p1 (r2 + 2 y^2) + 2 p2 x y``;
    in :data:`FISHEYE_DISTORTION_MODELS` (``cv2.fisheye.projectPoints``): ``theta = atan(r)``,
    ``theta_d = theta (1 + k1 theta^2 + k2 theta^4 + k3 theta^6 + k4 theta^8)``, ``x' = x theta_d / r``.
    Inverse: :func:`undistort_normalized`.
    """
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    if model in FISHEYE_DISTORTION_MODELS:
        k = np.zeros(4)
        k[: min(4, len(d))] = np.asarray(d, dtype=np.float64)[:4]
        r = np.sqrt(r2)
        theta = np.arctan(r)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
        scale = np.where(r > 1e-12, theta_d / np.where(r > 1e-12, r, 1.0), 1.0)
        return np.stack((x * scale, y * scale), -1)
    if model not in PINHOLE_DISTORTION_MODELS:
        raise ValueError(f"unknown distortion model {model!r}")
    k = np.zeros(8)  # k1, k2, p1, p2, k3, k4, k5, k6
    k[: min(8, len(d))] = np.asarray(d, dtype=np.float64)[:8]
    k1, k2, p1, p2, k3, k4, k5, k6 = k
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return np.stack((xd, yd), -1)


def undistort_normalized(xy: np.ndarray, model: str, d: Sequence[float]) -> np.ndarray:
    """Distorted normalised image coordinates (..., 2) -> ideal ones (OpenCV's iterative
    ``undistortPoints`` / ``fisheye.undistortPoints``, 100 iterations). Inverse of
    :func:`distort_normalized` inside the lens's field of view."""
    import cv2

    xy = np.asarray(xy, dtype=np.float64)
    pts = np.ascontiguousarray(xy.reshape(-1, 1, 2))  # (M, 1, 2) as OpenCV wants
    eye = np.eye(3)
    if model in FISHEYE_DISTORTION_MODELS:
        dist = np.zeros(4)
        dist[: min(4, len(d))] = np.asarray(d, dtype=np.float64)[:4]
        out = cv2.fisheye.undistortPoints(pts, eye, dist, R=eye, P=eye, criteria=_UNDISTORT_CRITERIA)
    elif model in PINHOLE_DISTORTION_MODELS:
        dist = np.zeros(8)
        dist[: min(8, len(d))] = np.asarray(d, dtype=np.float64)[:8]
        out = cv2.undistortPoints(pts, eye, dist, R=eye, P=eye, criteria=_UNDISTORT_CRITERIA)
    else:
        raise ValueError(f"unknown distortion model {model!r}")
    return out.reshape(xy.shape)


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of a pinhole camera in pixels (like image_geometry.PinholeCameraModel), optionally
    with OpenCV lens distortion ``distortion`` (D) of ``distortion_model`` (ROS CameraInfo names:
    :data:`PINHOLE_DISTORTION_MODELS`, :data:`FISHEYE_DISTORTION_MODELS`; D all zero = none).

    ``project`` and ``back_project`` are inverses for points at the given depth; both work in the
    camera's real (distorted) image pixels. :meth:`undistort_pixels` / :meth:`distort_pixels` map
    between those and the ideal pinhole pixels of :meth:`ideal` (same K, no distortion), which is
    what linear solvers (PnP, :func:`solve_translation`) need.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    distortion_model: str = ""
    distortion: tuple[float, ...] = ()

    @classmethod
    def from_k(
        cls,
        k: np.ndarray | list[float],
        width: int,
        height: int,
        distortion: Sequence[float] = (),
        distortion_model: str = "",
    ) -> PinholeCamera:
        """From a row-major 3x3 K (9 numbers, as sensor_msgs/CameraInfo.k) and optional D."""
        k = np.asarray(k, dtype=np.float64).reshape(3, 3)
        d = tuple(float(v) for v in distortion)
        return cls(
            float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2]), int(width), int(height),
            str(distortion_model), d,
        )  # fmt: skip

    @classmethod
    def from_focal(cls, focal_px: float, width: int, height: int) -> PinholeCamera:
        """A camera with one focal length and the principal point at the image centre (HaMeR's case)."""
        return cls(float(focal_px), float(focal_px), width / 2.0, height / 2.0, int(width), int(height))

    @classmethod
    def assumed(cls, width: int, height: int, focal_px: float = 0.0) -> PinholeCamera:
        """A camera for images whose intrinsics are unknown: ``focal_px`` (0: the larger image side, a
        53 degree field of view across it) with the principal point at the image centre."""
        return cls.from_focal(float(focal_px) or float(max(width, height)), width, height)

    def scaled_to(self, width: int, height: int) -> PinholeCamera:
        """The same camera for its image resized (or binned) to ``width`` x ``height`` pixels
        (D acts on normalised coordinates, so it is kept)."""
        sx, sy = width / self.width, height / self.height
        return replace(
            self, fx=self.fx * sx, fy=self.fy * sy, cx=self.cx * sx, cy=self.cy * sy,
            width=int(width), height=int(height),
        )  # fmt: skip

    @property
    def k(self) -> np.ndarray:
        """The 3x3 intrinsic matrix."""
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    @property
    def has_distortion(self) -> bool:
        """Whether D has a non-zero coefficient."""
        return any(v != 0.0 for v in self.distortion)

    def ideal(self) -> PinholeCamera:
        """The same K without lens distortion (the camera of :meth:`undistort_pixels`' output)."""
        return replace(self, distortion_model="", distortion=())

    def _to_pixels(self, xy: np.ndarray) -> np.ndarray:
        return np.stack((self.fx * xy[..., 0] + self.cx, self.fy * xy[..., 1] + self.cy), -1)

    def _to_normalized(self, pixels: np.ndarray) -> np.ndarray:
        pixels = np.asarray(pixels, dtype=np.float64)
        return np.stack(((pixels[..., 0] - self.cx) / self.fx, (pixels[..., 1] - self.cy) / self.fy), -1)

    def undistort_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) image pixels -> ideal pinhole pixels (same K). Inverse: :meth:`distort_pixels`.
        Unchanged (a copy) without distortion."""
        pixels = np.asarray(pixels, dtype=np.float64)
        if not self.has_distortion:
            return pixels.copy()
        xy = undistort_normalized(self._to_normalized(pixels), self.distortion_model, self.distortion)
        return self._to_pixels(xy)

    def distort_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) ideal pinhole pixels -> image pixels. Inverse of :meth:`undistort_pixels`."""
        pixels = np.asarray(pixels, dtype=np.float64)
        if not self.has_distortion:
            return pixels.copy()
        xy = distort_normalized(self._to_normalized(pixels), self.distortion_model, self.distortion)
        return self._to_pixels(xy)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) metres in the camera frame -> (..., 2) image pixels (through D when there is one).
        Inverse: :meth:`back_project`."""
        points = np.asarray(points, dtype=np.float64)
        xy = points[..., :2] / points[..., 2:3]  # (..., 2) normalised image coordinates
        if self.has_distortion:
            xy = distort_normalized(xy, self.distortion_model, self.distortion)
        return self._to_pixels(xy)

    def back_project(self, pixels: np.ndarray, depth: np.ndarray | float) -> np.ndarray:
        """(..., 2) image pixels and depth z (metres) -> (..., 3) points. Inverse of :meth:`project`."""
        pixels = np.asarray(pixels, dtype=np.float64)
        z = np.broadcast_to(np.asarray(depth, dtype=np.float64), pixels.shape[:-1])
        xy = self._to_normalized(pixels)
        if self.has_distortion:
            xy = undistort_normalized(xy, self.distortion_model, self.distortion)
        return np.stack((xy[..., 0] * z, xy[..., 1] * z, z), -1)


# --------------------------------------------------------------------------------------------------
# Axis-angle, quaternions, mirroring

ArrayLike = np.ndarray | torch.Tensor


def _skew(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix [v]x."""
    zero = torch.zeros_like(v[..., 0])
    x, y, z = v.unbind(-1)
    return torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*v.shape[:-1], 3, 3)


def _to_torch(x: ArrayLike) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x, dtype=np.float64)), True


def axis_angle_to_rotmat(aa: ArrayLike) -> ArrayLike:
    """Axis-angle (..., 3) (unit axis times angle in radians) -> rotation matrix (..., 3, 3).

    Rodrigues' formula ``R = I + a [v]x + b [v]x^2`` with ``a = sin(t)/t``, ``b = (1 - cos t)/t^2``,
    ``t = |v|``; Taylor series below 1e-4 rad so that it is exact and differentiable at 0.
    Inverse: :func:`rotmat_to_axis_angle`. Accepts torch (any device, differentiable) or numpy
    (returns float64 numpy).
    """
    v, was_numpy = _to_torch(aa)
    t2 = (v * v).sum(-1)[..., None, None]  # (..., 1, 1)
    small = t2 < 1e-8
    t2_safe = torch.where(small, torch.ones_like(t2), t2)
    t = t2_safe.sqrt()
    a = torch.where(small, 1.0 - t2 / 6.0, torch.sin(t) / t)
    b = torch.where(small, 0.5 - t2 / 24.0, (1.0 - torch.cos(t)) / t2_safe)
    k = _skew(v)
    eye = torch.eye(3, dtype=v.dtype, device=v.device)
    r = eye + a * k + b * (k @ k)
    return r.numpy() if was_numpy else r


def _rotmat_to_quaternion_wxyz_torch(r: torch.Tensor) -> torch.Tensor:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) as (w, x, y, z) with w >= 0.

    Shepperd's method: of the four algebraically equal formulas, use the one with the largest
    denominator, so it is accurate everywhere, also near 180 degrees.
    """
    m = r.reshape(-1, 3, 3)
    m00, m01, m02 = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    m10, m11, m12 = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    m20, m21, m22 = m[:, 2, 0], m[:, 2, 1], m[:, 2, 2]
    # 4 * (w^2, x^2, y^2, z^2), clamped against round-off.
    sq = torch.stack((1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), -1)
    big = sq.clamp(min=0.0).sqrt()  # (N, 4): 2|w|, 2|x|, 2|y|, 2|z|
    # Candidate k has component k = big_k / 2 and the others from the off-diagonal sums / (2 big_k).
    cands = torch.stack(
        (
            torch.stack((big[:, 0] ** 2, m21 - m12, m02 - m20, m10 - m01), -1),
            torch.stack((m21 - m12, big[:, 1] ** 2, m10 + m01, m02 + m20), -1),
            torch.stack((m02 - m20, m10 + m01, big[:, 2] ** 2, m12 + m21), -1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, big[:, 3] ** 2), -1),
        ),
        dim=1,
    )  # (N, 4 candidates, 4)
    cands = cands / (2.0 * big.clamp(min=0.1))[..., None]
    best = big.argmax(-1)  # (N,)
    q = cands[torch.arange(m.shape[0], device=m.device), best]  # (N, 4)
    q = F.normalize(q, dim=-1)
    q = torch.where(q[:, :1] < 0, -q, q)
    return q.reshape(*r.shape[:-2], 4)


def rotmat_to_axis_angle(r: ArrayLike) -> ArrayLike:
    """Rotation matrix (..., 3, 3) -> axis-angle (..., 3), angle in [0, pi].

    Through the unit quaternion (Shepperd's method, stable near 0 and near pi):
    ``angle = 2 atan2(|xyz|, w)``, ``aa = xyz * angle / |xyz|`` (-> ``2 xyz`` as the angle -> 0).
    Inverse of :func:`axis_angle_to_rotmat` (at exactly pi the axis sign is arbitrary, both are valid).
    """
    m, was_numpy = _to_torch(r)
    q = _rotmat_to_quaternion_wxyz_torch(m)
    w, xyz = q[..., :1], q[..., 1:]
    s = xyz.norm(dim=-1, keepdim=True)
    small = s < 1e-6
    angle = 2.0 * torch.atan2(s, w)
    factor = torch.where(small, 2.0 / w.clamp(min=1e-12), angle / torch.where(small, torch.ones_like(s), s))
    aa = xyz * factor
    return aa.numpy() if was_numpy else aa


def quaternion_wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    """(w, x, y, z) (transforms3d, Eigen) -> (x, y, z, w) (ROS, scipy). The one place the order changes;
    inverse: :func:`quaternion_xyzw_to_wxyz`."""
    q = np.asarray(q)
    return np.concatenate([q[..., 1:], q[..., :1]], axis=-1)


def quaternion_xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    """(x, y, z, w) -> (w, x, y, z). Inverse of :func:`quaternion_wxyz_to_xyzw`."""
    q = np.asarray(q)
    return np.concatenate([q[..., 3:], q[..., :3]], axis=-1)


def rotmat_to_quaternion_xyzw(r: np.ndarray) -> np.ndarray:
    """Rotation matrix (..., 3, 3) -> unit quaternion (..., 4) in ROS order (x, y, z, w), w >= 0.

    For ``geometry_msgs/Quaternion`` and TF. Inverse: :func:`quaternion_xyzw_to_rotmat`.
    (Computed as (w, x, y, z) by Shepperd's method, reordered by :func:`quaternion_wxyz_to_xyzw`.)
    """
    r = np.asarray(r, dtype=np.float64)
    q_wxyz = _rotmat_to_quaternion_wxyz_torch(torch.from_numpy(r)).numpy()
    return quaternion_wxyz_to_xyzw(q_wxyz)


def quaternion_xyzw_to_rotmat(q: np.ndarray) -> np.ndarray:
    """Quaternion (..., 4) in ROS order (x, y, z, w), normalised here -> rotation matrix (..., 3, 3).

    Inverse of :func:`rotmat_to_quaternion_xyzw`.
    """
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    if np.any(norm < 1e-12):
        raise ValueError("quaternion_xyzw_to_rotmat: zero-length quaternion")
    x, y, z, w = np.moveaxis(q / norm, -1, 0)
    r = np.stack(
        (
            1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
            2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
            2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
        ),
        axis=-1,
    )  # fmt: skip
    return r.reshape(*q.shape[:-1], 3, 3)


#: Element-wise signs of M R M with M = diag(-1, 1, 1).
_MIRROR_SIGNS = np.array([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])


def mirror_rotmat(r: ArrayLike) -> ArrayLike:
    """Left/right mirror of rotations (..., 3, 3): ``M R M`` with ``M = diag(-1, 1, 1)`` (x -> -x).

    It is its own inverse. This is what turns the network's right-hand MANO rotations into the
    left hand's: in axis-angle it equals negating the y and z components, ``(x, y, z) -> (x, -y, -z)``
    (:func:`mirror_axis_angle`).
    """
    if isinstance(r, torch.Tensor):
        return r * torch.as_tensor(_MIRROR_SIGNS, dtype=r.dtype, device=r.device)
    return np.asarray(r) * _MIRROR_SIGNS


def mirror_axis_angle(aa: ArrayLike) -> ArrayLike:
    """Axis-angle (..., 3) mirror: ``(x, y, z) -> (x, -y, -z)``; same rotation as :func:`mirror_rotmat`."""
    if isinstance(aa, torch.Tensor):
        return aa * torch.tensor([1.0, -1.0, -1.0], dtype=aa.dtype, device=aa.device)
    return np.asarray(aa) * np.array([1.0, -1.0, -1.0])


# --------------------------------------------------------------------------------------------------
# Crop camera -> full-image camera, and the least-squares translation


def _stack(parts: list, like: ArrayLike) -> ArrayLike:
    return torch.stack(parts, dim=-1) if isinstance(like, torch.Tensor) else np.stack(parts, axis=-1)


def cam_crop_to_full(
    pred_cam: ArrayLike,
    box_center_px: ArrayLike,
    box_size_px: ArrayLike,
    camera: PinholeCamera,
    crop_focal_px: float = 5000.0,
    crop_size_px: int = 256,
) -> ArrayLike:
    """The network's crop camera (B, 3) ``[s, tx, ty]`` -> translation (B, 3) of the MANO points in
    the camera optical frame (metres), for the real intrinsics ``(fx, fy, cx, cy)``.

    The network sees a square crop of ``box_size_px`` image pixels around ``box_center_px`` (B, 2),
    resampled to ``crop_size_px``, through a virtual camera of focal ``crop_focal_px`` (HaMeR: 5000 at
    256) with the principal point at the crop centre; it places the hand at ``(tx, ty, 2 f_c / (S s))``.
    In full-image pixels that camera has focal ``box * f_c / S``. Matching the hand's image scale and
    the image position of MANO's origin with the real camera gives::

        tz = 2 f / (box * s),   f = sqrt(fx * fy)   (one depth for both axes; the geometric mean
                                                     keeps the hand's image area when fx != fy)
        tx = (2 (bx - cx) / (box * s) + tx_c) * f / fx
        ty = (2 (by - cy) / (box * s) + ty_c) * f / fy

    ``tx``/``ty`` put the origin where the crop camera shows it, ``box_center + box * s * t_c / 2`` px.
    With ``fx = fy`` and ``(cx, cy)`` the image centre this is exactly HaMeR's ``cam_crop_to_full``
    (:func:`cam_crop_to_full_hamer`). It is a weak-perspective match: :func:`solve_translation` refines
    it so that the projected 3D joints land on the predicted 2D joints. Torch or numpy in, same out.
    ``crop_focal_px`` / ``crop_size_px`` only fix the convention of ``s`` (HaMeR's values by default).
    Lens distortion is not modelled here (a weak-perspective start); :func:`solve_translation` uses it.
    """
    del crop_focal_px, crop_size_px  # s is already in the crop's units: tz = 2 f_c/(S s) there
    s, tx_c, ty_c = pred_cam[..., 0], pred_cam[..., 1], pred_cam[..., 2]
    bx, by = box_center_px[..., 0], box_center_px[..., 1]
    bs = box_size_px * s + 1e-9  # HaMeR's epsilon
    f = float(np.sqrt(camera.fx * camera.fy))
    tz = 2 * f / bs
    tx = (2 * (bx - camera.cx) / bs + tx_c) * (f / camera.fx)
    ty = (2 * (by - camera.cy) / bs + ty_c) * (f / camera.fy)
    return _stack([tx, ty, tz], pred_cam)


def cam_crop_to_full_hamer(
    pred_cam: ArrayLike,
    box_center: ArrayLike,
    box_size: ArrayLike,
    img_size: ArrayLike,
    focal_length: ArrayLike | float,
) -> ArrayLike:
    """HaMeR's original conversion (principal point at the image centre, one focal length).

    ``img_size`` (B, 2) is (width, height). The demo uses ``focal_length = 5000 / 256 * max(w, h)``.
    Kept as the reference :func:`cam_crop_to_full` must reproduce for ``PinholeCamera.from_focal``.
    """
    w_2, h_2 = img_size[..., 0] / 2.0, img_size[..., 1] / 2.0
    bs = box_size * pred_cam[..., 0] + 1e-9
    tz = 2 * focal_length / bs
    tx = (2 * (box_center[..., 0] - w_2) / bs) + pred_cam[..., 1]
    ty = (2 * (box_center[..., 1] - h_2) / bs) + pred_cam[..., 2]
    return _stack([tx, ty, tz], pred_cam)


def solve_translation(
    points_3d_m: np.ndarray,
    pixels: np.ndarray,
    camera: PinholeCamera,
    weights: np.ndarray | None = None,
    refine: bool = True,
) -> np.ndarray:
    """Translation T (3,) or (B, 3) such that ``camera.project(points + T)`` best matches ``pixels``.

    ``points_3d_m`` (N, 3) or (B, N, 3) in metres (e.g. MANO joints without translation),
    ``pixels`` (N, 2) / (B, N, 2), optional ``weights`` (N,) / (B, N) >= 0 (e.g. 2D confidences).
    Each point gives two equations linear in T,
    ``fx Tx + (cx - u) Tz = (u - cx) z - fx x`` and ``fy Ty + (cy - v) Tz = (v - cy) z - fy y``,
    solved by weighted least squares (float64). With ``refine`` a second solve divides each row by
    the point's depth from the first, which turns the algebraic error into (approximately) the pixel
    reprojection error. Exact when the pixels are exact projections. Needs >= 2 points with weight.
    With lens distortion in ``camera`` the pixels are undistorted first (they are image pixels).
    """
    pts = np.asarray(points_3d_m, dtype=np.float64)
    px = np.asarray(pixels, dtype=np.float64)
    single = pts.ndim == 2
    if single:
        pts, px = pts[None], px[None]
    if pts.ndim != 3 or pts.shape[-1] != 3 or px.shape != (*pts.shape[:2], 2):
        raise ValueError(f"solve_translation: points (B,N,3) and pixels (B,N,2) expected, got "
                         f"{np.shape(points_3d_m)} and {np.shape(pixels)}")  # fmt: skip
    if camera.has_distortion:  # the equations below hold for ideal pinhole pixels
        px = camera.undistort_pixels(px)
        camera = camera.ideal()
    b, n = pts.shape[:2]
    w = (
        np.ones((b, n))
        if weights is None
        else np.broadcast_to(np.asarray(weights, np.float64).reshape(-1, n), (b, n))
    )
    if np.any(w < 0) or np.any((w > 0).sum(-1) < 2):
        raise ValueError("solve_translation: weights must be >= 0 with at least 2 weighted points per item")
    x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]
    u, v = px[..., 0], px[..., 1]
    zeros, ones = np.zeros_like(u), np.ones_like(u)
    # Rows (B, 2N, 3) and right-hand side (B, 2N).
    a = np.concatenate(
        [
            np.stack([camera.fx * ones, zeros, camera.cx - u], -1),
            np.stack([zeros, camera.fy * ones, camera.cy - v], -1),
        ],
        axis=1,
    )
    rhs = np.concatenate([(u - camera.cx) * z - camera.fx * x, (v - camera.cy) * z - camera.fy * y], axis=1)

    def solve(row_w: np.ndarray) -> np.ndarray:  # row_w (B, 2N)
        aw = a * row_w[..., None]
        ata = np.einsum("bki,bkj->bij", aw, a)  # (B, 3, 3)
        atb = np.einsum("bki,bk->bi", aw, rhs)  # (B, 3)
        return np.linalg.solve(ata, atb[..., None])[..., 0]

    w2 = np.concatenate([w, w], axis=1)
    t = solve(w2)
    if refine:
        depth = np.clip(z + t[:, 2:3], 1e-3, None)  # (B, N)
        inv = np.concatenate([1.0 / depth, 1.0 / depth], axis=1)
        t = solve(w2 * inv**2)
    return t[0] if single else t
