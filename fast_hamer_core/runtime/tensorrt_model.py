"""TensorRT runner: a serialized engine (built by ``fast-hamer export --format tensorrt``) on a CUDA GPU.

Inputs and outputs are torch CUDA tensors whose memory TensorRT reads and writes directly
(``set_tensor_address`` + ``execute_async_v3`` on the current torch stream; TensorRT >= 8.5).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from fast_hamer_core.runtime.base import (
    INPUT_NAME,
    RuntimeHandModel,
    RuntimeUnavailableError,
)
from fast_hamer_core.runtime.metadata import config_from_metadata, read_sidecar

if TYPE_CHECKING:
    from fast_hamer_core.mano import MANO21
    from fast_hamer_core.models.config import ModelConfig

TENSORRT_HINT = (
    "install NVIDIA TensorRT's Python package matching your CUDA (e.g. `pip install tensorrt-cu12`, or the "
    "JetPack / TensorRT tarball wheels) on a machine with an NVIDIA GPU; or use runtime 'onnxruntime' "
    "or 'torch'"
)


def import_tensorrt():
    """The ``tensorrt`` module, or RuntimeUnavailableError saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise RuntimeUnavailableError(
            f"the tensorrt runtime needs the `tensorrt` Python package: {TENSORRT_HINT}"
        ) from exc
    return tensorrt


def require_cuda(what: str) -> None:
    """RuntimeUnavailableError unless torch sees a CUDA GPU."""
    if not torch.cuda.is_available():
        raise RuntimeUnavailableError(f"{what} needs an NVIDIA GPU with CUDA, and torch sees none here")


def _torch_dtype(trt, dtype) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32}
    if dtype not in table:
        raise ValueError(f"unsupported TensorRT tensor dtype {dtype}")
    return table[dtype]


class TensorRTHandModel(RuntimeHandModel):
    """HandMeshModel interface on a TensorRT engine (network only; MANO in torch on the same GPU).

    Args:
        engine_path: the serialized engine; its metadata (``<engine>.json``) beside it.
        config: ModelConfig; default: from the metadata file.
        mano: MANO21 layer (or None).
        device: CUDA device (default ``cuda:0``).
    """

    runtime = "tensorrt"

    def __init__(
        self,
        engine_path: str | os.PathLike,
        config: ModelConfig | None = None,
        mano: MANO21 | None = None,
        device: str | torch.device = "cuda",
    ) -> None:
        trt = import_tensorrt()
        require_cuda("the tensorrt runtime")
        path = Path(engine_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"TensorRT engine not found: {path}")
        if config is None:
            config = config_from_metadata(read_sidecar(path), str(path))
        device = torch.device(device)
        if device.type != "cuda":
            raise ValueError(f"the tensorrt runtime runs on a CUDA device, got {device}")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        super().__init__(config, mano, device)
        self.path = path
        self._trt = trt
        self._logger = trt.Logger(trt.Logger.WARNING)
        with torch.cuda.device(self.device):
            self._runtime = trt.Runtime(self._logger)
            self.engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
            if self.engine is None:
                raise ValueError(
                    f"{path} is not a TensorRT engine this TensorRT ({trt.__version__}) and GPU can load "
                    "(engines are specific to the TensorRT version and the GPU model: rebuild it here)"
                )
            self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        inputs = [n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        self._set_network_io(path, inputs, names)
        self._input_dtype = _torch_dtype(trt, self.engine.get_tensor_dtype(INPUT_NAME))

    def run_network(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        x = crops.detach().to(self.device, self._input_dtype).contiguous()
        if not self.context.set_input_shape(INPUT_NAME, tuple(x.shape)):
            raise ValueError(f"{self.path}: batch {x.shape[0]} is outside the engine's optimisation profile")
        self.context.set_tensor_address(INPUT_NAME, x.data_ptr())
        outputs: dict[str, torch.Tensor] = {}
        for name in self._outputs:
            shape = tuple(self.context.get_tensor_shape(name))
            dtype = _torch_dtype(self._trt, self.engine.get_tensor_dtype(name))
            outputs[name] = torch.empty(shape, dtype=dtype, device=self.device)
            self.context.set_tensor_address(name, outputs[name].data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError(f"{self.path}: TensorRT execution failed")
        return {name: t.float() for name, t in outputs.items()}
