"""The GPU check script parses, and its Python part runs its plumbing on the CPU (CUDA steps skipped)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from fixtures.models import TINY_HEAD_64, registration_fixture, tiny_mobilenet_config

from fast_hamer_core.runtime import gpu_check

SCRIPT = Path(gpu_check.__file__).with_name("gpu_check.sh")

TINY = tiny_mobilenet_config("tiny_gpu_check_test", head=TINY_HEAD_64)
tiny_registered = registration_fixture(TINY)


def test_script_is_valid_bash():
    assert SCRIPT.is_file()
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)


def test_cpu_plumbing_run_reports_parity_skips_and_bench(tmp_path, synthetic_mano_npz):
    args = gpu_check.build_parser().parse_args(
        [
            "--out",
            str(tmp_path),
            "--device",
            "cpu",
            "--models",
            TINY.name,
            "--trt-models",
            TINY.name,
            "--mano",
            str(synthetic_mano_npz),
            "--batch",
            "1",
            "--repeats",
            "1",
            "--frames",
            "1",
            "--budget",
            "120",
        ]
    )
    report = gpu_check.run_checks(args)
    assert report["ok"], report["failures"]
    rec = report["models"][TINY.name]
    assert rec["onnx_export_ort_cpu"]["ok"] and rec["onnx_export_ort_cpu"]["batch_sizes"] == [1, 3]
    # Pipeline through ONNX Runtime gives the torch model's hands (metres / pixels).
    assert rec["onnxruntime_cpu_pipeline"]["vertices_m"] < 1e-4
    assert rec["onnxruntime_cpu_pipeline"]["keypoints_2d_px"] < 0.05
    skipped = {(s["step"], s["reason"]) for s in report["skipped"]}
    assert ("torch_fp16_vs_fp32", "needs CUDA") in skipped and ("tensorrt", "needs CUDA") in skipped
    on_disk = json.loads((tmp_path / "gpu_check.json").read_text())
    assert on_disk["ok"] and on_disk["bench"]["runtimes"] == ["torch", "onnxruntime"]
    assert (tmp_path / "bench.json").is_file() and (tmp_path / "bench.png").is_file()
    assert "Network latency" in (tmp_path / "bench.txt").read_text()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU exit")
def test_main_without_a_gpu_exits_2(capsys):
    assert gpu_check.main(["--out", "unused"]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err


def test_environment_lists_runtimes():
    env = gpu_check.environment()
    assert env["torch"] == torch.__version__
    assert "CPUExecutionProvider" in env["onnxruntime_providers"]
    assert "tensorrt" in env
