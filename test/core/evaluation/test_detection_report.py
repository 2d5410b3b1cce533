"""Comparing detector settings: the side-by-side table and the recall-per-kind bar chart."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fast_hamer_core.evaluation.detection import score_image, summarise
from fast_hamer_core.evaluation.detection_report import format_comparison, kinds_present, plot_recall_by_kind
from fast_hamer_core.evaluation.hand_labels import LabelledHand, LabelledImage
from fast_hamer_core.types import Detection

IMAGE = LabelledImage(
    "a.jpg",
    640,
    480,
    [
        LabelledHand([100, 100, 200, 220], "right", frozenset({"holding_object"})),
        LabelledHand([400, 300, 430, 330], "left"),  # 30 px of 640: small and tiny
    ],
)


def _det(box, side="right") -> Detection:
    return Detection(box=np.array(box, float), score=0.9, side=side, side_score=0.9)


def _summary(detections, elapsed_ms: float) -> dict:
    return summarise([score_image(IMAGE, detections, elapsed_ms=elapsed_ms)])


def test_comparison_puts_each_setting_in_its_own_column():
    one = _summary([_det([105, 105, 195, 215])], 40.0)  # finds the large hand only
    both = _summary(
        [_det([105, 105, 195, 215]), _det([400, 300, 430, 330], "left"), _det([0, 0, 50, 50])], 150.0
    )
    table = format_comparison({"fast": one, "thorough": both}, title="t")
    lines = table.splitlines()
    assert lines[0] == "t" and lines[1] == "1 images, 2 hands"
    assert lines[2].split() == ["fast", "thorough"]
    recall = next(line for line in lines if line.startswith("recall, all hands"))
    assert "1/2 (50 %)" in recall and "2/2 (100 %)" in recall and recall.index("1/2") < recall.index("2/2")
    precision = next(line for line in lines if line.startswith("precision"))
    assert "1/1 (100 %)" in precision and "2/3 (67 %)" in precision
    assert any(
        line.startswith("ms per image") and "40 / 40" in line and "150 / 150" in line for line in lines
    )
    tiny = next(line for line in lines if line.startswith("recall: tiny"))
    assert "0/1 (0 %)" in tiny and "1/1 (100 %)" in tiny
    # Kinds without hands are left out; kinds with hands are all there.
    assert kinds_present({"fast": one}) == [k for k in one["kinds"] if one["kinds"][k]["hands"]]
    assert not any("gloved" in line for line in lines)


def test_comparison_refuses_summaries_of_different_labels():
    other = LabelledImage("b.jpg", 640, 480, [LabelledHand([0, 0, 100, 100])])
    with pytest.raises(ValueError, match="different label sets"):
        format_comparison({"a": _summary([], 1.0), "b": summarise([score_image(other, [])])})
    with pytest.raises(ValueError, match="no summaries"):
        format_comparison({})


def test_plot_draws_one_bar_group_per_kind(tmp_path):
    one = _summary([_det([105, 105, 195, 215])], 40.0)
    both = _summary([_det([105, 105, 195, 215]), _det([400, 300, 430, 330], "left")], 150.0)
    path = plot_recall_by_kind({"fast": one, "thorough": both}, tmp_path / "plots" / "recall.png", title="x")
    image = cv2.imread(str(path))
    assert image is not None and image.shape[1] >= 600 and image.shape[0] >= 400
    assert (image.reshape(-1, 3).std(axis=0) > 10).all()  # drawn, not blank
    with pytest.raises(ValueError, match="no summaries"):
        plot_recall_by_kind({}, tmp_path / "none.png")
