"""``hands_viewer``: the browser 3D viewer fed live over DDS with the node's real message builders, checked in
headless Chromium (the mesh colour where the hand projects)."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
from ros_harness import REPO_ROOT, NodeProcess, RosPeer, load_photo
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header
from tf2_msgs.msg import TFMessage
from visualization_msgs.msg import MarkerArray

from fast_hamer_core.types import HandResult
from fast_hamer_core.viewer.browser import screenshot
from fast_hamer_ros.image_conversion import rgb_to_image
from fast_hamer_ros.messages import HandMarkers, hand_transforms
from fast_hamer_ros.tf_publisher import TF_QOS

ARTEFACT_DIR = Path(os.environ.get("FAST_HAMER_TEST_ARTEFACTS", REPO_ROOT / "test_artefacts"))


def sphere_mesh(centre, radius: float, rings: int = 12, segments: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) vertices and (F, 3) faces of a UV sphere (outward winding)."""
    theta, phi = np.meshgrid(
        np.linspace(0, np.pi, rings + 1), np.linspace(0, 2 * np.pi, segments + 1), indexing="ij"
    )
    xyz = np.stack([np.sin(theta) * np.cos(phi), np.cos(theta), np.sin(theta) * np.sin(phi)], -1)
    vertices = (xyz * radius + centre).reshape(-1, 3)
    idx = np.arange(vertices.shape[0]).reshape(rings + 1, segments + 1)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return vertices, faces


def test_hands_viewer_shows_live_meshes_where_they_project(tmp_path, ros_domain):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]))
    args = [
        sys.executable,
        "-m",
        "fast_hamer_ros.viewer",
        "--ros-args",
        "-p",
        f"port:={port}",
        "-p",
        "show_panel:=false",
    ]
    viewer = NodeProcess(args, tmp_path / "hands_viewer.log", env)
    peer = RosPeer(ros_domain)
    n = peer.node
    markers_pub = n.create_publisher(MarkerArray, "hands/markers", 10)
    tf_pub = n.create_publisher(TFMessage, "/tf", TF_QOS)
    image_pub = n.create_publisher(Image, "image", 1)
    info_pub = n.create_publisher(CameraInfo, "camera_info", 1)
    centre, radius, f = np.array([-0.06, -0.02, 0.45]), 0.045, 500.0  # left of and above the optical axis
    vertices, faces = sphere_mesh(centre, radius)
    joints = centre + np.linspace(-radius, radius, 21)[:, None] * np.array([1.0, 0.0, 0.0])
    hand = HandResult(
        side="right",
        score=0.95,
        box=np.array([100, 100, 200, 200.0]),
        keypoints_2d=np.zeros((21, 2)),
        keypoints_3d=joints,
        joint_rotations=np.repeat(np.eye(3)[None], 21, 0),
        vertices=vertices,
        track_id=3,
    )
    grey = cv2.cvtColor(
        cv2.cvtColor(cv2.resize(load_photo("hamer_test1.jpg"), (640, 480)), cv2.COLOR_RGB2GRAY),
        cv2.COLOR_GRAY2RGB,
    )
    builder = HandMarkers()
    shot = tmp_path / "hands_viewer.png"
    done = threading.Event()
    failure: list[BaseException] = []

    def take() -> None:
        try:
            screenshot(f"http://127.0.0.1:{port}/", shot, size=(960, 720), settle_s=5.0)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
        finally:
            done.set()

    try:
        assert peer.spin_until(lambda: markers_pub.get_subscription_count() > 0 or not viewer.alive(), 60.0)
        assert viewer.alive(), viewer.log()
        thread = threading.Thread(target=take, daemon=True)
        thread.start()
        frame = 0
        while not done.is_set():  # live: a new frame every 0.2 s while the browser loads and draws
            header = Header(frame_id="camera_optical")
            header.stamp.sec, header.stamp.nanosec = 50 + frame, 0
            info = CameraInfo(header=header, width=640, height=480, distortion_model="plumb_bob")
            info.k = [f, 0.0, 319.5, 0.0, f, 239.5, 0.0, 0.0, 1.0]
            info_pub.publish(info)
            image_pub.publish(rgb_to_image(grey, header))
            markers_pub.publish(builder.build([hand], header, faces))
            tf_pub.publish(TFMessage(transforms=hand_transforms([hand], header)))
            frame += 1
            peer.spin_until(done.is_set, 0.2)
        thread.join(timeout=30)
    finally:
        viewer.stop()
        peer.close()
    assert not failure, failure
    ARTEFACT_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTEFACT_DIR / "hands_viewer_live.png")
    image = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB)
    u, v = 1.5 * (f * centre[0] / centre[2] + 319.5), 1.5 * (f * centre[1] / centre[2] + 239.5)
    r_px = 1.5 * f * radius / centre[2]
    yy, xx = np.mgrid[:720, :960]
    d2 = (xx - u) ** 2 + (yy - v) ** 2
    r, g, b = (image[..., i].astype(int) for i in range(3))
    blue = (b > r + 60) & (b > g + 25)
    assert blue[d2 < (0.8 * r_px) ** 2].mean() > 0.8, f"frames sent: {frame}"
    assert blue[(d2 > (1.3 * r_px) ** 2) & (yy > 80)].mean() < 0.01
    assert frame >= 3 and "viewer: http://127.0.0.1" in viewer.log()
