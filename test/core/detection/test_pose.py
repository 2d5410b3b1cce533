"""The body models with LiteRT on real photos: people, arms with their sides, hand regions at the wrists."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fast_hamer_core.detection.blaze import RotatedRect, box_iou_matrix
from fast_hamer_core.detection.pose import (
    ARMS,
    MIRRORED_POSE_LANDMARKS,
    BodyHandProposer,
    PeopleSearch,
    PeopleSearchConfig,
    PoseDetector,
    hand_roi_from_pose,
)
from fast_hamer_core.detection.search import WindowConfig, search_windows

#: hamer_test5 (a woman facing the camera, hands in front of her face): label boxes of her hands.
HAMER5_HANDS = {"right": (395, 500, 582, 912), "left": (585, 485, 785, 905)}


@pytest.fixture(scope="module")
def proposer():
    return BodyHandProposer()


#: The people search on the whole image and 3x3 tiles (the default looks at the whole image only).
TILED = PeopleSearchConfig(windows=WindowConfig(pad_factor=0.0, tile_grids=(3,)))


def _inside(point, box) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def test_pose_detector_finds_the_person(load_photo):
    rgb = load_photo("hamer_test5.jpg")  # 1200 x 1799
    people = PoseDetector().detect(rgb)
    assert people, "no person found"
    best = people[0]
    assert 0.5 <= best.score <= 1.0
    face_centre = 0.5 * (best.box_px[:2] + best.box_px[2:])
    assert 450 < face_centre[0] < 750 and 300 < face_centre[1] < 800  # her face, behind her hands
    assert best.keypoints_px.shape == (4, 2)
    # The body region is upright (hips below, the size point above them) and holds the face.
    assert abs(best.body_roi.rotation_rad) < np.radians(20)
    assert _inside(face_centre, best.body_roi.box_px())


def test_arms_have_their_anatomical_sides(proposer, load_photo):
    rgb = load_photo("hamer_test5.jpg")
    (_, body), *_ = proposer.bodies(rgb)
    kp = body.keypoints_px
    nose_x = kp[0, 0]
    # Facing the camera, her right arm is on the image's left.
    assert kp[ARMS["right"].wrist, 0] < nose_x < kp[ARMS["left"].wrist, 0]
    assert body.visibility[ARMS["right"].wrist] > 0.5 and body.visibility[ARMS["left"].wrist] > 0.5


def test_the_mirrored_look_names_the_same_joints(proposer, load_photo):
    """The mirrored crop's answer, mapped back and relabelled, puts each joint where the plain look does
    (without the relabelling, the wrists would trade places across the face)."""
    assert all(MIRRORED_POSE_LANDMARKS[MIRRORED_POSE_LANDMARKS[i]] == i for i in range(33))  # an involution
    assert MIRRORED_POSE_LANDMARKS[ARMS["left"].wrist] == ARMS["right"].wrist
    rgb = load_photo("hamer_test5.jpg")
    (person, plain), *_ = proposer.bodies(rgb)
    mirrored = proposer.landmarks.run(rgb, person.body_roi, mirror=True)
    for arm in ARMS.values():
        for joint in (arm.wrist, arm.elbow, arm.index):
            gap_px = np.linalg.norm(plain.keypoints_px[joint] - mirrored.keypoints_px[joint])
            assert gap_px < 0.05 * person.body_roi.size_px, (
                f"joint {joint}: the looks are {gap_px:.0f} px apart"
            )
    assert mirrored.score >= 0.5


def test_each_look_proposes_its_arms(load_photo):
    rgb = load_photo("hamer_test5.jpg")
    plain_only = BodyHandProposer(mirrored_look=False).propose(rgb)
    both = BodyHandProposer().propose(rgb)
    assert sorted(p.side for p in plain_only) == ["left", "right"]
    assert sorted(p.side for p in both) == ["left", "left", "right", "right"]


def test_hand_regions_from_the_body_are_at_the_hands(proposer, load_photo):
    """One region per visible wrist, of the wrist's side, holding the wrist and overlapping the hand."""
    proposals = proposer.propose(load_photo("hamer_test5.jpg"))  # both looks: two per wrist
    assert {p.side for p in proposals} == {"left", "right"}
    for proposal in proposals:
        box = HAMER5_HANDS[proposal.side]
        region = proposal.roi.box_px()
        assert _inside(proposal.wrist_px, region)
        hand_centre = (0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]))
        assert _inside(hand_centre, region), f"{proposal.side}: region {region.round()} misses the hand"
        hand_size = max(box[2] - box[0], box[3] - box[1])
        assert 0.7 * hand_size < proposal.roi.size_px < 4.0 * hand_size
        assert 0.0 <= proposal.visibility <= 1.0


@pytest.fixture(scope="module")
def pose_detector():
    return PoseDetector()


def _face_centre(person) -> np.ndarray:
    return 0.5 * (person.box_px[:2] + person.box_px[2:])


def test_the_detector_on_a_window_reports_image_pixels(pose_detector, load_photo):
    """hamer_test5's person seen through a tile (the top-left 2x2 tile holds her face): the same face as on
    the whole image, in image pixels, although the tile's crop differs from the letterbox."""
    rgb = load_photo("hamer_test5.jpg")
    (whole, *_) = pose_detector.detect(rgb)
    height, width = rgb.shape[:2]
    tiles = [
        w
        for w in search_windows(width, height, WindowConfig(pad_factor=0.0, tile_grids=(2,)))
        if w.kind == "tile"
    ]
    tile = min(tiles, key=lambda w: sum(w.region.center_px))  # top left: (0, 0) to (1124, 1124)
    assert tile.region.size_px < 0.7 * max(height, width)
    people = pose_detector.detect(rgb, tile.region)
    assert people, "no person in the tile"
    offsets = [np.linalg.norm(_face_centre(p) - _face_centre(whole)) for p in people]
    assert min(offsets) < 0.1 * max(height, width)


def test_people_search_finds_the_people_the_whole_image_misses(pose_detector, load_photo):
    """fasthamer_sample6 (three people): the whole-image pass sees fewer people than the tiles; the
    search's people lie in the image, are merged across windows, and carry their body region."""
    rgb = load_photo("fasthamer_sample6.jpg")
    height, width = rgb.shape[:2]
    whole = PeopleSearch(pose_detector, PeopleSearchConfig())  # the default: the whole image only
    assert not search_windows(width, height, whole.config.windows)[1:]
    search = PeopleSearch(pose_detector, TILED)
    people = search.find(rgb)
    assert len(people) >= 2 and len(people) > len(whole.find(rgb))
    assert len(people) <= search.config.max_people
    assert [p.score for p in people] == sorted((p.score for p in people), reverse=True)
    for person in people:
        centre = _face_centre(person)
        assert 0 <= centre[0] <= width and 0 <= centre[1] <= height
        expected = pose_detector.body_roi(person.keypoints_px)
        assert person.body_roi.center_px == pytest.approx(expected.center_px)
        assert person.body_roi.size_px == pytest.approx(expected.size_px)
    # No two people left that the merge would have joined (head boxes overlapping beyond merge_iou).
    heads = np.stack([search.head_box_px(p) for p in people])
    iou = box_iou_matrix(heads, heads)
    np.fill_diagonal(iou, 0.0)
    assert iou.max() <= search.config.merge_iou
    # Different faces: at least two people more than a face box apart.
    centres = np.stack([_face_centre(p) for p in people])
    spread = np.linalg.norm(centres[:, None] - centres[None], axis=-1).max()
    assert spread > 100.0


def test_people_search_caps_the_people(pose_detector, load_photo):
    capped = PeopleSearch(pose_detector, replace(TILED, max_people=1)).find(
        load_photo("fasthamer_sample6.jpg")
    )
    assert len(capped) == 1


def test_hand_roi_from_pose_geometry():
    """An arm pointing straight up: the region sits above the wrist, upright, 2.7 x 2 |middle - wrist|."""
    wrist, index, pinky = np.array([100.0, 200.0]), np.array([110.0, 150.0]), np.array([80.0, 150.0])
    roi = hand_roi_from_pose(wrist, pinky, index)
    middle = (2 * index + pinky) / 3  # (100, 150)
    assert roi.rotation_rad == pytest.approx(0.0, abs=1e-9)
    assert roi.size_px == pytest.approx(2.7 * 2 * 50.0)
    # Shifted up (towards the fingers) by a tenth of the unscaled side.
    assert roi.center_px == pytest.approx((100.0, 150.0 - 0.1 * 100.0))
    # Rotating the arm rotates the region with it (here: fingers pointing right = 90 degrees clockwise).
    turned = hand_roi_from_pose(wrist, wrist + np.array([50.0, -10.0]), wrist + np.array([50.0, 5.0]))
    assert turned.rotation_rad == pytest.approx(np.pi / 2, abs=1e-9)
    assert isinstance(roi, RotatedRect) and middle[1] == 150.0


def test_bad_proposer_options(tmp_path):
    with pytest.raises(ValueError, match="max_people"):
        PeopleSearchConfig(max_people=0)
    with pytest.raises(ValueError, match="min_score"):
        PeopleSearchConfig(min_score=1.5)
    with pytest.raises(ValueError, match="head_scale"):
        PeopleSearchConfig(head_scale=0.0)
    with pytest.raises(ValueError, match="tile_grids"):
        PeopleSearchConfig(windows=WindowConfig(tile_grids=(0,)))
    with pytest.raises(ValueError, match="min_wrist_visibility"):
        BodyHandProposer(min_wrist_visibility=1.5)
    with pytest.raises(FileNotFoundError, match="given"):
        PoseDetector(model_path=tmp_path / "missing.tflite")


def test_hand_recrop_model_returns_a_region_on_the_hand(proposer, load_photo):
    from fast_hamer_core.detection.pose import HandRecropModel

    rgb = load_photo("hamer_test5.jpg")
    left = next(p for p in proposer.propose(rgb) if p.side == "left")
    refined = HandRecropModel().refine(rgb, left.roi)
    box = HAMER5_HANDS["left"]
    assert _inside((0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])), refined.box_px())
    assert 0.5 * (box[3] - box[1]) < refined.size_px < 3.0 * (box[3] - box[1])


def test_the_proposer_takes_another_people_search(proposer, pose_detector, load_photo):
    """``bodies(rgb, people)`` uses the given search (the grey pass's), not the proposer's own."""
    rgb = load_photo("fasthamer_sample6.jpg")
    one = PeopleSearch(pose_detector, PeopleSearchConfig(max_people=1))
    tiled = BodyHandProposer(people=TILED)
    assert len(tiled.bodies(rgb, one)) <= 1 < len(tiled.bodies(rgb))
    assert {p.person_score for p in proposer.propose(rgb, one)} <= {one.find(rgb)[0].score}
