"""TensorRT behind the same interface: without the ``tensorrt`` package every entry point says how to get it.

``sys.modules["tensorrt"] = None`` makes ``import tensorrt`` fail as on a machine without it, also where it is
installed. Building and running engines is checked on a GPU by ``fast_hamer_core/runtime/gpu_check.sh``.
"""

from __future__ import annotations

import sys

import pytest
import torch
from fixtures.cli import parse_cli

from fast_hamer_core.cli import export as export_cli
from fast_hamer_core.export import build_tensorrt_engine, export_tensorrt
from fast_hamer_core.models import create_model, get_config
from fast_hamer_core.runtime import RuntimeUnavailableError, TensorRTHandModel, load_runtime_model
from fast_hamer_core.runtime.metadata import (
    config_from_metadata,
    network_metadata,
    read_sidecar,
    sidecar_path,
    write_sidecar,
)


@pytest.fixture
def no_tensorrt(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def test_runner_without_tensorrt_says_how_to_get_it(no_tensorrt, tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0" * 16)
    with pytest.raises(
        RuntimeUnavailableError, match=r"needs the `tensorrt` Python package.*pip install tensorrt"
    ):
        TensorRTHandModel(engine)
    with pytest.raises(RuntimeUnavailableError, match="tensorrt"):
        load_runtime_model("tensorrt", engine, device="cpu")


def test_build_and_export_without_tensorrt_fail_before_any_work(no_tensorrt, tmp_path):
    with pytest.raises(RuntimeUnavailableError, match="tensorrt"):
        build_tensorrt_engine(tmp_path / "m.onnx", tmp_path / "m.engine")
    model = create_model("mobilenetv3_large").eval()
    with pytest.raises(RuntimeUnavailableError, match="tensorrt"):
        export_tensorrt(model, tmp_path / "m.engine")
    assert not (tmp_path / "m.onnx").exists()  # failed before the (slow) ONNX export


def test_export_cli_tensorrt_error_is_one_clear_line(no_tensorrt, tmp_path, capsys):
    from fast_hamer_core.cli import SUBCOMMANDS, main

    out = str(tmp_path / "m.engine")
    argv = ["export", "--model", "mobilenetv3_large", "--format", "tensorrt", "--out", out]
    args = parse_cli(export_cli, argv)
    with pytest.raises(RuntimeUnavailableError, match="tensorrt"):
        args.func(args)
    # Through the dispatcher (when it lists the command): exit code 2 and one line on stderr.
    if "export" in SUBCOMMANDS:
        code = main(argv)
        assert code == 2
        assert "tensorrt" in capsys.readouterr().err


def test_engine_metadata_sidecar_round_trip(tmp_path):
    engine = tmp_path / "student.engine"
    config = get_config("convnext_tiny")
    meta = network_metadata(config, ("pred_cam", "global_orient", "hand_pose", "betas"), source="x.pt")
    assert sidecar_path(engine) == tmp_path / "student.engine.json"
    with pytest.raises(FileNotFoundError, match="metadata file"):
        read_sidecar(engine)
    write_sidecar(engine, meta)
    assert config_from_metadata(read_sidecar(engine), str(engine)) == config
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        read_sidecar(engine)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_tensorrt_without_a_gpu_is_a_clear_error(tmp_path):
    from fast_hamer_core.runtime.tensorrt_model import require_cuda

    with pytest.raises(RuntimeUnavailableError, match="needs an NVIDIA GPU"):
        require_cuda("the tensorrt runtime")
