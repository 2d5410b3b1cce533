"""The browser 3D viewer: scene from markers/TF, and ``fast-hamer view BAG`` in real headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from fixtures.bags import (
    START_NS,
    hand_marker_array,
    ros_header,
    sphere_triangles,
    tf_message,
    write_recording_bag,
)
from fixtures.data import HANDS_DIR, REPO_ROOT

from fast_hamer_core.cli import main
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.viewer.scene import HandScene
from fast_hamer_core.viewer.viser_view import frustum_pose

#: Where the screenshots are kept after the run (also in the pytest tmp dir); documented in the README.
ARTEFACT_DIR = Path(os.environ.get("FAST_HAMER_TEST_ARTEFACTS", REPO_ROOT / "test_artefacts"))
MESH_RGB = (70, 150, 255)  # the right-hand colour of fast_hamer_core.render.SIDE_COLORS_RGB


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mesh_coloured(rgb: np.ndarray) -> np.ndarray:
    """Pixels of the (shaded) blue mesh colour: blue well above red and green."""
    r, g, b = (rgb[..., i].astype(int) for i in range(3))
    return (b > r + 60) & (b > g + 25)


def test_scene_follows_markers_and_tf():
    header = ros_header(START_NS, "cam")
    joints = np.linspace([0.0, 0.0, 0.5], [0.1, 0.0, 0.5], 21)
    scene = HandScene()
    scene.apply_markers(
        hand_marker_array(header, 7, sphere_triangles((0, 0, 0.5), 0.05), joints, MESH_RGB, "right #7 0.95")
    )
    hand = scene.hands[7]
    assert (hand.side, hand.track_id, hand.color_rgb) == ("right", 7, MESH_RGB)
    assert hand.triangles_m.shape == (12 * 24 * 2, 3, 3) and hand.bones_m.shape == (20, 2, 3)
    np.testing.assert_allclose(hand.joints_m, joints)
    scene.apply_tf(tf_message(header, joints))
    assert len(scene.frames) == 21 and scene.frames["right_joint20"].translation_m[0] == pytest.approx(0.1)
    np.testing.assert_array_equal(scene.frames["right_joint0"].quaternion_wxyz, [1, 0, 0, 0])
    gone = hand_marker_array(header, 7, np.zeros((0, 3, 3)), joints, MESH_RGB, "")
    for m in gone.markers:
        m.action = 2  # DELETE every part: the hand is gone
    scene.apply_markers(gone)
    assert scene.hands == {}


def test_frustum_image_plane_covers_the_image():
    cam = PinholeCamera(500.0, 520.0, 300.0, 250.0, width=640, height=480)
    fov, aspect, shift = frustum_pose(cam, 2.0)
    half_h = np.tan(fov / 2) * 2.0
    assert 2 * half_h == pytest.approx(480 * 2.0 / 520.0) and 2 * half_h * aspect == pytest.approx(
        640 * 2.0 / 500.0
    )
    # the image corner (0, 0) sits where the camera projects it
    assert shift[0] - half_h * aspect == pytest.approx((0 - 300.0) * 2.0 / 500.0)
    assert shift[1] - half_h == pytest.approx((0 - 250.0) * 2.0 / 520.0)


def test_view_bag_in_headless_chromium_shows_the_mesh_where_it_projects(tmp_path):
    photo = cv2.imread(str(HANDS_DIR / "hamer_test5.jpg"), cv2.IMREAD_GRAYSCALE)
    grey = cv2.cvtColor(cv2.resize(photo[:900], (640, 480)), cv2.COLOR_GRAY2RGB)  # no blue in the background
    centre, radius, fx = np.array([0.08, 0.03, 0.5]), 0.05, 500.0
    write_recording_bag(tmp_path / "rec", grey, centre, radius, frames=6, fx=fx)
    shot = tmp_path / "viewer.png"
    argv = [
        "view",
        str(tmp_path / "rec"),
        "--port",
        str(free_port()),
        "--screenshot",
        str(shot),
        "--after",
        "3",
        "--size",
        "960x720",
        "--no-panel",
    ]
    assert main(argv) == 0
    ARTEFACT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACT_DIR / "viewer_bag.png")
    image = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    assert image.shape == (720, 960, 3)
    # Where the sphere projects (the view starts at the camera, 1.5x the 640x480 image).
    u = 1.5 * (fx * centre[0] / centre[2] + 319.5)
    v = 1.5 * (fx * centre[1] / centre[2] + 239.5)
    r_px = 1.5 * fx * radius / centre[2]
    yy, xx = np.mgrid[:720, :960]
    inside = (xx - u) ** 2 + (yy - v) ** 2 < (0.8 * r_px) ** 2
    outside = (xx - u) ** 2 + (yy - v) ** 2 > (1.3 * r_px) ** 2
    blue = mesh_coloured(image)
    assert blue[inside].mean() > 0.8, f"mesh colour in {blue[inside].mean():.0%} of the hand's disc"
    assert blue[outside & (yy > 80)].mean() < 0.01  # (the minimised panel's bar is at the top)
    assert np.abs(image[outside].astype(int) - 255).mean() > 30, "the image behind is not shown"
