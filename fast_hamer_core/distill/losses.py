"""Training losses: HaMeR's ground-truth terms, output-level and feature-level distillation, the MANO prior.

Reductions follow HaMeR (``hamer/models/losses.py``) and the public Fast-HaMeR code: keypoint and MANO
parameter terms are *sums* over the batch, joints and coordinates (the loss weights were tuned for
that); the feature term is a *mean* squared error. Keypoints: 2D in crop units ``[-0.5, 0.5]``, 3D in
metres, compared root-relative (joint 0, the wrist).

Total loss of one step (combined by :class:`~fast_hamer_core.distill.module.DistillModule`)::

    gt  = w3d * L1(kp3d) + w2d * L1(kp2d) + sum_p w_p * MSE(mano_p)          (has_* masks)
    kd  = w3d * L1(kp3d, teacher) + w2d * L1(kp2d, teacher) + sum_p w_p * MSE(mano_p, teacher)   [output]
        + feature_weight * MSE(resize(phi(teacher map)), student map)                             [feature]
    total = gt + lambda_kd * kd + w_adv * adversarial generator term
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

MANO_PARAM_KEYS: tuple[str, ...] = ("global_orient", "hand_pose", "betas")
STRATEGIES: tuple[str, ...] = ("none", "output", "feature", "hybrid")


@dataclass(frozen=True)
class LossWeights:
    """HaMeR's ``LOSS_WEIGHTS`` (hamer_vit_transformer.yaml), used for the GT and the output-KD terms."""

    keypoints_3d: float = 0.05
    keypoints_2d: float = 0.01
    global_orient: float = 0.001
    hand_pose: float = 0.001
    betas: float = 0.0005
    adversarial: float = 0.0005

    def param(self, key: str) -> float:
        return float(getattr(self, key))


def keypoint_2d_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Confidence-weighted L1, summed: ``pred`` (B, N, 2), ``target`` (B, N, 3) = (x, y, confidence)."""
    conf = target[..., 2:3]
    return (conf * (pred - target[..., :2]).abs()).sum()


def keypoint_3d_loss(pred: torch.Tensor, target: torch.Tensor, root: int = 0) -> torch.Tensor:
    """Root-relative confidence-weighted L1, summed: ``pred`` (B, N, 3), ``target`` (B, N, 4)."""
    p = pred - pred[:, root : root + 1]
    t = target[..., :3] - target[:, root : root + 1, :3]
    return (target[..., 3:4] * (p - t).abs()).sum()


def parameter_loss(pred: torch.Tensor, target: torch.Tensor, has: torch.Tensor | None = None) -> torch.Tensor:
    """Squared error summed over everything, samples masked by ``has`` (B,) (HaMeR's ParameterLoss)."""
    err = (pred.reshape(pred.shape[0], -1) - target.reshape(target.shape[0], -1)) ** 2  # (B, D)
    if has is not None:
        err = err * has.to(err.dtype).reshape(-1, 1)
    return err.sum()


def ground_truth_losses(output: dict, batch: dict, weights: LossWeights) -> dict[str, torch.Tensor]:
    """HaMeR's supervised terms (unweighted) plus ``gt`` (their weighted sum).

    ``output``: the student's dict (``pred_keypoints_2d/3d``, ``pred_mano_params``); ``batch``: training
    sample batch (``keypoints_2d`` (B, 21, 3), ``keypoints_3d`` (B, 21, 4), MANO rotation matrices,
    ``has_*`` flags).
    """
    pred = output["pred_mano_params"]
    terms = {
        "keypoints_2d": keypoint_2d_loss(output["pred_keypoints_2d"], batch["keypoints_2d"]),
        "keypoints_3d": keypoint_3d_loss(output["pred_keypoints_3d"], batch["keypoints_3d"]),
    }
    for k in MANO_PARAM_KEYS:
        terms[k] = parameter_loss(pred[k], batch[k], batch[f"has_{k}"])
    terms["gt"] = sum(weights.param(k) * v for k, v in terms.items())
    return terms


def output_kd_losses(output: dict, teacher: dict, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Student vs teacher outputs (unweighted terms) plus ``output_kd`` (their weighted sum).

    ``teacher``: ``keypoints_2d`` (B, 21, 2) crop units, ``keypoints_3d`` (B, 21, 3), ``global_orient``
    (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3), ``betas`` (B, 10); the teacher's predictions, no gradient.
    """
    s3 = output["pred_keypoints_3d"]
    t3 = teacher["keypoints_3d"].to(s3.dtype)
    terms = {
        "kd_keypoints_2d": (output["pred_keypoints_2d"] - teacher["keypoints_2d"].to(s3.dtype)).abs().sum(),
        "kd_keypoints_3d": ((s3 - s3[:, :1]) - (t3 - t3[:, :1])).abs().sum(),
    }
    for k in MANO_PARAM_KEYS:
        terms[f"kd_{k}"] = parameter_loss(output["pred_mano_params"][k], teacher[k].to(s3.dtype))
    terms["output_kd"] = sum(weights.param(k[3:]) * v for k, v in terms.items())
    return terms


class FeatureProjector(nn.Module):
    """phi: teacher feature map -> the student's channels and size, for feature-level KD.

    A 1x1 convolution (teacher channels -> student channels), applied after resizing the teacher map
    bilinearly (``align_corners=False``) to the student's spatial size; both are linear, so the order
    does not change the result (the public code convolves first) but the small map is cheaper.
    A 1x1 student map (Fast-HaMeR's EfficientNetV2 keeps its global average pool) gets the teacher map
    averaged over all positions, the same pooling the student applies, rather than a bilinear sample of
    its centre. phi is trained with the student.
    """

    def __init__(self, teacher_channels: int, student_channels: int) -> None:
        super().__init__()
        self.teacher_channels = int(teacher_channels)
        self.student_channels = int(student_channels)
        self.conv = nn.Conv2d(self.teacher_channels, self.student_channels, kernel_size=1)

    def forward(self, teacher_map: torch.Tensor, size_hw: tuple[int, int]) -> torch.Tensor:
        """(B, Ct, ht, wt) -> (B, Cs, h, w) with (h, w) = ``size_hw``."""
        x = teacher_map.to(self.conv.weight.dtype)
        if tuple(size_hw) == (1, 1):
            x = x.mean(dim=(-2, -1), keepdim=True)  # (B, Ct, ht, wt) -> (B, Ct, 1, 1): global average pool
        elif tuple(x.shape[-2:]) != tuple(size_hw):
            x = F.interpolate(x, size=tuple(size_hw), mode="bilinear", align_corners=False)
        return self.conv(x)


def feature_kd_loss(
    student_map: torch.Tensor, teacher_map: torch.Tensor, phi: FeatureProjector
) -> torch.Tensor:
    """MSE (mean) between the student map (B, Cs, h, w) and phi(teacher map)."""
    target = phi(teacher_map, tuple(student_map.shape[-2:]))
    return F.mse_loss(student_map.to(target.dtype), target)


def adversarial_generator_loss(disc_out: torch.Tensor) -> torch.Tensor:
    """LSGAN generator term: the discriminator should say "real" (1): ``sum((D - 1)^2) / B``."""
    return ((disc_out - 1.0) ** 2).sum() / disc_out.shape[0]


def adversarial_discriminator_loss(disc_fake: torch.Tensor, disc_real: torch.Tensor) -> torch.Tensor:
    """LSGAN discriminator term: fakes -> 0, MoCap samples -> 1 (each summed / its batch size)."""
    return (disc_fake**2).sum() / disc_fake.shape[0] + ((disc_real - 1.0) ** 2).sum() / disc_real.shape[0]
