"""hand_mesh_node in mesh mode (random-weight student, synthetic MANO) with compressed input and no
CameraInfo, through real DDS. Asserts structure and frame consistency, not accuracy."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fixtures.mano import write_synthetic_mano_npz
from fixtures.models import save_tiny_checkpoint
from ros_harness import (
    HANDS_DIR,
    node_rig,
    stamp_of,
)
from scipy.spatial.transform import Rotation
from sensor_msgs.msg import CompressedImage
from visualization_msgs.msg import Marker

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.openxr import openxr_hand
from fast_hamer_core.skeleton import JOINT_NAMES, SIDES
from fast_hamer_ros.messages import mano_joint_names

FRAME = "head_camera_optical"
PHOTO = HANDS_DIR / "hamer_test5.jpg"  # two hands in front of a face


def _jpeg_message(sec: int) -> CompressedImage:
    msg = CompressedImage(format="jpeg")
    msg.header.stamp.sec, msg.header.frame_id = sec, FRAME
    msg.data = PHOTO.read_bytes()  # the real file, as image_transport's compressed publisher sends it
    return msg


@pytest.fixture(scope="module")
def mesh_rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mesh_node")
    checkpoint = save_tiny_checkpoint(tmp / "student.pt", "mobilenetv3_large")
    mano = write_synthetic_mano_npz(tmp / "MANO_RIGHT.npz")
    params = {
        "checkpoint": str(checkpoint),
        "mano_path": str(mano),
        "detector_model": str(ensure_detector_model()),
        "device": "cpu",
        "image_transport": "compressed",
        "publish_openxr": True,
    }
    with node_rig(tmp, params, compressed=True) as rig:
        yield rig


def test_mesh_mode_publishes_meshes_mano_states_tf_and_poses_in_one_frame(mesh_rig):
    outs = [mesh_rig.send(_jpeg_message(sec=500 + i)) for i in range(2)]  # no CameraInfo on purpose
    out = outs[-1]
    stamp = (501, 0)

    sides = [s for s in SIDES if out["joints"][s][0].poses]
    assert sides, "no hand found in hamer_test5.jpg"
    (markers,) = out["markers"]
    added = [m for m in markers.markers if m.action == Marker.ADD]
    meshes = [m for m in added if m.ns == "mesh"]
    assert len(meshes) >= len(sides)
    for mesh in meshes:
        assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == 3 * 1538
        assert mesh.header.frame_id == FRAME and stamp_of(mesh) == stamp
    tf_by_name = {t.child_frame_id: t for t in out["tf"]}
    for side in sides:
        (poses,) = out["joints"][side]
        assert len(poses.poses) == 21
        xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in poses.poses])
        for j, joint in enumerate(JOINT_NAMES):  # TF and PoseArray describe the same joints
            tr = tf_by_name[f"{side}_{joint}"].transform.translation
            np.testing.assert_allclose([tr.x, tr.y, tr.z], xyz[j], atol=1e-9)
            assert tf_by_name[f"{side}_{joint}"].header.frame_id == FRAME
        # OpenXR joints in mesh mode: frames from MANO's rotations (the PoseArray's orientations).
        quats = np.array(
            [[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in poses.poses]
        )
        expected = openxr_hand(xyz, side, Rotation.from_quat(quats).as_matrix())
        (xr,) = out["openxr"][side]
        assert len(xr.poses) == 26 and stamp_of(xr) == stamp
        xr_q = np.array(
            [[p.orientation.x, p.orientation.y, p.orientation.z, p.orientation.w] for p in xr.poses]
        )
        np.testing.assert_allclose(Rotation.from_quat(xr_q).as_matrix(), expected.rotations, atol=1e-6)
        xr_xyz = np.array([[p.position.x, p.position.y, p.position.z] for p in xr.poses])
        np.testing.assert_allclose(xr_xyz, expected.positions_m, atol=1e-9)
        (state,) = out["mano"][side]
        assert list(state.name) == mano_joint_names(side) and len(state.position) == 61
        assert state.header.frame_id == FRAME and stamp_of(state) == stamp
        assert np.all(np.isfinite(state.position))
        # The mesh of that hand surrounds its joints (one MANO output, one frame).
        label = next(m for m in added if m.ns == "label" and m.text.startswith(side))
        mesh = next(m for m in meshes if m.id == label.id)
        pts = np.array([[p.x, p.y, p.z] for p in mesh.points])
        lo, hi = pts.min(axis=0) - 0.01, pts.max(axis=0) + 0.01
        assert np.all((xyz[:16] >= lo) & (xyz[:16] <= hi)), "regressed joints outside their own mesh"

    log = mesh_rig.node.log()
    assert log.count("no CameraInfo received") == 1  # warned once, not per frame
    assert "using focal_length_px=1799.0" in log  # 0 -> the image's larger side

    diag = mesh_rig.latest_diagnostics(after=time.monotonic())
    assert diag["mode"] == "mesh" and diag["model"] != "none"


def test_undecodable_compressed_image_is_skipped_and_the_next_frame_answered(mesh_rig):
    garbage = CompressedImage(format="jpeg")
    garbage.header.stamp.sec, garbage.header.frame_id = 600, FRAME
    garbage.data = b"\xff\xd8\xff\xe0 truncated jpeg"

    def logged() -> bool:
        return "skipped malformed image: cannot decode" in mesh_rig.node.log()

    deadline = time.monotonic() + 30.0
    while not logged() and time.monotonic() < deadline:
        mesh_rig.image_pub.publish(garbage)
        mesh_rig.peer.spin_until(logged, 2.0)
    assert logged(), mesh_rig.node.log()[-3000:]
    out = mesh_rig.send(_jpeg_message(sec=601))
    assert any(len(out["joints"][s][0].poses) == 21 for s in SIDES)


def test_oversized_and_truncated_compressed_images_are_refused_before_decoding(mesh_rig):
    """A header claiming 100000 x 100000 pixels is refused from the header (no image data follows), and a
    truncated JPEG (which ``cv2.imread`` would half-decode) is refused like ``fast-hamer infer`` does."""
    from fixtures.images import png_header_only

    huge = CompressedImage(format="png")
    huge.header.stamp.sec, huge.header.frame_id = 700, FRAME
    huge.data = png_header_only(100_000, 100_000)
    rss_before = mesh_rig.node.rss_mb()
    mesh_rig.publish_until_logged(
        "100000x100000 = 10000000000 pixels is more than max_image_pixels=40000000", huge
    )
    truncated = _jpeg_message(sec=701)
    truncated.data = PHOTO.read_bytes()[:-3000]
    mesh_rig.publish_until_logged("truncated JPEG", truncated)
    assert mesh_rig.node.rss_mb() - rss_before < 100
    out = mesh_rig.send(_jpeg_message(sec=702))
    assert any(len(out["joints"][s][0].poses) == 21 for s in SIDES)


def test_nan_camera_info_never_reaches_the_mesh_outputs(mesh_rig):
    """Mesh mode: a CameraInfo with NaN (the tracker's filters used to keep the NaN for frames) is refused;
    every published number stays finite, before and after a valid CameraInfo returns."""
    import math

    from ros_harness import camera_info

    good = camera_info(1200, 1799, FRAME)
    nan_info = camera_info(1200, 1799, FRAME)
    nan_info.k = [nan_info.k[0], 0.0, math.nan, 0.0, nan_info.k[4], nan_info.k[5], 0.0, 0.0, 1.0]
    mesh_rig.publish_until_logged("refused: K has a non-finite cx = nan", _jpeg_message(sec=800), nan_info)
    for i, info in enumerate([nan_info, nan_info, good, good]):
        mesh_rig.info_pub.publish(info)
        mesh_rig.peer.spin_until(lambda: False, 0.3)
        out = mesh_rig.send(_jpeg_message(sec=801 + i), info)
        values = [v for s in SIDES for m in out["mano"][s] for v in m.position]
        values += [p.position.z for s in SIDES for p in out["joints"][s][0].poses]
        values += [t.transform.translation.x for t in out["tf"]]
        assert values and np.all(np.isfinite(values)), f"frame {801 + i}: a non-finite number was published"


def test_stream_mode_follows_both_hands_with_few_palm_searches(mesh_rig):
    """The node's default stream mode on a moving two-hand sequence: every frame answered with both
    hands, the same track ids throughout, and /diagnostics says stream mode with palm searches and mirror
    passes well under one per frame."""
    import cv2

    from fast_hamer_core.frames import moving_sequence

    rgb = cv2.cvtColor(cv2.imread(str(PHOTO)), cv2.COLOR_BGR2RGB)
    track_ids: dict[str, set[str]] = {s: set() for s in SIDES}
    for i, frame in enumerate(moving_sequence(rgb, 16)):
        msg = CompressedImage(format="jpeg")
        msg.header.stamp.sec, msg.header.frame_id = 900 + i, FRAME
        msg.data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes()
        out = mesh_rig.send(msg)
        assert all(len(out["joints"][s][0].poses) == 21 for s in SIDES), f"frame {i}: a hand is missing"
        (markers,) = out["markers"]
        for m in markers.markers:
            if m.action == Marker.ADD and m.ns == "label":  # "right #0 0.97": side, track id, score
                side, track, _ = m.text.split()
                track_ids[side].add(track)
    assert all(len(ids) == 1 for ids in track_ids.values()), track_ids  # one track per hand
    diag = mesh_rig.latest_diagnostics(after=time.monotonic())
    assert diag["pipeline_mode"] == "stream" and diag["detector"] == "StreamHandDetector"
    assert float(diag["palm_searches_per_frame"]) < 0.5
    assert float(diag["mirror_passes_per_frame"]) < 0.5
    assert "stream detection (palm search every 10 frames" in mesh_rig.node.log()
