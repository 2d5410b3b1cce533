"""``fast-hamer detect-eval`` end to end: real MediaPipe on the shared photos and their packaged labels."""

from __future__ import annotations

import json

import cv2
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.cli import main
from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.evaluation.hand_labels import SHARED_LABELS_PATH, load_labels, save_labels


@pytest.fixture(scope="module")
def task_path():
    return ensure_detector_model()


def test_detect_eval_scores_the_shared_photos(task_path, tmp_path, capsys):
    out = tmp_path / "eval.json"
    args = ["detect-eval", "--images", str(HANDS_DIR), "--out", str(out), "--no-progress"]
    args += [
        "--detector-model",
        str(task_path),
        "--handedness",
        "raw",
        "--detector-option",
        "max_side_px=1280",
    ]
    assert main(args) == 0
    table = capsys.readouterr().out
    assert "recall, all hands" in table and "holding an object" in table
    payload = json.loads(out.read_text())
    assert payload["detector_kwargs"]["max_side_px"] == 1280  # forwarded to the backend as a kwarg
    summary, per_image = payload["summary"], payload["per_image"]
    assert summary["images"] == 5 and summary["hands"] == sum(len(i["hands"]) for i in per_image)
    assert summary["found"] == sum(h["found"] for i in per_image for h in i["hands"])
    assert summary["detections"] == sum(len(i["detections"]) for i in per_image)
    matched = [d for i in per_image for d in i["detections"] if d["label"] is not None]
    assert len(matched) == summary["found"] and all(d["iou"] >= payload["iou_threshold"] for d in matched)
    assert summary["precision"] == pytest.approx(summary["found"] / summary["detections"])
    # The README's side table: hamer_test5's two hands in front of the face are found, each with its side.
    test5 = next(i for i in per_image if i["file"] == "hamer_test5.jpg")
    assert all(h["found"] for h in test5["hands"])
    sides = {d["label"]: d["side"] for d in test5["detections"] if d["label"] is not None}
    assert [sides[k] for k in sorted(sides)] == [h["side"] for h in test5["hands"]]
    assert summary["ms_per_image_median"] > 0


def test_detect_eval_images_default_to_the_label_folder(task_path, tmp_path, capsys):
    # A one-photo label file next to a copy of its photo: no --images needed.
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "fasthamer_sample2.jpg")
    (tmp_path / image.file).write_bytes((HANDS_DIR / image.file).read_bytes())
    labels = save_labels([image], tmp_path / "labels.json")
    args = ["detect-eval", "--labels", str(labels), "--detector-model", str(task_path), "--warmup", "0"]
    render = tmp_path / "render"
    assert (
        main([*args, "--handedness", "raw", "--out", str(tmp_path / "e.json"), "--render", str(render)]) == 0
    )
    summary = json.loads((tmp_path / "e.json").read_text())["summary"]
    assert summary["images"] == 1 and summary["hands"] == 2
    drawn = cv2.imread(str(render / "fasthamer_sample2.png"))
    original = cv2.imread(str(tmp_path / image.file))
    assert drawn.shape == original.shape
    x0, y0, x1, _ = image.hands[0].box.astype(int)  # a found hand's label box is drawn in green (BGR)
    edge = drawn[y0 - 1 : y0 + 2, x0 + 5 : x1 - 5].reshape(-1, 3).astype(int)
    assert (edge[:, 1] > 150).mean() > 0.5 and (edge[:, 0] < 100).mean() > 0.5


def test_detect_eval_user_errors_are_one_line(task_path, tmp_path, capsys):
    assert main(["detect-eval", "--images", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "labelled image(s) not in" in err and "Traceback" not in err
    args = ["detect-eval", "--images", str(HANDS_DIR), "--detector-model", str(task_path)]
    assert main([*args, "--detector-option", "no_such_option=1"]) == 2
    assert "rejects the options" in capsys.readouterr().err
    assert main(["detect-eval", "--labels", str(tmp_path / "none.json")]) == 2
    assert "label file not found" in capsys.readouterr().err
    assert main(["detect-eval", "--detector", "yolo", "--images", str(HANDS_DIR)]) == 2
    assert "--detector-model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["detect-eval", "--detector-option", "novalue"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_detect_eval_compares_modes_side_by_side(task_path, tmp_path, capsys):
    # One photo, both modes: one table per mode, then the comparison; JSON holds one run per mode.
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "fasthamer_sample2.jpg")
    (tmp_path / image.file).write_bytes((HANDS_DIR / image.file).read_bytes())
    labels = save_labels([image], tmp_path / "labels.json")
    out, plot = tmp_path / "cmp.json", tmp_path / "recall.png"
    args = ["detect-eval", "--labels", str(labels), "--detector-model", str(task_path), "--warmup", "0"]
    args += ["--mode", "fast", "--mode", "thorough", "--mode", "fast", "--out", str(out), "--plot", str(plot)]
    assert main([*args, "--no-progress", "--render", str(tmp_path / "render")]) == 0
    printed = capsys.readouterr().out
    assert printed.count("recall, all hands") == 3 and "modes compared" in printed
    assert any(line.split() == ["fast", "thorough"] for line in printed.splitlines())  # the columns
    payload = json.loads(out.read_text())
    assert [run["mode"] for run in payload["runs"]] == ["fast", "thorough"]  # a repeated mode runs once
    for run in payload["runs"]:
        assert run["detector_kwargs"]["mode"] == run["mode"] and run["summary"]["hands"] == 2
        assert len(run["per_image"]) == 1
    assert cv2.imread(str(plot)) is not None
    assert {p.parent.name for p in (tmp_path / "render").rglob("*.png")} == {"fast", "thorough"}
    assert main([*args[:7], "--plot", str(tmp_path / "no_suffix")]) == 2
    assert "--plot needs an image file name" in capsys.readouterr().err


def test_detect_eval_scores_clips_with_the_stream_detector(task_path, tmp_path, capsys):
    image = next(i for i in load_labels(SHARED_LABELS_PATH) if i.file == "hamer_test5.jpg")
    (tmp_path / image.file).write_bytes((HANDS_DIR / image.file).read_bytes())
    labels = save_labels([image], tmp_path / "labels.json")
    out = tmp_path / "clips.json"
    args = ["detect-eval", "--labels", str(labels), "--detector-model", str(task_path), "--no-progress"]
    assert main([*args, "--clips", "12", "--mode", "fast", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "clips of 12 frames" in printed and "12 frames, 24 hands" in printed
    payload = json.loads(out.read_text())
    assert payload["clip_frames"] == 12 and [r["mode"] for r in payload["runs"]] == ["fast", "stream"]
    stream = payload["runs"][1]
    assert len(stream["per_image"]) == 12 and stream["summary"]["hands"] == 24
    assert stream["summary"]["found"] >= 20  # hamer_test5's two clear hands, followed through the clip
    assert main([*args, "--clips", "4", "--stream-option", "no_such_option=1"]) == 2
    assert "stream detector rejects the options" in capsys.readouterr().err
    assert main([*args, "--stream-option", "scan_windows=false"]) == 2
    assert "give --clips FRAMES too" in capsys.readouterr().err
    assert main([*args, "--clips", "0"]) == 2
    capsys.readouterr()
    assert main([*args, "--one-stream"]) == 2
    assert "give --clips FRAMES too" in capsys.readouterr().err
    assert main([*args, "--clips", "4", "--one-stream", "--mode", "fast", "--out", str(out)]) == 0
    assert "clips of 4 frames, one stream" in capsys.readouterr().out
    assert json.loads(out.read_text())["one_stream"] is True
