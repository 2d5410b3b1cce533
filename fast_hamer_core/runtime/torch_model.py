"""The network in torch: :class:`HandNetwork` (what is exported) and :class:`TorchHandModel` (its runner)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn

from fast_hamer_core.runtime.base import FEATURES_OUTPUT, NETWORK_OUTPUTS, RuntimeHandModel

if TYPE_CHECKING:
    from fast_hamer_core.models import HandMeshModel


class HandNetwork(nn.Module):
    """Backbone + MANO head of a HandMeshModel as one module with tensor outputs (no MANO, no dicts).

    ``forward(crops (B, 3, crop, crop)) -> (pred_cam (B, 3), global_orient (B, 1, 3, 3),
    hand_pose (B, 15, 3, 3), betas (B, 10)[, features (B, C, h, w)])`` in :data:`NETWORK_OUTPUTS` order:
    the graph that ``fast-hamer export`` writes. It shares its parameters with the wrapped model.

    ``fast_head`` runs the head as :class:`~fast_hamer_core.runtime.deploy_head.SingleQueryHead` (same
    function, the single-query shortcuts; used for export), else the trained head module itself.
    """

    def __init__(self, model: HandMeshModel, with_features: bool = False, fast_head: bool = False) -> None:
        super().__init__()
        from fast_hamer_core.runtime.deploy_head import SingleQueryHead, supports_single_query

        self.config = model.config
        self.backbone = model.backbone
        self.with_features = with_features
        self.fast_head = bool(fast_head) and supports_single_query(model.mano_head)
        self.mano_head = SingleQueryHead(model.mano_head) if self.fast_head else model.mano_head

    @property
    def output_names(self) -> tuple[str, ...]:
        """Names of the outputs of :meth:`forward`, in order."""
        return (*NETWORK_OUTPUTS, FEATURES_OUTPUT) if self.with_features else NETWORK_OUTPUTS

    def forward(self, crops: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # HandMeshModel.forward_features without its Python shape check (the runners check shapes), and
        # without holding the model: its MANO buffers (licence) must not be reachable from this graph.
        c = self.config.crop_columns
        if c:
            crops = crops[:, :, :, c:-c]  # (B, 3, 256, 256) -> (B, 3, 256, 192): the ViT teacher's input
        features = self.backbone(crops)  # (B, C, h, w)
        params, pred_cam, _ = self.mano_head(features)
        out = (pred_cam, params["global_orient"], params["hand_pose"], params["betas"])
        return (*out, features) if self.with_features else out


class TorchHandModel(RuntimeHandModel):
    """Runner for a torch HandMeshModel with the same split as the other runtimes (network, then MANO).

    The pipeline can take the HandMeshModel itself; this runner exists so that every runtime is timed
    and decoded by the same code (:meth:`RuntimeHandModel.__call__`), e.g. by ``fast-hamer bench``.
    ``fp16`` runs the network under CUDA autocast (MANO stays float32). ``fast_head`` uses the exported
    head form (:class:`~fast_hamer_core.runtime.deploy_head.SingleQueryHead`); off by default, so that this
    runner is the trained model as the pipeline runs it (the benchmark's torch baseline).
    """

    runtime = "torch"

    def __init__(
        self,
        model: HandMeshModel,
        device: str | torch.device | None = None,
        fp16: bool = False,
        with_features: bool = False,
        fast_head: bool = False,
    ) -> None:
        device = torch.device(device) if device is not None else next(model.parameters()).device
        super().__init__(model.config, model.mano, device)
        self.model = model.to(self.device).eval()
        self.network = HandNetwork(self.model, with_features=with_features, fast_head=fast_head).eval()
        self.fp16 = bool(fp16) and self.device.type == "cuda"

    @property
    def output_names(self) -> tuple[str, ...]:
        return self.network.output_names

    @torch.inference_mode()
    def run_network(self, crops: torch.Tensor) -> dict[str, torch.Tensor]:
        autocast = torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()
        with autocast:
            outs = self.network(crops.to(self.device, torch.float32))
        return {name: t.float() for name, t in zip(self.output_names, outs, strict=True)}
