"""``fast-hamer export`` end to end on the CPU: ONNX written, checked against torch, report printed."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from fixtures.cli import parse_cli
from fixtures.models import TINY_HEAD_64, registration_fixture, save_tiny_checkpoint, tiny_mobilenet_config

from fast_hamer_core.cli import export as export_cli
from fast_hamer_core.export import ExportParityError, default_output_path, export_onnx, load_for_export
from fast_hamer_core.models import create_model
from fast_hamer_core.runtime import OnnxRuntimeHandModel

#: A tiny student (registered only in this module) so that exports take seconds.
TINY = tiny_mobilenet_config("tiny_export_test", head=TINY_HEAD_64)
tiny_registered = registration_fixture(TINY, scope="module")


def _parse(*argv: str) -> argparse.Namespace:
    return parse_cli(export_cli, ["export", *argv])


def test_export_cli_from_a_checkpoint_prints_and_writes_the_parity_report(tmp_path, capsys):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny.pt", TINY.name)
    args = _parse(
        "--checkpoint", str(ckpt), "--exporter", "torchscript", "--report", str(tmp_path / "r.json")
    )
    assert args.func(args) == 0
    out = capsys.readouterr().out
    onnx_path = tmp_path / "tiny.onnx"  # default: beside the checkpoint
    assert f"wrote {onnx_path}" in out
    assert "batch 1" in out and "batch 3" in out and "max abs difference:" in out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] and report["batch_sizes"] == [1, 3]
    assert max(max(per.values()) for per in report["max_abs_diff"].values()) < 1e-3
    # The file runs in ONNX Runtime with the config taken from its own metadata.
    runner = OnnxRuntimeHandModel(onnx_path, threads=1)
    assert runner.config == TINY
    assert runner.run_network(torch.zeros(2, 3, 256, 256))["hand_pose"].shape == (2, 15, 3, 3)


def test_export_fails_loudly_over_the_bound(tmp_path):
    model = create_model(TINY.name).eval()
    with pytest.raises(ExportParityError, match=r"differs from torch beyond the bound: .*@batch1"):
        export_onnx(
            model, tmp_path / "t.onnx", exporter="torchscript", atol=1e-12, rtol=0.0, check_batches=(1,)
        )


def test_export_with_features_output(tmp_path):
    model = create_model(TINY.name).eval()
    result = export_onnx(
        model, tmp_path / "f.onnx", exporter="torchscript", with_features=True, check_batches=(2,)
    )
    assert result.parity.ok and "features" in result.parity.max_abs_diff
    out = OnnxRuntimeHandModel(result.path, threads=1).run_network(torch.zeros(1, 3, 256, 256))
    assert out["features"].shape == (1, 288, 8, 8)


def test_export_cli_user_errors(tmp_path):
    args = _parse("--model", TINY.name, "--fp16")
    with pytest.raises(ValueError, match="--fp16 applies to TensorRT"):
        args.func(args)
    args = _parse("--checkpoint", str(tmp_path / "missing.pt"))
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        args.func(args)
    with pytest.raises(ValueError, match="exactly one"):
        load_for_export(None, None)
    with pytest.raises(ValueError, match="exporter must be one of"):
        export_onnx(create_model(TINY.name), tmp_path / "x.onnx", exporter="tf")


def test_default_output_paths(tmp_path):
    assert default_output_path("onnx", tmp_path / "best.pt", None) == tmp_path / "best.onnx"
    assert default_output_path("tensorrt", tmp_path / "best.pt", None) == tmp_path / "best.engine"
    assert str(default_output_path("onnx", None, "mobilevit_s")) == "mobilevit_s.onnx"


def test_int8_export_is_smaller_runs_and_prints_its_parity(tmp_path, capsys):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny.pt", TINY.name)
    fp32 = tmp_path / "fp32.onnx"
    int8 = tmp_path / "int8.onnx"
    # A tiny random network quantizes worse than a trained one: a wide bound here (the check is the point).
    for out, extra in ((fp32, ()), (int8, ("--int8", "--atol", "0.5", "--seed", "0"))):
        args = _parse("--checkpoint", str(ckpt), "--exporter", "torchscript", "--out", str(out), *extra)
        assert args.func(args) == 0
    printed = capsys.readouterr().out
    assert "max abs difference:" in printed and "OK" in printed
    assert not (tmp_path / "int8.fp32.onnx").exists()  # the float file it came from is gone
    runner = OnnxRuntimeHandModel(int8, threads=1)
    assert runner.config == TINY
    x = torch.zeros(2, 3, 256, 256)
    q, f = runner.run_network(x), OnnxRuntimeHandModel(fp32, threads=1).run_network(x)
    diff = float((q["hand_pose"] - f["hand_pose"]).abs().max())
    assert 0.0 < diff < 0.1  # quantized: close to float32, not equal
    import onnx

    graph = onnx.load(str(int8))
    props = {p.key: p.value for p in graph.metadata_props}
    assert props["fast_hamer.precision"] == "int8"
    ops = {node.op_type for node in graph.graph.node}
    assert "MatMulInteger" in ops and "DynamicQuantizeLinear" in ops  # the head's matrices are int8 now
    assert "MatMulInteger" not in {node.op_type for node in onnx.load(str(fp32)).graph.node}
    with pytest.raises(ValueError, match="--int8 applies to ONNX"):
        bad = _parse("--checkpoint", str(ckpt), "--format", "tensorrt", "--int8")
        bad.func(bad)
