"""Non-finite numbers never leave the core: dropped and counted in the pipeline, never filtered."""

from __future__ import annotations

import math

import numpy as np

from fast_hamer_core.tracking import HandTracker, OneEuroConfig
from fast_hamer_core.types import Detection, HandResult
from fast_hamer_core.validation import drop_non_finite, non_finite_fields

_KP2D = np.random.default_rng(3).uniform(200.0, 280.0, (21, 2))


def _hand(kp3d: np.ndarray, side: str = "right", track_id: int | None = None) -> HandResult:
    rots = np.broadcast_to(np.eye(3), (21, 3, 3)).copy()
    box = np.r_[_KP2D.min(0), _KP2D.max(0)]
    return HandResult(side, 0.9, box, _KP2D.copy(), kp3d, rots, "landmarks", track_id=track_id)


def test_drop_non_finite_keeps_the_order_and_counts():
    good = _hand(np.full((21, 3), 0.5))
    nan = _hand(np.full((21, 3), 0.5))
    nan.keypoints_3d[3, 2] = math.nan
    inf_t = _hand(np.full((21, 3), 0.5), side="left")
    inf_t.cam_t = np.array([0.0, 0.0, math.inf])
    kept, dropped = drop_non_finite([good, nan, inf_t, good])
    assert kept == [good, good] and dropped == 2
    assert non_finite_fields(nan) == ["keypoints_3d"] and non_finite_fields(inf_t) == ["cam_t"]
    assert non_finite_fields(good) == []


def test_tracker_restarts_a_track_on_a_non_finite_hand_instead_of_filtering_it():
    tracker = HandTracker(one_euro=OneEuroConfig(min_cutoff=0.5, beta=0.0))
    det = Detection(np.r_[_KP2D.min(0), _KP2D.max(0)], 0.9, "right", 0.9, _KP2D, None)
    for i in range(10):  # a settled filter at z = 0.5 m
        _, (tid,) = tracker.assign([det], i / 30)
        tracker.smooth([_hand(np.full((21, 3), 0.5), track_id=tid)], i / 30)
    bad = _hand(np.full((21, 3), 0.5), track_id=tid)
    bad.keypoints_3d[0, 0] = math.nan
    _, (tid,) = tracker.assign([det], 10 / 30)
    (passed,) = tracker.smooth([bad], 10 / 30)
    assert passed is bad  # not filtered (the pipeline drops it)
    # The next finite hand starts a fresh filter: it passes through exactly, no NaN and no lag.
    _, (tid,) = tracker.assign([det], 11 / 30)
    (after,) = tracker.smooth([_hand(np.full((21, 3), 0.8), track_id=tid)], 11 / 30)
    np.testing.assert_array_equal(after.keypoints_3d, np.full((21, 3), 0.8))
