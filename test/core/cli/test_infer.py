"""``fast-hamer infer`` on a real photo: landmarks-only mode and mesh mode (random-weight student)."""

from __future__ import annotations

import json

import cv2
import numpy as np
from fixtures.data import HANDS_DIR

from fast_hamer_core.cli import main

PHOTO = HANDS_DIR / "hamer_test5.jpg"


def test_infer_landmarks_only(tmp_path):
    out = tmp_path / "hands.json"
    overlay = tmp_path / "overlay.png"
    assert main(["infer", "--image", str(PHOTO), "--out", str(out), "--render", str(overlay)]) == 0
    doc = json.loads(out.read_text())
    assert doc["mode"] == "landmarks" and doc["width"] == 1200 and doc["height"] == 1799
    assert doc["detection_mode"] == "thorough"  # the photo default
    assert len(doc["hands"]) >= 1
    for hand in doc["hands"]:
        assert hand["mode"] == "landmarks" and hand["vertices"] is None
        assert np.asarray(hand["keypoints_3d"]).shape == (21, 3)
        kp = np.asarray(hand["keypoints_2d"])
        assert np.all((kp >= -1) & (kp <= [1200, 1799]))
    image = cv2.imread(str(overlay))
    assert image.shape == (1799, 1200, 3)


def test_infer_fast_detection_mode(tmp_path):
    out = tmp_path / "hands.json"
    assert main(["infer", "--image", str(PHOTO), "--out", str(out), "--detection-mode", "fast"]) == 0
    doc = json.loads(out.read_text())
    assert doc["detection_mode"] == "fast"
    assert sorted(hand["side"] for hand in doc["hands"]) == ["left", "right"]


def test_infer_mesh_with_given_boxes(tmp_path, student_checkpoint, synthetic_mano_npz):
    out = tmp_path / "hands.json"
    overlay = tmp_path / "overlay.png"
    argv = ["infer", "--image", str(PHOTO), "--checkpoint", str(student_checkpoint)]
    argv += ["--mano", str(synthetic_mano_npz), "--boxes", "400,500,560,900:right", "580,500,780,900:left"]
    argv += ["--intrinsics", "1400,1400,600,900", "--out", str(out), "--render", str(overlay)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["mode"] == "mesh" and doc["model"] == "mobilenetv3_large"
    assert [h["side"] for h in doc["hands"]] == ["right", "left"]
    for hand in doc["hands"]:
        assert np.asarray(hand["vertices"]).shape == (778, 3)
        assert np.asarray(hand["hand_pose_aa"]).shape == (15, 3)
    before = cv2.imread(str(PHOTO))
    after = cv2.imread(str(overlay))
    assert np.abs(after.astype(int) - before.astype(int)).sum() > 0, "the overlay drew nothing"


def test_infer_errors_are_one_clear_line(tmp_path, capsys, student_checkpoint, synthetic_mano_npz):
    assert main(["infer", "--image", str(tmp_path / "missing.jpg")]) == 2
    assert "cannot read image" in capsys.readouterr().err
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(PHOTO.read_bytes()[:-2000])  # the node refuses these bytes too
    assert main(["infer", "--image", str(truncated)]) == 2
    assert "truncated.jpg: truncated JPEG" in capsys.readouterr().err
    bad = ["infer", "--image", str(PHOTO), "--checkpoint", str(student_checkpoint), "--boxes", "10,10,5,5"]
    assert main(bad) == 2
    assert "bad box" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(student_checkpoint.read_bytes()[:1000])
    argv = ["infer", "--image", str(PHOTO), "--checkpoint", str(corrupt), "--boxes", "1,1,50,50"]
    assert main([*argv, "--mano", str(synthetic_mano_npz)]) == 2
    assert "corrupt.pt" in capsys.readouterr().err
    # A mesh checkpoint without MANO: the error says which file is missing and where to get it.
    assert main([*argv, "--mano", str(tmp_path / "MANO_RIGHT.pkl")]) == 2
    err = capsys.readouterr().err
    assert "MANO" in err and "mano.is.tue.mpg.de" in err


def test_infer_folder_of_images(tmp_path):
    """A folder as --image: every image in name order in one JSON (a frame per image); other files ignored."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("hamer_test5.jpg", "hamer_test1.jpg"):
        (folder / name).write_bytes((HANDS_DIR / name).read_bytes())
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "hands.json"
    assert main(["infer", "--image", str(folder), "--out", str(out), "--detection-mode", "fast"]) == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "folder" and doc["pipeline_mode"] == "frame"
    assert [f["name"] for f in doc["frames"]] == ["hamer_test1", "hamer_test5"]
    assert len(doc["frames"][1]["hands"]) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["infer", "--image", str(empty)]) == 2  # a clear error, no traceback


def test_infer_never_overwrites_without_force(tmp_path):
    out = tmp_path / "hands.json"
    out.write_text("{}")
    args = [
        "infer",
        "--image",
        str(HANDS_DIR / "hamer_test5.jpg"),
        "--out",
        str(out),
        "--detection-mode",
        "fast",
    ]
    assert main(args) == 2 and out.read_text() == "{}"  # refused with one clear line, file kept
    assert main([*args, "--force"]) == 0 and json.loads(out.read_text())["hands"]
