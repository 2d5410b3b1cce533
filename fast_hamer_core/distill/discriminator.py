"""HMR/HaMeR's pose + shape discriminator, the adversarial MANO prior (``hamer/models/discriminator.py``).

Input: the 15 finger-joint rotation matrices (B, 15, 3, 3) and betas (B, 10); output (B, 15 + 1 + 1)
scores: one per joint (shared 1x1 convolutions then a linear layer per joint), one for the betas and
one for all joints together. Attribute names follow HaMeR's, so the ``discriminator.*`` weights of a
HaMeR checkpoint load into it (:meth:`load_hamer_state`).
"""

from __future__ import annotations

import torch
from torch import nn


def _xavier(layer: nn.Module) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class Discriminator(nn.Module):
    """Pose + shape discriminator (HMR); see the module docstring."""

    def __init__(self, num_joints: int = 15, num_betas: int = 10) -> None:
        super().__init__()
        self.num_joints = num_joints
        self.D_conv1 = _xavier(nn.Conv2d(9, 32, kernel_size=1))
        self.D_conv2 = _xavier(nn.Conv2d(32, 32, kernel_size=1))
        self.pose_out = nn.ModuleList([_xavier(nn.Linear(32, 1)) for _ in range(num_joints)])
        self.betas_fc1 = _xavier(nn.Linear(num_betas, 10))
        self.betas_fc2 = _xavier(nn.Linear(10, 5))
        self.betas_out = _xavier(nn.Linear(5, 1))
        self.D_alljoints_fc1 = _xavier(nn.Linear(32 * num_joints, 1024))
        self.D_alljoints_fc2 = _xavier(nn.Linear(1024, 1024))
        self.D_alljoints_out = _xavier(nn.Linear(1024, 1))
        self.relu = nn.ReLU()

    def forward(self, poses: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """``poses`` (B, 15, 3, 3) (any shape with 15*9 values per sample), ``betas`` (B, 10) -> (B, 17)."""
        b = betas.shape[0]
        x = poses.reshape(b, self.num_joints, 1, 9).permute(0, 3, 1, 2)  # (B, 9, 15, 1): channels = matrix
        x = self.relu(self.D_conv2(self.relu(self.D_conv1(x))))  # (B, 32, 15, 1)
        per_joint = torch.cat([head(x[:, :, i, 0]) for i, head in enumerate(self.pose_out)], dim=1)  # (B, 15)
        shape = self.betas_out(self.relu(self.betas_fc2(self.relu(self.betas_fc1(betas)))))  # (B, 1)
        joint = x.reshape(b, -1)  # (B, 32 * 15)
        joint = self.D_alljoints_out(self.relu(self.D_alljoints_fc2(self.relu(self.D_alljoints_fc1(joint)))))
        return torch.cat([per_joint, shape, joint], dim=1)  # (B, 17)

    def load_hamer_state(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load the ``discriminator.*`` entries of a HaMeR Lightning state dict (strict)."""
        prefix = "discriminator."
        sub = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not sub:
            raise ValueError("state dict has no 'discriminator.*' weights")
        self.load_state_dict(sub, strict=True)
