"""What the stream detector keeps of each hand it follows, and the rule that gives a followed hand its side.

A followed hand (:class:`TrackedHand`) is the landmark model's last answer for it, plus the side evidence
gathered so far: the probability of a right hand from each side look (a mirror pass in flip-consistent
mode, the plain look in raw mode). Its side is the mean of that evidence.

:class:`SideRule` decides when a hand needs a side look and what a look changes:

- a new hand, or one whose side is still uncertain, gets a look every frame until its side is *settled*:
  ``margin`` away from 0.5, or after ``max_looks`` looks however uncertain;
- a settled hand gets one look every ``recheck_every`` frames (0: never); a look that contradicts its
  side by ``margin`` means another hand lies under the track now (a followed region that slid onto the
  other hand, a hand-over, a scene cut), so the side is decided anew from that look.

The detector (:class:`~fast_hamer_core.detection.stream.StreamHandDetector`) runs the looks; this module
holds no model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fast_hamer_core.detection.blaze import HandLandmarks
from fast_hamer_core.preprocess import box_from_keypoints


@dataclass
class TrackedHand:
    """One hand the stream detector follows."""

    landmarks: HandLandmarks
    evidence: list[float] = field(default_factory=list)  #: p(right) of each side look made
    mirror_passes: int = 0  #: side looks made (the plain looks too, in raw mode)
    grey: bool = False  #: found on the grey copy of the image (a glove), and followed there
    since_side_check: int = 0  #: frames since the last side look (re-checks of a settled side)

    @property
    def p_right(self) -> float:
        """The mean side evidence; the last landmark answer's before any look."""
        return float(np.mean(self.evidence)) if self.evidence else self.landmarks.p_right

    @property
    def box(self) -> np.ndarray:
        """(4,) xyxy pixels around the 21 keypoints."""
        return box_from_keypoints(self.landmarks.keypoints_2d)


@dataclass(frozen=True)
class SideRule:
    """When a followed hand needs a side look, and what the look changes (module docstring)."""

    margin: float = 0.3
    max_looks: int = 5
    recheck_every: int = 15

    def __post_init__(self) -> None:
        if not 0.0 <= self.margin < 0.5:
            raise ValueError(f"side_margin must be in [0, 0.5), got {self.margin}")

    def settled(self, hand: TrackedHand) -> bool:
        """Whether ``hand``'s side is established (far enough from 0.5, or looked at enough)."""
        if not hand.evidence:
            return False
        return abs(hand.p_right - 0.5) >= self.margin or hand.mirror_passes >= self.max_looks

    def due(self, hand: TrackedHand) -> bool:
        """Count one more frame for ``hand``; whether it needs a side look in this frame (then the count
        restarts)."""
        hand.since_side_check += 1
        if self.settled(hand) and not (self.recheck_every and hand.since_side_check >= self.recheck_every):
            return False
        hand.since_side_check = 0
        return True

    def add(self, hand: TrackedHand, p_right: float) -> None:
        """Take one look's evidence ``p_right``: more evidence for an unsettled side; for a settled one,
        the side decided anew when the look contradicts it by ``margin``."""
        if self.settled(hand):
            other_side = (p_right - 0.5) * (hand.p_right - 0.5) < 0
            if other_side and abs(p_right - 0.5) >= self.margin:  # another hand under this track now
                hand.evidence, hand.mirror_passes = [p_right], 1
            return
        hand.evidence.append(p_right)
        hand.mirror_passes += 1  # raw mode counts its plain looks here: settled after max_looks


__all__ = ["SideRule", "TrackedHand"]
