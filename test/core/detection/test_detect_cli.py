"""``fast-hamer detect`` end to end on a real photo: printed summary, JSON and overlay image."""

from __future__ import annotations

import json

import cv2
import numpy as np

from fast_hamer_core.cli import main


def test_detect_writes_json_and_render(task_path, hands_dir, tmp_path, capsys):
    out, render = tmp_path / "det.json", tmp_path / "det.png"
    image = hands_dir / "fasthamer_sample2.jpg"
    args = ["detect", "--image", str(image), "--out", str(out), "--render", str(render)]
    code = main([*args, "--detector-model", str(task_path)])
    assert code == 0
    assert "2 hand(s)" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert (payload["width"], payload["height"]) == (640, 640)
    assert payload["handedness"] == "flip_consistent"
    sides = sorted(d["side"] for d in payload["detections"])
    assert sides == ["left", "right"]
    for det in payload["detections"]:
        assert len(det["box_xyxy_px"]) == 4 and np.array(det["keypoints_2d_px"]).shape == (21, 2)
        assert np.array(det["keypoints_3d_hand_m"]).shape == (21, 3)
    drawn = cv2.imread(str(render))
    original = cv2.imread(str(image))
    assert drawn.shape == original.shape and np.abs(drawn.astype(int) - original).sum() > 0


def test_detect_mirrored_raw_flags(task_path, hands_dir, tmp_path):
    out = tmp_path / "det.json"
    args = ["detect", "--image", str(hands_dir / "hamer_test5.jpg"), "--out", str(out)]
    args += ["--detector-model", str(task_path), "--handedness", "raw", "--mirrored-input"]
    assert main(args) == 0
    payload = json.loads(out.read_text())
    assert payload["handedness"] == "raw" and payload["mirrored_input"] is True
    by_x = sorted(payload["detections"], key=lambda d: d["box_xyxy_px"][0])
    assert [d["side"] for d in by_x] == ["left", "right"]  # swapped: the photo's true sides are right, left


def test_detect_user_errors_are_one_line(tmp_path, capsys):
    assert main(["detect", "--image", str(tmp_path / "none.jpg")]) == 2
    err = capsys.readouterr().err
    assert "cannot read image" in err and "Traceback" not in err
    assert main(["detect", "--image", str(tmp_path / "none.jpg"), "--detector", "yolo"]) == 2
    assert "--detector-model" in capsys.readouterr().err


def test_detect_modes(task_path, hands_dir, tmp_path, capsys):
    """Photos default to the thorough mode; --mode fast is MediaPipe's landmarker; both find the two hands."""
    image = str(hands_dir / "fasthamer_sample2.jpg")
    for mode in (None, "fast"):
        out = tmp_path / f"{mode}.json"
        args = ["detect", "--image", image, "--out", str(out), "--detector-model", str(task_path)]
        assert main(args + (["--mode", mode] if mode else [])) == 0
        payload = json.loads(out.read_text())
        assert payload["mode"] == (mode or "thorough")
        assert sorted(d["side"] for d in payload["detections"]) == ["left", "right"]
        assert f"({mode or 'thorough'} mode)" in capsys.readouterr().out
    assert (
        main(
            [
                "detect",
                "--image",
                image,
                "--detector",
                "yolo",
                "--detector-model",
                "w.pt",
                "--mode",
                "thorough",
            ]
        )
        == 2
    )
    assert "--mode thorough needs --detector mediapipe" in capsys.readouterr().err
