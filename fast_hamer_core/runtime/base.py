"""What every runtime shares: the network's named outputs, the MANO decoding step and the runner base class.

The deployable *network* is backbone + MANO transformer head: ``crops (B, 3, 256, 256) -> pred_cam (B, 3),
global_orient (B, 1, 3, 3), hand_pose (B, 15, 3, 3), betas (B, 10)`` (+ ``features`` (B, C, h, w) when
exported with them). MANO skinning stays outside the exported graph, in torch (:func:`decode_outputs`):

- MANO is licence-gated; its buffers must never end up inside a file someone ships (an ``.onnx`` or a
  TensorRT engine would embed them as constants). Outside the graph, they are read from the user's file.
- It is cheap (two small matrix products and a 16-joint chain: ~1 ms on a CPU for two hands) next to
  the network, so nothing is gained by fusing it.

Every runner (:class:`RuntimeHandModel` subclasses) has the HandMeshModel interface the pipeline uses:
``__call__(crops) -> HaMeR's output dict``, ``config`` (ModelConfig), ``mano`` (MANO21 with ``.faces``).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from fast_hamer_core.models.hand_model import decode_head_outputs

if TYPE_CHECKING:
    from fast_hamer_core.mano import MANO21
    from fast_hamer_core.models.config import ModelConfig

#: Name of the network's single input: ImageNet-normalised RGB crops (B, 3, crop, crop) float32.
INPUT_NAME = "crops"
#: The network's outputs, in order (names in the ONNX graph / TensorRT engine).
NETWORK_OUTPUTS: tuple[str, ...] = ("pred_cam", "global_orient", "hand_pose", "betas")
#: Optional extra output: the backbone feature map (for feature distillation / debugging).
FEATURES_OUTPUT = "features"
#: Runtime names accepted across the package (``HandReconstructor.from_options(runtime=...)``).
RUNTIMES: tuple[str, ...] = ("torch", "onnxruntime", "tensorrt")


class RuntimeUnavailableError(RuntimeError):
    """A runtime (its Python package, an execution provider, or a GPU) is not available here."""


def decode_outputs(
    config: ModelConfig,
    mano: MANO21 | None,
    pred_cam: torch.Tensor,
    global_orient: torch.Tensor,
    hand_pose: torch.Tensor,
    betas: torch.Tensor,
    features: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Network outputs -> HaMeR's output dict, exactly as ``HandMeshModel.forward`` builds it.

    ``pred_cam_t`` (B, 3) = ``(tx, ty, 2 f / (crop * s))`` in metres in the crop camera; with ``mano``:
    ``pred_vertices`` (B, 778, 3), ``pred_keypoints_3d`` (B, 21, 3) (metres, MANO frame) and
    ``pred_keypoints_2d`` (B, 21, 2) in normalised crop coordinates [-0.5, 0.5]. MANO always runs in
    float32 (autocast off), as HaMeR's ``.float()`` intends (:func:`decode_head_outputs` does it).
    """
    params = {"global_orient": global_orient, "hand_pose": hand_pose, "betas": betas}
    return decode_head_outputs(params, pred_cam, mano, config, features=features)


class RuntimeHandModel(ABC):
    """Base of the runners: ``__call__(crops)`` = :meth:`run_network` (subclass) + :func:`decode_outputs`.

    Attributes:
        config: the network's ModelConfig (crop size, mean/std, camera focal length, name).
        mano: MANO21 layer on :attr:`device` (or None: no vertices / keypoints in the output).
        device: torch device the outputs (and MANO) live on.
        synchronize: wait for the GPU before reading the clock, so that :attr:`last_timings` splits
            network and MANO time correctly (costs a little throughput; the benchmark turns it on).
        last_timings: seconds of the last call: ``network_s`` (runtime), ``mano_s`` (decoding, MANO);
            ``start_s`` / ``end_s`` are ``time.perf_counter()`` stamps of the call.
    """

    runtime: str = "?"
    _outputs: tuple[str, ...] = NETWORK_OUTPUTS

    def __init__(self, config: ModelConfig, mano: MANO21 | None, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.device = torch.device(device)
        self.mano = mano.to(self.device) if mano is not None else None
        self.synchronize = False
        self.last_timings: dict[str, float] = {}

    # The pipeline treats models as torch modules where it can; these keep that harmless.
    def eval(self) -> RuntimeHandModel:
        """No-op (runners are always in inference mode); returns self like ``nn.Module.eval``."""
        return self

    @property
    def has_mano(self) -> bool:
        """Whether calls also return vertices and 3D/2D keypoints."""
        return self.mano is not None

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of what :meth:`run_network` returns."""
        return self._outputs

    def _set_network_io(
        self, source: object, inputs: Sequence[str], names: Sequence[str], hint: str = ""
    ) -> None:
        """Check an exported network's tensor names and set :attr:`output_names` from them.

        ValueError (naming ``source``, the file) unless ``inputs`` is exactly ``[INPUT_NAME]`` and ``names``
        holds every :data:`NETWORK_OUTPUTS`; ``hint`` is appended to the input error. The outputs are
        :data:`NETWORK_OUTPUTS` plus :data:`FEATURES_OUTPUT` where the network has it.
        """
        if list(inputs) != [INPUT_NAME]:
            raise ValueError(f"{source}: expected one input {INPUT_NAME!r}, found {list(inputs)}{hint}")
        missing = [n for n in NETWORK_OUTPUTS if n not in names]
        if missing:
            raise ValueError(f"{source}: outputs {missing} missing (found {list(names)})")
        self._outputs = tuple(n for n in (*NETWORK_OUTPUTS, FEATURES_OUTPUT) if n in names)

    @abstractmethod
    def run_network(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 3, crop, crop) float crops -> {output name: tensor on :attr:`device`} (subclasses)."""

    def check_input(self, crops: torch.Tensor) -> None:
        """ValueError unless ``crops`` is (B, 3, crop, crop) with B >= 1."""
        crop = self.config.preprocess.crop_size
        if (
            crops.ndim != 4
            or crops.shape[1] != 3
            or tuple(crops.shape[-2:]) != (crop, crop)
            or not len(crops)
        ):
            raise ValueError(
                f"{self.config.name} ({self.runtime}) expects (B, 3, {crop}, {crop}) crops, "
                f"got {tuple(crops.shape)}"
            )

    def _sync(self) -> None:
        if self.synchronize and self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.inference_mode()
    def __call__(self, crops: torch.Tensor) -> dict[str, Any]:
        """HaMeR's output dict for ``crops`` (see :func:`decode_outputs`); records :attr:`last_timings`."""
        self.check_input(crops)
        self._sync()
        t0 = time.perf_counter()
        net = self.run_network(crops)
        self._sync()
        t1 = time.perf_counter()
        out = decode_outputs(
            self.config, self.mano, *(net[k] for k in NETWORK_OUTPUTS), features=net.get(FEATURES_OUTPUT)
        )
        self._sync()
        t2 = time.perf_counter()
        self.last_timings = {"network_s": t1 - t0, "mano_s": t2 - t1, "start_s": t0, "end_s": t2}
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.config.name!r}, device={str(self.device)!r})"
