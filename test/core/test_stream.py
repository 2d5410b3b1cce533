"""StreamPipeline (two overlapping stages, newest frame first) and tracking by reconstruction in mesh
mode: a random-weight student, synthetic MANO, a detector that is made to miss."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch
from fixtures.mano import write_synthetic_mano_npz

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.models import create_model
from fast_hamer_core.pipeline import HandReconstructor
from fast_hamer_core.stream import LatestSlot, PreparedFrame, StreamPipeline
from fast_hamer_core.tracking import HandTracker
from fast_hamer_core.types import Detection

CAMERA = PinholeCamera.assumed(640, 480)


class ScriptedDetector:
    """A stand-in stream detector: the same two hands on every frame except those in ``miss``."""

    counts = None  # marks it as a stream detector for HandReconstructor.stream

    def __init__(self, miss: set[int] = frozenset(), delay_s: float = 0.0) -> None:
        self.miss, self.delay_s, self.frame = set(miss), delay_s, 0
        self.threads: set[str] = set()

    def detect(self, rgb, stamp_s=None):
        self.threads.add(threading.current_thread().name)
        i, self.frame = self.frame, self.frame + 1
        time.sleep(self.delay_s)
        if i in self.miss:
            return []
        return [
            Detection(box=[100, 140, 220, 280], score=0.9, side="right", side_score=0.9),
            Detection(box=[400, 150, 520, 290], score=0.9, side="left", side_score=0.9),
        ]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    torch.manual_seed(0)
    mano = write_synthetic_mano_npz(tmp_path_factory.mktemp("mano") / "MANO_RIGHT.npz")
    return create_model("mobilenetv3_large", mano=mano).eval()


def _frames(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    return [np.ascontiguousarray(np.roll(base, i, axis=1)) for i in range(n)]


def test_mesh_track_survives_detector_misses_and_ends_after_n_frames(model):
    n = 3
    detector = ScriptedDetector(miss=set(range(4, 20)))
    recon = HandReconstructor(detector=detector, model=model, tracker=HandTracker(max_unconfirmed_frames=n))
    per_frame = [recon.reconstruct(f, CAMERA, stamp_s=i / 30) for i, f in enumerate(_frames(12))]
    assert [len(r) for r in per_frame] == [2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0]
    ids = {h.track_id for h in per_frame[0]}
    for frame in per_frame[4:7]:  # carried by the network's own 2D joints: same ids, marked
        assert {h.track_id for h in frame} == ids
        assert all(h.extras.get("carried") for h in frame)
        assert all(np.isfinite(h.vertices).all() for h in frame)
    assert not any(h.extras.get("carried") for h in per_frame[3])
    assert recon.tracker.tracks == []  # ended after n frames without a detection


def test_landmarks_results_are_never_carried():
    tracker = HandTracker(max_unconfirmed_frames=5)
    recon = HandReconstructor(detector=ScriptedDetector(miss={1}), tracker=tracker)
    det = Detection(box=[100, 100, 200, 200], score=1.0, side="right", side_score=1.0)
    det.keypoints_2d = np.random.default_rng(0).uniform(100, 200, (21, 2))
    det.keypoints_3d_hand = np.random.default_rng(1).normal(0, 0.03, (21, 3))
    first = recon.reconstruct(_frames(1)[0], CAMERA, stamp_s=0.0, detections=[det])
    assert first[0].mode == "landmarks"
    assert recon.reconstruct(_frames(1)[0], CAMERA, stamp_s=0.033, detections=[]) == []


def test_overlapping_stages_answer_every_frame_in_order_on_two_threads(model):
    detector = ScriptedDetector(delay_s=0.01)
    recon = HandReconstructor(detector=detector, model=model, tracker=HandTracker(max_unconfirmed_frames=2))
    outputs, stage2 = [], set()

    def on_output(out):
        stage2.add(threading.current_thread().name)
        outputs.append(out)

    with StreamPipeline(recon, on_output, overlap=True, name="t") as pipe:
        for i, frame in enumerate(_frames(8)):
            pipe.submit(PreparedFrame(frame, CAMERA, i / 30.0, context=i), wait=True)
        assert pipe.drain(timeout_s=60)
    assert [o.frame.context for o in outputs] == list(range(8))
    assert detector.threads == {"t_detect"} and stage2 == {"t_reconstruct"}
    for out in outputs:
        t = out.times
        assert t["received"] <= t["detect_start"] <= t["detect_end"] <= t["reconstruct_start"]
        assert t["reconstruct_start"] <= t["reconstruct_end"] and out.latency_s > 0
        assert len(out.results) == 2
    assert {h.track_id for h in outputs[-1].results} == {h.track_id for h in outputs[0].results}


def test_newest_frame_wins_and_bad_frames_are_skipped_without_stopping(model):
    errors, outputs = [], []
    gate = threading.Event()

    def prepare(payload):
        gate.wait(10)
        if payload == "bad":
            raise ValueError("undecodable")
        return PreparedFrame(_frames(1)[0], CAMERA, None, context=payload)

    recon = HandReconstructor(detector=ScriptedDetector(), model=model)
    with StreamPipeline(
        recon, outputs.append, prepare=prepare, on_error=lambda s, e: errors.append(s)
    ) as pipe:
        pipe.submit("first")  # taken by stage 1, which waits on the gate
        time.sleep(0.2)
        for name in ("a", "b", "bad"):
            pipe.submit(name)  # each replaces the previous one: a and b are dropped
        gate.set()
        assert pipe.drain(timeout_s=60)
        assert pipe.dropped == 2 and pipe.received == 4
        pipe.submit("after")
        assert pipe.drain(timeout_s=60)
    assert errors == ["prepare"]
    assert [o.frame.context for o in outputs] == ["first", "after"]


def test_latest_slot_wait_empty():
    slot: LatestSlot[int] = LatestSlot()
    slot.put(1)
    assert not slot.wait_empty(timeout_s=0.05)
    threading.Timer(0.05, slot.take).start()
    assert slot.wait_empty(timeout_s=5)


def test_a_carried_hand_stops_at_the_image_border_and_under_a_detected_hand(model):
    recon = HandReconstructor(
        detector=ScriptedDetector(miss=set(range(1, 50))),
        model=model,
        tracker=HandTracker(max_unconfirmed_frames=9),
    )
    frame = _frames(1)[0]
    hands = recon.reconstruct(frame, CAMERA, stamp_s=0.0)
    assert len(hands) == 2
    tracker = recon.tracker
    right = next(t for t in tracker.tracks if t.side == "right")
    # The right hand's last result moved out of the image: it is not carried.
    right.last_result.keypoints_2d = right.last_result.keypoints_2d + np.array([1000.0, 0.0])
    # The left hand's place is taken by a new detection of another hand: not carried either.
    left = next(t for t in tracker.tracks if t.side == "left")
    other = Detection(box=left.last_result.box.copy(), score=0.9, side="right", side_score=0.9)
    tracker.max_keypoint_dist_px = 1e-3  # the new detection must not match the left track
    tracker.min_iou = 1.1
    dets, _ = tracker.assign([other], stamp_s=0.033, image_size=(640, 480))
    assert len(dets) == 1 and tracker.carried_ids == set()


def test_another_image_size_starts_a_new_stream(model):
    detector = ScriptedDetector(miss={1})
    recon = HandReconstructor(detector=detector, model=model, tracker=HandTracker(max_unconfirmed_frames=3))
    assert len(recon.reconstruct(_frames(1)[0], CAMERA, stamp_s=0.0)) == 2
    big = np.zeros((720, 960, 3), np.uint8)
    hands = recon.reconstruct(big, PinholeCamera.assumed(960, 720), stamp_s=0.033)  # the detector misses
    assert hands == [] and recon.tracker.tracks == []  # nothing carried over from the old stream
