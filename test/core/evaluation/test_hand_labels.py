"""Hand label files: format checks with clear errors, kinds of hand, round trip, the shared photos' labels."""

from __future__ import annotations

import cv2
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.evaluation.hand_labels import (
    KINDS,
    SHARED_LABELS_PATH,
    LabelledHand,
    LabelledImage,
    load_labels,
    parse_labels,
    save_labels,
)


def test_kinds_combine_written_image_size_and_border_kinds():
    image = LabelledImage(
        file="x.jpg",
        width=640,
        height=480,
        kinds=frozenset({"several_people"}),
        hands=[
            LabelledHand([20, 20, 420, 470], kinds={"gloved"}),  # 450 / 640 = 70 %: close-up
            LabelledHand([10, 10, 60, 60]),  # 50 / 640 = 7.8 %: small, not tiny
            LabelledHand([300, 200, 400, 474]),  # 6 px from the bottom, within 1 % of 640: at the border
        ],
    )
    assert image.hand_kinds(0) == {"several_people", "gloved", "close_up"}
    assert image.hand_kinds(1) == {"several_people", "small"}
    assert image.hand_kinds(2) == {"several_people", "at_border"}
    alone = LabelledImage(file="y.jpg", width=640, height=480, hands=[LabelledHand([50, 50, 250, 250])])
    assert alone.hand_kinds(0) == {"clear"}
    cut = LabelledImage(file="z.jpg", width=640, height=480, hands=[LabelledHand([0, 50, 200, 250])])
    assert cut.hand_kinds(0) == {"at_border"}


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
