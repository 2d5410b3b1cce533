"""SingleQueryHead computes the trained head's function (the shortcuts are exact up to float rounding)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from fast_hamer_core.models import HeadConfig, MANOTransformerDecoderHead
from fast_hamer_core.runtime.deploy_head import SingleQueryHead, supports_single_query
from fast_hamer_core.runtime.torch_model import HandNetwork


def _head(cfg: HeadConfig, context_dim: int, seed: int = 0) -> MANOTransformerDecoderHead:
    torch.manual_seed(seed)
    head = MANOTransformerDecoderHead(cfg, context_dim).eval()
    with torch.no_grad():  # non-trivial mean parameters, so the residual updates matter
        head.init_betas.normal_()
        head.init_cam.normal_()
    return head


@pytest.mark.parametrize(
    ("cfg", "context_dim", "hw"),
    [
        (HeadConfig(dim=128, depth=2, heads=4, dim_head=16, mlp_dim=96), 96, (8, 8)),  # student-like
        (HeadConfig(dim=64, depth=1, heads=2, dim_head=32, mlp_dim=64, ief_iters=3), 80, (16, 12)),  # ViT map
    ],
)
def test_single_query_head_equals_the_trained_head(cfg, context_dim, hw):
    head = _head(cfg, context_dim)
    fast = SingleQueryHead(head)
    features = torch.randn(3, context_dim, *hw) * 3.0
    with torch.inference_mode():
        ref_params, ref_cam, _ = head(features)
        params, cam, _ = fast(features)
    torch.testing.assert_close(cam, ref_cam, atol=1e-5, rtol=1e-5)
    for key in ("global_orient", "hand_pose", "betas"):
        torch.testing.assert_close(params[key], ref_params[key], atol=1e-5, rtol=1e-5)
    # Shares the weights: changing the trained head changes the fast one.
    with torch.no_grad():
        head.deccam.bias.add_(1.0)
        assert torch.allclose(
            fast(features)[1], ref_cam + cfg.ief_iters, atol=1e-5
        )  # added once per IEF step


def test_heads_outside_the_rewrite_fall_back_to_the_trained_head():
    cfg = dataclasses.replace(HeadConfig(dim=64, depth=1, heads=2, dim_head=16, mlp_dim=64), num_tokens=2)
    head = _head(cfg, 32)
    assert not supports_single_query(head)
    with pytest.raises(ValueError, match="one query token"):
        SingleQueryHead(head)

    class Model:  # the two attributes HandNetwork reads
        config = type("C", (), {"crop_columns": 0})()
        backbone = torch.nn.Identity()
        mano_head = head

    network = HandNetwork(Model(), fast_head=True)
    assert not network.fast_head and network.mano_head is head
