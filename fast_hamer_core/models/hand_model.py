"""HandMeshModel: backbone + MANO transformer head (+ optional MANO layer), HaMeR's forward.

Attribute names ``backbone``, ``mano_head``, ``mano`` match HaMeR's LightningModule so that its
checkpoint keys map onto ours unchanged.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import torch
from torch import nn

from fast_hamer_core.geometry import perspective_projection
from fast_hamer_core.models.config import ModelConfig
from fast_hamer_core.models.head import MANOTransformerDecoderHead

if TYPE_CHECKING:  # MANO21 is imported lazily: a model without MANO needs no MANO code.
    from fast_hamer_core.mano import MANO21


class HandMeshModel(nn.Module):
    """Right-hand mesh regressor on 256x256 crops.

    ``forward(x)`` takes (B, 3, 256, 256) RGB crops normalised with ImageNet mean/std (left hands
    mirrored beforehand) and returns HaMeR's output dict:

    - ``pred_cam`` (B, 3): weak-perspective crop camera (s, tx, ty).
    - ``pred_mano_params``: ``global_orient`` (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3), ``betas`` (B, 10).
    - ``pred_cam_t`` (B, 3): translation (m) of the MANO root frame in the crop camera with focal
      ``config.focal_length_px`` at crop size: ``(tx, ty, 2 f / (crop * s))``.
    - ``focal_length`` (B, 2): that focal length, in crop pixels.
    - ``features`` (B, C, h, w): the backbone feature map (for feature distillation).
    - only with ``mano``: ``pred_vertices`` (B, 778, 3) and ``pred_keypoints_3d`` (B, 21, 3) in metres,
      MANO frame (add ``pred_cam_t`` for the crop camera frame); ``pred_keypoints_2d`` (B, 21, 2) the
      joints projected with focal ``f / crop`` and principal point 0, i.e. crop coordinates in
      [-0.5, 0.5] (multiply by the crop size and add crop/2 for crop pixels).

    The ViT teacher cuts ``config.crop_columns`` (32) columns from each side itself.
    """

    def __init__(
        self,
        config: ModelConfig,
        backbone: nn.Module,
        mano_head: MANOTransformerDecoderHead,
        mano: MANO21 | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.backbone = backbone
        self.mano_head = mano_head
        self.mano = mano

    @property
    def has_mano(self) -> bool:
        """Whether forward also returns vertices and 3D/2D keypoints."""
        return self.mano is not None

    def set_mano(self, mano: MANO21 | None) -> None:
        """Attach (or detach with None) the MANO layer, on this model's device."""
        if mano is not None:
            mano = mano.to(next(self.mano_head.parameters()).device)
        self.mano = mano

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, crop, crop) normalised crops -> (B, C, h, w) backbone feature map."""
        crop = self.config.preprocess.crop_size
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (crop, crop):
            raise ValueError(f"{self.config.name} expects (B, 3, {crop}, {crop}) crops, got {tuple(x.shape)}")
        c = self.config.crop_columns
        if c:
            x = x[:, :, :, c:-c]  # (B, 3, 256, 256) -> (B, 3, 256, 192): HaMeR's ViT aspect ratio
        return self.backbone(x)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
        features = self.forward_features(x)
        pred_mano_params, pred_cam, _ = self.mano_head(features)
        return decode_head_outputs(
            {k: v.clone() for k, v in pred_mano_params.items()},
            pred_cam,
            self.mano,
            self.config,
            features=features,
        )


def decode_head_outputs(
    pred_mano_params: dict[str, torch.Tensor],
    pred_cam: torch.Tensor,
    mano: MANO21 | None,
    config: ModelConfig,
    features: torch.Tensor | None = None,
) -> dict[str, torch.Tensor | dict[str, torch.Tensor]]:
    """MANO head outputs -> HaMeR's output dict (see :class:`HandMeshModel`); the step after the head.

    Shared by :meth:`HandMeshModel.forward` and the exported runtimes (which run MANO outside the graph,
    :func:`fast_hamer_core.runtime.base.decode_outputs`), so that both build the same dict.

    Args:
        pred_mano_params: ``global_orient`` (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3), ``betas`` (B, 10);
            returned as ``pred_mano_params`` (the same dict).
        pred_cam: (B, 3) weak-perspective crop camera (s, tx, ty).
        mano: MANO21 layer on ``pred_cam``'s device, or None (no vertices / keypoints).
        config: gives the crop size (px) and ``focal_length_px``.
        features: (B, C, h, w) backbone feature map, returned as ``features`` when given.

    ``pred_cam_t`` (B, 3) = ``(tx, ty, 2 f / (crop * s))`` in metres in the crop camera. MANO and the
    2D projection run in float32 with autocast off, also under mixed precision.
    """
    b = pred_cam.shape[0]
    crop = config.preprocess.crop_size
    focal = torch.full((b, 2), config.focal_length_px, device=pred_cam.device, dtype=pred_cam.dtype)
    tz = 2 * focal[:, 0] / (crop * pred_cam[:, 0] + 1e-9)  # HaMeR's epsilon
    pred_cam_t = torch.stack([pred_cam[:, 1], pred_cam[:, 2], tz], dim=-1)  # (B, 3)
    output: dict = {
        "pred_cam": pred_cam,
        "pred_mano_params": pred_mano_params,
        "pred_cam_t": pred_cam_t,
        "focal_length": focal,
    }
    if features is not None:
        output["features"] = features
    if mano is not None:
        with _fp32(pred_cam.device.type):  # MANO and the projection in fp32, also under mixed precision
            mano_out = mano(**{k: v.float() for k, v in pred_mano_params.items()})
            joints = mano_out.joints.reshape(b, -1, 3)  # (B, 21, 3)
            output["pred_keypoints_3d"] = joints
            output["pred_vertices"] = mano_out.vertices.reshape(b, -1, 3)  # (B, 778, 3)
            output["pred_keypoints_2d"] = perspective_projection(
                joints, translation=pred_cam_t.float(), focal_length=focal.float() / crop
            ).reshape(b, -1, 2)  # (B, 21, 2), crop coordinates in [-0.5, 0.5]
    return output


def _fp32(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off where it can be on (HaMeR only casts MANO's inputs; we also keep its maths
    in fp32 so that vertices do not lose millimetres to bf16/fp16)."""
    if device_type in ("cuda", "cpu", "xpu", "mps") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type=device_type, enabled=False)
    return contextlib.nullcontext()
