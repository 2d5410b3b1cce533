"""Tracking: ids through crossings and gaps, side hysteresis, One-Euro smoothing (points and rotations),
and detection every k frames."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from fast_hamer_core.tracking import (
    HandTracker,
    OneEuroConfig,
    OneEuroFilter,
    RotationOneEuroFilter,
    box_iou,
    propagate_boxes,
)
from fast_hamer_core.types import Detection, HandResult

FPS = 30.0
#: A fixed 21-point hand layout in pixels around its centre (about 80 px tall).
_LAYOUT_PX = np.random.default_rng(7).uniform(-40.0, 40.0, (21, 2))


def _det(cx: float, cy: float, side: str = "right", side_score: float = 0.9) -> Detection:
    kp = _LAYOUT_PX + np.array([cx, cy])
    return Detection(np.r_[kp.min(0), kp.max(0)], 1.0, side, side_score, kp, None)


def _result(det: Detection, track_id: int | None, kp3d: np.ndarray, rots: np.ndarray | None = None):
    rots = np.broadcast_to(np.eye(3), (21, 3, 3)).copy() if rots is None else rots
    return HandResult(
        det.side, det.score, det.box, det.keypoints_2d, kp3d, rots, "landmarks", track_id=track_id
    )


# ---------------------------------------------------------------------------------------------- ids
def test_crossing_hands_keep_their_ids():
    """Two same-side hands cross at 30 px/frame (sides cannot help). Just after the crossing each hand is
    nearer the other's last position than its own, so only the motion model keeps the ids right."""
    tracker = HandTracker()
    ids_a, ids_b = [], []
    for frame in range(16):
        xa, xb = 100.0 + 30.0 * frame, 590.0 - 30.0 * frame  # frame 8: 340 vs 350; frame 9: 370 vs 320
        dets = [_det(xb, 200.0), _det(xa, 200.0)]  # detector order is arbitrary
        _, ids = tracker.assign(dets, frame / FPS)
        ids_b.append(ids[0])
        ids_a.append(ids[1])
    assert len(set(ids_a)) == 1 and len(set(ids_b)) == 1
    assert ids_a[0] != ids_b[0]


def test_hand_reentering_within_ttl_keeps_its_id_after_ttl_gets_a_new_one():
    tracker = HandTracker(ttl_frames=5)
    frame = 0

    def step(dets):
        nonlocal frame
        out = tracker.assign(dets, frame / FPS)[1]
        frame += 1
        return out

    first = step([_det(300, 200)])[0]
    step([_det(302, 201)])
    for _ in range(4):  # gone 4 frames (<= ttl)
        assert step([]) == []
    assert step([_det(301, 200)]) == [first]
    for _ in range(6):  # gone 6 frames (> ttl): the track is dropped
        step([])
    assert tracker.tracks == []
    again = step([_det(301, 200)])[0]
    assert again != first and again == first + 1


def test_far_detection_starts_a_new_track():
    tracker = HandTracker(max_keypoint_dist_px=100.0)
    a = tracker.assign([_det(100, 100)], 0.0)[1][0]
    b = tracker.assign([_det(500, 400)], 1 / FPS)[1][0]
    assert a != b and len(tracker.tracks) == 2


# ---------------------------------------------------------------------------------------------- sides
def _sides(tracker: HandTracker, raw: str) -> tuple[list[str], list[float]]:
    """Feed a static hand whose detected side follows ``raw`` ('R'/'L' per frame)."""
    sides, scores = [], []
    for frame, letter in enumerate(raw):
        det = _det(300, 200, "right" if letter == "R" else "left", side_score=0.8)
        out, ids = tracker.assign([det], frame / FPS)
        assert ids == [0]
        sides.append(out[0].side[0].upper())
        scores.append(out[0].side_score)
    return sides, scores


def test_side_flicker_is_ignored_until_n_consecutive_frames():
    sides, scores = _sides(HandTracker(side_hysteresis=3), "RRLRLLRLLLRRLL")
    assert "".join(sides) == "RRRRRRRRRLLLLL"
    # A label the track overrules reports the detector's probability of the track's side.
    assert scores[2] == pytest.approx(0.2) and scores[0] == pytest.approx(0.8)


def test_side_hysteresis_zero_locks_the_side():
    sides, _ = _sides(HandTracker(side_hysteresis=0), "LLLLLLLLLL")
    assert "".join(sides) == "L" * 10
    sides, _ = _sides(HandTracker(side_hysteresis=0), "R" + "L" * 12)
    assert "".join(sides) == "R" * 13


def test_stabilise_sides_returns_detections_for_the_crop():
    tracker = HandTracker(side_hysteresis=2)
    tracker.stabilise_sides([_det(300, 200, "left")], 0.0)
    out = tracker.stabilise_sides([_det(300, 200, "right")], 1 / FPS)
    assert [d.side for d in out] == ["left"]
    np.testing.assert_array_equal(out[0].keypoints_2d, _det(300, 200).keypoints_2d)


# ---------------------------------------------------------------------------------------------- One-Euro
def _still_hand_noisy(seed=0, seconds=10.0, noise_m=0.005):
    rng = np.random.default_rng(seed)
    t = np.arange(0.0, seconds, 1.0 / FPS)
    truth = np.repeat(rng.normal(0.0, 0.05, (1, 21, 3)), len(t), axis=0)  # (T, 21, 3)
    return t, truth, truth + rng.normal(0.0, noise_m, truth.shape)


def test_one_euro_halves_jitter_and_lags_a_ramp_by_less_than_15mm():
    config = OneEuroConfig()  # defaults: min_cutoff 1 Hz, beta 10 Hz per m/s
    t, truth, noisy = _still_hand_noisy()
    filt = config.point_filter()
    out = np.stack([filt(x, s) for x, s in zip(noisy, t, strict=True)])
    raw_std, filtered_std = np.std(noisy[30:] - truth[30:]), np.std(out[30:] - truth[30:])
    assert raw_std / filtered_std > 2.0  # measured ~2.7

    ramp = truth + (0.5 * t)[:, None, None] * [1.0, 0.0, 0.0]  # 0.5 m/s
    filt = config.point_filter()
    out = np.stack([filt(x, s) for x, s in zip(ramp, t, strict=True)])
    lag_m = np.abs(out - ramp)[6:].max()  # after the first 0.2 s
    assert lag_m < 0.015  # measured ~12 mm

    step = np.where(t[:, None, None] >= 1.0, truth + 0.1, truth)  # a 10 cm jump at t = 1 s
    filt = config.point_filter()
    out = np.stack([filt(x, s) for x, s in zip(step, t, strict=True)])
    assert np.abs(out[30 + 5] - step[30 + 5]).max() < 0.005  # within 5 mm after 5 frames


def test_one_euro_scalar_and_time_handling():
    filt = OneEuroFilter(min_cutoff=1.0, beta=0.0)
    assert filt(1.0, 0.0) == 1.0  # first sample passes
    y = filt(2.0, 0.1)
    assert isinstance(y, float) and 1.0 < y < 2.0
    assert filt(5.0, 0.1) == y  # same stamp: no new information
    assert filt(7.0, 0.05) == 7.0  # time went back: restart
    with pytest.raises(ValueError, match="cutoff"):
        OneEuroFilter(min_cutoff=0.0)


def test_rotation_filter_stays_on_so3_and_reduces_jitter():
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 6.0, 1.0 / FPS)
    truth = Rotation.from_rotvec(np.outer(0.3 * t, [0.0, 0.0, 1.0]) + np.array([0.2, -0.4, 0.1]))  # slow turn
    noisy = truth * Rotation.from_rotvec(rng.normal(0.0, np.deg2rad(3.0), (len(t), 3)))
    filt = OneEuroConfig().rotation_filter()
    out = [filt(m.as_matrix()[None], s)[0] for m, s in zip(noisy, t, strict=True)]
    for r in out:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(r) == pytest.approx(1.0, abs=1e-9)
    raw_err = (truth.inv() * noisy).magnitude()[30:]
    filtered_err = (truth.inv() * Rotation.from_matrix(np.stack(out))).magnitude()[30:]
    assert raw_err.mean() / filtered_err.mean() > 1.5


def test_rotation_filter_goes_the_short_way_across_pi():
    filt = RotationOneEuroFilter(min_cutoff=1.0)
    a = Rotation.from_rotvec([0.0, 0.0, np.pi - 0.05]).as_matrix()
    b = Rotation.from_rotvec([0.0, 0.0, -np.pi + 0.05]).as_matrix()  # 0.1 rad away from a
    filt(a, 0.0)
    out = Rotation.from_matrix(filt(b, 1 / FPS))
    assert (Rotation.from_matrix(a).inv() * out).magnitude() < 0.1


# ---------------------------------------------------------------------------------------------- smooth
def _mesh_result(det, track_id, kp3d, rot):
    """A mesh-mode result whose vertices are rigidly tied to the wrist, with MANO rotations."""
    offsets = np.random.default_rng(5).normal(0.0, 0.03, (778, 3))
    res = _result(det, track_id, kp3d, np.broadcast_to(rot, (21, 3, 3)).copy())
    res.mode = "mesh"
    res.cam_t = kp3d[0].copy()
    res.vertices = kp3d[0] + offsets
    res.global_orient = rot.copy()
    res.hand_pose = np.broadcast_to(rot, (15, 3, 3)).copy()
    res.global_orient_aa = Rotation.from_matrix(rot).as_rotvec()
    res.hand_pose_aa = np.broadcast_to(res.global_orient_aa, (15, 3)).copy()
    return res, offsets


def test_smooth_filters_points_together_and_rotations_on_the_manifold():
    tracker = HandTracker(one_euro=OneEuroConfig())
    t, truth, noisy = _still_hand_noisy(seed=1, seconds=3.0)
    rng = np.random.default_rng(2)
    out_kp = []
    for kp3d, stamp in zip(noisy, t, strict=True):
        rot = Rotation.from_rotvec(rng.normal(0.0, 0.05, 3)).as_matrix()
        det = _det(300, 200)
        (det,), (track_id,) = tracker.assign([det], stamp)
        res, offsets = _mesh_result(det, track_id, kp3d, rot)
        (out,) = tracker.smooth([res], stamp)
        out_kp.append(out.keypoints_3d)
        # One cutoff for all points: vertices and translation move exactly with the filtered wrist.
        np.testing.assert_allclose(out.vertices - out.keypoints_3d[0], offsets, atol=1e-9)
        np.testing.assert_allclose(out.cam_t, out.keypoints_3d[0], atol=1e-12)
        for field in ("global_orient", "hand_pose", "joint_rotations"):
            mats = getattr(out, field).reshape(-1, 3, 3)
            np.testing.assert_allclose(np.linalg.det(mats), 1.0, atol=1e-9)
        np.testing.assert_allclose(
            Rotation.from_rotvec(out.global_orient_aa).as_matrix(), out.global_orient, atol=1e-9
        )
        np.testing.assert_allclose(
            Rotation.from_rotvec(out.hand_pose_aa).as_matrix(), out.hand_pose, atol=1e-9
        )
        assert out.track_id == track_id and res.vertices is not out.vertices  # copies, input untouched
    out_kp = np.stack(out_kp)
    assert np.std(noisy[30:] - truth[30:]) / np.std(out_kp[30:] - truth[30:]) > 2.0


def test_smoothing_is_off_by_default_and_unknown_tracks_pass_through():
    tracker = HandTracker()
    (det,), (track_id,) = tracker.assign([_det(300, 200)], 0.0)
    res = _result(det, track_id, np.ones((21, 3)))
    assert tracker.smooth([res], 0.0)[0] is res
    stranger = _result(det, 99, np.ones((21, 3)))
    assert tracker.smooth([stranger], 0.0)[0] is stranger


def test_update_assigns_ids_and_stable_sides_to_results():
    tracker = HandTracker(side_hysteresis=3)
    kp3d = np.zeros((21, 3))
    first = tracker.update([_result(_det(300, 200, "right"), None, kp3d)], 0.0)
    second = tracker.update([_result(_det(305, 200, "left"), None, kp3d)], 1 / FPS)
    assert first[0].track_id == second[0].track_id == 0
    assert second[0].side == "right"


# ---------------------------------------------------------------------------------------------- every k
def test_propagate_boxes_from_previous_joints():
    det = _det(300, 200, "left")
    kp3d = np.random.default_rng(0).normal(0.0, 0.05, (21, 3)) + np.array([0.0, 0.0, 0.5])
    res = _result(det, 4, kp3d)
    res.keypoints_2d = res.keypoints_2d + np.array([-290.0, 0.0])  # partly left of the image
    (prop,) = propagate_boxes([res], image_size=(640, 480))
    kp = res.keypoints_2d
    np.testing.assert_allclose(prop.box, [0.0, kp[:, 1].min(), kp[:, 0].max(), kp[:, 1].max()])
    assert prop.side == "left" and prop.score == res.score
    np.testing.assert_array_equal(prop.keypoints_2d, kp)
    np.testing.assert_allclose(prop.keypoints_3d_hand, kp3d - kp3d.mean(0))  # rigid copy for PnP


def test_detect_every_k_frames_propagates_in_between():
    tracker = HandTracker(detect_every=3)
    calls = []

    def detect():
        calls.append(frame)
        return [_det(300 + 5 * frame, 200)]

    for frame in range(7):
        dets = tracker.detections_for_frame(detect)
        dets, ids = tracker.assign(dets, frame / FPS)
        results = [_result(d, i, np.zeros((21, 3))) for d, i in zip(dets, ids, strict=True)]
        tracker.smooth(results, frame / FPS)
        assert ids == [0]
        if frame not in calls:  # propagated: the previous frame's joints
            np.testing.assert_allclose(
                dets[0].keypoints_2d, _LAYOUT_PX + np.array([300 + 5 * calls[-1], 200])
            )
    assert calls == [0, 3, 6]


def test_detector_runs_when_no_track_is_alive():
    tracker = HandTracker(detect_every=10)
    calls = []
    for frame in range(3):
        tracker.detections_for_frame(lambda: calls.append(1) or [])
        tracker.assign([], frame / FPS)
    assert len(calls) == 3


def test_bad_tracker_options():
    with pytest.raises(ValueError, match="side_hysteresis"):
        HandTracker(side_hysteresis=-1)
    with pytest.raises(ValueError, match="detect_every"):
        HandTracker(detect_every=0)
    assert HandTracker(one_euro={"min_cutoff": 2.0}).one_euro == replace(OneEuroConfig(), min_cutoff=2.0)


def test_box_iou():
    assert box_iou(np.array([0, 0, 10, 10]), np.array([5, 0, 15, 10])) == pytest.approx(1 / 3)
    assert box_iou(np.array([0, 0, 10, 10]), np.array([20, 20, 30, 30])) == 0.0
    assert box_iou(np.array([0, 0, 0, 0]), np.array([0, 0, 0, 0])) == 0.0
