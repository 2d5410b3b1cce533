"""The regions the thorough detector checks, and the second cue an arm's region brings.

A :class:`Region` is where the hand landmark model looks (a palm's hand region or the square at an arm's
wrist), what proposed it, its rank among the proposals, and, for an arm's region, the arm itself
(:class:`~fast_hamer_core.detection.pose.HandProposal`). The arm is evidence of its own: when its wrist
is clearly visible, and the landmark model's hand has the arm's side and its wrist at the arm's wrist
(:func:`arm_agrees`), the hand may be reported with less hand presence than a hand that has only the
landmark model's word (``ThoroughConfig.min_presence_with_arm``): a hand behind another or under an
occluder, at the end of a visible arm. Used by the colour pass
(:class:`~fast_hamer_core.detection.thorough.ThoroughHandDetector`) and the grey pass
(:mod:`~fast_hamer_core.detection.grey`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from fast_hamer_core.detection.base import require_fractions
from fast_hamer_core.detection.blaze import Palm, RotatedRect
from fast_hamer_core.detection.merge import HandCandidate, centre_on_hand, regions_overlap
from fast_hamer_core.detection.pose import HandProposal


@dataclass(frozen=True)
class ArmAgreement:
    """When an arm's region may show a hand with less presence: its two cues agree (:func:`arm_agrees`)."""

    min_wrist_visibility: float = 0.8  #: the pose model's visibility of the arm's wrist
    #: Most distance from the landmark wrist (keypoint 0) to the pose wrist, in hand sizes (the keypoint
    #: box diagonal, :meth:`~fast_hamer_core.detection.merge.HandCandidate.size_px`).
    max_wrist_offset: float = 0.5

    def __post_init__(self) -> None:
        require_fractions(min_wrist_visibility=self.min_wrist_visibility)
        if self.max_wrist_offset <= 0.0:
            raise ValueError(f"max_wrist_offset must be > 0, got {self.max_wrist_offset}")


def arm_agrees(hand: HandCandidate, arm: HandProposal, rule: ArmAgreement = ArmAgreement()) -> bool:
    """Whether the landmark model's hand and the arm it was looked for at tell the same story.

    All three must hold: the arm's wrist is clearly visible (``rule.min_wrist_visibility``); the hand's
    side (``p_right``, mirror-consistent) is the arm's anatomical side; and the hand's wrist (keypoint 0)
    lies within ``rule.max_wrist_offset`` hand sizes of the pose model's wrist. Both sides are the
    models' answers on the same image (anatomical for a non-mirrored image): a mirrored input swaps both,
    so they are compared as they come (``mirrored_input`` only swaps the side reported).
    """
    if arm.visibility < rule.min_wrist_visibility:
        return False
    if ("right" if hand.p_right >= 0.5 else "left") != arm.side:
        return False
    offset_px = float(np.linalg.norm(hand.keypoints_2d[0] - np.asarray(arm.wrist_px, dtype=np.float64)))
    return offset_px <= rule.max_wrist_offset * max(hand.size_px(), 1e-6)


@dataclass(frozen=True)
class Region:
    """One region to check: where, what proposed it, its rank among the proposals, and the arm if any."""

    roi: RotatedRect
    source: str  #: "palm", "pose" or "border"
    #: palms in [0.5, 1] (by palm score), arms in (0, 0.5] (by wrist visibility), border regions below 0
    priority: float
    arm: HandProposal | None = None  #: the arm whose wrist proposed it (``source == "pose"``)

    @classmethod
    def from_palm(cls, palm: Palm) -> Region:
        """The region of a palm found by the palm search."""
        return cls(palm.hand_roi, "palm", 0.5 + 0.5 * palm.score)

    @classmethod
    def from_arm(cls, arm: HandProposal) -> Region:
        """The region at an arm's wrist; the arm travels with it (the second cue of :meth:`accepts`)."""
        return cls(arm.roi, "pose", 0.5 * arm.visibility, arm)

    @classmethod
    def from_border(cls, roi: RotatedRect, index: int) -> Region:
        """The ``index``-th region along the image's border
        (:func:`~fast_hamer_core.detection.borders.border_regions`), after every palm and arm."""
        return cls(roi, "border", -0.001 * (1 + index))


def check_in_turn(
    regions: Sequence[Region],
    check: Callable[[Region], HandCandidate | None],
    found: Sequence[HandCandidate] = (),
    budget: int = 32,
    iou_threshold: float = 0.4,
) -> tuple[list[HandCandidate], list[Region]]:
    """Check regions best first; returns the hands found and the regions whose check failed.

    A region is skipped, without a landmark run, when its centre lies on a hand already found (``found``
    or one of this turn's, :func:`~fast_hamer_core.detection.merge.centre_on_hand`), or, for a region
    without an arm, when it overlaps a region already checked in vain
    (:func:`~fast_hamer_core.detection.merge.regions_overlap`): it would show the same thing again. An
    arm's region brings its own cue (the arm's side and wrist, :func:`arm_agrees`), so it is checked even
    there (+1 hand on the seed-1 hard set). A region that merely overlaps one whose hand was found is
    checked: the regions of two hands side by side overlap (on a downscaled copy of hamer_test5 the
    second hand's palm, 0.94, and arm regions were all dropped that way before). At most ``budget``
    regions are checked.
    """
    hands: list[HandCandidate] = []
    failed: list[Region] = []
    for region in sorted(regions, key=lambda r: -r.priority):
        if len(hands) + len(failed) >= budget:
            break
        if centre_on_hand(region.roi, [*found, *hands]):
            continue
        if region.arm is None and any(regions_overlap(region.roi, f.roi, iou_threshold) for f in failed):
            continue
        if (hand := check(region)) is not None:
            hands.append(hand)
        else:
            failed.append(region)
    return hands, failed


__all__ = ["ArmAgreement", "Region", "arm_agrees", "check_in_turn"]
