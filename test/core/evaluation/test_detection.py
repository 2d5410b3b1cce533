"""Detection scoring: label files, one-to-one matching, duplicates, recall per kind, side accuracy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.evaluation.detection import (
    KINDS,
    SHARED_LABELS_PATH,
    LabelledHand,
    LabelledImage,
    box_iou,
    format_summary,
    load_labels,
    match_boxes,
    parse_labels,
    save_labels,
    score_image,
    summarise,
)
from fast_hamer_core.types import Detection


def _det(box, side="right", score=1.0) -> Detection:
    return Detection(box=np.array(box, dtype=float), score=score, side=side, side_score=0.9)


def test_box_iou_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0, 0.25]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 4)


def test_matching_prefers_more_matches_over_one_greedy_best_pair():
    # Greedy would pair label 0 with detection 0 (IoU 0.9) and leave label 1 unmatched; the
    # one-to-one optimum matches both.
    iou = np.array([[0.9, 0.5], [0.6, 0.0]])
    assert sorted(match_boxes(iou, 0.3)) == [(0, 1), (1, 0)]
    assert match_boxes(iou, 0.7) == [(0, 0)]
    assert match_boxes(np.zeros((2, 0)), 0.3) == []


def test_duplicates_count_against_precision_and_sides_are_scored():
    image = LabelledImage(
        file="x.jpg",
        width=1000,
        height=500,
        hands=[
            LabelledHand([100, 100, 300, 400], side="right"),
            LabelledHand([600, 100, 800, 400], side="left"),
            LabelledHand([900, 10, 930, 40], side=None),  # small (3 % of 1000 px): also tiny
        ],
    )
    detections = [
        _det([110, 110, 290, 390], "right"),  # hand 0, right side
        _det([120, 150, 250, 300], "right"),  # inside hand 0 again: a duplicate
        _det([610, 120, 790, 380], "right"),  # hand 1, wrong side
        _det([400, 400, 450, 450], "left"),  # background
    ]
    score = score_image(image, detections, iou_threshold=0.3)
    assert sorted(score.matches) == [(0, 0), (1, 2)]
    assert score.duplicates == {1: 0}
    assert score.false_positives == [1, 3]
    summary = summarise([score])
    assert (summary["hands"], summary["found"], summary["detections"]) == (3, 2, 4)
    assert summary["precision"] == pytest.approx(0.5)
    assert summary["duplicates"] == 1 and summary["false_positives"] == 2
    assert (summary["side_correct"], summary["hands_with_side"]) == (1, 2)
    assert summary["kinds"]["clear"] == {"hands": 2, "found": 2, "recall": 1.0}
    assert summary["kinds"]["tiny"]["hands"] == 1 and summary["kinds"]["small"]["recall"] == 0.0
    table = format_summary(summary)
    assert "2/3 (67 %)" in table and "2/4 (50 %)" in table and "tiny" in table
    assert "gloved" not in table  # kinds without hands have no row


def test_kinds_combine_written_image_and_size_kinds():
    image = LabelledImage(
        file="x.jpg",
        width=640,
        height=480,
        kinds=frozenset({"several_people"}),
        hands=[
            LabelledHand([0, 0, 400, 450], kinds={"gloved"}),  # 450 / 640 = 70 %: close-up
            LabelledHand([10, 10, 60, 60]),  # 50 / 640 = 7.8 %: small, not tiny
        ],
    )
    assert image.hand_kinds(0) == {"several_people", "gloved", "close_up"}
    assert image.hand_kinds(1) == {"several_people", "small"}
    alone = LabelledImage(file="y.jpg", width=640, height=480, hands=[LabelledHand([0, 0, 200, 200])])
    assert alone.hand_kinds(0) == {"clear"}


def test_labels_round_trip(tmp_path):
    images = load_labels(SHARED_LABELS_PATH)
    path = save_labels(images, tmp_path / "labels.json")
    again = load_labels(path)
    assert [i.to_dict() for i in again] == [i.to_dict() for i in images]


@pytest.mark.parametrize(
    ("hand", "message"),
    [
        ({"box": [0, 0, 10]}, r"'box' must be \[x0, y0, x1, y1\]"),
        ({"box": [10, 0, 5, 10]}, "is empty"),
        ({"box": [0, 0, 900, 10]}, "outside the 640x480 image"),
        ({"box": [0, 0, 10, 10], "side": "up"}, "'side' must be"),
        ({"box": [0, 0, 10, 10], "kinds": ["furry"]}, r"unknown kind\(s\) \['furry'\]"),
        ({"box": [0, 0, 10, 10], "kinds": ["clear"]}, "unknown kind"),  # clear is derived, never written
    ],
)
def test_bad_labels_name_the_problem(hand, message):
    payload = {"images": [{"file": "a.jpg", "width": 640, "height": 480, "hands": [hand]}]}
    with pytest.raises(ValueError, match=message) as err:
        parse_labels(payload, source="labels.json")
    assert "a.jpg" in str(err.value)


def test_bad_label_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="label file not found"):
        load_labels(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_labels(tmp_path / "bad.json")
    twice = {"file": "a.jpg", "width": 4, "height": 4, "hands": []}
    with pytest.raises(ValueError, match="labelled twice"):
        parse_labels({"images": [twice, twice]})
    with pytest.raises(ValueError, match="missing height, hands"):
        parse_labels({"images": [{"file": "a.jpg", "width": 4}]})


def test_shared_labels_cover_the_readme_sides():
    """The packaged labels fit the shared photos and hold every side of their README's table."""
    import cv2

    images = {image.file: image for image in load_labels(SHARED_LABELS_PATH)}
    readme_sides = [  # (file, centre of the hand in pixels, side), from ../shared/data/hands/README.md
        ("hamer_test5.jpg", (484, 670), "right"),
        ("hamer_test5.jpg", (704, 660), "left"),
        ("hamer_test1.jpg", (317, 232), "right"),
        ("fasthamer_sample2.jpg", (396, 402), "right"),
        ("fasthamer_sample2.jpg", (458, 394), "left"),
    ]
    for file, (x, y), side in readme_sides:
        inside = [h for h in images[file].hands if h.box[0] <= x <= h.box[2] and h.box[1] <= y <= h.box[3]]
        assert [h.side for h in inside] == [side], file
    for file, image in images.items():
        height, width = cv2.imread(str(HANDS_DIR / file)).shape[:2]
        assert (image.width, image.height) == (width, height)
    assert len(images["fasthamer_sample6.jpg"].hands) >= 4 and len(images["hamer_test1.jpg"].hands) >= 3
    assert set(KINDS) >= {
        k for image in images.values() for i in range(len(image.hands)) for k in image.hand_kinds(i)
    }


def test_score_image_json_is_serialisable():
    image = LabelledImage(file="x.jpg", width=100, height=100, hands=[LabelledHand([10, 10, 50, 50], "left")])
    payload = score_image(image, [_det([12, 12, 48, 48], "left")], elapsed_ms=3.0).to_dict()
    text = json.dumps(payload)
    assert json.loads(text)["detections"][0]["label"] == 0
    assert payload["hands"][0]["found"] is True and payload["hands"][0]["all_kinds"] == ["clear"]


def test_misplaced_and_ignored_detections():
    image = LabelledImage(
        file="x.jpg",
        width=1000,
        height=1000,
        hands=[
            LabelledHand([100, 100, 400, 400], side="left"),
            LabelledHand([600, 600, 800, 800], side="right", ignore=True),  # e.g. cut by a crop
        ],
    )
    detections = [
        _det([110, 110, 200, 160], "left"),  # inside hand 0 but IoU 0.05: misplaced, hand 0 not found
        _det([610, 610, 790, 790], "right"),  # on the ignored hand: neither right nor wrong
    ]
    score = score_image(image, detections, iou_threshold=0.3)
    assert score.matches == [] and score.misplaced == {0: 0} and score.ignored == {1: 1}
    assert score.duplicates == {} and score.false_positives == [0]
    summary = summarise([score])
    assert (summary["hands"], summary["found"], summary["detections"], summary["misplaced"]) == (1, 0, 1, 1)
    assert summary["precision"] == 0.0 and summary["kinds"]["clear"]["hands"] == 1
    # The ignore flag survives a round trip through the file format; a non-boolean is refused.
    assert parse_labels({"images": [image.to_dict()]})[0].hands[1].ignore is True
    bad = {"file": "a.jpg", "width": 9, "height": 9, "hands": [{"box": [0, 0, 4, 4], "ignore": "yes"}]}
    with pytest.raises(ValueError, match="'ignore' must be true or false"):
        parse_labels({"images": [bad]})
