"""The MANO transformer head rewritten for deployment: the same function with the avoidable work removed.

HaMeR's head decodes ONE query token (``num_tokens == 1``) against the backbone's ``M`` context tokens
(64 for an 8x8 student map, 192 for the ViT). Two parts of the trained head then compute things whose
result is known or can be had more cheaply, exactly (up to float rounding):

- **Self-attention over one token**: the softmax over a single key is exactly 1, so the output is
  ``to_out(V)``; the query and key projections (2/3 of ``to_qkv``) are skipped.
- **Cross-attention with one query**: per head ``h``, ``softmax(q_h (C Wk_h^T)^T / sqrt(d)) (C Wv_h^T)``
  is computed as ``softmax((q_h Wk_h) C^T / sqrt(d)) C`` followed by ``Wv_h^T``: the ``M x C`` context is
  never projected to keys and values (``B * M * C * 2 * heads * d`` multiply-adds per layer, 0.38 G of
  the 1.4 GFLOPs of the mobilenetv3 student), only the single query is, through the same weights.

The weights are shared with the trained head (nothing is copied or re-fitted). Used by the export path
(:class:`~fast_hamer_core.runtime.torch_model.HandNetwork` with ``fast_head=True``); every export is then
compared with the *original* head in torch, so the rewrite is checked every time it is used. On 2 CPU cores
it took the mobilenetv3 head from 10.3 to 7.2 ms in ONNX Runtime (the rest is reading 31 M weights).
"""

from __future__ import annotations

import torch
from torch import nn

from fast_hamer_core.geometry import rot6d_to_rotmat
from fast_hamer_core.models.head import MANOTransformerDecoderHead


def supports_single_query(head: nn.Module) -> bool:
    """Whether ``head`` is HaMeR's head in the form :class:`SingleQueryHead` rewrites (one token, bias-free
    attention projections)."""
    if not isinstance(head, MANOTransformerDecoderHead) or head.cfg.num_tokens != 1:
        return False
    for self_attn, cross_attn, _ in head.transformer.transformer.layers:
        sa, ca = self_attn.fn, cross_attn.fn
        if sa.to_qkv.bias is not None or ca.to_kv.bias is not None or ca.to_q.bias is not None:
            return False
    return True


class SingleQueryHead(nn.Module):
    """Drop-in for a trained :class:`MANOTransformerDecoderHead` (eval mode) with one query token.

    ``forward(features (B, C, h, w)) -> (pred_mano_params, pred_cam, {})``: the head's own outputs
    (``global_orient`` (B, 1, 3, 3), ``hand_pose`` (B, 15, 3, 3), ``betas`` (B, 10); ``pred_cam`` (B, 3)).
    Per-iteration outputs (training only) are not produced.
    """

    def __init__(self, head: MANOTransformerDecoderHead) -> None:
        super().__init__()
        if not supports_single_query(head):
            raise ValueError(
                "SingleQueryHead needs HaMeR's head with one query token and bias-free attention"
            )
        self.head = head
        self.cfg = head.cfg

    @staticmethod
    def _self_attention(sa: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """One token attending to itself: softmax over one key is 1, output = to_out(V)."""
        inner = sa.to_qkv.weight.shape[0] // 3
        v = nn.functional.linear(x, sa.to_qkv.weight[2 * inner :])  # (B, 1, h*d): rows of V in to_qkv
        return sa.to_out(v)

    @staticmethod
    def _cross_attention(ca: nn.Module, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """One query (B, 1, D) against the raw context (B, M, C), keys/values never materialised."""
        heads = ca.heads
        wk, wv = ca.to_kv.weight.chunk(2, dim=0)  # (h*d, C) each, in the order the head splits to_kv
        b = x.shape[0]
        q = ca.to_q(x).reshape(b, heads, 1, -1)  # (B, 1, h*d) -> (B, h, 1, d)
        d = q.shape[-1]
        wk_h = wk.reshape(heads, d, -1)  # (h*d, C) -> (h, d, C)
        wv_h = wv.reshape(heads, d, -1)  # (h*d, C) -> (h, d, C)
        qk = (q @ wk_h) * d**-0.5  # (B, h, 1, C): the query mapped into context space, scaled
        ctx = context.unsqueeze(1)  # (B, 1, M, C)
        attn = (qk @ ctx.transpose(-1, -2)).softmax(dim=-1)  # (B, h, 1, M)
        out = (attn @ ctx) @ wv_h.transpose(-1, -2)  # (B, h, 1, C) -> (B, h, 1, d)
        return ca.to_out(out.transpose(1, 2).reshape(b, 1, heads * d))  # (B, h, 1, d) -> (B, 1, h*d)

    def forward(self, features: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict]:
        head = self.head
        decoder = head.transformer
        b = features.shape[0]
        context = features.flatten(2).transpose(1, 2)  # (B, C, h, w) -> (B, h*w, C)
        token = context.new_zeros(b, 1, self.cfg.token_dim)  # HaMeR's zero query
        x0 = decoder.to_token_embedding(token) + decoder.pos_embedding[:, :1]  # (B, 1, dim)
        pose = head.init_hand_pose.expand(b, -1)  # (B, 96)
        betas = head.init_betas.expand(b, -1)  # (B, 10)
        cam = head.init_cam.expand(b, -1)  # (B, 3)
        x = x0
        for self_attn, cross_attn, ff in decoder.transformer.layers:
            x = self._self_attention(self_attn.fn, self_attn.norm(x)) + x
            x = self._cross_attention(cross_attn.fn, cross_attn.norm(x), context) + x
            x = ff(x) + x
        out = x[:, 0]  # (B, dim); the same in every IEF iteration (the query does not change), so once
        for _ in range(self.cfg.ief_iters):
            pose = head.decpose(out) + pose
            betas = head.decshape(out) + betas
            cam = head.deccam(out) + cam
        rotmats = rot6d_to_rotmat(pose.reshape(b, self.cfg.num_hand_joints + 1, 6))  # (B, 16, 3, 3)
        params = {"global_orient": rotmats[:, :1], "hand_pose": rotmats[:, 1:], "betas": betas}
        return params, cam, {}
