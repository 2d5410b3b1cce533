"""The stream detector through the real models on sequences made from the shared photos and the shared
webcam clip: hands followed without a palm search, new hands picked up, one mirror pass per new hand,
stable track ids and sides through the pipeline's tracker."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from fixtures.data import SHARED_DIR

from fast_hamer_core.detection.blaze import HandLandmarks
from fast_hamer_core.detection.merge import nested_fit
from fast_hamer_core.detection.stream import BODY_SETTLED_FACTOR, DUPLICATES, StreamHandDetector
from fast_hamer_core.detection.stream_tracks import TrackedHand
from fast_hamer_core.evaluation.clips import labelled_clip
from fast_hamer_core.evaluation.detection import box_iou
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels
from fast_hamer_core.evaluation.hard_cases import make_hard_cases
from fast_hamer_core.frames import FrameReader, moving_sequence
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.pipeline import HandReconstructor
from fast_hamer_core.tracking import HandTracker

VIDEO = SHARED_DIR / "data" / "videos" / "human_hand_video.mp4"


@pytest.fixture(scope="module")
def two_hands(load_photo):
    """40 frames of hamer_test5 (two hands in front of the face), moving like a hand-held camera."""
    return list(moving_sequence(load_photo("hamer_test5.jpg"), 40))


def _sides(detections) -> list[str]:
    return sorted(d.side for d in detections)


def test_tracked_hands_are_followed_without_palm_search(task_path, two_hands):
    det = StreamHandDetector(task_path, search_every=10)
    found = [det.detect(frame) for frame in two_hands]
    assert all(_sides(d) == ["left", "right"] for d in found), [len(d) for d in found]
    c = det.counts
    assert c.frames == 40
    assert c.palm_searches <= 5  # frame 0, then every 10th frame: 0.1 per frame, not 1
    assert c.landmark_passes <= 2 * 40 + 2 * c.palm_searches
    # One per new hand, a second only while a side is uncertain, and one re-check per hand every 15 frames.
    assert c.mirror_passes <= 4 + 2 * (40 // 15)
    for d in found[-1]:
        assert d.keypoints_2d.shape == (21, 2) and 0.5 <= d.score <= 1.0 and d.side_score >= 0.5


def test_a_hand_that_appears_is_picked_up_by_the_next_search(task_path, two_hands, load_photo):
    left_half_hidden = []
    for frame in two_hands[:20]:
        hidden = frame.copy()
        hidden[:, 320:] = 128  # only the hand on the image's left (the right hand) is visible
        left_half_hidden.append(hidden)
    det = StreamHandDetector(task_path, search_every=8)
    one = [len(det.detect(f)) for f in left_half_hidden]
    assert one[-1] == 1
    searches_before = det.counts.palm_searches
    both = [len(det.detect(f)) for f in two_hands[20:40]]
    assert both[:8].count(2) >= 1, both  # found within one search period
    assert both[-1] == 2
    assert det.counts.palm_searches > searches_before


def test_a_lost_hand_triggers_a_search_in_the_same_frame(task_path, two_hands):
    det = StreamHandDetector(task_path, search_every=100)
    for frame in two_hands[:5]:
        det.detect(frame)
    before = det.counts.palm_searches
    blank = np.full_like(two_hands[5], 128)
    assert det.detect(blank) == []
    assert det.counts.palm_searches == before + 1
    assert det.tracked == 0
    det.detect(blank)
    assert det.counts.palm_searches == before + 2  # nothing tracked: search every frame


def test_track_ids_and_sides_stay_stable_through_the_pipeline(task_path, two_hands):
    detector = StreamHandDetector(task_path, search_every=10)
    recon = HandReconstructor(detector=detector, tracker=HandTracker(one_euro={}))
    camera = PinholeCamera.assumed(640, 480)
    sides_by_id: dict[int, set[str]] = {}
    for i, frame in enumerate(two_hands):
        for hand in recon.reconstruct(frame, camera, stamp_s=i / 30.0):
            sides_by_id.setdefault(hand.track_id, set()).add(hand.side)
    assert len(sides_by_id) == 2  # two tracks for the whole sequence
    assert sorted(next(iter(s)) for s in sides_by_id.values()) == ["left", "right"]
    assert all(len(s) == 1 for s in sides_by_id.values())  # no track changed side
    counts = recon.detection_counts()
    assert counts["palm_searches_per_frame"] < 0.2 and counts["mirror_passes_per_frame"] < 0.2


def test_the_webcam_clip_right_hand_is_followed(task_path):
    reader = FrameReader(str(VIDEO), resize_width=640)
    frames = list(itertools.islice(reader.frames(), 150, 210))  # 2 s where the hand is in view
    reader.close()
    det = StreamHandDetector(task_path, search_every=10)
    found = [det.detect(f) for f in frames]
    with_hand = [d for d in found if d]
    assert len(with_hand) >= 0.9 * len(frames)
    assert all(max(d, key=lambda x: x.score).side == "right" for d in with_hand)
    assert det.counts.palm_searches < 0.4 * len(frames)


def test_bad_arguments_are_refused(task_path):
    with pytest.raises(ValueError, match="search_every"):
        StreamHandDetector(task_path, search_every=0)
    with pytest.raises(ValueError, match="handedness"):
        StreamHandDetector(task_path, handedness="both")
    with pytest.raises(ValueError, match="side_margin"):
        StreamHandDetector(task_path, side_margin=0.7)
    with pytest.raises(ValueError, match="min_new_presence"):
        StreamHandDetector(task_path, min_new_presence=1.5)


def _far_away(photo: np.ndarray, frames: int = 40) -> list[np.ndarray]:
    """The photo shrunk to 35 % of a 640x480 grey canvas's width (people far from the camera), moving."""
    canvas = np.full((480, 640, 3), 128, np.uint8)
    scale = 0.35 * 640 / photo.shape[1]
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)[:440]
    canvas[40 : 40 + small.shape[0], 60 : 60 + small.shape[1]] = small
    return list(moving_sequence(canvas, frames, shift_frac=0.02, zoom=0.03, rotation_deg=3.0))


def test_extra_windows_find_small_hands_that_the_whole_image_search_misses(task_path, load_photo):
    # fasthamer_sample6's four hands holding things, three people far away: the whole-image search at
    # 192x192 sees one hand, the tiles (one per search, in turn) find the others.
    frames = _far_away(load_photo("fasthamer_sample6.jpg"))
    plain = StreamHandDetector(task_path, scan_windows=False)
    scanned = StreamHandDetector(task_path, scan_windows=True)
    found_plain = [len(plain.detect(f)) for f in frames]
    found_scanned = [len(scanned.detect(f)) for f in frames]
    assert found_scanned[-1] >= 3 and found_scanned[-1] > found_plain[-1], (found_plain, found_scanned)
    assert plain.counts.window_searches == 0
    # One window per search period while hands are tracked (every frame only while none is).
    assert 0 < scanned.counts.window_searches <= scanned.counts.palm_searches + len(frames) // 10 + 1
    assert scanned.counts.per_frame()["window_searches_per_frame"] == pytest.approx(
        scanned.counts.window_searches / len(frames)
    )
    for detection in scanned.detect(frames[-1]):
        assert detection.keypoints_2d.shape == (21, 2) and np.isfinite(detection.keypoints_2d).all()


def test_the_lite_palm_detector_finds_a_hand_the_full_one_misses(task_path, load_photo):
    """hamer_test1 at 0.35 on a canvas of its own size: the full palm detector's whole-image search sees the
    woman's raised hand only; the lite one's palm leads to her other hand (keypoint centre about
    (436, 376) in the photo) too. (Windows and arms off: the whole-image search alone.)"""
    photo = load_photo("hamer_test1.jpg")
    scale, offset = 0.35, np.array([80.0, 50.0])
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas = np.full_like(photo, 90)
    canvas[50 : 50 + small.shape[0], 80 : 80 + small.shape[1]] = small
    other_hand = np.array([436.0, 376.0]) * scale + offset

    def near(detections) -> bool:
        return any(np.linalg.norm(d.keypoints_2d.mean(0) - other_hand) < 10.0 for d in detections)

    full_only = StreamHandDetector(task_path, lite_palms=False, scan_windows=False, body_every=0)
    both = StreamHandDetector(task_path, scan_windows=False, body_every=0)
    assert full_only.lite_palms is None and both.lite_palms.model_path.name == "palm_detection_lite.tflite"
    assert not any(near(full_only.detect(canvas)) for _ in range(3))
    assert near(both.detect(canvas)) and both.counts.palm_searches == 1  # the first search finds it
    assert len(both.detect(canvas)) == 2  # followed, and one hand each (the palms of one hand merged)


def _hamer5_far(load_photo, hide_right_hand: bool = False) -> np.ndarray:
    """hamer_test5 at a fifth of a 640x480 grey canvas's width; optionally her right hand painted over."""
    photo = load_photo("hamer_test5.jpg")
    canvas = np.full((480, 640, 3), 128, np.uint8)
    scale = 0.2 * 640 / photo.shape[1]
    small = cv2.resize(photo, None, fx=scale, fy=scale)
    canvas[40 : 40 + small.shape[0], 60 : 60 + small.shape[1]] = small
    if hide_right_hand:
        x0, y0, x1, y1 = (np.array([395, 500, 582, 912]) * scale + [60, 40, 60, 40]).astype(int)
        canvas[y0 - 5 : y1 + 5, x0 - 5 : x1 + 5] = 128
    return canvas


def _moving(canvas: np.ndarray, frames: int) -> list[np.ndarray]:
    return list(moving_sequence(canvas, frames, shift_frac=0.02, zoom=0.03, rotation_deg=3.0))


def test_people_s_arms_lead_to_a_hand_the_palm_searches_miss(task_path, load_photo):
    """hamer_test5 far away: the palm searches (whole image and the windows) follow one of her hands; her
    arms lead to both."""
    frames = _moving(_hamer5_far(load_photo), 20)
    # The lite palm detector off: with it the whole-image search sees both hands of this canvas.
    palms_only = StreamHandDetector(task_path, body_every=0, lite_palms=False)
    with_arms = StreamHandDetector(task_path, body_every=15, lite_palms=False)
    assert palms_only.body is None  # the body models are not even loaded
    found_palms = [len(palms_only.detect(f)) for f in frames]
    found = [with_arms.detect(f) for f in frames]
    assert found_palms[-1] < 2 and _sides(found[-1]) == ["left", "right"], (
        found_palms,
        [len(d) for d in found],
    )
    # At once (nothing tracked in the first frame); both arms then have their hands (no arm is open), so
    # the next look waits BODY_SETTLED_FACTOR x 15 frames, past this clip.
    assert with_arms.counts.body_searches == 1 and palms_only.counts.body_searches == 0
    assert with_arms.counts.per_frame()["body_searches_per_frame"] == pytest.approx(1 / len(frames))
    assert not with_arms._open_arms and len(frames) < BODY_SETTLED_FACTOR * 15
    right, left = sorted(found[-1], key=lambda d: d.box[0])
    assert right.side == "right" and left.side == "left"  # her right hand is on the image's left


def _tracked(x: float, y: float, size: float) -> TrackedHand:
    """A tracked hand whose 21 keypoints span the square box (x, y) .. (x + size, y + size)."""
    keypoints = np.array([[x, y], [x + size, y + size]] + [[x + size / 2, y + size / 2]] * 19)  # (21, 2)
    return TrackedHand(HandLandmarks(keypoints, np.zeros((21, 3)), 0.9, 0.9, None))


def test_an_arm_without_its_hand_is_looked_at_again_every_period(task_path, load_photo):
    """Her right hand disappears (painted over): it is lost, its arm is open, and the body search comes back
    every 15 frames instead of every 60."""
    frames = _moving(_hamer5_far(load_photo), 20) + _moving(_hamer5_far(load_photo, hide_right_hand=True), 40)
    det = StreamHandDetector(task_path, body_every=15)
    found = [len(det.detect(f)) for f in frames]
    assert found[19] == 2 and found[-1] == 1, found
    assert det._open_arms
    # Frame 0, then the frame after the loss, then every 15 frames: 4 looks (settled, it would be 1).
    assert det.counts.body_searches == 4


def test_a_track_that_slides_onto_another_hand_takes_that_hand_s_side(task_path, load_photo):
    """Two close-ups of hamer_test5 played as one stream (the seed-0 close_up hard cases): the second crop
    shows her left hand where the first showed her right, and the followed region slides onto it. The
    settled side is re-checked every 15 frames, so the track on her left hand becomes "left"; without
    re-checks it stays "right" for the whole second clip. (Her right hand, in the crop too, is picked up
    as a hand of its own.)"""
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test5.jpg")
    first, second = make_hard_cases(load_photo("hamer_test5.jpg"), image, seed=0, makers=["close_up"])
    frames = [f for f, _ in labelled_clip(first.image, first.labels, 30)]
    second_clip = list(labelled_clip(second.image, second.labels, 30))
    frames += [f for f, _ in second_clip]
    last = second_clip[-1][1]
    (left_hand,) = [h for h in last.hands if h.side == "left"]
    sides = {}
    for every in (0, 15):
        det = StreamHandDetector(task_path, side_recheck_every=every, body_every=0)
        detections = [det.detect(f) for f in frames][-1]
        on_left = max(detections, key=lambda d: box_iou(d.box[None], left_hand.box[None])[0, 0])
        assert box_iou(on_left.box[None], left_hand.box[None])[0, 0] > 0.5
        sides[every] = on_left.side
    assert sides == {0: "right", 15: "left"}


def test_a_finger_fitted_as_a_small_hand_is_dropped_inside_a_followed_hand(task_path):
    big, finger, beside = _tracked(100, 100, 200), _tracked(150, 120, 40), _tracked(320, 100, 40)

    def nested(small: TrackedHand, large: TrackedHand) -> bool:
        return nested_fit(small.landmarks.keypoints_2d, large.landmarks.keypoints_2d, DUPLICATES)

    assert nested(finger, big) and not nested(big, finger) and not nested(beside, big)
    det = StreamHandDetector(task_path, body_every=0)
    assert det._without_duplicates([finger, big, beside]) == [big, beside]


def test_a_cut_hand_in_a_tile_is_not_a_second_hand(task_path, load_photo):
    # A tile through hamer_test5's small right hand made the landmark model fit a thin "hand" onto its
    # fingers, inside the tracked hand's box: it must not become a third hand.
    det = StreamHandDetector(task_path, scan_windows=True)
    found = [det.detect(f) for f in _far_away(load_photo("hamer_test5.jpg"))]
    assert max(len(d) for d in found) == 2 and _sides(found[-1]) == ["left", "right"]
    assert det.counts.window_searches > 0


def test_a_hinted_hand_is_picked_up_without_a_palm_search(task_path, two_hands):
    """A hand the detector lost (hidden for a frame) comes back at the hinted region (the mesh's joints of
    the hand the tracker carries) in the next frame, while the other hand keeps the search schedule off."""
    det = StreamHandDetector(task_path, search_every=100)
    before = det.detect(two_hands[0])
    right = next(d for d in before if d.side == "right")  # on the image's left
    hidden = two_hands[1].copy()
    hidden[:, :320] = 128
    assert [d.side for d in det.detect(hidden)] == ["left"]
    det.detect(two_hands[2])  # the hand is back, but only a palm search or a hint can find it
    assert det.tracked == 1
    searches = det.counts.palm_searches
    det.hint([right.keypoints_2d])
    found = det.detect(two_hands[3])
    assert _sides(found) == ["left", "right"]
    assert det.counts.palm_searches == searches


def test_a_gloved_hand_is_found_on_the_grey_copy_and_followed_there(task_path, load_photo):
    # hamer_test3 with blue nitrile gloves (the hard set's copy): the colour models miss both hands; the
    # window cycle ends with the whole grey copy, where one is found (presence 0.9) and then followed.
    from fast_hamer_core.detection.search import search_windows
    from fast_hamer_core.evaluation.clips import labelled_clip
    from fast_hamer_core.evaluation.detection import score_image
    from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels
    from fast_hamer_core.evaluation.hard_cases import make_hard_cases

    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test3.jpg")
    cases = make_hard_cases(load_photo(image.file), image, seed=0, makers=["gloved"])
    gloved = next(case for case in cases if "nitrile" in case.labels.file)
    clip = list(labelled_clip(gloved.image, gloved.labels, 30))
    colour = StreamHandDetector(task_path, scan_windows=False)
    assert not any(colour.detect(picture) for picture, _ in clip)
    det = StreamHandDetector(task_path)
    scores = [score_image(labels, det.detect(picture)) for picture, labels in clip]
    first = next(i for i, score in enumerate(scores) if score.found)
    height, width = gloved.image.shape[:2]
    cycle = len(search_windows(width, height))  # padded, tiles, then the whole image on the grey copy
    # Nothing tracked: one window per frame, the grey copy once per cycle; the clip moves, so the palm
    # detector may need a second grey look.
    assert first < 2 * cycle
    assert sum(bool(score.found) for score in scores[first:]) >= 0.8 * len(scores[first:])  # followed
    assert not any(score.false_positives for score in scores)
