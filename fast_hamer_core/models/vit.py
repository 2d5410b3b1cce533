"""ViTPose-H backbone of the HaMeR teacher, with HaMeR's module and parameter names.

The names match ``hamer.models.backbones.vit.ViT`` so that a HaMeR checkpoint's ``backbone.*`` keys
load 1:1: ``patch_embed.proj``, ``pos_embed``, ``blocks.<i>.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``last_norm``. Differences from HaMeR that do not change the numbers: attention
runs through ``F.scaled_dot_product_attention``; unused options (hybrid embedding, frozen stages,
gradient checkpointing) are left out.

Position embedding (as ViTPose / HaMeR): ``pos_embed`` has ``1 + N`` rows because the MAE-pretrained
weights carried a class token; there is no class token, and the extra first row is *added to every
token* (``x + pos_embed[:, 1:] + pos_embed[:, :1]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

from fast_hamer_core.models.config import ViTConfig


class PatchEmbed(nn.Module):
    """Image (B, 3, H, W) -> tokens (B, Hp*Wp, C) by a strided, padded convolution."""

    def __init__(self, patch_size: int, padding: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size, padding=padding)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        x = self.proj(x)  # (B, C, Hp, Wp)
        hp, wp = x.shape[2], x.shape[3]
        return x.flatten(2).transpose(1, 2), (hp, wp)  # (B, Hp*Wp, C)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection and an output ``proj``."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)  # (B, N, 3, h, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 x (B, h, N, d)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, h, N, d), scale d**-0.5 as HaMeR
        return self.proj(x.transpose(1, 2).reshape(b, n, c))  # (B, N, C)


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block with stochastic depth on both residual branches."""

    def __init__(
        self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path: float, eps: float
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads, qkv_bias)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """ViTPose backbone: (B, 3, 256, 192) ImageNet-normalised -> (B, 1280, 16, 12) for ViT-H.

    ``out_channels`` is the feature map's channel count (the head's ``context_dim``).
    """

    def __init__(self, cfg: ViTConfig, in_chans: int = 3) -> None:
        super().__init__()
        self.cfg = cfg
        self.out_channels = cfg.embed_dim
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.patch_padding, in_chans, cfg.embed_dim)
        rows, cols = cfg.grid_size
        # One extra row: the pretrained class-token position, added to every token (module docstring).
        self.pos_embed = nn.Parameter(torch.zeros(1, rows * cols + 1, cfg.embed_dim))
        # Stochastic depth decay rule; computed on the CPU so that building under a meta device works.
        rates = torch.linspace(0, cfg.drop_path_rate, cfg.depth, device="cpu").tolist()
        self.blocks = nn.ModuleList(
            Block(cfg.embed_dim, cfg.num_heads, cfg.mlp_ratio, cfg.qkv_bias, rate, cfg.norm_eps)
            for rate in rates
        )
        self.last_norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.norm_eps)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """ViTPose initialisation: truncated normal (std 0.02) linears and position embedding."""
        trunc_normal_(self.pos_embed, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, C, Hp, Wp) feature map."""
        b = x.shape[0]
        x, (hp, wp) = self.patch_embed(x)  # (B, Hp*Wp, C)
        if hp * wp != self.pos_embed.shape[1] - 1:
            raise ValueError(
                f"ViT built for a {self.cfg.grid_size} token grid ({self.cfg.img_size} input) "
                f"got a {hp}x{wp} grid"
            )
        x = x + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        for blk in self.blocks:
            x = blk(x)
        x = self.last_norm(x)  # (B, Hp*Wp, C)
        return x.transpose(1, 2).reshape(b, -1, hp, wp).contiguous()  # (B, C, Hp, Wp)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)
