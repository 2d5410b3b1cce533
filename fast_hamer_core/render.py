"""Overlay drawing: meshes (flat-shaded, painter's algorithm), skeletons and labels on the input image,
and a side view of the meshes (:func:`render_side_view`, as HaMeR's demo ``--side_view``).

Pure OpenCV/numpy so it runs anywhere the node runs; it is only called when someone looks at it.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.skeleton import SKELETON_EDGES
from fast_hamer_core.types import HandResult

#: RGB colours by side (also used for RViz markers, as 0..1 floats).
SIDE_COLORS_RGB: dict[str, tuple[int, int, int]] = {"right": (70, 150, 255), "left": (255, 140, 60)}


def _shade_faces(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-face brightness in [0.35, 1] (Lambert, light from the camera) and depth for sorting."""
    tri = vertices[faces]  # (F, 3, 3)
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    centres = tri.mean(axis=1)  # (F, 3)
    view = -centres / (np.linalg.norm(centres, axis=1, keepdims=True) + 1e-12)
    lambert = np.abs((normals * view).sum(axis=1))
    return 0.35 + 0.65 * lambert, centres[:, 2]


def _draw_meshes(
    canvas: np.ndarray, meshes: Sequence[tuple[np.ndarray, str]], camera: PinholeCamera, faces: np.ndarray
) -> bool:
    """Fill the triangles of every (vertices (V, 3) m, side) in front of the camera into ``canvas`` (in
    place), far to near, shaded by the angle to the camera. Returns whether anything was drawn."""
    drew = False
    for vertices, side in meshes:
        if not np.all(vertices[:, 2] > 1e-3):
            continue
        color = np.array(SIDE_COLORS_RGB.get(side, (200, 200, 200)), dtype=np.float64)
        uv = camera.project(vertices)  # (V, 2) px
        shade, depth = _shade_faces(vertices, faces)
        order = np.argsort(-depth)  # far to near
        polys = np.round(uv[faces[order]] * 16).astype(np.int32)  # (F, 3, 2), 4 fractional bits
        for poly, s in zip(polys, shade[order], strict=True):
            cv2.fillConvexPoly(canvas, poly, (color * s).tolist(), cv2.LINE_AA, 4)
        drew = True
    return drew


def side_view_vertices(results: Sequence[HandResult], angle_deg: float = 90.0) -> list[np.ndarray]:
    """Every hand's vertices turned by ``angle_deg`` about the camera's y axis (down) through the centre
    of all the hands' vertices: the hands seen from the side, at the same distance (HaMeR's side view
    turns each crop's mesh by 90 degrees about y the same way)."""
    meshes = [np.asarray(h.vertices, dtype=np.float64) for h in results if h.vertices is not None]
    if not meshes:
        return []
    centre = np.concatenate(meshes).mean(axis=0)
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    return [(v - centre) @ rot.T + centre for v in meshes]


def render_side_view(
    results: Sequence[HandResult],
    camera: PinholeCamera,
    faces: np.ndarray,
    angle_deg: float = 90.0,
    background_rgb: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """The meshes of ``results`` from the side (:func:`side_view_vertices`) on a plain background of the
    camera's image size; RGB uint8 (H, W, 3). Hands without a mesh are left out."""
    canvas = np.empty((camera.height, camera.width, 3), np.uint8)
    canvas[:] = background_rgb
    sides = [h.side for h in results if h.vertices is not None]
    _draw_meshes(canvas, list(zip(side_view_vertices(results, angle_deg), sides, strict=True)), camera, faces)
    return canvas


def render_overlay(
    image_rgb: np.ndarray,
    results: Sequence[HandResult],
    camera: PinholeCamera,
    faces: np.ndarray | None = None,
    mesh_alpha: float = 0.6,
) -> np.ndarray:
    """Draw every hand on a copy of ``image_rgb`` (RGB uint8): mesh when it has vertices and ``faces``
    are given, then bones, joints and a ``side #id score`` label. Returns the new RGB uint8 image."""
    canvas = np.ascontiguousarray(image_rgb[..., :3]).copy()
    mesh_layer = canvas.copy()
    drew_mesh = faces is not None and _draw_meshes(
        mesh_layer, [(h.vertices, h.side) for h in results if h.vertices is not None], camera, faces
    )
    if drew_mesh:
        canvas = cv2.addWeighted(mesh_layer, mesh_alpha, canvas, 1.0 - mesh_alpha, 0.0)
    scale = max(1, round(max(canvas.shape[:2]) / 640))
    for hand in results:
        color = SIDE_COLORS_RGB.get(hand.side, (200, 200, 200))
        kp = hand.keypoints_2d
        for a, b in SKELETON_EDGES:
            pa = tuple(int(v) for v in np.round(kp[a]))
            pb = tuple(int(v) for v in np.round(kp[b]))
            cv2.line(canvas, pa, pb, (255, 255, 255), 2 * scale, cv2.LINE_AA)
        for p in kp:
            cv2.circle(canvas, tuple(int(v) for v in np.round(p)), 2 * scale, color, -1, cv2.LINE_AA)
        x0, y0 = int(hand.box[0]), int(hand.box[1])
        label = (
            f"{hand.side}"
            + (f" #{hand.track_id}" if hand.track_id is not None else "")
            + f" {hand.score:.2f}"
        )
        cv2.rectangle(canvas, (x0, y0), (int(hand.box[2]), int(hand.box[3])), color, scale, cv2.LINE_AA)
        cv2.putText(
            canvas,
            label,
            (x0, max(12, y0 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * scale,
            color,
            scale,
            cv2.LINE_AA,
        )
    return canvas
