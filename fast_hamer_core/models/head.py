"""MANO transformer decoder head (HaMeR), with HaMeR's module and parameter names.

Names follow ``hamer.models.heads.mano_head.MANOTransformerDecoderHead`` and
``hamer.models.components.pose_transformer.TransformerDecoder`` so that a HaMeR checkpoint's
``mano_head.*`` keys load 1:1::

    transformer.to_token_embedding, transformer.pos_embedding, transformer.dropout (no parameters),
    transformer.transformer.layers.<i>.0 = PreNorm(self-attention: fn.to_qkv, fn.to_out.0)
    transformer.transformer.layers.<i>.1 = PreNorm(cross-attention: fn.to_q, fn.to_kv, fn.to_out.0)
    transformer.transformer.layers.<i>.2 = PreNorm(feed-forward: fn.net.0, fn.net.3)
    decpose, decshape, deccam; buffers init_hand_pose (1, 96), init_betas (1, 10), init_cam (1, 3)

Attention runs through ``F.scaled_dot_product_attention`` (same numbers as HaMeR's explicit softmax).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fast_hamer_core.geometry import rot6d_to_rotmat
from fast_hamer_core.models.config import HeadConfig

#: Mean camera (s, tx, ty) used when no ``mano_mean_params.npz`` is given. HaMeR reads it from that
#: file; a zero scale would put the hand at infinite depth (tz = 2 f / (256 s)), so we start at s = 1.
DEFAULT_INIT_CAM: tuple[float, float, float] = (1.0, 0.0, 0.0)


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = t.shape
    return t.reshape(b, n, heads, -1).transpose(1, 2)  # (B, N, h*d) -> (B, h, N, d)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)  # (B, h, N, d) -> (B, N, h*d)


class SelfAttention(nn.Module):
    """Multi-head self-attention (HaMeR ``Attention``): bias-free ``to_qkv``, ``to_out`` = Linear+Dropout."""

    def __init__(self, dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dropout_p = dropout
        self.to_qkv = nn.Linear(dim, inner * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_split_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        p = self.dropout_p if self.training else 0.0
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v, dropout_p=p)))


class CrossAttention(nn.Module):
    """Queries from the tokens, keys/values from the context (HaMeR ``CrossAttention``)."""

    def __init__(self, dim: int, context_dim: int, heads: int, dim_head: int, dropout: float) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.dropout_p = dropout
        self.to_kv = nn.Linear(context_dim, inner * 2, bias=False)
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = (_split_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))  # (B, h, M, d)
        q = _split_heads(self.to_q(x), self.heads)  # (B, h, N, d)
        p = self.dropout_p if self.training else 0.0
        return self.to_out(_merge_heads(F.scaled_dot_product_attention(q, k, v, dropout_p=p)))


class FeedForward(nn.Module):
    """Linear -> GELU -> Dropout -> Linear -> Dropout, in ``net`` (indices 0 and 3 hold weights)."""

    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PreNorm(nn.Module):
    """``fn(norm(x), **kwargs)`` with a LayerNorm (HaMeR ``PreNorm`` with ``norm='layer'``)."""

    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class TransformerCrossAttn(nn.Module):
    """``depth`` x (self-attention, cross-attention, feed-forward), each pre-norm and residual."""

    def __init__(
        self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int, dropout: float, context_dim: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    PreNorm(dim, SelfAttention(dim, heads, dim_head, dropout)),
                    PreNorm(dim, CrossAttention(dim, context_dim, heads, dim_head, dropout)),
                    PreNorm(dim, FeedForward(dim, mlp_dim, dropout)),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, ff in self.layers:
            x = self_attn(x) + x
            x = cross_attn(x, context=context) + x
            x = ff(x) + x
        return x


class DropTokenDropout(nn.Module):
    """In training, drops whole tokens (the same ones for the whole batch) with probability ``p``."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"token dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.p > 0:
            keep = torch.full_like(x[0, :, 0], 1.0 - self.p).bernoulli().bool()  # (N,)
            x = x[:, keep, :]
        return x


class TransformerDecoder(nn.Module):
    """Token embedding + learned position embedding + cross-attention transformer (HaMeR)."""

    def __init__(self, cfg: HeadConfig, context_dim: int) -> None:
        super().__init__()
        self.to_token_embedding = nn.Linear(cfg.token_dim, cfg.dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, cfg.num_tokens, cfg.dim))
        self.dropout = DropTokenDropout(cfg.emb_dropout)
        self.transformer = TransformerCrossAttn(
            cfg.dim, cfg.depth, cfg.heads, cfg.dim_head, cfg.mlp_dim, cfg.dropout, context_dim
        )

    def forward(self, tokens: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """(B, N, token_dim) queries, (B, M, context_dim) context -> (B, N, dim)."""
        x = self.dropout(self.to_token_embedding(tokens))
        x = x + self.pos_embedding[:, : x.shape[1]]
        return self.transformer(x, context=context)


def load_mean_params(path: str | Path | None, cfg: HeadConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (pose 6D (npose,), betas (num_betas,), cam (3,)) that the head refines.

    From HaMeR's ``mano_mean_params.npz`` (keys ``pose``, ``shape``, ``cam``) when ``path`` is given;
    otherwise identity rotations in 6D for every joint, zero betas and :data:`DEFAULT_INIT_CAM`.
    A checkpoint overwrites these buffers, so the choice only matters for training from scratch.
    """
    if path is None:
        identity_6d = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=np.float32)  # rotmat_to_rot6d(I)
        pose = np.tile(identity_6d, cfg.num_hand_joints + 1)
        return pose, np.zeros(cfg.num_betas, np.float32), np.asarray(DEFAULT_INIT_CAM, np.float32)
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"MANO mean parameters file not found: {path}")
    with np.load(path) as data:
        missing = {"pose", "shape", "cam"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks keys {sorted(missing)} (expected HaMeR's mano_mean_params.npz)")
        pose, shape, cam = (data[k].astype(np.float32).reshape(-1) for k in ("pose", "shape", "cam"))
    for name, arr, n in (("pose", pose, cfg.npose), ("shape", shape, cfg.num_betas), ("cam", cam, 3)):
        if arr.size != n:
            raise ValueError(f"{path}: '{name}' has {arr.size} values, expected {n}")
    return pose, shape, cam


class MANOTransformerDecoderHead(nn.Module):
    """Feature map (B, C, h, w) -> MANO rotation matrices, betas and the weak-perspective crop camera.

    forward returns ``(pred_mano_params, pred_cam, per_iteration)`` like HaMeR:
    ``pred_mano_params = {global_orient (B, 1, 3, 3), hand_pose (B, 15, 3, 3), betas (B, 10)}``,
    ``pred_cam (B, 3) = (s, tx, ty)``, and ``per_iteration`` with every IEF step's ``hand_pose``
    ((iters*B, 15, 3, 3)), ``betas`` and ``cam`` concatenated along the batch.
    """

    def __init__(self, cfg: HeadConfig, context_dim: int, mean_params: str | Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.transformer = TransformerDecoder(cfg, context_dim)
        self.decpose = nn.Linear(cfg.dim, cfg.npose)
        self.decshape = nn.Linear(cfg.dim, cfg.num_betas)
        self.deccam = nn.Linear(cfg.dim, 3)
        pose, shape, cam = load_mean_params(mean_params, cfg)
        self.register_buffer("init_hand_pose", torch.tensor(pose).reshape(1, -1))  # (1, 96)
        self.register_buffer("init_betas", torch.tensor(shape).reshape(1, -1))  # (1, 10)
        self.register_buffer("init_cam", torch.tensor(cam).reshape(1, -1))  # (1, 3)

    def forward(
        self, features: torch.Tensor
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, torch.Tensor]]:
        b = features.shape[0]
        context = features.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)
        pose = self.init_hand_pose.expand(b, -1)  # (B, 96)
        betas = self.init_betas.expand(b, -1)  # (B, 10)
        cam = self.init_cam.expand(b, -1)  # (B, 3)
        token = context.new_zeros(b, self.cfg.num_tokens, self.cfg.token_dim)  # HaMeR's zero query
        poses, betas_list, cams = [], [], []
        for _ in range(self.cfg.ief_iters):
            out = self.transformer(token, context=context)[:, 0]  # (B, dim): the first token
            pose = self.decpose(out) + pose
            betas = self.decshape(out) + betas
            cam = self.deccam(out) + cam
            poses.append(pose)
            betas_list.append(betas)
            cams.append(cam)
        njoints = self.cfg.num_hand_joints + 1
        rotmats = rot6d_to_rotmat(pose.reshape(b, njoints, 6))  # (B, 16, 3, 3)
        pred_mano_params = {"global_orient": rotmats[:, :1], "hand_pose": rotmats[:, 1:], "betas": betas}
        per_iteration = {
            "hand_pose": torch.cat([rot6d_to_rotmat(p.reshape(b, njoints, 6))[:, 1:] for p in poses], dim=0),
            "betas": torch.cat(betas_list, dim=0),
            "cam": torch.cat(cams, dim=0),
        }
        return pred_mano_params, cam, per_iteration
