"""The thorough detector's grey pass, with the real models, on gloved copies of a shared photo."""

from __future__ import annotations

import pytest

from fast_hamer_core.detection.blaze import RotatedRect
from fast_hamer_core.detection.grey import GreyPassConfig
from fast_hamer_core.detection.regions import Region
from fast_hamer_core.detection.thorough import ThoroughConfig, ThoroughHandDetector
from fast_hamer_core.evaluation.detection import score_image
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels
from fast_hamer_core.evaluation.hard_cases import make_hard_cases


@pytest.fixture(scope="module")
def gloved_interlaced(load_photo):
    """hamer_test3 (two interlaced hands) with nitrile gloves: the hard-set copy of seed 0."""
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test3.jpg")
    cases = make_hard_cases(load_photo(image.file), image, seed=0, makers=["gloved"])
    return next(case for case in cases if "nitrile" in case.labels.file)


@pytest.fixture(scope="module")
def colour_only(task_path):
    with ThoroughHandDetector(model_path=task_path, grey_pass=False) as det:
        yield det


def test_the_grey_pass_finds_a_gloved_hand_that_colour_misses(
    thorough_detector, colour_only, gloved_interlaced
):
    assert thorough_detector.config.grey_pass.enabled and not colour_only.config.grey_pass.enabled
    rgb, labels = gloved_interlaced.image, gloved_interlaced.labels
    without = score_image(labels, colour_only.detect(rgb))
    with_grey = score_image(labels, thorough_detector.detect(rgb))
    assert len(without.matches) == 0  # the palm and landmark models miss both blue hands in colour
    assert len(with_grey.matches) >= 1
    assert not with_grey.false_positives and not with_grey.duplicates  # precision holds
    for det in with_grey.detections:
        assert det.score >= thorough_detector.config.grey_pass.min_presence


def test_grey_hands_need_the_grey_presence(task_path, gloved_interlaced):
    """A grey-pass threshold above every presence turns the grey pass's hands away, not the colour ones."""
    config = ThoroughConfig(grey_pass=GreyPassConfig(min_presence=1.0))
    with ThoroughHandDetector(model_path=task_path, config=config, use_pose=False) as det:
        assert det.detect(gloved_interlaced.image) == []


def test_a_disabled_or_spent_grey_pass_looks_at_nothing(thorough_detector, colour_only, gloved_interlaced):
    rgb = gloved_interlaced.image
    region = [Region(RotatedRect((460.0, 380.0), 300.0), "palm", 1.0)]  # around the interlaced hands
    assert colour_only.grey.candidates(colour_only, rgb, [], region, budget=32) == []
    assert thorough_detector.grey.candidates(thorough_detector, rgb, [], region, budget=0) == []
    found = thorough_detector.grey.candidates(thorough_detector, rgb, [], region, budget=32)
    assert found and all(hand.presence >= 0.9 for hand in found)
