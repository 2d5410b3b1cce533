"""``fast-hamer infer`` on a folder (photo path) and a video (stream path: track ids), meshes as files
(.obj / .ply in metres, camera frame) and the side view."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
import pytest
from fixtures.data import HANDS_DIR

from fast_hamer_core.cli import main
from fast_hamer_core.frames import moving_sequence
from fast_hamer_core.mesh_io import read_obj, read_ply
from fast_hamer_core.render import SIDE_COLORS_RGB

PHOTO = HANDS_DIR / "hamer_test5.jpg"


def test_folder_with_meshes_as_files_and_a_side_view(tmp_path, student_checkpoint, synthetic_mano_npz):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(PHOTO, photos / name)
    (photos / "notes.txt").write_text("not an image")
    out, render, meshes = tmp_path / "hands.json", tmp_path / "overlays", tmp_path / "meshes"
    argv = [
        "infer",
        "--input",
        str(photos),
        "--checkpoint",
        str(student_checkpoint),
        "--mano",
        str(synthetic_mano_npz),
    ]
    argv += ["--boxes", "400,500,560,900:right", "580,500,780,900:left", "--intrinsics", "1400,1400,600,900"]
    argv += ["--out", str(out), "--render", str(render), "--side-view", "--save-mesh", str(meshes)]
    assert main(argv) == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "folder" and doc["pipeline_mode"] == "frame" and doc["mode"] == "mesh"
    assert [f["name"] for f in doc["frames"]] == ["a", "b"]
    assert sorted(p.name for p in meshes.iterdir()) == sorted(
        f"{frame}_{side}_{i}.{ext}"
        for frame in "ab"
        for i, side in enumerate(["right", "left"])
        for ext in ("obj", "ply")
    )
    hand = doc["frames"][1]["hands"][1]
    vertices, faces = read_obj(meshes / "b_left_1.obj")
    np.testing.assert_allclose(vertices, hand["vertices"], atol=1e-6)  # metres, camera frame, as in the JSON
    assert faces.shape == (1538, 3) and np.median(vertices[:, 2]) > 0.1  # in front of the camera
    _, ply_faces, colours = read_ply(meshes / "b_left_1.ply")
    assert (colours == SIDE_COLORS_RGB["left"]).all()
    right_faces = read_obj(meshes / "b_right_0.obj")[1]
    np.testing.assert_array_equal(ply_faces, right_faces[:, ::-1])  # a left hand's winding is flipped
    assert doc["frames"][0]["meshes"][0].endswith("a_right_0.obj")
    overlay = cv2.imread(str(render / "a.jpg"))
    assert overlay.shape == (1799, 2 * 1200, 3)  # overlay | side view
    side = overlay[:, 1200:]
    assert (side == 255).all(axis=2).mean() > 0.5  # a white background ...
    assert (side != 255).any(axis=2).mean() > 0.001  # ... with the meshes drawn on it


def test_video_goes_through_the_stream_path_with_track_ids(tmp_path, capsys):
    photo = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for rgb in moving_sequence(photo, 6, size=(640, 480)):
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    out, render = tmp_path / "hands.json", tmp_path / "overlay.mp4"
    assert main(["infer", "--image", str(clip), "--out", str(out), "--render", str(render)]) == 0
    doc = json.loads(out.read_text())
    assert doc["kind"] == "video" and doc["pipeline_mode"] == "stream" and doc["detection_mode"] == "fast"
    assert len(doc["frames"]) == 6 and doc["frames"][3]["stamp_s"] == pytest.approx(0.3)
    ids = [h["track_id"] for f in doc["frames"] for h in f["hands"]]
    assert ids and None not in ids and len(set(ids)) <= 3  # the same hands followed, not new ones per frame
    assert "6/6" in capsys.readouterr().err  # the progress bar
    video = cv2.VideoCapture(str(render))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    video.release()


def test_mesh_options_need_a_mesh_model(tmp_path, capsys):
    assert main(["infer", "--image", str(PHOTO), "--save-mesh", str(tmp_path / "m")]) == 2
    assert "--save-mesh and --side-view need --checkpoint" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["infer", "--image", str(tmp_path / "empty")]) == 2
    assert "no images" in capsys.readouterr().err
