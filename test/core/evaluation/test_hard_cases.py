"""Hard cases: labels follow the pixels exactly (a painted hand stays under its box), seeded, cut hands,
gloves recolour the hands' skin only."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.cli import build_parser, main
from fast_hamer_core.evaluation import gloves, hard_cases
from fast_hamer_core.evaluation.hand_labels import (
    SHARED_LABELS_PATH,
    LabelledHand,
    LabelledImage,
    load_labels,
)
from fast_hamer_core.evaluation.hard_cases import MAKERS, make_hard_cases, map_labels
from fast_hamer_core.preprocess import read_rgb

HAND_RGB = np.array([255, 0, 255])
SKIN_RGB = np.array([200, 140, 110])


def _painted(width=640, height=480, colour=HAND_RGB):
    """A grey image with two magenta 'hands' exactly filling their label boxes (plus their labels)."""
    rgb = np.full((height, width, 3), 90, dtype=np.uint8)
    hands = [
        LabelledHand([100, 120, 260, 320], side="left", kinds={"holding_object", "small"}),
        LabelledHand([400, 100, 520, 260], side="right"),
    ]
    for hand in hands:
        x0, y0, x1, y1 = hand.box.astype(int)
        rgb[y0:y1, x0:x1] = colour
    return rgb, LabelledImage(file="p.png", width=width, height=height, hands=hands)


def _skin_hands():
    """A grey image with two shaded skin-coloured ellipse 'hands' (creases across), a skin 'face' outside
    every box, and a third box holding no skin (magenta); plus the labels."""
    rgb, image = _painted(colour=np.array([90, 90, 90]))
    yy, xx = np.mgrid[0 : image.height, 0 : image.width]
    shade = 0.65 + 0.45 * (yy % 60) / 60.0 - 0.2 * ((xx % 23) < 3)  # (H, W) gradients and dark creases
    skin = np.clip(SKIN_RGB * shade[..., None], 0, 255).astype(np.uint8)
    for hand in image.hands:
        x0, y0, x1, y1 = hand.box
        rx, ry = (x1 - x0) * 0.45, (y1 - y0) * 0.45
        inside = ((xx - (x0 + x1) / 2) / rx) ** 2 + ((yy - (y0 + y1) / 2) / ry) ** 2
        rgb[inside <= 1.0] = skin[inside <= 1.0]
    face = (xx - 580) ** 2 + (yy - 400) ** 2 <= 40**2
    rgb[face] = skin[face]
    rgb[350:450, 150:250] = HAND_RGB
    image.hands.append(LabelledHand([150, 350, 250, 450], side=None))
    return rgb, image, face


def _magenta_box(rgb: np.ndarray, box: np.ndarray) -> float:
    """Fraction of the pixels inside ``box`` that are (close to) the hand colour."""
    x0, y0, x1, y1 = np.round(box).astype(int)
    region = rgb[y0:y1, x0:x1].astype(int)
    return float((np.abs(region - HAND_RGB).max(-1) < 60).mean())


@pytest.mark.parametrize("maker", ["small", "tiny", "close_up"])
def test_geometric_cases_keep_boxes_on_the_hands(maker):
    rgb, image = _painted()
    cases = make_hard_cases(rgb, image, seed=3, makers=[maker])
    assert cases and all(case.maker == maker for case in cases)
    for case in cases:
        labels = case.labels
        assert case.image.shape[:2] == (labels.height, labels.width)
        for hand in labels.hands:
            if not hand.ignore:  # the pixels moved exactly as the box did
                assert _magenta_box(case.image, hand.box) > 0.85
                assert "small" not in hand.kinds  # written size kinds are recomputed from the new box
        # Outside every box nothing is hand-coloured (no stray copies of a hand).
        mask = np.ones(case.image.shape[:2], dtype=bool)
        for hand in labels.hands:
            x0, y0, x1, y1 = np.round(hand.box).astype(int)
            mask[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = False
        assert (np.abs(case.image[mask].astype(int) - HAND_RGB).max(-1) < 60).mean() < 0.001
    kinds = {
        kind for case in cases for i in range(len(case.labels.hands)) for kind in case.labels.hand_kinds(i)
    }
    assert {"small": "small", "tiny": "tiny", "close_up": "close_up"}[maker] in kinds


def test_at_border_crops_cut_each_hand_on_one_side():
    rgb, image = _painted(1280, 960)
    rgb[:] = 90  # repaint the hands larger apart, so that each crop shows one
    image.hands = [LabelledHand([200, 300, 360, 500], side="left"), LabelledHand([800, 300, 960, 500])]
    for hand in image.hands:
        x0, y0, x1, y1 = hand.box.astype(int)
        rgb[y0:y1, x0:x1] = HAND_RGB
    cases = make_hard_cases(rgb, image, seed=5, makers=["at_border"])
    assert len(cases) == 2 and {c.labels.file for c in cases} == {"p__at_border_0.jpg", "p__at_border_1.jpg"}
    for case, source in zip(cases, image.hands, strict=True):
        labels = case.labels
        assert case.image.shape[:2] == (labels.height, labels.width) == (512, 512)
        (hand,) = labels.hands
        assert not hand.ignore and hand.side == source.side
        assert "at_border" in labels.hand_kinds(0) and _magenta_box(case.image, hand.box) > 0.85
        scale = 512 / (max(source.box[2:] - source.box[:2]) / hard_cases.BORDER_FILL)
        full = (source.box[2:] - source.box[:2]) * scale  # (2,) the whole hand's w, h in the crop
        kept = (hand.box[2:] - hand.box[:2]) / full  # (2,) share of each axis left in view
        low, high = hard_cases.BORDER_CUT
        assert sorted(kept)[1] == pytest.approx(1.0, abs=0.02)  # one axis uncut
        assert 1 - high - 0.02 <= sorted(kept)[0] <= 1 - low + 0.02  # the other cut by the drawn share


def test_no_hands_crops_show_no_hand_and_list_none():
    rgb, image = _painted(1280, 960)
    cases = make_hard_cases(rgb, image, seed=2, makers=["no_hands"])
    assert len(cases) == hard_cases.NO_HANDS_CROPS
    assert len({case.labels.file for case in cases}) == len(cases)  # p__no_hands_0.jpg, ...
    for case in cases:
        assert case.image.shape[:2] == (case.labels.height, case.labels.width) == (512, 512)
        assert case.labels.hands == []
        assert (np.abs(case.image.astype(int) - HAND_RGB).max(-1) < 60).mean() == 0.0  # no hand pixel
    # A photo that hands fill leaves no room: no crop rather than a crop on a hand.
    full, crowded = _painted(400, 300)
    crowded.hands = [LabelledHand([0, 0, 400, 300])]
    assert make_hard_cases(full, crowded, seed=0, makers=["no_hands"]) == []


def test_small_and_tiny_reach_their_target_size():
    rgb, image = _painted()
    for maker, target in (("small", hard_cases.SMALL_TARGET_REL), ("tiny", hard_cases.TINY_TARGET_REL)):
        (case,) = make_hard_cases(rgb, image, makers=[maker])
        largest = max(np.max(h.box[2:] - h.box[:2]) for h in case.labels.hands)
        assert largest / max(case.labels.width, case.labels.height) == pytest.approx(target, rel=0.05)


def test_photometric_and_occluded_cases():
    rgb, image = _painted()
    occluded, dark, low = (
        make_hard_cases(rgb, image, makers=[m])[0] for m in ("occluded", "dark", "low_contrast")
    )
    for hand, before in zip(occluded.labels.hands, image.hands, strict=True):
        np.testing.assert_array_equal(hand.box, before.box)
        assert "occluded" in hand.kinds and hand.side == before.side
        covered = 1.0 - _magenta_box(occluded.image, hand.box)
        assert hard_cases.OCCLUDER_AREA[0] - 0.05 < covered < hard_cases.OCCLUDER_AREA[1] + 0.05
    assert dark.image.mean() < 0.75 * rgb.mean()
    assert np.all(low.image.reshape(-1, 3).std(0) < 0.5 * rgb.reshape(-1, 3).std(0))  # per channel
    assert all("low_light" in h.kinds for h in dark.labels.hands + low.labels.hands)


def test_seeded_and_independent_of_other_photos():
    rgb, image = _painted(colour=SKIN_RGB)  # skin, so that the gloved maker makes its copies too
    a = make_hard_cases(rgb, image, seed=1)
    b = make_hard_cases(rgb, image, seed=1)
    c = make_hard_cases(rgb, image, seed=2)
    assert [x.labels.file for x in a] == [x.labels.file for x in b]
    assert all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x.image, y.image) for x, y in zip(a, c, strict=True))
    assert {x.maker for x in a} == set(MAKERS)


def test_gloved_recolours_the_hands_skin_and_nothing_else():
    rgb, image, face = _skin_hands()
    cases = make_hard_cases(rgb, image, seed=4, makers=["gloved"])
    assert len(cases) == hard_cases.GLOVE_COPIES
    colours = [case.labels.file.removeprefix("p__gloved_").removesuffix(".jpg") for case in cases]
    assert len(set(colours)) == len(colours) and set(colours) <= set(gloves.GLOVES)
    outside = np.ones(rgb.shape[:2], dtype=bool)
    for hand in image.hands:
        x0, y0, x1, y1 = hand.box.astype(int)
        outside[y0:y1, x0:x1] = False
    for case in cases:
        assert case.maker == "gloved"
        np.testing.assert_array_equal(case.image[outside], rgb[outside])  # the face too
        assert face.any() and np.array_equal(case.image[face], rgb[face])
        assert [h.side for h in case.labels.hands] == [h.side for h in image.hands]
        assert all(np.array_equal(a.box, b.box) for a, b in zip(case.labels.hands, image.hands, strict=True))
        skin_box, _, no_skin = case.labels.hands
        assert "gloved" in skin_box.kinds and "holding_object" in skin_box.kinds
        assert "gloved" not in no_skin.kinds  # a box without skin: the hand stays as it is
        np.testing.assert_array_equal(case.image[350:450, 150:250], rgb[350:450, 150:250])
        for hand in case.labels.hands[:2]:
            x0, y0, x1, y1 = hand.box.astype(int)
            mask = gloves.glove_mask(rgb, hand.box)[y0:y1, x0:x1] > 0.9
            assert mask.mean() > 0.5  # the ellipse (62 % of the box) less the feathered edge
            before, after = rgb[y0:y1, x0:x1][mask], case.image[y0:y1, x0:x1][mask]
            assert np.abs(before.astype(int) - after.astype(int)).mean() > 30  # the colour changed
            grey_before, grey_after = gloves.luminance(before), gloves.luminance(after)
            assert np.corrcoef(grey_before, grey_after)[0, 1] > 0.9  # shading and creases kept, in order
    again = make_hard_cases(rgb, image, seed=4, makers=["gloved"])
    assert all(np.array_equal(a.image, b.image) for a, b in zip(cases, again, strict=True))
    other = make_hard_cases(rgb, image, seed=5, makers=["gloved"])
    assert not all(np.array_equal(a.image, b.image) for a, b in zip(cases, other, strict=True))


def test_gloved_needs_skin():
    rgb, image = _painted()  # magenta hands: no skin in any box, so no gloved copy
    assert make_hard_cases(rgb, image, makers=["gloved"]) == []


def test_gloved_finds_the_skin_of_every_shared_photo():
    """Light to dark skin: most labelled hands of the shared photos get a glove, nothing outside boxes."""
    gloved = total = 0
    for image in load_labels(SHARED_LABELS_PATH):
        rgb = read_rgb(HANDS_DIR / image.file)
        (case, *_) = make_hard_cases(rgb, image, makers=["gloved"])
        outside = np.ones(rgb.shape[:2], dtype=bool)
        for hand in image.hands:
            x0, y0, x1, y1 = np.round(hand.box).astype(int)
            outside[y0:y1, x0:x1] = False
        np.testing.assert_array_equal(case.image[outside], rgb[outside])
        gloved += sum("gloved" in hand.kinds for hand in case.labels.hands)
        total += len(image.hands)
    assert gloved >= total - 2, f"{gloved} of {total} hands gloved"


def test_cut_hands_are_clipped_ignored_or_dropped():
    image = LabelledImage(
        file="p.png",
        width=100,
        height=100,
        hands=[
            LabelledHand([10, 10, 30, 30], side="left"),  # fully inside the crop below
            LabelledHand([40, 10, 60, 30]),  # 3/4 inside: kept, clipped
            LabelledHand([45, 40, 65, 60]),  # 1/4 inside: ignored
            LabelledHand([70, 70, 90, 90]),  # outside: dropped
        ],
    )
    # The crop [0, 55] x [0, 55] scaled by 2: x' = 2 x.
    mapped = map_labels(image, 2.0, (0.0, 0.0), 110, 110, "crop.png")
    boxes = [hand.box.tolist() for hand in mapped.hands]
    assert boxes == [[20, 20, 60, 60], [80, 20, 110, 60], [90, 80, 110, 110]]
    assert [hand.ignore for hand in mapped.hands] == [False, False, True]
    assert mapped.hands[0].side == "left"


def test_bad_requests():
    rgb, image = _painted()
    with pytest.raises(ValueError, match="unknown hard case"):
        make_hard_cases(rgb, image, makers=["blurry"])
    with pytest.raises(ValueError, match="its label says 640x480"):
        make_hard_cases(rgb[:100], image)


def test_cli_makes_a_set_that_detect_eval_reads(tmp_path, capsys):
    out = tmp_path / "hard"
    args = ["detect-hard-set", "--images", str(HANDS_DIR), "--out", str(out), "--no-progress"]
    assert main([*args, "--cases", "tiny,dark"]) == 0
    assert "10 images" in capsys.readouterr().out
    labels = load_labels(out / "labels.json")
    assert len(labels) == 10 and all((out / image.file).is_file() for image in labels)
    shared = {image.file: image for image in load_labels(SHARED_LABELS_PATH)}
    dark = next(image for image in labels if image.file == "hamer_test5__dark.jpg")
    assert [h.side for h in dark.hands] == [h.side for h in shared["hamer_test5.jpg"].hands]
    again = tmp_path / "again"
    assert main(["detect-hard-set", "--images", str(HANDS_DIR), "--out", str(again), "--cases", "tiny"]) == 0
    first = json.loads((out / "labels.json").read_text())["images"]
    assert [i for i in first if "tiny" in i["file"]] == json.loads((again / "labels.json").read_text())[
        "images"
    ]
    assert main([*args, "--cases", "blurry"]) == 2
    assert "unknown ['blurry']" in capsys.readouterr().err


def test_cli_makes_gloved_copies_by_default(tmp_path, capsys):
    assert "gloved" in build_parser().parse_args(["detect-hard-set", "--out", "x"]).cases.split(",")
    out = tmp_path / "gloved"
    argv = ["detect-hard-set", "--images", str(HANDS_DIR), "--out", str(out), "--no-progress"]
    assert main([*argv, "--cases", "gloved"]) == 0
    assert "gloved 10" in capsys.readouterr().out
    labels = load_labels(out / "labels.json")
    assert all("__gloved_" in image.file for image in labels)
    assert sum("gloved" in hand.kinds for image in labels for hand in image.hands) >= 24
