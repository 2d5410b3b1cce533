"""Absolute-distance correction of a reconstructed hand from an aligned depth image.

Why: a monocular reconstruction gets the hand's shape and image position right but its distance
from the camera only up to the scale prior of the network (a few centimetres of error is common).
An RGB-D camera measures that distance directly. The correction keeps the shape and the image
position and moves the whole hand along the camera ray through its root (wrist / MANO root), so that
the predicted visible surface lies on the measured one.

How (the "robust statistic of the depth under the rendered hand"):

1. Predicted surface depth per pixel: mesh mode rasterises the MANO triangles into a z-buffer (nearest
   face wins, flat depth per face); landmarks mode uses each of the 21 keypoints' depth minus
   ``surface_offset_m`` (joints lie inside the finger, about 1 cm behind the skin seen by the sensor),
   over a small window around the keypoint.
2. Residual per pixel = measured depth - predicted depth, over pixels where both exist.
3. Offset = median of the residuals after dropping those further than ``3 * 1.4826 * MAD`` from the first
   median (background seen between the fingers, depth holes at the silhouette).
4. Translate every 3D quantity by ``offset * root / root_z`` (a step along the root's ray that
   changes depth by ``offset``), unless there are fewer than ``min_samples`` residuals or
   ``|offset| > max_offset_m`` (then the hand is returned unchanged and ``extras`` says why).

Depth: (H, W) float metres, NaN where the sensor has no depth, registered to the colour camera
(``camera`` intrinsics; a depth image of another resolution is sampled at scaled pixel positions).
ROS-free; 3D in metres in the camera optical frame.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.types import HandResult

#: Median absolute deviation -> standard deviation for Gaussian residuals.
MAD_TO_SIGMA = 1.4826


def mesh_depth_samples(
    vertices: np.ndarray, faces: np.ndarray, depth_m: np.ndarray, camera: PinholeCamera
) -> tuple[np.ndarray, np.ndarray]:
    """(measured, predicted) depths in metres at the pixels covered by the rasterised mesh.

    ``vertices`` (V, 3) metres in the camera frame, ``faces`` (F, 3) vertex indices. The z-buffer holds,
    per pixel, the depth of the nearest face's centroid (faces drawn far to near)."""
    vertices = np.asarray(vertices, dtype=np.float64)
    if np.any(vertices[:, 2] <= 1e-3):
        return np.empty(0), np.empty(0)
    sx, sy = depth_m.shape[1] / camera.width, depth_m.shape[0] / camera.height
    uv = camera.project(vertices) * (sx, sy)  # (V, 2) pixels of the depth image
    lo = np.floor(uv.min(axis=0)).astype(int)
    hi = np.ceil(uv.max(axis=0)).astype(int) + 1
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, (depth_m.shape[1], depth_m.shape[0]))
    if np.any(hi - lo <= 0):
        return np.empty(0), np.empty(0)
    zbuf = np.full((hi[1] - lo[1], hi[0] - lo[0]), np.inf, dtype=np.float32)  # region of interest
    face_depth = vertices[faces, 2].mean(axis=1)  # (F,)
    polys = np.round((uv[faces] - lo) * 16).astype(np.int32)  # (F, 3, 2), 4 fractional bits
    for i in np.argsort(-face_depth):  # far to near: the nearest face is drawn last
        cv2.fillConvexPoly(zbuf, polys[i], float(face_depth[i]), cv2.LINE_8, 4)
    measured = depth_m[lo[1] : hi[1], lo[0] : hi[0]]
    ok = np.isfinite(zbuf) & np.isfinite(measured) & (measured > 0)
    return measured[ok].astype(np.float64), zbuf[ok].astype(np.float64)


def keypoint_depth_samples(
    keypoints_3d: np.ndarray,
    depth_m: np.ndarray,
    camera: PinholeCamera,
    surface_offset_m: float = 0.01,
    window_px: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """(measured, predicted) depths in metres in a ``(2*window_px+1)^2`` window around each keypoint's
    projection; predicted = keypoint depth - ``surface_offset_m`` (the skin in front of the joint)."""
    keypoints_3d = np.asarray(keypoints_3d, dtype=np.float64)
    keypoints_3d = keypoints_3d[keypoints_3d[:, 2] > 1e-3]
    if len(keypoints_3d) == 0:
        return np.empty(0), np.empty(0)
    sx, sy = depth_m.shape[1] / camera.width, depth_m.shape[0] / camera.height
    uv = np.round(camera.project(keypoints_3d) * (sx, sy)).astype(int)  # (J, 2)
    offsets = np.arange(-window_px, window_px + 1)
    du, dv = np.meshgrid(offsets, offsets)  # (K, K) each
    u = (uv[:, 0, None] + du.ravel()[None]).ravel()  # (J * K * K,)
    v = (uv[:, 1, None] + dv.ravel()[None]).ravel()
    predicted = np.repeat(keypoints_3d[:, 2] - surface_offset_m, du.size)
    inside = (u >= 0) & (u < depth_m.shape[1]) & (v >= 0) & (v < depth_m.shape[0])
    measured = np.full(u.shape, np.nan)
    measured[inside] = depth_m[v[inside], u[inside]]
    ok = np.isfinite(measured) & (measured > 0)
    return measured[ok], predicted[ok]


def robust_depth_offset(measured: np.ndarray, predicted: np.ndarray, min_samples: int = 20) -> float | None:
    """Median of ``measured - predicted`` after rejecting residuals beyond 3 sigma (MAD) of the first
    median; None when fewer than ``min_samples`` residuals remain."""
    residual = np.asarray(measured, dtype=np.float64) - np.asarray(predicted, dtype=np.float64)
    if residual.size < min_samples:
        return None
    med = np.median(residual)
    sigma = MAD_TO_SIGMA * np.median(np.abs(residual - med))
    kept = residual[np.abs(residual - med) <= max(3.0 * sigma, 1e-4)]
    if kept.size < min_samples:
        return None
    return float(np.median(kept))


def translate_along_ray(result: HandResult, offset_m: float, camera: PinholeCamera) -> HandResult:
    """A copy of ``result`` moved along the camera ray through its root so that depths grow by
    ``offset_m``; the root keeps its pixel. Mesh-mode ``keypoints_2d`` are re-projected.

    Inverse: ``translate_along_ray(r, -offset_m, camera)`` (exact up to rounding)."""
    root = np.asarray(result.cam_t if result.cam_t is not None else result.keypoints_3d[0], dtype=np.float64)
    if root[2] <= 1e-6:
        raise ValueError(f"hand root must be in front of the camera, got z={root[2]:.4f} m")
    delta = offset_m * root / root[2]  # (3,) step along the ray, z component = offset_m
    changes: dict = {"keypoints_3d": np.asarray(result.keypoints_3d, dtype=np.float64) + delta}
    if result.vertices is not None:
        changes["vertices"] = np.asarray(result.vertices, dtype=np.float64) + delta
    if result.cam_t is not None:
        changes["cam_t"] = np.asarray(result.cam_t, dtype=np.float64) + delta
    if result.mode == "mesh":
        changes["keypoints_2d"] = camera.project(changes["keypoints_3d"])
    changes["extras"] = dict(result.extras)
    return dataclasses.replace(result, **changes)


def correct_depth(
    result: HandResult,
    depth_m: np.ndarray,
    camera: PinholeCamera,
    faces: np.ndarray | None = None,
    min_samples: int = 20,
    max_offset_m: float = 0.3,
    surface_offset_m: float = 0.01,
) -> HandResult:
    """``result`` moved along its root ray onto the measured depth (see the module docstring).

    Mesh hands (``vertices`` and ``faces`` given) use the rasterised mesh; others the keypoints.
    ``extras["depth_correction"]`` records ``applied``, ``offset_m``, ``samples`` and, when not applied,
    ``reason``. Raises ValueError when ``depth_m`` is not a 2D array."""
    depth_m = np.asarray(depth_m)
    if depth_m.ndim != 2:
        raise ValueError(f"depth_m must be an (H, W) array in metres, got shape {depth_m.shape}")
    if result.vertices is not None and faces is not None:
        measured, predicted = mesh_depth_samples(result.vertices, faces, depth_m, camera)
    else:
        measured, predicted = keypoint_depth_samples(result.keypoints_3d, depth_m, camera, surface_offset_m)
    offset = robust_depth_offset(measured, predicted, min_samples)
    info: dict = {"applied": False, "samples": int(measured.size), "offset_m": offset}
    if offset is None:
        info["reason"] = f"fewer than {min_samples} valid depth samples under the hand"
    elif abs(offset) > max_offset_m:
        info["reason"] = f"offset {offset:+.3f} m exceeds max_offset_m={max_offset_m}"
    else:
        info["applied"] = True
        corrected = translate_along_ray(result, offset, camera)
        corrected.extras["depth_correction"] = info
        return corrected
    unchanged = dataclasses.replace(result, extras=dict(result.extras))
    unchanged.extras["depth_correction"] = info
    return unchanged
