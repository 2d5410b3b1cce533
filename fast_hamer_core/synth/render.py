"""Rendered synthetic hands: the synthetic MANO hand posed at random, in front of a pinhole camera.

:func:`render_hands` poses the synthetic MANO hand of :mod:`fast_hamer_core.synth.mano` (random but valid,
never the licensed data), places it ~1 m in front of a pinhole camera, paints its mesh (grey, painter's
algorithm) and a coloured disc on each of the 21 joints (colour ``JOINT_COLORS[j]``), and returns the
image with HaMeR-style annotations (image-frame keypoints, axis-angle MANO parameters in the hand's own
side convention: a left hand is the mirror image of a right MANO hand, its parameters mirrored).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
from scipy.spatial.transform import Rotation

from fast_hamer_core.synth.mano import make_synthetic_mano_arrays

#: One colour per joint: RGB triples with channel levels {0, 128, 255}, no greys (the mesh is grey).
JOINT_COLORS: tuple[tuple[int, int, int], ...] = tuple(
    c for c in itertools.product((0, 128, 255), repeat=3) if not c[0] == c[1] == c[2]
)[:21]
MARKER_RADIUS_PX = 4
IMAGE_SIZE_WH = (320, 240)
FOCAL_PX = 1200.0  # far and narrow: nearly orthographic, so 2D and 3D keypoints can be compared
MIRROR_X = np.diag([-1.0, 1.0, 1.0])


def synthetic_mano_layer(seed: int = 0):
    """MANO21 on the synthetic arrays of ``seed``."""
    from fast_hamer_core.mano import MANO21

    return MANO21(arrays=make_synthetic_mano_arrays(seed))


@dataclass
class RenderedHand:
    """Truth of one rendered hand: the HaMeR annotation dict plus camera-frame vertices (metres)."""

    annotation: dict[str, Any]
    vertices_cam: np.ndarray  # (778, 3)
    joints_cam: np.ndarray  # (21, 3)


def _pose_hand(mano, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random right-hand MANO parameters -> (aa (48,), betas (10,), vertices (778, 3), joints (21, 3))."""
    aa = np.concatenate([rng.normal(0, 0.6, 3), rng.normal(0, 0.3, 45)])
    betas = rng.normal(0, 0.5, 10)
    mats = torch.from_numpy(Rotation.from_rotvec(aa.reshape(16, 3)).as_matrix()).float()
    with torch.no_grad():
        out = mano(mats[None, :1], mats[None, 1:], torch.from_numpy(betas).float()[None])
    return aa, betas, out.vertices[0].double().numpy(), out.joints[0].double().numpy()


def render_hands(
    mano,
    rng: np.random.Generator,
    sides: tuple[str, ...] = ("right",),
    image_size_wh: tuple[int, int] = IMAGE_SIZE_WH,
    focal_px: float = FOCAL_PX,
) -> tuple[np.ndarray, list[RenderedHand]]:
    """An RGB image with one rendered hand per entry of ``sides`` and their annotations."""
    w, h = image_size_wh
    k = np.array([[focal_px, 0, w / 2], [0, focal_px, h / 2], [0, 0, 1]])
    yy, xx = np.mgrid[0:h, 0:w]
    base = rng.uniform(40, 90, 3)
    image = np.clip(base + 10 * np.sin(xx[..., None] / 17.0 + yy[..., None] / 23.0), 0, 255).astype(np.uint8)
    hands: list[RenderedHand] = []
    faces = mano.faces
    for i, side in enumerate(sides):
        aa, betas, verts, joints = _pose_hand(mano, rng)
        if side == "left":  # mirror image of the right hand; parameters mirrored the same way
            verts, joints = verts @ MIRROR_X, joints @ MIRROR_X
            aa = aa.reshape(16, 3) * np.array([1.0, -1.0, -1.0])
            aa = aa.reshape(48)
        # place the hand centre on a ray through a random image point, ~1 m away (for the default focal)
        cx = (i + 0.5) / len(sides) * w + rng.uniform(-0.08, 0.08) * w
        cy = h / 2 + rng.uniform(-0.1, 0.1) * h
        depth = rng.uniform(0.9, 1.1) * focal_px / FOCAL_PX
        target = np.array([(cx - w / 2) / focal_px * depth, (cy - h / 2) / focal_px * depth, depth])
        t = target - joints.mean(axis=0)
        verts_c, joints_c = verts + t, joints + t
        uv_v = verts_c @ k.T
        uv_v = uv_v[:, :2] / uv_v[:, 2:]
        order = np.argsort(-verts_c[faces].mean(axis=1)[:, 2])  # far to near
        for f in order:
            shade = int(110 + 90 * (f % 7) / 6)
            cv2.fillConvexPoly(
                image,
                np.round(uv_v[faces[f]] * 16).astype(np.int32),
                (shade,) * 3,
                lineType=cv2.LINE_AA,
                shift=4,
            )
        uv_j = joints_c @ k.T
        uv_j = uv_j[:, :2] / uv_j[:, 2:]
        for j in np.argsort(-joints_c[:, 2]):  # far joints first: near markers stay visible
            cv2.circle(
                image, tuple(round(v) for v in uv_j[j].tolist()), MARKER_RADIUS_PX, JOINT_COLORS[j], -1
            )
        lo, hi = uv_j.min(axis=0), uv_j.max(axis=0)
        ann = {
            "center": ((lo + hi) / 2).astype(np.float32),
            "scale": ((hi - lo) * 1.6 / 200.0).astype(np.float32),
            "keypoints_2d": np.concatenate([uv_j, np.ones((21, 1))], 1).astype(np.float32),
            "keypoints_3d": np.concatenate([joints_c, np.ones((21, 1))], 1).astype(np.float32),
            "hand_pose": aa.astype(np.float32),
            "betas": betas.astype(np.float32),
            "right": np.float32(side == "right"),
            "has_hand_pose": np.float32(1.0),
            "has_betas": np.float32(1.0),
            "extra_info": {"fitting_loss": np.array({"reprojection_loss": 10.0})},
        }
        hands.append(RenderedHand(ann, verts_c, joints_c))
    return image, hands
