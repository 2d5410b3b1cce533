"""hand_mesh_node never publishes a wrong number: bad CameraInfo, images, frame ids and configuration,
through real DDS with one node process (landmarks mode) for the module, bad inputs batched."""

from __future__ import annotations

import math
import subprocess
import time

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticStatus
from ros_harness import (
    REPO_ROOT,
    Rig,
    camera_info,
    hand_mesh_node_command,
    image_message,
    load_photo,
    node_rig,
    stamp_of,
)
from sensor_msgs.msg import Image

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.skeleton import SIDES

FRAME = "wrist_camera_optical"
PHOTO = "fasthamer_sample2.jpg"  # 640 x 640, two hands


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("inputs_node")
    garbage_mano = tmp / "MANO_RIGHT.npz"
    garbage_mano.write_bytes(b"not a zip at all" * 100)
    typo = tmp / "typo.yaml"  # the node's section of a second params file, with an unknown parameter
    typo.write_text("/**/hand_mesh_node:\n  ros__parameters:\n    max_hand: 3\n")
    params = {
        "detector_model": str(ensure_detector_model()),
        "checkpoint": "",
        "device": "cpu",
        "mano_path": str(garbage_mano),
        "publish_overlay": True,
        "stream.enabled": False,  # one photo again and again: the per-image path gives equal answers
    }
    with node_rig(tmp, params, extra_args=["--params-file", str(typo)]) as rig:
        yield rig


def _joints(out) -> np.ndarray:
    """(N, 3) every published joint of the frame, both sides."""
    pts = [[p.position.x, p.position.y, p.position.z] for s in SIDES for p in out["joints"][s][0].poses]
    return np.array(pts).reshape(-1, 3)


def _send_with(rig: Rig, msg, info):
    """Publish ``info`` ahead of the frame (two topics: it must be there first), then the frame."""
    rig.info_pub.publish(info)
    rig.peer.spin_until(lambda: False, 0.3)
    return rig.send(msg, info)


def _info(w: int, h: int, **changes):
    info = camera_info(w, h, FRAME)
    k = list(info.k)
    for name, value in changes.items():
        if name in ("fx", "cx", "fy", "cy"):
            k[{"fx": 0, "cx": 2, "fy": 4, "cy": 5}[name]] = value
        else:
            setattr(info, name, value)
    info.k = k
    return info


def test_bad_camera_info_is_refused_named_and_never_reaches_the_outputs(rig):
    rgb = load_photo(PHOTO)
    h, w = rgb.shape[:2]
    good = _info(w, h)
    xyz_good = _joints(_send_with(rig, image_message(rgb, sec=5000, frame_id=FRAME), good))
    assert len(xyz_good) >= 21 and np.all(np.isfinite(xyz_good))

    big = camera_info(1920, 1080, FRAME)  # another camera's K, announced with its size
    bad = [
        (_info(w, h, cx=math.nan), "K has a non-finite cx = nan"),
        (_info(w, h, fx=math.inf), "K has a non-finite fx = inf"),
        (_info(w, h, fx=1e-9, fy=1e-9), "fx = 1e-09 px is not a sane focal length"),
        (_info(w, h, fx=-500.0), "fx = -500.0 is not positive"),
        (big, "calibration is for 1920x1080 but the image is 640x640"),
        (_info(w, h, width=0, height=0, cx=960.0, cy=540.0), "principal point (cx, cy) = (960, 540)"),
    ]
    for i, (info, reason) in enumerate(bad):
        msg = image_message(rgb, sec=5001 + i, frame_id=FRAME)
        rig.publish_until_logged(f"CameraInfo on /camera_info refused: {reason}", msg, info)
        xyz = _joints(_send_with(rig, image_message(rgb, sec=5101 + i, frame_id=FRAME), info))
        # The last valid camera is used: the same hands, finite, at the same place.
        assert xyz.shape == xyz_good.shape and np.all(np.isfinite(xyz))
        np.testing.assert_allclose(xyz, xyz_good, atol=2e-3)
    assert rig.node.log().count("refused: K has a non-finite cx = nan;") == 1  # throttled
    assert "; camera_info_fallback=last_valid" in rig.node.log()
    status = rig.latest_status(after=time.monotonic())
    assert status.level == DiagnosticStatus.WARN and "CameraInfo refused: " in status.message

    # Lens distortion is used: the same pixels seen through a barrel lens are other rays.
    lens = _info(w, h)
    lens.d = [-0.35, 0.12, 0.0, 0.0, 0.0]
    xyz_lens = _joints(_send_with(rig, image_message(rgb, sec=5200, frame_id=FRAME), lens))
    assert "valid again" in rig.node.log()
    assert np.all(np.isfinite(xyz_lens)) and np.abs(xyz_lens - xyz_good).max() > 2e-3

    # skip_frames: no output while refused, and /diagnostics ERROR once a whole window failed.
    assert rig.set_parameter("camera_info_fallback", "skip_frames").successful
    try:
        nan_info = _info(w, h, cy=math.nan)
        refused = [image_message(rgb, sec=5300, nanosec=i, frame_id=FRAME) for i in range(200)]
        error = None
        deadline = time.monotonic() + 30.0
        for msg in refused:
            rig.info_pub.publish(nan_info)
            rig.image_pub.publish(msg)
            rig.peer.spin_until(lambda: False, 0.1)
            last = rig.diagnostics[-1].status[0] if rig.diagnostics else None
            if last is not None and last.level == DiagnosticStatus.ERROR:
                error = last
                break
            assert time.monotonic() < deadline
        assert error is not None, "no /diagnostics ERROR while every frame was refused"
        assert "every frame of the last 5 s failed or was refused" in error.message
        assert "K has a non-finite cy = nan" in error.message
        assert not any(stamp_of(m)[0] == 5300 for m in rig.joints["right"])  # nothing published
    finally:
        assert rig.set_parameter("camera_info_fallback", "last_valid").successful
    xyz = _joints(_send_with(rig, image_message(rgb, sec=5400, frame_id=FRAME), good))
    np.testing.assert_allclose(xyz, xyz_good, atol=2e-3)


def test_bad_images_frame_ids_and_parameters_are_refused_with_the_reason(rig):
    rgb = load_photo(PHOTO)
    h, w = rgb.shape[:2]
    info = _info(w, h)
    # Empty frame_id: refused while default_frame_id is empty, then replaced (warned once).
    rig.publish_until_logged("header.frame_id is empty", image_message(rgb, sec=6000, frame_id=""))
    assert rig.set_parameter("default_frame_id", "cam_default").successful
    out = rig.send(image_message(rgb, sec=6001, frame_id=""), info)
    assert all(out["joints"][s][0].header.frame_id == "cam_default" for s in SIDES)
    assert {t.header.frame_id for t in out["tf"]} == {"cam_default"}
    assert rig.node.log().count("get 'cam_default' (default_frame_id)") == 1

    # Images too large (checked before decoding) and data of the wrong length.
    assert rig.set_parameter("max_image_pixels", 1000).successful
    try:
        rig.publish_until_logged(
            "640x640 = 409600 pixels is more than max_image_pixels=1000",
            image_message(rgb, sec=6002, frame_id=FRAME),
        )
    finally:
        assert rig.set_parameter("max_image_pixels", 40_000_000).successful
    longer = image_message(np.zeros((8, 10, 3), np.uint8), sec=6003, frame_id=FRAME)
    longer.data = bytes(longer.data) + b"\0" * 7
    rig.publish_until_logged("data has 247 bytes, more than height*step = 8*30 = 240", longer)
    four = image_message(np.zeros((8, 10, 3), np.uint8), sec=6004, frame_id=FRAME)
    four.step, four.data = 40, bytes(320)  # rgba data announced as rgb8
    rig.publish_until_logged("step 40 = width*4: 4 bytes per pixel, but 'rgb8' has 3", four)

    # SetParameters replies carry the reason, not rclpy's numeric type codes.
    wrong_type = rig.set_parameter("max_image_pixels", 2.5)
    assert not wrong_type.successful
    assert wrong_type.reason == "max_image_pixels must be of type int, got float 2.5"
    read_only = rig.set_parameter("max_hands", 3)
    assert (
        not read_only.successful and read_only.reason == "max_hands is read-only (fixed when the node starts)"
    )
    choice = rig.set_parameter("camera_info_fallback", "guess")
    assert not choice.successful and "is not one of 'last_valid'" in choice.reason
    assert rig.get_parameter("max_image_pixels") == 40_000_000

    log = rig.node.log()
    assert "unknown parameter 'max_hand' ignored (did you mean 'max_hands'?)" in log
    assert "mano_path is not a usable MANO model" in log and "not an .npz archive" in log
    out = rig.send(image_message(rgb, sec=6005, frame_id=FRAME), info)  # still answering
    assert len(_joints(out)) >= 21

    # Grey images are converted (replicated to RGB), with one warning that the detector finds fewer hands.
    grey = np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))  # (H, W)
    mono = Image(height=h, width=w, encoding="mono8", step=w, data=grey.tobytes())
    mono.header.stamp.sec, mono.header.frame_id = 6006, FRAME
    rig.send(mono, info)
    rig.send(image_message(rgb, sec=6007, frame_id=FRAME), info)
    assert rig.node.log().count("grey images (mono8): the MediaPipe hand detector is trained on colour") == 1


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "does not exist"),
        ("a: [b\n", "is not valid YAML at line 2"),
        ("- just\n- a list\n", "must map node names to 'ros__parameters' sections"),
    ],
)
def test_a_bad_params_file_stops_the_node_with_one_clear_line(ros_domain, tmp_path, contents, message):
    path = tmp_path / "params.yaml"
    if contents is not None:
        path.write_text(contents)
    cmd = [*hand_mesh_node_command(), "--params-file", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith(f"hand_mesh_node: error: params file {path} ") and message in lines[-1]
    assert "Traceback" not in proc.stderr
