"""The stream detector's side rule: when a followed hand is looked at, and what a look changes."""

from __future__ import annotations

import numpy as np
import pytest

from fast_hamer_core.detection.blaze import HandLandmarks
from fast_hamer_core.detection.stream_tracks import SideRule, TrackedHand


def _hand(p_right: float = 0.5) -> TrackedHand:
    keypoints = np.linspace([10.0, 20.0], [60.0, 90.0], 21)  # (21, 2): box 10..60 x 20..90
    return TrackedHand(HandLandmarks(keypoints, np.zeros((21, 3)), 0.95, p_right, None))


def _looks(rule: SideRule, hand: TrackedHand, frames: int, p_right: float) -> list[int]:
    """The frames (of ``frames``) in which ``rule`` asked for a look; each look says ``p_right``."""
    looked = []
    for frame in range(frames):
        if rule.due(hand):
            rule.add(hand, p_right)
            looked.append(frame)
    return looked


def test_a_clear_side_is_settled_after_one_look_and_then_rechecked_every_period():
    rule, hand = SideRule(margin=0.3, max_looks=5, recheck_every=15), _hand()
    assert not rule.settled(hand) and hand.box.tolist() == [10.0, 20.0, 60.0, 90.0]
    assert _looks(rule, hand, 46, p_right=0.95) == [0, 15, 30, 45]
    assert rule.settled(hand) and hand.p_right == pytest.approx(0.95) and hand.mirror_passes == 1


def test_an_uncertain_side_is_looked_at_every_frame_until_max_looks():
    rule, hand = SideRule(margin=0.3, max_looks=5, recheck_every=0), _hand()
    assert _looks(rule, hand, 20, p_right=0.6) == [0, 1, 2, 3, 4]  # never 0.3 from 0.5: settled by count
    assert rule.settled(hand) and hand.mirror_passes == 5


def test_a_contradicting_recheck_decides_the_side_anew():
    rule, hand = SideRule(margin=0.3, max_looks=5, recheck_every=15), _hand()
    _looks(rule, hand, 1, p_right=0.9)  # settled "right"
    assert _looks(rule, hand, 15, p_right=0.1) == [14]  # the re-check sees a left hand under the track
    assert hand.evidence == [0.1] and hand.p_right < 0.5
    # A re-check that agrees, or disagrees by less than the margin, changes nothing.
    assert rule.settled(hand)
    rule.add(hand, 0.65)
    rule.add(hand, 0.2)
    assert hand.evidence == [0.1]


def test_a_bad_margin_is_refused():
    with pytest.raises(ValueError, match="side_margin"):
        SideRule(margin=0.5)
