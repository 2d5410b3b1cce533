"""``python -m fast_hamer_core.bench.retarget``: real hands from the webcam clip, the real optimiser on a
robot hand the test writes, a table of solve times (the numbers themselves are not asserted)."""

from __future__ import annotations

from fixtures.data import SHARED_DIR
from fixtures.robot_hand import write_retarget_config, write_robot_hand

from fast_hamer_core.bench.retarget import main
from fast_hamer_core.detection.assets import ensure_detector_model


def test_bench_prints_one_row_per_config(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FAST_HAMER_DETECTOR_MODEL", str(ensure_detector_model()))
    write_robot_hand(tmp_path)
    config = write_retarget_config(tmp_path / "three_finger.yml", "test_hand.urdf", "vector")
    video = SHARED_DIR / "data" / "videos" / "human_hand_video.mp4"
    args = ["--video", str(video), "--max-frames", "8", "--urdf-dir", str(tmp_path), "--config", str(config)]
    assert main([*args, "--side", "right"]) == 0
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("config"))
    assert header.split() == ["config", "side", "dof", "frames", "mean", "ms", "p50", "ms", "p95", "ms"]
    (row,) = [line.split() for line in out.splitlines() if line.startswith("three_finger")]
    assert row[1] == "right" and row[2] == "6" and int(row[3]) >= 1 and float(row[4]) > 0


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["--video", str(tmp_path / "none.mp4"), "--urdf-dir", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err
