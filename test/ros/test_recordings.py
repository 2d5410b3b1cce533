"""Bags in and out: image_source plays rosbag2 bags (sqlite3 / MCAP, raw / compressed, CameraInfo, depth) with
their stamps and rate; hands_recorder writes an MCAP that rosbags reads back as it was published; and the
pip-only runner does both on a bag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from fixtures.bags import write_camera_bag
from geometry_msgs.msg import Pose, PoseArray, TransformStamped
from ros_harness import REPO_ROOT, NodeProcess, RosPeer, load_photo, unique_domain_id
from rosbags.rosbag2 import Reader
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from tf2_msgs.msg import TFMessage

from fast_hamer_core.bags import typestore
from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.frames import moving_sequence
from fast_hamer_ros.image_conversion import compressed_to_rgb, depth_to_metres, image_to_rgb
from fast_hamer_ros.tf_publisher import TF_QOS


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _process(tmp_path, module: str, params: dict[str, str], name: str) -> NodeProcess:
    args = [sys.executable, "-m", module, "--ros-args"]
    for key, value in params.items():
        args += ["-p", f"{key}:={value}"]
    return NodeProcess(args, tmp_path / f"{name}.log", _env())


def _stamp_sec(msg) -> int:
    return msg.transforms[0].header.stamp.sec if hasattr(msg, "transforms") else msg.header.stamp.sec


def _read_bag(path) -> list[tuple[str, int, object]]:
    store = typestore()
    with Reader(path) as reader:
        return [(c.topic, t, store.deserialize_cdr(raw, c.msgtype)) for c, t, raw in reader.messages()]


@pytest.fixture(scope="module")
def sequence() -> list[np.ndarray]:
    return list(moving_sequence(load_photo("hamer_test5.jpg"), 5, size=(320, 240)))


def test_image_source_plays_a_sqlite3_bag_with_its_stamps_rate_camera_info_and_depth(
    tmp_path, ros_domain, sequence
):
    depth_mm = np.full((240, 320), 450, np.uint16)
    stamps = write_camera_bag(
        tmp_path / "cam", sequence, storage="sqlite3", compressed=True, fps=5.0, fx=410.0, depth_mm=depth_mm
    )
    peer = RosPeer(ros_domain)
    images, infos, depths = [], [], []
    arrived: list[float] = []
    peer.node.create_subscription(
        CompressedImage,
        "image/compressed",
        lambda m: (images.append(m), arrived.append(time.monotonic())),
        10,
    )
    peer.node.create_subscription(CameraInfo, "camera_info", infos.append, 10)
    peer.node.create_subscription(Image, "depth", depths.append, 10)
    source = _process(
        tmp_path,
        "fast_hamer_ros.image_source",
        {"source": str(tmp_path / "cam"), "compressed": "true", "wait_for_subscriber": "true"},
        "image_source",
    )
    try:
        assert peer.spin_until(lambda: not source.alive(), 60.0), source.log()  # it ends with the bag
        peer.spin_until(lambda: len(images) == len(infos) == len(depths) == 5, 2.0)
    finally:
        source.stop()
        peer.close()

    def stamps_of(msgs) -> list[int]:
        return [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]

    # The bag's stamps in order; the very first message of a topic may be lost while DDS discovery completes.
    for received in (images, infos, depths):
        assert len(received) >= 4 and stamps_of(received) == stamps[-len(received) :], source.log()
    assert {m.header.frame_id for m in images} == {"camera_color_optical_frame"}
    frame = stamps.index(stamps_of(images)[-1])
    assert np.abs(compressed_to_rgb(images[-1]).astype(int) - sequence[frame]).mean() < 6  # JPEG twice
    assert np.median(np.diff(arrived)) == pytest.approx(0.2, abs=0.08)  # the recorded 5 Hz
    assert infos[-1].k[0] == 410.0 and infos[-1].k[2] == 159.5  # the bag's CameraInfo, unchanged
    assert np.nanmedian(depth_to_metres(depths[-1])) == pytest.approx(0.45)
    assert "playing bag" in source.log() and "/camera/aligned_depth_to_color/image_raw" in source.log()


def test_lockstep_waits_for_every_listener_of_the_answers(tmp_path, ros_domain, sequence):
    """With answer_subscribers=2 (the runner's: the source and its recorder) the source sends nothing
    while only it listens to the answers, however long the node has been up; a second listener (this
    test, as the recorder) lets the first frame go."""
    write_camera_bag(tmp_path / "cam", sequence[:2], storage="sqlite3")
    peer = RosPeer(ros_domain)
    images: list = []
    peer.node.create_subscription(Image, "image", images.append, 10)
    answers = peer.node.create_publisher(PoseArray, "hands/right/joints", 10)  # the "node" that answers
    source = _process(
        tmp_path,
        "fast_hamer_ros.image_source",
        {"source": str(tmp_path / "cam"), "lockstep": "true", "answer_subscribers": "2"},
        "image_source",
    )
    try:
        assert peer.spin_until(lambda: answers.get_subscription_count() == 1, 30.0), source.log()
        assert not peer.spin_until(lambda: bool(images), 4.0)  # the settle time (1 s) is long past
        peer.node.create_subscription(PoseArray, "hands/right/joints", lambda m: None, 10)
        assert peer.spin_until(lambda: bool(images), 15.0), source.log()
    finally:
        source.stop()
        peer.close()


def test_image_source_names_the_topics_of_an_ambiguous_bag(tmp_path, ros_domain, sequence):
    write_camera_bag(tmp_path / "cam", sequence[:1], extra_image_topics=["/camera/infra1/image_rect_raw"])
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "fast_hamer_ros.image_source",
            "--ros-args",
            "-p",
            f"source:={tmp_path / 'cam'}",
        ],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert proc.returncode == 1
    assert (
        "2 colour image topics" in proc.stderr
        and "/camera/infra1/image_rect_raw  [sensor_msgs/msg/Image]" in proc.stderr
    )


def test_recorder_writes_an_mcap_that_reads_back_as_published(tmp_path, ros_domain):
    peer = RosPeer(ros_domain)
    n = peer.node
    joints_pub = n.create_publisher(PoseArray, "hands/right/joints", 10)
    tf_pub = n.create_publisher(TFMessage, "/tf", TF_QOS)
    image_pub = n.create_publisher(Image, "image", 10)
    info_pub = n.create_publisher(CameraInfo, "camera_info", 10)
    recorder = _process(
        tmp_path,
        "fast_hamer_ros.recorder",
        {
            "output_dir": str(tmp_path / "out"),
            "record_path": str(tmp_path / "rec.mcap"),
            "save_video": "false",
        },
        "recorder",
    )
    rng = np.random.default_rng(0)
    summary_path = tmp_path / "out" / "summary.json"
    topics = ("/camera_info", "/hands/right/joints", "/image", "/tf")

    def recorded() -> dict[str, int]:
        try:
            return json.loads(summary_path.read_text())["recording"]["message_counts"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def publish_round(sec: int) -> PoseArray:
        msg = PoseArray()
        msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id = sec, 5, "cam"
        for p in rng.uniform(-0.3, 0.6, (21, 3)):
            pose = Pose()
            pose.position.x, pose.position.y, pose.position.z = (float(v) for v in p)
            pose.orientation.w = 1.0
            msg.poses.append(pose)
        joints_pub.publish(msg)
        t = TransformStamped()
        t.header, t.child_frame_id = msg.header, "right_wrist"
        t.transform.translation.x = msg.poses[0].position.x
        t.transform.rotation.w = 1.0
        tf_pub.publish(TFMessage(transforms=[t]))
        rgb = np.full((48, 64, 3), 40 * (sec - 99), np.uint8)
        image_pub.publish(
            Image(header=msg.header, height=48, width=64, encoding="rgb8", step=192, data=rgb.tobytes())
        )
        info = CameraInfo(header=msg.header, width=64, height=48)
        info.k = [70.0, 0.0, 32.0, 0.0, 70.0, 24.0, 0.0, 0.0, 1.0]
        info_pub.publish(info)
        return msg

    try:
        for pub in (joints_pub, tf_pub, image_pub, info_pub):
            assert peer.spin_until(lambda p=pub: p.get_subscription_count() > 0 or not recorder.alive(), 60.0)
        assert recorder.alive(), recorder.log()
        # Warm-up rounds (stamp 99) until every topic is recorded: DDS discovery may lose the first ones.
        deadline = time.monotonic() + 30.0
        while not all(recorded().get(t, 0) for t in topics) and time.monotonic() < deadline:
            publish_round(99)
            peer.spin_until(lambda: False, 0.3)
        published = [publish_round(100 + i) for i in range(3)]
        stable: list = [None, time.monotonic()]

        def settled() -> bool:  # every topic has its warm-up + 3 and nothing changed for 1.5 s
            counts = recorded()
            if counts != stable[0]:
                stable[:] = [counts, time.monotonic()]
            return all(counts.get(t, 0) >= 4 for t in topics) and time.monotonic() - stable[1] > 1.5

        assert peer.spin_until(settled, 20.0), recorded()
    finally:
        assert recorder.stop() == 0, recorder.log()
        peer.close()
    summary = json.loads(summary_path.read_text())
    assert summary["recording"]["mcap"] == str(tmp_path / "rec" / "rec.mcap")
    everything = _read_bag(tmp_path / "rec")
    assert summary["recording"]["message_counts"] == {
        t: sum(1 for x, _, _ in everything if x == t) for t in topics
    }
    got = [(t, log, m) for t, log, m in everything if _stamp_sec(m) >= 100]  # after the warm-up
    joints = [m for topic, _, m in got if topic == "/hands/right/joints"]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in joints] == [(100, 5), (101, 5), (102, 5)]
    for read, sent in zip(joints, published, strict=True):
        values = [[p.position.x, p.position.y, p.position.z] for p in read.poses]
        assert values == [[p.position.x, p.position.y, p.position.z] for p in sent.poses]  # bit-exact
    tf = [m for topic, _, m in got if topic == "/tf"]
    assert [m.transforms[0].child_frame_id for m in tf] == ["right_wrist"] * 3
    assert tf[1].transforms[0].transform.translation.x == published[1].poses[0].position.x
    images = [m for topic, _, m in got if topic == "/image"]
    assert [int(image_to_rgb(m)[0, 0, 0]) for m in images] == [40, 80, 120]
    assert next(list(m.k) for topic, _, m in got if topic == "/camera_info")[0] == 70.0
    log_times = [t for _, t, _ in got]
    assert log_times == sorted(log_times) and abs(log_times[0] / 1e9 - time.time()) < 120  # arrival times


def test_pip_only_runner_plays_a_bag_and_records_it(tmp_path, sequence):
    photo = load_photo("hamer_test5.jpg")
    frames = list(moving_sequence(photo, 6, size=(640, 480)))
    stamps = write_camera_bag(tmp_path / "cam.mcap", frames, fps=10.0, fx=520.0)
    env = _env()
    env["FAST_HAMER_DETECTOR_MODEL"] = str(ensure_detector_model())
    env["FAST_HAMER_MODELS"] = str(tmp_path / "models")  # no checkpoint: landmarks-only
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "fast_hamer_ros.run",
        str(tmp_path / "cam.mcap"),
        "--output",
        str(out),
        "--device",
        "cpu",
        "--record",
        "hands.mcap",
        "--domain-id",
        str(unique_domain_id()),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stream mode" in proc.stdout and "bag " in proc.stdout
    assert f"recording: {out / 'hands' / 'hands.mcap'}" in proc.stdout and "fast-hamer view" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pipeline_mode"] == "stream" and summary["frames_answered"] == 6
    assert summary["first_stamp"] == list(divmod(stamps[0], 10**9))  # the bag's own stamps
    got = _read_bag(out / "hands")
    counts: dict[str, int] = {}
    for topic, _, _ in got:
        counts[topic] = counts.get(topic, 0) + 1
    assert counts == summary["recording"]["message_counts"]
    for topic in ("hands/right/joints", "hands/left/joints", "hands/markers", "/tf"):
        assert counts["/" + topic.lstrip("/")] == summary["message_counts"][topic]
    # Every input frame once, or more when lockstep re-sent one the node had not taken (the wire is recorded).
    image_stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for t, _, m in got if t == "/image"]
    assert set(image_stamps) == set(stamps) and counts["/camera_info"] == len(image_stamps)
    assert counts["/hands/overlay"] == 6
    info = next(m for topic, _, m in got if topic == "/camera_info")
    assert info.k[0] == 520.0  # the bag's CameraInfo went to the node
    joint_stamps = {
        m.header.stamp.sec * 10**9 + m.header.stamp.nanosec
        for topic, _, m in got
        if topic == "/hands/right/joints"
    }
    assert joint_stamps == set(stamps)
    overlay = next(m for topic, _, m in got if topic == "/hands/overlay")
    assert image_to_rgb(overlay).shape == (480, 640, 3)
    assert cv2.VideoCapture(str(out / "overlay.mp4")).isOpened()


def test_runner_turns_depth_on_for_a_bag_with_depth_and_off_when_asked(tmp_path, sequence):
    import argparse

    from fast_hamer_ros.run import bag_source_parameters

    write_camera_bag(tmp_path / "cam", sequence[:2], depth_mm=np.full((240, 320), 500, np.uint16))
    args = argparse.Namespace(
        input=str(tmp_path / "cam"), image_topic="", info_topic="", depth_topic="", playback_rate=2.0
    )
    overrides: dict = {}
    params = bag_source_parameters(args, overrides)
    assert overrides == {"depth.enabled": True}
    assert params == {
        "image_topic": "/camera/color/image_raw",
        "info_topic": "/camera/color/camera_info",
        "depth_topic": "/camera/aligned_depth_to_color/image_raw",
        "playback_rate": 2.0,
    }
    args.depth_topic, overrides = "none", {}
    assert bag_source_parameters(args, overrides)["depth_topic"] == "none" and overrides == {}
