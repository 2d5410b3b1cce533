"""One entry point for every runtime: :func:`load_runtime_model`."""

from __future__ import annotations

import os

import torch

from fast_hamer_core.runtime.base import RUNTIMES


def load_runtime_model(
    runtime: str,
    path: str | os.PathLike,
    mano: str | os.PathLike | object | None = None,
    device: str = "cpu",
    threads: int | None = None,
    torch_threads: int | None = None,
):
    """A model with the HandMeshModel interface, run by ``runtime``.

    Args:
        runtime: ``"torch"`` (``path`` = checkpoint, ours ``.pt`` or HaMeR ``.ckpt``; returns the
            HandMeshModel itself), ``"onnxruntime"`` (``path`` = ``.onnx`` from ``fast-hamer export``;
            CUDA execution provider when ``device`` is ``cuda[:N]``, else CPU) or ``"tensorrt"``
            (``path`` = engine from ``fast-hamer export --format tensorrt``; needs CUDA).
        mano: MANO file / directory, or a MANO21 layer; None -> no vertices / keypoints.
        device: ``cpu`` or ``cuda[:N]``.
        threads: CPU threads of ONNX Runtime (ignored by the others).
        torch_threads: onnxruntime on the CPU only: threads left to torch, which then only normalises
            crops and runs MANO (small tensors). Default 1: more torch threads only add OpenMP
            spin-waiting that takes the cores from ONNX Runtime and the detector (measured on 2 cores:
            MANO 1 ms with one torch thread, 50 ms with two next to a MediaPipe detector). This sets
            the process-wide ``torch.set_num_threads``; 0 leaves it alone.

    fp16 is a property of the engine (``fast-hamer export --fp16``) for TensorRT, and of the pipeline
    (``HandReconstructor(fp16=True)``: CUDA autocast) for torch.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    dev = torch.device(device)
    mano_layer = _as_mano(mano)
    if runtime == "torch":
        from fast_hamer_core.models import load_model

        model = load_model(path, mano_path=None, device=dev)
        if mano_layer is not None:
            model.set_mano(mano_layer)
        return model
    if runtime == "onnxruntime":
        from fast_hamer_core.runtime.onnxruntime_model import OnnxRuntimeHandModel

        providers = "cuda" if dev.type == "cuda" else "cpu"
        if providers == "cpu" and torch_threads != 0:
            torch.set_num_threads(torch_threads or 1)
        return OnnxRuntimeHandModel(
            path, mano=mano_layer, providers=providers, threads=threads, device_id=dev.index or 0
        )
    from fast_hamer_core.runtime.tensorrt_model import TensorRTHandModel

    return TensorRTHandModel(path, mano=mano_layer, device=dev if dev.type == "cuda" else "cuda")


def _as_mano(mano):
    """None, a MANO21 (returned as is), or a path -> MANO21."""
    if mano is None or isinstance(mano, torch.nn.Module):
        return mano
    from fast_hamer_core.mano import MANO21

    return MANO21(mano)
