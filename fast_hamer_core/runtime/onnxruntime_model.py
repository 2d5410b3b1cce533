"""ONNX Runtime runner: the exported network in an ``InferenceSession`` (CPU or CUDA execution provider)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from fast_hamer_core.runtime.base import (
    INPUT_NAME,
    RuntimeHandModel,
    RuntimeUnavailableError,
)
from fast_hamer_core.runtime.metadata import config_from_metadata

if TYPE_CHECKING:
    from fast_hamer_core.mano import MANO21
    from fast_hamer_core.models.config import ModelConfig

log = logging.getLogger(__name__)

#: Short provider names accepted besides ONNX Runtime's own (``"CUDAExecutionProvider"``, ...).
PROVIDER_ALIASES: dict[str, str] = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
}


def import_onnxruntime():
    """The ``onnxruntime`` module, or RuntimeUnavailableError saying how to get it."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise RuntimeUnavailableError(
            "the onnxruntime runtime needs the `onnxruntime` package (CPU) or `onnxruntime-gpu` (CUDA): "
            "pip install onnxruntime"
        ) from exc
    return onnxruntime


def resolve_providers(providers: str | Sequence[str]) -> list[str]:
    """``"cpu"`` / ``"cuda"`` / ONNX Runtime names (one, a comma list, or a sequence) -> ONNX Runtime names.

    CPU is appended as the fallback for nodes another provider does not implement. RuntimeUnavailableError
    if a requested provider is not in this onnxruntime build (e.g. CUDA with the CPU-only package).
    """
    ort = import_onnxruntime()
    items = providers.split(",") if isinstance(providers, str) else list(providers)
    names = [PROVIDER_ALIASES.get(p.strip().lower(), p.strip()) for p in items if p.strip()]
    if not names:
        raise ValueError("no ONNX Runtime execution provider given")
    available = ort.get_available_providers()
    missing = [n for n in names if n not in available]
    if missing:
        hint = " (install onnxruntime-gpu for CUDA)" if "CUDAExecutionProvider" in missing else ""
        raise RuntimeUnavailableError(
            f"ONNX Runtime execution provider(s) {missing} not available in this onnxruntime build{hint}; "
            f"available: {available}"
        )
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")
    return names


class OnnxRuntimeHandModel(RuntimeHandModel):
    """HandMeshModel interface on an ONNX file written by ``fast-hamer export`` (network only, MANO in torch).

    Args:
        onnx_path: the ``.onnx`` file (its external-data file, for >2 GB models, beside it).
        config: the model's ModelConfig; default: read from the file's metadata.
        mano: MANO21 layer (or None: no vertices / keypoints in the output).
        providers: ``"cpu"``, ``"cuda"`` or ONNX Runtime provider names (see :func:`resolve_providers`).
        threads: intra-op CPU threads (default: ONNX Runtime's choice, one per physical core).
        device_id: GPU index for the CUDA provider.
        spin: let ONNX Runtime's idle worker threads busy-wait for the next call (ONNX Runtime's own
            default). Off here: in the pipeline the spinning threads take the cores from the detector that
            runs between two network calls. Measured on 2 cores (mobilenetv3, batch 1): network alone 9.7 ms
            spinning vs 13.9 ms not, but the whole 640x480 frame 82.5 vs 80.1 ms.

    With the CUDA provider, crops already on the GPU are bound in place (IO binding, no host copy of the
    input); outputs are small and come back through the host.
    """

    runtime = "onnxruntime"

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        config: ModelConfig | None = None,
        mano: MANO21 | None = None,
        providers: str | Sequence[str] = "cpu",
        threads: int | None = None,
        device_id: int = 0,
        spin: bool = False,
    ) -> None:
        ort = import_onnxruntime()
        path = Path(onnx_path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        names = resolve_providers(providers)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
        provider_options = [
            {"device_id": str(device_id)} if n == "CUDAExecutionProvider" else {} for n in names
        ]
        try:
            session = ort.InferenceSession(
                str(path), sess_options=options, providers=names, provider_options=provider_options
            )
        except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
            raise ValueError(f"{path} is not a loadable ONNX model: {type(exc).__name__}: {exc}") from exc
        got = session.get_providers()
        if names[0] not in got:  # ONNX Runtime falls back to CPU silently when a provider fails to load
            raise RuntimeUnavailableError(f"{path}: ONNX Runtime could not start {names[0]} (running: {got})")
        if config is None:
            config = config_from_metadata(session.get_modelmeta().custom_metadata_map, str(path))
        self.use_cuda = names[0] == "CUDAExecutionProvider"
        super().__init__(config, mano, f"cuda:{device_id}" if self.use_cuda else "cpu")
        self.path = path
        self.threads = threads
        self.spin = spin
        self.device_id = device_id
        self.session = session
        self.providers = got
        self._check_signature()

    def _check_signature(self) -> None:
        self._set_network_io(
            self.path,
            [i.name for i in self.session.get_inputs()],
            [o.name for o in self.session.get_outputs()],
            hint=" (export it with `fast-hamer export`)",
        )

    def run_network(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        crops = crops.detach().float()
        if self.use_cuda and crops.is_cuda:
            arrays = self._run_bound(crops.contiguous())
        else:
            x = np.ascontiguousarray(crops.cpu().numpy())
            arrays = self.session.run(list(self._outputs), {INPUT_NAME: x})
        return {
            name: torch.from_numpy(a).to(self.device) for name, a in zip(self._outputs, arrays, strict=True)
        }

    def _run_bound(self, crops: torch.Tensor) -> list[np.ndarray]:
        """CUDA provider with the input read in place from the torch tensor (IO binding)."""
        binding = self.session.io_binding()
        binding.bind_input(
            INPUT_NAME, "cuda", crops.device.index or 0, np.float32, tuple(crops.shape), crops.data_ptr()
        )
        for name in self._outputs:
            binding.bind_output(name, "cuda", crops.device.index or 0)
        torch.cuda.current_stream(crops.device).synchronize()  # the input must be written before ORT reads
        self.session.run_with_iobinding(binding)
        return binding.copy_outputs_to_cpu()
