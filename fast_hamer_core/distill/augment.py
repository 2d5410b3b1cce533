"""HaMeR's training crop and augmentation: one affine transform applied to the image and to every label.

A training sample is cut from the full image by the affine map ``M`` (2x3, image pixels -> crop pixels):
the annotated box (centre, square size) is scaled by ``params.scale``, shifted by ``(tx, ty)`` box sizes,
rotated by ``params.rot_deg`` and, for a flip, mirrored about the image's vertical centre line
(``x -> W - 1 - x``) first. Left hands are always flipped, so that the network only sees right hands.
The same ``M`` moves the 2D keypoints; the 3D keypoints and the MANO global orientation get the
matching 3D change (mirror ``x -> -x``, then an in-plane rotation ``Rz(-rot)`` about the camera axis);
every MANO joint rotation is mirrored as ``S R S`` with ``S = diag(-1, 1, 1)`` (in axis-angle: y and z
negated, HaMeR's ``fliplr_params``). Colour scaling multiplies each RGB channel, image only.

All of it follows HaMeR's ``hamer/datasets/utils.py`` (``do_augmentation``, ``gen_trans_from_patch_cv``,
``keypoint_3d_processing``, ``rot_aa``, ``fliplr_params``); HaMeR's body-only "extreme crop" is left
out (its rate is 0 for hands). Rotation matrices are used throughout instead of axis-angle.

:func:`labels_to_crop` and :func:`labels_from_crop` are inverses (for the same transform).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Reflection x -> -x (camera frame); conjugating a rotation with it mirrors a right hand into a left one.
MIRROR_X: np.ndarray = np.diag([-1.0, 1.0, 1.0])


@dataclass(frozen=True)
class AugmentConfig:
    """Random augmentation ranges, HaMeR's ``DATASETS.CONFIG`` (defaults = HaMeR's training values).

    Attributes:
        scale_factor: box scale is ``1 + clip(N(0,1), -1, 1) * scale_factor``.
        rot_factor: rotation (degrees) is ``clip(N(0,1), -2, 2) * rot_factor`` with probability
            ``rot_aug_rate``, else 0.
        trans_factor: box shift in box sizes, ``clip(N(0,1), -1, 1) * trans_factor`` per axis.
        color_scale: each RGB channel is multiplied by ``U(1 - color_scale, 1 + color_scale)``.
        do_flip / flip_aug_rate: random horizontal flips (off for HaMeR; left hands are always flipped).
            A flipped right hand is a left hand with mirrored (left-hand convention) labels, which a
            right-hand network cannot reproduce: keep it off unless you know why.
    """

    scale_factor: float = 0.3
    rot_factor: float = 30.0
    trans_factor: float = 0.02
    color_scale: float = 0.2
    rot_aug_rate: float = 0.6
    do_flip: bool = False
    flip_aug_rate: float = 0.0


@dataclass(frozen=True)
class AugmentParams:
    """One draw of the augmentation: box ``scale`` factor, ``rot_deg`` (counter-clockwise box rotation in
    the image, i.e. the crop content turns by ``-rot_deg``), ``flip``, per-channel ``color`` factors and
    the box shift ``tx, ty`` in box sizes. The identity is ``AugmentParams()``."""

    scale: float = 1.0
    rot_deg: float = 0.0
    flip: bool = False
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    tx: float = 0.0
    ty: float = 0.0

    def with_flip(self, flip: bool) -> AugmentParams:
        return AugmentParams(self.scale, self.rot_deg, flip, self.color, self.tx, self.ty)


def sample_augmentation(cfg: AugmentConfig, rng: np.random.Generator) -> AugmentParams:
    """Draw augmentation parameters as HaMeR's ``do_augmentation``."""
    tx = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.trans_factor)
    ty = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.trans_factor)
    scale = float(np.clip(rng.standard_normal(), -1.0, 1.0) * cfg.scale_factor + 1.0)
    rot = (
        float(np.clip(rng.standard_normal(), -2.0, 2.0) * cfg.rot_factor)
        if rng.random() <= cfg.rot_aug_rate
        else 0.0
    )
    flip = bool(cfg.do_flip and rng.random() <= cfg.flip_aug_rate)
    lo, hi = 1.0 - cfg.color_scale, 1.0 + cfg.color_scale
    color = (float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi)))
    return AugmentParams(scale=scale, rot_deg=rot, flip=flip, color=color, tx=tx, ty=ty)


def expand_to_aspect(box_wh: np.ndarray, aspect_wh: float | None) -> np.ndarray:
    """Grow a (w, h) box to the aspect ratio w/h = ``aspect_wh`` (HaMeR's ``expand_to_aspect_ratio``)."""
    w, h = (float(v) for v in np.asarray(box_wh, dtype=np.float64).reshape(2))
    if aspect_wh is None:
        return np.array([w, h])
    if h * aspect_wh > w:  # too narrow: widen
        return np.array([h * aspect_wh, h])
    return np.array([w, w / aspect_wh])


def crop_matrix(
    center_xy: np.ndarray, box_size_px: float, crop_size: int, params: AugmentParams, image_width: int
) -> np.ndarray:
    """The 2x3 affine map full-image pixels -> crop pixels for a square box and an augmentation.

    Without augmentation the box ``center_xy`` +- ``box_size_px / 2`` fills the ``crop_size`` square.
    ``params.flip`` mirrors the image first (``x -> W - 1 - x``, the box centre with it).
    """
    cx, cy = (float(v) for v in np.asarray(center_xy, dtype=np.float64).reshape(2))
    cx += box_size_px * params.tx  # HaMeR shifts the box first, then mirrors the image
    cy += box_size_px * params.ty
    if params.flip:
        cx = image_width - cx - 1.0
    s = crop_size / (box_size_px * params.scale)  # crop px per image px
    a = math.radians(params.rot_deg)
    r_t = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])  # R(a)^T
    lin = s * r_t  # (2, 2)
    m = np.zeros((2, 3))
    m[:, :2] = lin
    m[:, 2] = crop_size / 2.0 - lin @ np.array([cx, cy])
    if params.flip:  # compose with the mirror F: x -> W - 1 - x
        flip = np.array([[-1.0, 0.0, image_width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        m = m @ flip
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """Inverse of a 2x3 affine map (crop -> image for a :func:`crop_matrix`)."""
    full = np.vstack([m, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., 2) points through a 2x3 affine map."""
    p = np.asarray(points, dtype=np.float64)
    return p @ m[:, :2].T + m[:, 2]


def rot_z(deg: float) -> np.ndarray:
    """Rotation about the camera's z axis by ``deg`` degrees (x right, y down: clockwise on screen)."""
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])


def warp_image(
    image: np.ndarray, m: np.ndarray, crop_size: int, border: int = cv2.BORDER_CONSTANT
) -> np.ndarray:
    """Cut the crop: ``image`` (H, W, C) uint8 -> (crop, crop, C) uint8, bilinear, black border."""
    return cv2.warpAffine(image, m, (crop_size, crop_size), flags=cv2.INTER_LINEAR, borderMode=border)


def normalise_crop(
    crop_rgb: np.ndarray,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    color: tuple[float, ...] = (1, 1, 1),
) -> np.ndarray:
    """(S, S, 3) uint8 RGB -> (3, S, S) float32 ``(clip(pixel * color, 0, 255) / 255 - mean) / std``.

    Inverse (without the colour factor): :func:`denormalise_crop`.
    """
    x = crop_rgb.astype(np.float32) * np.asarray(color, dtype=np.float32)
    x = np.clip(x, 0.0, 255.0) / 255.0
    x = (x - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))  # (H, W, 3) -> (3, H, W)


def denormalise_crop(x: np.ndarray, mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """(3, S, S) normalised -> (S, S, 3) uint8 RGB. Inverse of :func:`normalise_crop` (colour 1)."""
    img = x.transpose(1, 2, 0) * np.asarray(std, dtype=np.float32) + np.asarray(mean, dtype=np.float32)
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


@dataclass
class HandLabels:
    """The geometric labels of one hand; frames depend on where they are (image or crop).

    In the *image* frame (as stored in the shards): ``keypoints_2d`` (21, 3) pixels + confidence,
    ``keypoints_3d`` (21, 4) metres in the camera frame + confidence, MANO rotations of the hand as it
    appears (a left hand: left-hand convention). In the *crop* frame (network targets): keypoints_2d in
    crop units ``[-0.5, 0.5]`` (pixel / crop - 0.5), 3D and MANO rotations of the right hand the network
    sees. ``global_orient`` (1, 3, 3), ``hand_pose`` (15, 3, 3), ``betas`` (10,); unchanged by transforms.
    """

    keypoints_2d: np.ndarray
    keypoints_3d: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray


def _with_geometry(
    labels: HandLabels, kp2: np.ndarray, kp3: np.ndarray, go: np.ndarray, hp: np.ndarray
) -> HandLabels:
    """``labels`` moved to another frame: the given keypoints and rotations, ``labels``' betas (shape does
    not change with the frame); float32 copies throughout."""
    return HandLabels(
        kp2.astype(np.float32),
        kp3.astype(np.float32),
        go.astype(np.float32),
        hp.astype(np.float32),
        np.asarray(labels.betas, dtype=np.float32).copy(),
    )


def labels_to_crop(labels: HandLabels, m: np.ndarray, params: AugmentParams, crop_size: int) -> HandLabels:
    """Image-frame labels -> crop-frame labels for the crop ``m = crop_matrix(..., params, ...)``.

    ``params.flip`` must be the flip actually used (forced for left hands). Inverse: :func:`labels_from_crop`.
    """
    kp2 = np.array(labels.keypoints_2d, dtype=np.float64, copy=True)
    kp2[:, :2] = apply_affine(m, kp2[:, :2]) / crop_size - 0.5
    kp3 = np.array(labels.keypoints_3d, dtype=np.float64, copy=True)
    go = np.asarray(labels.global_orient, dtype=np.float64).reshape(1, 3, 3)
    hp = np.asarray(labels.hand_pose, dtype=np.float64).reshape(-1, 3, 3)
    if params.flip:
        kp3[:, 0] = -kp3[:, 0]
        go, hp = MIRROR_X @ go @ MIRROR_X, MIRROR_X @ hp @ MIRROR_X
    rz = rot_z(-params.rot_deg)  # the crop content turns by -rot
    kp3[:, :3] = kp3[:, :3] @ rz.T
    go = rz @ go
    return _with_geometry(labels, kp2, kp3, go, hp)


def labels_from_crop(labels: HandLabels, m: np.ndarray, params: AugmentParams, crop_size: int) -> HandLabels:
    """Crop-frame labels (e.g. a network's prediction on crop ``m``) -> image-frame labels.

    Inverse of :func:`labels_to_crop`; used to store teacher predictions in the image frame, where the
    training augmentation can transform them exactly like the ground truth.
    """
    kp2 = np.array(labels.keypoints_2d, dtype=np.float64, copy=True)
    kp2[:, :2] = apply_affine(invert_affine(m), (kp2[:, :2] + 0.5) * crop_size)
    kp3 = np.array(labels.keypoints_3d, dtype=np.float64, copy=True)
    rz_inv = rot_z(params.rot_deg)
    kp3[:, :3] = kp3[:, :3] @ rz_inv.T
    go = rz_inv @ np.asarray(labels.global_orient, dtype=np.float64).reshape(1, 3, 3)
    hp = np.asarray(labels.hand_pose, dtype=np.float64).reshape(-1, 3, 3)
    if params.flip:
        kp3[:, 0] = -kp3[:, 0]
        go, hp = MIRROR_X @ go @ MIRROR_X, MIRROR_X @ hp @ MIRROR_X
    return _with_geometry(labels, kp2, kp3, go, hp)
