"""``fast-hamer bench --stream`` on a tiny configuration: both modes on the same frames (a moving sequence
of a real photo, and the real webcam clip), the documented stream columns, the stream table."""

from __future__ import annotations

import json

import pytest
from fixtures.cli import parse_cli
from fixtures.data import HANDS_DIR, SHARED_DIR
from fixtures.mano import write_synthetic_mano_npz
from fixtures.models import TINY_HEAD_64, registration_fixture, tiny_mobilenet_config

from fast_hamer_core import bench
from fast_hamer_core.cli import bench as bench_cli
from fast_hamer_core.detection import ensure_detector_model

TINY = tiny_mobilenet_config("tiny_stream_bench", head=TINY_HEAD_64)
tiny_registered = registration_fixture(TINY, scope="module")
STREAM_KEYS = {
    "mode",
    "fps",
    "latency_p50_ms",
    "latency_p95_ms",
    "palm_searches_per_frame",
    "mirror_passes_per_frame",
    "all_hands_fraction",
    "side_changes",
    "x_frame",
}


def _bench(tmp_path, *extra: str) -> dict:
    mano = write_synthetic_mano_npz(tmp_path / "MANO_RIGHT.npz")
    args = parse_cli(
        bench_cli,
        [
            "bench",
            "--models",
            TINY.name,
            "--runtimes",
            "torch",
            "--batch",
            "1",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--stream",
            "--rate",
            "60",
            "--detector-model",
            str(ensure_detector_model()),
            "--mano",
            str(mano),
            "--out",
            str(tmp_path / "bench.json"),
            *extra,
        ],
    )
    assert args.func(args) == 0
    return json.loads((tmp_path / "bench.json").read_text())


def test_stream_bench_times_both_modes_on_a_moving_sequence(tmp_path, capsys):
    doc = _bench(tmp_path, "--input", str(HANDS_DIR / "hamer_test5.jpg"), "--stream-frames", "12")
    table = capsys.readouterr().out
    assert "Stream (" in table and "palm/frame" in table and "stage times per frame" in table
    rows = {r["mode"]: r for r in doc["pipeline"]}
    assert set(rows) == {"frame", "stream"}
    for row in rows.values():
        assert set(row) >= STREAM_KEYS
        assert set(row) >= set(doc["columns"]["pipeline"]) | set(doc["columns"]["stream"])
        assert row["frames"] == 12 and row["fps"] > 0
        assert 0 < row["latency_p50_ms"] <= row["latency_p95_ms"]
        assert set(row["stages_ms"]) == set(bench.STAGES)
        assert row["side_changes"] == 0
    frame, stream = rows["frame"], rows["stream"]
    assert frame["palm_searches_per_frame"] == 1.0 and frame["mirror_passes_per_frame"] == 1.0
    assert frame["all_hands_fraction"] == 1.0 and frame["hands"] == 2.0
    assert stream["palm_searches_per_frame"] <= 0.25  # frame 0 and frame 10 of 12
    assert stream["mirror_passes_per_frame"] <= 0.5
    assert stream["all_hands_fraction"] >= 0.9
    assert stream["x_frame"] == pytest.approx(stream["fps"] / frame["fps"])
    assert "moving sequence of 12 frames" in doc["environment"]["stream_input"]


def test_stream_bench_reads_a_video(tmp_path):
    doc = _bench(
        tmp_path,
        "--input",
        str(SHARED_DIR / "data" / "videos" / "human_hand_video.mp4"),
        "--stream-frames",
        "6",
    )
    assert [r["mode"] for r in doc["pipeline"]] == ["frame", "stream"]
    assert all(r["frames"] == 6 for r in doc["pipeline"])
    assert "first 6 frames (video)" in doc["environment"]["stream_input"]


def test_stream_needs_the_real_detector():
    with pytest.raises(ValueError, match="real detector"):
        bench.BenchOptions(stream=True, detector="none").validate()
