"""Detection scoring: one-to-one matching, duplicates, misplaced and ignored detections, recall per kind."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fast_hamer_core.evaluation.detection import box_iou, format_summary, match_boxes, score_image, summarise
from fast_hamer_core.evaluation.hand_labels import LabelledHand, LabelledImage, parse_labels
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
    assert summary["false_hands"] == 1  # the background one; the duplicate is counted on its own
    assert (summary["side_correct"], summary["hands_with_side"]) == (1, 2)
    assert summary["kinds"]["clear"] == {"hands": 2, "found": 2, "recall": 1.0}
    assert summary["kinds"]["tiny"]["hands"] == 1 and summary["kinds"]["small"]["recall"] == 0.0
    table = format_summary(summary)
    assert "2/3 (67 %)" in table and "2/4 (50 %)" in table and "tiny" in table
    (false_row,) = [line for line in table.splitlines() if line.startswith("false hands (on no hand)")]
    assert false_row.split()[-1] == "1"
    assert "gloved" not in table  # kinds without hands have no row


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
    assert summary["false_hands"] == 0  # on a hand, only misplaced
    # The ignore flag survives a round trip through the file format; a non-boolean is refused.
    assert parse_labels({"images": [image.to_dict()]})[0].hands[1].ignore is True
    bad = {"file": "a.jpg", "width": 9, "height": 9, "hands": [{"box": [0, 0, 4, 4], "ignore": "yes"}]}
    with pytest.raises(ValueError, match="'ignore' must be true or false"):
        parse_labels({"images": [bad]})
