"""Runners for the exported hand-mesh network: torch, ONNX Runtime (CPU / CUDA) and TensorRT.

Each runner has the HandMeshModel interface that :class:`~fast_hamer_core.pipeline.HandReconstructor` uses
(``__call__(crops) -> HaMeR's output dict``, ``config``, ``mano``), so the pipeline and the ROS node run
any of them unchanged. The network (backbone + head) runs in the runtime; MANO runs in torch afterwards
(:func:`~fast_hamer_core.runtime.base.decode_outputs`; why MANO stays outside: see that module).

Typical use::

    from fast_hamer_core.runtime import load_runtime_model
    model = load_runtime_model("onnxruntime", "mobilenetv3_large.onnx", mano="MANO_RIGHT.npz")
    recon = HandReconstructor(detector=..., model=model)

The runtime packages are imported lazily: a missing ``onnxruntime`` or ``tensorrt`` only matters when
that runtime is asked for, and then raises :class:`RuntimeUnavailableError` saying how to get it.
"""

from __future__ import annotations

from fast_hamer_core.runtime.base import (
    FEATURES_OUTPUT,
    INPUT_NAME,
    NETWORK_OUTPUTS,
    RUNTIMES,
    RuntimeHandModel,
    RuntimeUnavailableError,
    decode_outputs,
)
from fast_hamer_core.runtime.loader import load_runtime_model
from fast_hamer_core.runtime.onnxruntime_model import OnnxRuntimeHandModel
from fast_hamer_core.runtime.tensorrt_model import TensorRTHandModel
from fast_hamer_core.runtime.torch_model import HandNetwork, TorchHandModel

__all__ = [
    "FEATURES_OUTPUT",
    "INPUT_NAME",
    "NETWORK_OUTPUTS",
    "RUNTIMES",
    "HandNetwork",
    "OnnxRuntimeHandModel",
    "RuntimeHandModel",
    "RuntimeUnavailableError",
    "TensorRTHandModel",
    "TorchHandModel",
    "decode_outputs",
    "load_runtime_model",
]
