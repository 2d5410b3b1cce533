"""``fast-hamer bench`` on a tiny configuration: one tiny model, one repeat, both CPU runtimes, the pipeline
on a real photo with the real MediaPipe detector; table, JSON (documented columns) and plot are written."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fixtures.cli import parse_cli
from fixtures.data import HANDS_DIR
from fixtures.mano import write_synthetic_mano_npz
from fixtures.models import TINY_HEAD_64, registration_fixture, tiny_mobilenet_config

from fast_hamer_core import bench
from fast_hamer_core.cli import bench as bench_cli
from fast_hamer_core.detection import ensure_detector_model
from fast_hamer_core.models import create_model

TINY = tiny_mobilenet_config("tiny_bench_test", head=TINY_HEAD_64)
tiny_registered = registration_fixture(TINY, scope="module")


def test_bench_cli_tiny_run_writes_table_json_and_plot(tmp_path, capsys):
    mano = write_synthetic_mano_npz(tmp_path / "MANO_RIGHT.npz")
    args = parse_cli(
        bench_cli,
        [
            "bench",
            "--models",
            TINY.name,
            "--runtimes",
            "torch,onnxruntime",
            "--batch",
            "1,2",
            "--repeats",
            "1",
            "--warmup",
            "0",
            "--frames",
            "1",
            "--threads",
            "1",
            "--exporter",
            "torchscript",
            "--image",
            str(HANDS_DIR / "hamer_test5.jpg"),
            "--detector-model",
            str(ensure_detector_model()),
            "--mano",
            str(mano),
            "--out",
            str(tmp_path / "bench.json"),
            "--plot",
            str(tmp_path / "bench.png"),
        ],
    )
    assert args.func(args) == 0
    table = capsys.readouterr().out
    assert "Network latency" in table and "Pipeline end to end" in table and "x_torch" in table
    assert "AMD" in table or "Intel" in table or "CPUs" in table  # the device name heads the table

    doc = json.loads((tmp_path / "bench.json").read_text())
    params_m = sum(p.numel() for p in create_model(TINY.name).parameters()) / 1e6
    assert {(r["runtime"], r["batch"]) for r in doc["latency"]} == {
        ("torch", 1),
        ("torch", 2),
        ("onnxruntime", 1),
        ("onnxruntime", 2),
    }
    for row in doc["latency"]:
        assert set(doc["columns"]["latency"]) <= set(row)
        assert row["runs"] == 1 and 0 < row["median_ms"] <= row["p95_ms"]  # --repeats 1
        assert row["params_m"] == pytest.approx(params_m) and 0.01 < row["gflops"] < 1.0
        assert row["x_teacher"] is None  # no teacher in this run
    by_key = {(r["runtime"], r["batch"]): r for r in doc["latency"]}
    ort = by_key[("onnxruntime", 1)]
    assert ort["x_torch"] == pytest.approx(by_key[("torch", 1)]["median_ms"] / ort["median_ms"])

    assert len(doc["pipeline"]) == 2
    for row in doc["pipeline"]:
        assert set(doc["columns"]["pipeline"]) <= set(row)
        assert row["hands"] == 2  # the default photo at 640x480 shows two hands
        assert set(row["stages_ms"]) == set(bench.STAGES)
        assert sum(row["stages_share"].values()) == pytest.approx(1.0, abs=0.05)
        assert row["fps"] == pytest.approx(1e3 / row["median_ms"])
    assert doc["environment"]["pipeline_image"].endswith("640x480")
    png = (tmp_path / "bench.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_tensorrt_on_cpu_is_skipped_with_the_reason(tmp_path):
    opts = bench.BenchOptions(
        models=(TINY.name,),
        runtimes=("torch", "tensorrt"),
        batches=(1,),
        repeats=1,
        warmup=0,
        pipeline=False,
        threads=1,
    )
    result = bench.run_bench(opts, progress=lambda msg: None)
    assert [r["runtime"] for r in result.latency] == ["torch"]
    assert result.skipped and result.skipped[0]["runtime"] == "tensorrt"
    assert "--device cuda" in result.skipped[0]["reason"]
    assert "skipped tiny_bench_test / tensorrt" in bench.format_tables(result)


def test_ratios_against_torch_and_teacher():
    rows = [
        {"model": "hamer_vith", "runtime": "torch", "batch": 1, "median_ms": 2000.0},
        {"model": "s", "runtime": "torch", "batch": 1, "median_ms": 100.0},
        {"model": "s", "runtime": "onnxruntime", "batch": 1, "median_ms": 25.0},
    ]
    bench.add_ratios(rows, keys=("model", "runtime", "batch"))
    assert rows[1]["x_teacher"] == pytest.approx(20.0) and rows[1]["x_torch"] == pytest.approx(1.0)
    assert rows[2]["x_torch"] == pytest.approx(4.0)
    assert rows[2]["x_teacher"] == pytest.approx(80.0)  # teacher not run in ORT: its torch time


def test_bench_image_is_cropped_to_aspect_then_resized():
    image = bench.load_bench_image(HANDS_DIR / "hamer_test5.jpg", (640, 480))
    assert image.shape == (480, 640, 3) and image.dtype == np.uint8
    with pytest.raises(FileNotFoundError, match="cannot read image"):
        bench.load_bench_image(HANDS_DIR / "missing.jpg")


def test_missing_mano_falls_back_to_a_stand_in_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("FAST_HAMER_MODELS", str(tmp_path))
    notes: list[str] = []
    mano = bench.load_mano_or_stand_in(None, notes)
    assert mano.faces.shape == (1538, 3) and "stand-in" in notes[0]
    with pytest.raises(FileNotFoundError):
        bench.load_mano_or_stand_in(str(tmp_path / "nope.npz"), [])


def test_bad_options_are_clear_errors():
    with pytest.raises(ValueError, match="unknown runtime"):
        bench.BenchOptions(runtimes=("tflite",)).validate()
    with pytest.raises(ValueError, match="batch sizes"):
        bench.BenchOptions(batches=(0,)).validate()
    with pytest.raises(ValueError, match=r"neither a checkpoint \(file or run folder\) nor a registered"):
        bench.load_torch_model("no_such_model", "cpu")


def test_gflops_are_counted_per_crop():
    """ViT-H on 192 tokens: about 2 FLOPs per parameter per token (~240 G) plus attention and the head."""
    from fast_hamer_core.models import get_config

    teacher = bench.count_gflops(get_config("hamer_vith"))
    assert 240 < teacher < 265
    assert bench.count_gflops(get_config("mobilenetv3_large")) < teacher / 50
