"""image_source's frame reader, the recorder's summary and the pip-only runner (``fast-hamer-ros-run``)."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys

import cv2
import numpy as np
import pytest
import yaml
from fixtures.data import SHARED_DIR
from ros_harness import HANDS_DIR, REPO_ROOT, unique_domain_id

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.frames import FrameReader
from fast_hamer_ros.image_source import camera_info_for
from fast_hamer_ros.recorder import PublishedSummary
from fast_hamer_ros.run import ros_argument_value

PHOTOS = sorted(p for p in HANDS_DIR.iterdir() if p.suffix == ".jpg")


def test_folder_frames_in_name_order_as_rgb_and_looping():
    reader = FrameReader(str(HANDS_DIR))
    frames = list(reader.frames())
    assert reader.kind == "folder" and len(frames) == len(PHOTOS) == 5  # README.md is not an image
    expected = cv2.cvtColor(cv2.imread(str(PHOTOS[0])), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(frames[0], expected)
    looped = list(itertools.islice(FrameReader(str(HANDS_DIR), loop=True).frames(), 12))
    assert len(looped) == 12
    np.testing.assert_array_equal(looped[5], frames[0])
    small = next(FrameReader(str(PHOTOS[0]), resize_width=320).frames())
    assert small.shape[1] == 320 and abs(small.shape[0] / 320 - expected.shape[0] / expected.shape[1]) < 0.01


def test_video_file_frames_and_loop(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for value in (40, 120, 200):
        writer.write(np.full((48, 64, 3), value, np.uint8))
    writer.release()
    reader = FrameReader(str(path))
    frames = list(reader.frames())
    reader.close()
    assert reader.kind == "video" and len(frames) == 3
    assert [float(f.mean()) for f in frames] == pytest.approx([40, 120, 200], abs=3)
    looped = list(itertools.islice(FrameReader(str(path), loop=True).frames(), 7))
    assert len(looped) == 7 and abs(looped[3].mean() - 40) < 3


def test_bad_sources_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="input not found"):
        FrameReader(str(tmp_path / "missing.mp4"))
    with pytest.raises(FileNotFoundError, match="no images"):
        FrameReader(str(tmp_path))
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match=r"cannot read .* as a video"):
        FrameReader(str(tmp_path / "notes.mp4"))


def test_camera_info_for_an_ideal_camera():
    from std_msgs.msg import Header

    info = camera_info_for(640, 480, 0.0, Header(frame_id="cam"))
    assert list(info.k) == [640.0, 0.0, 320.0, 0.0, 640.0, 240.0, 0.0, 0.0, 1.0]
    assert (info.width, info.height, info.header.frame_id) == (640, 480, "cam")
    assert camera_info_for(640, 480, 500.0, Header()).k[0] == 500.0


def test_published_summary_counts_frames_hands_and_tf(tmp_path):
    summary = PublishedSummary()
    summary.joints("right", 10, 5, 21)
    summary.joints("left", 10, 5, 0)
    summary.joints("right", 11, 0, 0)
    summary.transforms([("cam", "right_wrist"), ("cam", "right_thumb_tip")])
    summary.diagnostics = {"mode": "landmarks", "model": "none"}
    path = tmp_path / "summary.json"
    summary.write(path)
    data = json.loads(path.read_text())
    assert data["mode"] == "landmarks" and data["frames_answered"] == 2 and data["frames_with_hands"] == 1
    assert data["frames"][0] == {"stamp": [10, 5], "hands": {"right": 21}}
    assert data["first_stamp"] == [10, 5] and data["last_stamp"] == [11, 0]
    assert data["tf_parent_frames"] == ["cam"] and data["tf_child_frames"] == [
        "right_thumb_tip",
        "right_wrist",
    ]
    assert data["message_counts"] == {"/tf": 1, "hands/left/joints": 1, "hands/right/joints": 2}


def _run(args: list[str], env: dict, timeout_s: float = 240.0) -> subprocess.CompletedProcess:
    """The runner; on a timeout it is interrupted as Ctrl-C would (it then stops its nodes, which would
    otherwise outlive it and keep waiting), killed if that takes too long, and the timeout raised."""
    cmd = [sys.executable, "-m", "fast_hamer_ros.run", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO_ROOT
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout_s, output=out, stderr=err) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def test_pip_only_runner_records_overlay_video_and_summary(tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["FAST_HAMER_DETECTOR_MODEL"] = str(ensure_detector_model())
    # An empty models directory: the YAML's default model name has no checkpoint -> landmarks-only.
    env["FAST_HAMER_MODELS"] = str(tmp_path / "models")
    out = tmp_path / "out"
    args = [str(HANDS_DIR), "--max-frames", "2", "--output", str(out), "--device", "cpu"]
    proc = _run([*args, "--domain-id", str(unique_domain_id())], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first_line = proc.stdout.splitlines()[0]
    assert first_line.startswith("landmarks-only mode: no trained checkpoint for 'mobilenetv3_large'")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mode"] == "landmarks" and summary["frames_answered"] == 2
    assert summary["frames_with_hands"] >= 1
    assert summary["tf_parent_frames"] == ["camera_optical"]
    assert "right_wrist" in summary["tf_child_frames"] or "left_wrist" in summary["tf_child_frames"]
    assert summary["overlay_images"] == 2 and len(list((out / "overlay").glob("*.jpg"))) == 2
    video = cv2.VideoCapture(str(out / "overlay.mp4"))
    assert video.isOpened() and int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == 2
    video.release()
    assert {p.name for p in (out / "logs").iterdir()} == {
        "hand_mesh_node.log",
        "hands_recorder.log",
        "image_source.log",
    }

    assert summary["pipeline_mode"] == "frame"  # an image folder: photos, searched in full

    clip = SHARED_DIR / "data" / "videos" / "human_hand_video.mp4"
    video_out = tmp_path / "video_out"
    args = [str(clip), "--max-frames", "12", "--resize-width", "640", "--output", str(video_out)]
    proc = _run([*args, "--device", "cpu", "--domain-id", str(unique_domain_id())], env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stream mode" in proc.stdout
    summary = json.loads((video_out / "summary.json").read_text())
    assert summary["pipeline_mode"] == "stream" and summary["frames_answered"] == 12
    assert float(summary["diagnostics"]["palm_searches_per_frame"]) < 1.0

    missing = _run(["--input", str(tmp_path / "nope.mp4"), "--out", str(out)], env)  # the Makefile's form
    assert missing.returncode == 1 and "input not found" in missing.stderr


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("", "''"),
        ("true", "'true'"),
        ("1.0", "'1.0'"),
        ("a: b", "'a: b'"),
        ("it's", "it's"),
        ("mobilenetv3_large", "mobilenetv3_large"),
        (True, "true"),
        (0.5, "0.5"),
        (3, "3"),
    ],
)
def test_parameter_override_text_is_read_back_as_the_same_value(value, text):
    """rcl reads ``-p name:=TEXT`` as YAML; the text must give back the value, with its type."""
    assert ros_argument_value(value) == text
    assert yaml.safe_load(text) == value and type(yaml.safe_load(text)) is type(value)


def test_runner_flags_override_the_params_file_and_unset_flags_keep_it():
    from fast_hamer_ros.run import build_parser, node_overrides

    parser = build_parser()
    args = parser.parse_args(["clip.mp4", "--detector", "yolo", "--detector-model", "/w/detector.pt"])
    assert node_overrides(args) == {"detector": "yolo", "detector_model": "/w/detector.pt"}
    args = parser.parse_args(["clip.mp4", "--checkpoint", "", "--managed"])
    assert node_overrides(args) == {"checkpoint": "", "managed": True}  # "" = landmarks-only, kept
    assert node_overrides(parser.parse_args(["clip.mp4"])) == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["clip.mp4", "--detector", "ssd"])
