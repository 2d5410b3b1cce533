"""hand_mesh_node in its own process, landmarks-only mode (no mesh checkpoint), through real DDS.

One node process serves the module (starting it takes seconds); every test waits for outputs
carrying the stamp of the frame it sent, so the tests do not depend on each other's order.
"""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest
from fixtures.data import HAND_PHOTOS
from ros_harness import (
    REPO_ROOT,
    camera_info,
    hand_mesh_node_command,
    image_message,
    load_photo,
    node_rig,
    stamp_of,
)
from sensor_msgs.msg import Image
from visualization_msgs.msg import Marker

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.skeleton import JOINT_NAMES, SIDES
from fast_hamer_ros.image_conversion import image_to_rgb, metres_to_depth_image

FRAME = "camera_color_optical_frame"


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    params = {
        "detector_model": str(ensure_detector_model()),
        "checkpoint": "",
        "device": "cpu",
        "depth.enabled": True,
        "stream.enabled": False,  # unrelated photos: the per-image path (stream mode: its own test)
    }
    with node_rig(tmp_path_factory.mktemp("landmarks_node"), params) as rig:
        yield rig


def test_real_photos_give_joints_tf_markers_and_overlay_with_the_input_stamp(rig):
    hands_total = 0
    for i, name in enumerate(HAND_PHOTOS):
        rgb = load_photo(name)
        h, w = rgb.shape[:2]
        info = camera_info(w, h, FRAME)
        msg = image_message(rgb, sec=1000 + i, nanosec=123_000 + i, frame_id=FRAME)
        out = rig.send(msg, info)

        k = np.asarray(info.k).reshape(3, 3)
        tf_by_name = {t.child_frame_id: t for t in out["tf"]}
        sides_with_hand = []
        for side in SIDES:
            (poses,) = out["joints"][side]  # exactly one PoseArray per side per frame
            assert poses.header.frame_id == FRAME
            assert len(poses.poses) in (0, 21)
            if not poses.poses:
                continue
            sides_with_hand.append(side)
            xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses])
            assert np.all(xyz[:, 2] > 0.05), f"{name}: joints behind the camera"
            uv = (xyz @ k.T)[:, :2] / xyz[:, 2:3]
            assert np.all((uv > -0.1 * w) & (uv < 1.1 * np.array([w, h]))), (
                f"{name}: joints project off-image"
            )
            # TF: the documented names, parent = the image frame, same positions as the PoseArray.
            for j, joint in enumerate(JOINT_NAMES):
                t = tf_by_name[f"{side}_{joint}"]
                assert t.header.frame_id == FRAME
                tr = t.transform.translation
                np.testing.assert_allclose([tr.x, tr.y, tr.z], xyz[j], atol=1e-9)
                q = t.transform.rotation
                assert abs(np.linalg.norm([q.x, q.y, q.z, q.w]) - 1.0) < 1e-6
        assert set(tf_by_name) == {f"{s}_{j}" for s in sides_with_hand for j in JOINT_NAMES}
        assert not out["mano"]["left"] and not out["mano"]["right"]  # landmarks mode: no MANO parameters

        assert len(out["markers"]) <= 1
        if sides_with_hand:
            (markers,) = out["markers"]
            added = {(m.ns, m.id) for m in markers.markers if m.action == Marker.ADD}
            assert {ns for ns, _ in added} == {"skeleton", "joints", "label"}  # no mesh in landmarks mode
            hands_total += len({i for ns, i in added if ns == "joints"})
            assert all(m.header.frame_id == FRAME for m in markers.markers)

        (overlay,) = out["overlay"]
        assert (overlay.height, overlay.width, overlay.encoding) == (h, w, "rgb8")
        if sides_with_hand:
            assert np.any(image_to_rgb(overlay) != rgb), "nothing drawn on the overlay"
        if name == "hamer_test5.jpg":
            assert sides_with_hand, "no hand found in hamer_test5.jpg (two hands in front of the face)"
    assert hands_total >= 5  # 11 hands are visible over the five photos

    diag = rig.latest_diagnostics(after=time.monotonic())
    assert (
        diag["mode"] == "landmarks"
        and diag["device"] == "cpu"
        and diag["detector"] == "MediaPipeHandDetector"
    )
    assert diag["model"] == "none" and diag["tf_backend"] in ("tf2_msgs", "tf2_ros")
    assert int(diag["frames_processed"]) >= len(HAND_PHOTOS)
    assert float(diag["latency_p50_ms"]) > 0.0


def test_depth_image_moves_the_hand_onto_the_measured_distance(rig):
    rgb = load_photo("hamer_test5.jpg")
    h, w = rgb.shape[:2]
    info = camera_info(w, h, FRAME)
    depth_m = np.full((h, w), 0.9)  # a flat surface at 90 cm: the sensor sees the skin there
    for attempt in range(3):  # depth and colour travel on two topics: resend if the colour came first
        msg = image_message(rgb, sec=2000 + attempt, frame_id=FRAME)
        depth = metres_to_depth_image(depth_m, encoding="16UC1", header=msg.header)
        rig.depth_pub.publish(depth)
        out = rig.send(msg, info)
        poses = [p for s in SIDES for p in out["joints"][s][0].poses]
        assert poses, "no hand found in hamer_test5.jpg"
        z = np.array([p.position.z for p in poses])
        if abs(np.median(z) - 0.91) < 0.01:  # joints 1 cm behind the skin (depth.surface_offset_m)
            break
    else:
        pytest.fail(f"depth correction not applied: median joint depth {np.median(z):.3f} m, expected 0.91")


def test_flood_of_300_frames_stays_responsive_bounded_and_processes_the_newest(rig):
    rgb = load_photo("fasthamer_sample2.jpg")
    h, w = rgb.shape[:2]
    info = camera_info(w, h, FRAME)
    rig.send(image_message(rgb, sec=3000, frame_id=FRAME), info)  # warm: the detector has seen this size
    before = rig.latest_diagnostics(after=time.monotonic())
    rss_before = rig.node.rss_mb()

    frames = [image_message(rgb, sec=3001, nanosec=i, frame_id=FRAME) for i in range(300)]
    rig.info_pub.publish(info)
    start = time.monotonic()
    for msg in frames:
        rig.image_pub.publish(msg)
        rig.peer.executor.spin_once(timeout_sec=0.0)
    flood_s = time.monotonic() - start

    # Responsive: the parameter service answers right away even though inference is far behind.
    t0 = time.monotonic()
    assert rig.get_parameter("overlay_mesh_alpha") == pytest.approx(0.6)
    assert time.monotonic() - t0 < 5.0
    # Newest: the last frame sent is processed, without waiting for the other 299.
    last = stamp_of(frames[-1])
    assert rig.peer.spin_until(lambda: rig.processed(last), 30.0), (
        f"newest frame not processed:\n{rig.node.log()[-2000:]}"
    )
    processed = {stamp_of(m) for m in rig.joints["right"] if stamp_of(m)[0] == 3001}
    assert len(processed) < 150, f"{len(processed)} of 300 frames processed: the node is queueing"

    after = rig.latest_diagnostics(after=time.monotonic())
    received = int(after["frames_received"]) - int(before["frames_received"])
    dropped = int(after["frames_dropped"]) - int(before["frames_dropped"])
    lost = int(after["frames_lost_before_node"]) - int(before["frames_lost_before_node"])
    done = int(after["frames_processed"]) - int(before["frames_processed"])
    assert dropped > 0 and received > 0
    assert done == len(processed)
    # Every frame is accounted for: lost before the node, or received and then processed or dropped.
    assert received == done + dropped
    assert lost + received == len(frames)
    rss_growth = rig.node.rss_mb() - rss_before
    assert rss_growth < 150, f"memory grew by {rss_growth:.0f} MiB during the flood"
    print(f"flood: 300 in {flood_s:.2f} s; lost {lost}, received {received}, done {done}, dropped {dropped}")


def _malformed_images() -> list[tuple[Image, str]]:
    good = image_message(np.zeros((8, 10, 3), np.uint8), sec=1)
    cases = []
    short = image_message(np.zeros((8, 10, 3), np.uint8), sec=1)
    short.data = bytes(short.data)[:-5]
    cases.append((short, "fewer than height*step"))
    unknown = image_message(np.zeros((8, 10, 3), np.uint8), sec=1)
    unknown.encoding = "yuv422_yuy2"
    cases.append((unknown, "unsupported image encoding 'yuv422_yuy2'"))
    empty = Image(height=0, width=0, encoding="rgb8", step=0)
    cases.append((empty, "empty image: height=0, width=0"))
    narrow = image_message(np.zeros((8, 10, 3), np.uint8), sec=1)
    narrow.step = 20  # fewer than 10 * 3 bytes per row
    cases.append((narrow, "step 20 is smaller than width*channels*bytes"))
    assert good.step == 30
    return cases


def test_malformed_messages_and_bad_parameters_are_rejected_and_the_node_keeps_working(rig):
    def logged(reason: str) -> bool:
        return any(
            "skipped malformed image:" in line and reason in line for line in rig.node.log().splitlines()
        )

    for i, (msg, reason) in enumerate(_malformed_images()):
        msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = 4000, i, FRAME
        deadline = time.monotonic() + 30.0
        while not logged(reason) and time.monotonic() < deadline:
            rig.image_pub.publish(msg)  # best effort: resend until the node has seen it
            rig.peer.spin_until(lambda reason=reason: logged(reason), 2.0)
        assert logged(reason), f"no log line with {reason!r}:\n{rig.node.log()[-3000:]}"
        assert rig.node.alive()

    out_of_range = rig.set_parameter("overlay_mesh_alpha", 1.5)
    assert not out_of_range.successful and "out of range" in out_of_range.reason
    assert rig.get_parameter("overlay_mesh_alpha") == pytest.approx(0.6)  # old value kept
    read_only = rig.set_parameter("image_qos", "reliable")
    assert not read_only.successful
    assert rig.get_parameter("image_qos") == "sensor_data"
    bad_prefix = rig.set_parameter("tf_prefix", "two words")
    assert (
        not bad_prefix.successful
        and "tf_prefix='two words' must be empty or start with a letter" in bad_prefix.reason
    )
    wrong_type = rig.set_parameter("publish_tf", "yes")
    assert not wrong_type.successful
    log = rig.node.log()
    assert "rejected parameter change: overlay_mesh_alpha=1.5 is out of range [0.0, 1.0]" in log
    assert "rejected parameter change: image_qos is read-only" in log

    # A valid change takes effect on the next frame, and good frames are still answered.
    assert rig.set_parameter("tf_prefix", "hands/").successful
    try:
        rgb = load_photo("hamer_test5.jpg")
        out = rig.send(
            image_message(rgb, sec=4001, frame_id=FRAME), camera_info(rgb.shape[1], rgb.shape[0], FRAME)
        )
        names = {t.child_frame_id for t in out["tf"]}
        assert names and all(n.startswith("hands/") for n in names)
        assert "hands/right_wrist" in names or "hands/left_wrist" in names
    finally:
        assert rig.set_parameter("tf_prefix", "").successful
    diag = rig.latest_diagnostics(after=time.monotonic())
    assert int(diag["messages_rejected"]) >= 4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("overlay_mesh_alpha:=2.0", "invalid parameter overlay_mesh_alpha"),
        ("image_qos:=fast", "image_qos='fast' is not one of"),
        ("focal_length_px:=600", "expecting type 'DOUBLE'"),
    ],
)
def test_a_bad_parameter_at_start_stops_the_node_with_one_clear_line(ros_domain, override, message):
    cmd = hand_mesh_node_command()
    proc = subprocess.run([*cmd, "-p", override], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith("hand_mesh_node: error: ")
    assert message in proc.stderr
