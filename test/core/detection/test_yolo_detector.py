"""The YOLO backend through real ultralytics inference, on a model ultralytics builds from its own yaml.

Nothing is downloaded: the model is ultralytics' ``yolov8n.yaml`` with two classes (WiLoR's detector has
left / right) and random weights, saved to a local ``.pt`` and loaded back through our backend. Random
weights give arbitrary boxes with low scores, so the threshold is lowered to get some; the test checks
the output contract (boxes inside the image, sides from the class names, scores in [0, 1]), not accuracy.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch
from fixtures.data import REPO_ROOT
from fixtures.yolo import RANDOM_WEIGHTS_CONF, write_random_yolo

from fast_hamer_core.detection import available_detectors, create_detector, detector_class
from fast_hamer_core.detection.yolo_detector import (
    ULTRALYTICS_ENV,
    ULTRALYTICS_PIN,
    YOLO_CLASS_SIDES,
    YOLOHandDetector,
    class_sides,
    import_yolo,
)


@pytest.fixture(scope="module")
def yolo_weights(tmp_path_factory):
    """ultralytics' yolov8n with 2 classes and random weights, saved twice: class names (left, right) and,
    with the same weights, swapped names (right, left)."""
    root = tmp_path_factory.mktemp("yolo")
    hands = write_random_yolo(root, {0: "left", 1: "right"}, "hands.pt")
    swapped = write_random_yolo(root, {0: "Right hand", 1: "Left hand"}, "hands_swapped.pt")
    return hands, swapped


def test_registry_knows_the_backends():
    assert available_detectors() == ("mediapipe", "thorough", "yolo")
    assert detector_class("yolo") is YOLOHandDetector
    with pytest.raises(ValueError, match=r"unknown detector 'ssd'.*mediapipe, thorough, yolo"):
        create_detector("ssd")


def test_real_inference_keeps_the_output_contract(yolo_weights, load_photo):
    rgb = load_photo("hamer_test5.jpg")
    height, width = rgb.shape[:2]
    plain, swapped = yolo_weights
    runs = {}
    for path in (plain, swapped):
        with create_detector(
            "yolo", weights_path=path, min_detection_confidence=RANDOM_WEIGHTS_CONF, max_hands=6, device="cpu"
        ) as detector:
            runs[path.name] = detector.detect(rgb)
    dets = runs["hands.pt"]
    assert 0 < len(dets) <= 6
    for det in dets:
        x0, y0, x1, y1 = det.box
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert 0.0 <= det.score <= 1.0 and det.side_score == det.score
        assert det.side in ("left", "right") and det.keypoints_2d is None
    # Same weights, class names swapped: the same boxes come back with the other side (sides follow names).
    other = runs["hands_swapped.pt"]
    np.testing.assert_allclose([d.box for d in other], [d.box for d in dets], atol=1e-3)
    flip = {"left": "right", "right": "left"}
    assert [d.side for d in other] == [flip[d.side] for d in dets]


def test_threshold_and_mirrored_input(yolo_weights, load_photo):
    rgb = load_photo("fasthamer_sample2.jpg")
    plain, _ = yolo_weights
    kwargs = {"weights_path": plain, "max_hands": 4, "device": "cpu"}
    with create_detector("yolo", min_detection_confidence=0.9, **kwargs) as strict:
        assert strict.detect(rgb) == []  # random weights never reach 0.9
    with create_detector("yolo", min_detection_confidence=RANDOM_WEIGHTS_CONF, **kwargs) as normal:
        sides = [d.side for d in normal.detect(rgb)]
    with create_detector(
        "yolo", min_detection_confidence=RANDOM_WEIGHTS_CONF, mirrored_input=True, **kwargs
    ) as mirrored:
        mirrored_sides = [d.side for d in mirrored.detect(rgb)]
    assert sides and mirrored_sides == [{"left": "right", "right": "left"}[s] for s in sides]


def test_class_names_decide_sides():
    assert class_sides({0: "left", 1: "right"}) == {0: "left", 1: "right"}
    assert class_sides(["Right_hand", "LEFT hand"]) == {0: "right", 1: "left"}
    assert class_sides({0: "hand", 1: "face", 2: "left hand"}) == {2: "left"}  # non-side classes dropped
    assert class_sides({0: "a", 1: "b"}) == dict(enumerate(YOLO_CLASS_SIDES))  # WiLoR: 0 left, 1 right
    with pytest.raises(ValueError, match="name no hand side"):
        class_sides({0: "hand"})


def test_class_convention_is_wilors():
    # WiLoR's detector.pt: class 0 = left, class 1 = right (its demo uses boxes.cls as is_right).
    assert YOLO_CLASS_SIDES == ("left", "right")


def test_ultralytics_stays_offline_and_pinned():
    import_yolo()
    from ultralytics.utils import AUTOINSTALL, ONLINE

    # What ULTRALYTICS_ENV switches off: the online check (usage analytics, hub) and run-time pip installs.
    assert ULTRALYTICS_ENV == {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}
    assert ONLINE is False and AUTOINSTALL is False
    setup_pin = re.search(r'^ULTRALYTICS = "(.*)"$', (REPO_ROOT / "setup.py").read_text(), re.M).group(1)
    assert setup_pin == ULTRALYTICS_PIN
    import ultralytics

    assert f"ultralytics=={ultralytics.__version__}" == ULTRALYTICS_PIN


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"weights not found: .*detector\.pt"):
        create_detector("yolo", weights_path=tmp_path / "detector.pt")
    with pytest.raises(ValueError, match="needs weights"):
        create_detector("yolo", weights_path=None)


def test_missing_ultralytics_names_the_install(tmp_path, monkeypatch):
    weights = tmp_path / "detector.pt"
    torch.save({"model": None}, weights)  # a torch checkpoint file; never loaded without ultralytics
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # `import ultralytics` now raises ImportError
    with pytest.raises(RuntimeError, match=r"ultralytics.*--no-deps ultralytics=="):
        YOLOHandDetector(weights)


def test_pipeline_runs_the_mesh_network_on_yolo_boxes(yolo_weights, load_photo, tmp_path):
    """``HandReconstructor.from_options(detector="yolo")``: YOLO boxes -> mesh network -> MANO, per box."""
    from fixtures.mano import write_synthetic_mano_npz
    from fixtures.models import save_tiny_checkpoint, tiny_convnext_config

    from fast_hamer_core.geometry import PinholeCamera
    from fast_hamer_core.models import register_model, unregister_model
    from fast_hamer_core.pipeline import HandReconstructor

    config = tiny_convnext_config("tiny_yolo_pipeline")
    register_model(config)
    try:
        checkpoint = save_tiny_checkpoint(tmp_path / "tiny.pt", config)
        mano = write_synthetic_mano_npz(tmp_path / "MANO_RIGHT.npz")
        rgb = load_photo("fasthamer_sample2.jpg")
        recon = HandReconstructor.from_options(
            checkpoint=str(checkpoint),
            mano=str(mano),
            detector="yolo",
            detector_model=str(yolo_weights[0]),
            min_detection_confidence=RANDOM_WEIGHTS_CONF,
            max_hands=2,
            device="cpu",
            fp16=False,
        )
        with recon:
            assert isinstance(recon.detector, YOLOHandDetector)
            boxes = recon.detector.detect(rgb)
            results = recon.reconstruct(rgb, PinholeCamera.assumed(rgb.shape[1], rgb.shape[0]))
    finally:
        unregister_model(config.name)
    assert len(results) == len(boxes) > 0
    for result, det in zip(results, boxes, strict=True):
        assert result.mode == "mesh" and result.vertices.shape == (778, 3) and result.side == det.side
        np.testing.assert_allclose(result.box, det.box)


def test_yolo_without_a_mesh_model_is_a_clear_error(yolo_weights, capsys):
    from fast_hamer_core.cli import main

    photo = str(REPO_ROOT.parent / "shared" / "data" / "hands" / "hamer_test5.jpg")
    args = ["infer", "--image", photo, "--detector", "yolo", "--detector-model", str(yolo_weights[0])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "boxes only: it needs a mesh checkpoint" in err and "Traceback" not in err
