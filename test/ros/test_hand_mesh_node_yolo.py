"""hand_mesh_node with ``detector: yolo``: an Ultralytics YOLO hand detector (random weights that
ultralytics builds from its own yaml, nothing downloaded) feeding the mesh network, through real DDS.
Asserts the wiring and the output contract, not accuracy."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from fixtures.data import REPO_ROOT
from fixtures.mano import write_synthetic_mano_npz
from fixtures.models import save_tiny_checkpoint
from fixtures.yolo import RANDOM_WEIGHTS_CONF, write_random_yolo
from ros_harness import HANDS_DIR, camera_info, hand_mesh_node_command, image_message, node_rig, stamp_of
from visualization_msgs.msg import Marker

from fast_hamer_core.preprocess import read_rgb
from fast_hamer_core.skeleton import SIDES

FRAME = "workbench_camera_optical"


@pytest.fixture(scope="module")
def yolo_rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("yolo_node")
    params = {
        "detector": "yolo",
        "detector_model": str(write_random_yolo(tmp, {0: "left", 1: "right"})),
        "min_detection_confidence": RANDOM_WEIGHTS_CONF,
        "max_hands": 2,
        "checkpoint": str(save_tiny_checkpoint(tmp / "student.pt", "mobilenetv3_large")),
        "mano_path": str(write_synthetic_mano_npz(tmp / "MANO_RIGHT.npz")),
        "device": "cpu",
    }
    with node_rig(tmp, params) as rig:
        yield rig


def test_yolo_boxes_reach_the_mesh_network_and_every_output(yolo_rig):
    rgb = read_rgb(HANDS_DIR / "fasthamer_sample2.jpg")
    out = yolo_rig.send(
        image_message(rgb, sec=700, frame_id=FRAME), camera_info(rgb.shape[1], rgb.shape[0], FRAME)
    )
    sides = [s for s in SIDES if out["joints"][s] and out["joints"][s][0].poses]
    assert sides, "the YOLO detector's boxes gave no hand"
    for side in sides:
        (poses,) = out["joints"][side]
        assert len(poses.poses) == 21 and poses.header.frame_id == FRAME and stamp_of(poses) == (700, 0)
        xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses])
        assert np.isfinite(xyz).all()
    (markers,) = out["markers"]
    meshes = [m for m in markers.markers if m.action == Marker.ADD and m.ns == "mesh"]
    assert len(meshes) >= len(sides) and all(len(m.points) == 3 * 1538 for m in meshes)
    diag = yolo_rig.latest_diagnostics(after=time.monotonic())
    assert diag["detector"] == "YOLOHandDetector"


def test_yolo_without_a_mesh_checkpoint_stops_the_node_with_one_clear_line(ros_domain, tmp_path):
    weights = write_random_yolo(tmp_path, {0: "left", 1: "right"})
    cmd = hand_mesh_node_command({"detector": "yolo", "detector_model": str(weights), "checkpoint": ""})
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=180)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("hand_mesh_node: error: ")
    assert "needs a mesh checkpoint" in proc.stderr
