"""Merging hand evidence: mirror-consistent landmarks per region, one region per hand, one hand per hand.

Three steps of the thorough detector, each a pure function on plain arrays:

- :func:`combine_mirrored`: the landmark model's answers on a region and on its mirror image become one
  hand: keypoints and metric keypoints are the means of the two (the mirrored answer already mapped back),
  ``presence`` and ``p_right`` too. Mirroring the whole image mirrors every region, which swaps the two
  answers, so the combined side swaps exactly (the same argument as the fast detector's flip-consistent mode).
- :func:`regions_overlap`, :func:`centre_on_hand`: many windows and the body propose the same hand; a
  region is not checked when its centre lies on a hand already found, or when it overlaps a region
  already checked in vain (the landmark model's runs are where the time goes). A region that only
  overlaps a region that found its hand is still checked: two hands side by side (holding one object,
  handing it over) have overlapping regions, and each hand's region must get its look
  (:func:`~fast_hamer_core.detection.regions.check_in_turn`).
- :func:`merge_duplicates`: after the landmarks, two answers are the same hand when their keypoints
  agree (:func:`keypoint_distance`) or when one is a small fit inside the other (:func:`same_hand`);
  the more present one is kept. One hand is never reported twice.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fast_hamer_core.detection.blaze import HandLandmarks, RotatedRect, box_iou_matrix, normalize_radians


@dataclass
class HandCandidate:
    """One hand as the landmark model sees it on one region (both mirror passes combined)."""

    keypoints_2d: np.ndarray  #: (21, 2) image pixels
    keypoints_3d: np.ndarray  #: (21, 3) metres, metric hand frame
    presence: float  #: mean hand presence of the passes, in [0, 1]
    p_right: float  #: mean evidence of an anatomical right hand (non-mirrored image)
    roi: RotatedRect = field(repr=False)
    source: str = "palm"  #: what proposed the region: "palm" or "pose"
    support: int = 1  #: how many answers were merged into this one

    def box_px(self) -> np.ndarray:
        """(4,) xyxy box of the 21 keypoints."""
        return keypoint_box(self.keypoints_2d)

    def size_px(self) -> float:
        """Diagonal of the keypoint box (the hand's size in pixels)."""
        return float(np.linalg.norm(np.ptp(self.keypoints_2d, axis=0)))


def keypoint_box(keypoints_2d: np.ndarray) -> np.ndarray:
    """(4,) xyxy box of (N, 2) keypoints (pixels), unclipped."""
    return np.concatenate([keypoints_2d.min(0), keypoints_2d.max(0)])


def combine_mirrored(
    plain: HandLandmarks, mirrored: HandLandmarks | None, source: str = "palm"
) -> HandCandidate:
    """One candidate from the landmark model's answers on a region and its mirror (or the region only)."""
    answers = [plain] if mirrored is None else [plain, mirrored]
    return HandCandidate(
        keypoints_2d=np.mean([a.keypoints_2d for a in answers], axis=0),
        keypoints_3d=np.mean([a.keypoints_3d for a in answers], axis=0),
        presence=float(np.mean([a.presence for a in answers])),
        p_right=float(np.mean([a.p_right for a in answers])),
        roi=plain.roi,
        source=source,
    )


def keypoint_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of corresponding keypoints over the larger keypoint-box diagonal of the two hands."""
    diag = max(np.linalg.norm(np.ptp(a, axis=0)), np.linalg.norm(np.ptp(b, axis=0)), 1e-6)
    return float(np.linalg.norm(a - b, axis=1).mean() / diag)


def box_cover(inner: np.ndarray, outer: np.ndarray) -> float:
    """Fraction of the area of xyxy box ``inner`` that lies inside xyxy box ``outer``."""
    lt, rb = np.maximum(inner[:2], outer[:2]), np.minimum(inner[2:], outer[2:])
    area = float(np.prod(np.clip(inner[2:] - inner[:2], 0.0, None)))
    return float(np.prod(np.clip(rb - lt, 0.0, None))) / area if area > 0 else 0.0


def regions_overlap(
    a: RotatedRect, b: RotatedRect, iou_threshold: float = 0.4, max_turn_rad: float = math.pi / 6
) -> bool:
    """Whether two regions would show the landmark model the same thing: their rotations differ by at most
    ``max_turn_rad`` (the model sees a hand turned by more as another picture), and their axis-aligned
    boxes overlap by more than ``iou_threshold`` or their centres lie within a quarter side of each other
    with sides differing by less than a factor 1.5. Symmetric."""
    if abs(normalize_radians(a.rotation_rad - b.rotation_rad)) > max_turn_rad:
        return False
    if float(box_iou_matrix(a.box_px()[None], b.box_px()[None])[0, 0]) > iou_threshold:
        return True
    ratio = a.size_px / b.size_px
    offset = float(np.hypot(*np.subtract(a.center_px, b.center_px)))
    return 1 / 1.5 < ratio < 1.5 and offset < 0.25 * min(a.size_px, b.size_px)


def centre_on_hand(roi: RotatedRect, hands: Sequence[HandCandidate], margin: float = 0.1) -> bool:
    """Whether the region's centre lies in the keypoint box of one of ``hands``, grown on each side by
    ``margin`` of the box's longer side: a region there would find that hand again."""
    centre = np.asarray(roi.center_px, dtype=np.float64)
    for hand in hands:
        box = hand.box_px()
        grow = margin * float(np.max(box[2:] - box[:2]))
        if np.all(centre >= box[:2] - grow) and np.all(centre <= box[2:] + grow):
            return True
    return False


@dataclass(frozen=True)
class DuplicateRule:
    """When two landmark answers are the same hand (see :func:`same_hand`)."""

    max_keypoint_distance: float = 0.35  #: :func:`keypoint_distance` below this: same hand
    #: A hand box lying this much (fraction of its own area) inside a larger hand's box ...
    nested_cover: float = 0.7
    nested_size_ratio: float = 0.65  #: ... whose size is at most this fraction of the larger's: a finger


def same_hand(a: HandCandidate, b: HandCandidate, rule: DuplicateRule = DuplicateRule()) -> bool:
    """Whether two candidates are one physical hand.

    Agreeing keypoints are one hand (two regions that converged on it). A much smaller "hand" lying
    inside a hand's box is that hand too: the landmark model, given a tile on the fingers, fits a small
    hand onto them. Overlapping boxes alone are not enough: two hands with interlaced fingers overlap
    by an IoU of 0.65 in hamer_test3.
    """
    if keypoint_distance(a.keypoints_2d, b.keypoints_2d) < rule.max_keypoint_distance:
        return True
    small, large = sorted((a, b), key=HandCandidate.size_px)
    return nested_fit(small.keypoints_2d, large.keypoints_2d, rule)


def nested_fit(small_kp: np.ndarray, large_kp: np.ndarray, rule: DuplicateRule = DuplicateRule()) -> bool:
    """Whether the hand at keypoints ``small_kp`` (21, 2) is a much smaller fit lying inside the box of
    the hand at ``large_kp``: the landmark model's fit onto that hand's fingers (``rule.nested_cover`` of
    its box inside, at most ``rule.nested_size_ratio`` of the larger's keypoint-box diagonal)."""

    def diagonal(kp: np.ndarray) -> float:
        return float(np.linalg.norm(np.ptp(kp, axis=0)))

    if diagonal(small_kp) > rule.nested_size_ratio * diagonal(large_kp):
        return False
    return box_cover(keypoint_box(small_kp), keypoint_box(large_kp)) >= rule.nested_cover


def without_finger_fits(keypoints: Sequence[np.ndarray], rule: DuplicateRule = DuplicateRule()) -> list[int]:
    """Indices, in order, of the hands (their (21, 2) keypoints) that are no finger fit of another one
    (:func:`nested_fit`), whatever their scores: the fast and the stream detectors drop such fits."""
    return [
        i
        for i, kp in enumerate(keypoints)
        if not any(nested_fit(kp, other, rule) for j, other in enumerate(keypoints) if j != i)
    ]


def merge_duplicates(
    candidates: list[HandCandidate], rule: DuplicateRule = DuplicateRule()
) -> list[HandCandidate]:
    """One candidate per physical hand, most present first; each kept one counts what it absorbed."""
    kept: list[HandCandidate] = []
    for cand in sorted(candidates, key=lambda c: -c.presence):
        match = next((k for k in kept if same_hand(cand, k, rule)), None)
        if match is None:
            kept.append(cand)
        else:
            match.support += cand.support
    return kept
