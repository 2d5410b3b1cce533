"""The runner of each runtime (exported and checked as needed) and the runner as the pipeline deploys it."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from fast_hamer_core.bench.options import BenchOptions
from fast_hamer_core.runtime.base import RuntimeHandModel, RuntimeUnavailableError

log = logging.getLogger("fast_hamer_core.bench")


def make_runner(model, runtime: str, opts: BenchOptions, work_dir: Path) -> RuntimeHandModel:
    """The runner for ``runtime``: exports (and checks) ONNX / TensorRT files into ``work_dir`` as needed."""
    from fast_hamer_core import export
    from fast_hamer_core.runtime import OnnxRuntimeHandModel, TensorRTHandModel, TorchHandModel

    name = model.config.name
    if runtime == "torch":
        return TorchHandModel(model, device=opts.device, fp16=opts.fp16)
    if runtime == "onnxruntime":
        providers = "cuda" if opts.device.startswith("cuda") else "cpu"
        from fast_hamer_core.runtime.onnxruntime_model import resolve_providers

        resolve_providers(providers)  # fail fast, before exporting
        path = work_dir / f"{name}{'_int8' if opts.int8 else ''}.onnx"
        # int8 of random weights is checked with a wide bound: speed is the point here, accuracy is checked
        # on a trained checkpoint by `fast-hamer export --int8`.
        bound = {"atol": 0.5, "rtol": 0.5} if opts.int8 else {}
        export.export_onnx(
            model,
            path,
            exporter=opts.exporter,
            check_batches=(1,),
            threads=opts.threads,
            int8=opts.int8,
            **bound,
        )
        dev = torch.device(opts.device)
        # ONNX Runtime's own default (spinning worker threads) for the network alone; see pipeline_runner.
        return OnnxRuntimeHandModel(
            path, providers=providers, threads=opts.threads, device_id=dev.index or 0, spin=True
        )
    if not opts.device.startswith("cuda"):
        raise RuntimeUnavailableError("the tensorrt runtime needs --device cuda")
    path = work_dir / f"{name}{'_fp16' if opts.fp16 else ''}.engine"
    export.export_tensorrt(
        model,
        path,
        fp16=opts.fp16,
        max_batch=max(max(opts.batches), 8),
        exporter=opts.exporter,
        check_batches=(1,),
    )
    return TensorRTHandModel(path, device=opts.device)


def pipeline_runner(runner: RuntimeHandModel) -> RuntimeHandModel:
    """The runner as the pipeline deploys it: ONNX Runtime without spinning threads (they would take the
    cores from the detector between frames; see OnnxRuntimeHandModel's ``spin``); others unchanged."""
    from fast_hamer_core.runtime import OnnxRuntimeHandModel

    if isinstance(runner, OnnxRuntimeHandModel) and runner.spin:
        providers = "cuda" if runner.use_cuda else "cpu"
        quiet = OnnxRuntimeHandModel(
            runner.path, runner.config, runner.mano, providers, runner.threads, runner.device_id, spin=False
        )
        return quiet
    return runner
