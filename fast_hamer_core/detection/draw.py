"""Drawing of raw detections (box, side label, 21 keypoints) for ``fast-hamer detect --render``."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fast_hamer_core.render import SIDE_COLORS_RGB
from fast_hamer_core.skeleton import SKELETON_EDGES
from fast_hamer_core.types import Detection


def draw_detections(image_rgb: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
    """A copy of ``image_rgb`` (uint8 RGB) with each detection's box, skeleton and
    ``side side_score / score`` label drawn in its side's colour."""
    canvas = np.ascontiguousarray(image_rgb[..., :3]).copy()
    scale = max(1, round(max(canvas.shape[:2]) / 640))
    for det in detections:
        color = SIDE_COLORS_RGB.get(det.side, (200, 200, 200))
        if det.keypoints_2d is not None:
            kp = np.round(np.asarray(det.keypoints_2d)).astype(int)  # (21, 2) px
            for a, b in SKELETON_EDGES:
                cv2.line(
                    canvas, tuple(kp[a].tolist()), tuple(kp[b].tolist()), (255, 255, 255), scale, cv2.LINE_AA
                )
            for p in kp:
                cv2.circle(canvas, tuple(p.tolist()), 2 * scale, color, -1, cv2.LINE_AA)
        x0, y0, x1, y1 = np.round(det.box).astype(int).tolist()
        cv2.rectangle(canvas, (x0, y0), (x1, y1), color, scale, cv2.LINE_AA)
        label = f"{det.side} {det.side_score:.2f} / {det.score:.2f}"
        org = (x0, max(12 * scale, y0 - 4))
        cv2.putText(canvas, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, color, scale, cv2.LINE_AA)
    return canvas
