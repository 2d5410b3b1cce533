"""The ViT-H teacher backbone and the MANO transformer head: HaMeR's layout and HaMeR's maths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from fixtures.hamer_checkpoint import hamer_state_shapes

from fast_hamer_core.geometry import rot6d_to_rotmat
from fast_hamer_core.models import (
    HeadConfig,
    MANOTransformerDecoderHead,
    ModelConfig,
    ViT,
    ViTConfig,
    create_model,
    load_weights,
)
from fast_hamer_core.models.head import DEFAULT_INIT_CAM

SMALL_VIT = ViTConfig(embed_dim=32, depth=2, num_heads=4, drop_path_rate=0.55)
SMALL_HEAD = HeadConfig(dim=32, depth=2, heads=2, dim_head=8, mlp_dim=48)


@pytest.fixture(scope="module")
def vith_meta():
    with torch.device("meta"):
        return create_model("hamer_vith")


def test_vith_feature_map_on_meta(vith_meta) -> None:
    out = vith_meta(torch.empty(1, 3, 256, 256, device="meta"))
    assert tuple(out["features"].shape) == (1, 1280, 16, 12)
    assert tuple(out["pred_mano_params"]["hand_pose"].shape) == (1, 15, 3, 3)
    n_params = sum(p.numel() for p in vith_meta.parameters())
    assert 660e6 < n_params < 680e6  # HaMeR: about 671M with its discriminator


def test_vith_state_dict_is_hamers(vith_meta) -> None:
    """Every backbone/head key and shape of HaMeR's checkpoint, and nothing else (MANO excluded)."""
    ours = {k: tuple(v.shape) for k, v in vith_meta.state_dict().items()}
    hamer = hamer_state_shapes()
    assert sorted(set(ours) - set(hamer)) == []
    assert sorted(set(hamer) - set(ours)) == []
    assert {k: v for k, v in ours.items() if hamer[k] != v} == {}


def test_full_size_hamer_layout_loads_on_meta(vith_meta) -> None:
    state = {k: torch.empty(s, device="meta") for k, s in hamer_state_shapes().items()}
    load_weights(vith_meta, state, source="meta HaMeR layout")  # raises on any mismatch


def _ref_vit_attention(attn: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """HaMeR's ViT attention written out: qkv reshape (B, N, 3, h, d), softmax(q*scale @ k^T) @ v."""
    b, n, c = x.shape
    h = attn.num_heads
    qkv = F.linear(x, attn.qkv.weight, attn.qkv.bias).reshape(b, n, 3, h, -1).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // h) ** -0.5, qkv[1], qkv[2]
    out = (q @ k.transpose(-2, -1)).softmax(-1) @ v
    return F.linear(out.transpose(1, 2).reshape(b, n, -1), attn.proj.weight, attn.proj.bias)


def test_vit_matches_hamer_formula() -> None:
    torch.manual_seed(0)
    vit = ViT(SMALL_VIT).eval()
    x = torch.randn(2, 3, 256, 192)
    # Reference forward with HaMeR's ops: padded patch conv, pos_embed[1:] + pos_embed[:1], blocks.
    tok = F.conv2d(x, vit.patch_embed.proj.weight, vit.patch_embed.proj.bias, stride=16, padding=2)
    assert tok.shape[-2:] == (16, 12)
    t = tok.flatten(2).transpose(1, 2) + vit.pos_embed[:, 1:] + vit.pos_embed[:, :1]
    for blk in vit.blocks:
        t = t + _ref_vit_attention(blk.attn, blk.norm1(t))
        t = t + blk.mlp.fc2(F.gelu(blk.mlp.fc1(blk.norm2(t))))
    ref = vit.last_norm(t).transpose(1, 2).reshape(2, 32, 16, 12)
    with torch.no_grad():
        torch.testing.assert_close(vit(x), ref, atol=1e-5, rtol=1e-4)


def test_vit_drop_path_is_active_only_in_training() -> None:
    torch.manual_seed(0)
    vit = ViT(SMALL_VIT)
    x = torch.randn(4, 3, 256, 192)
    with torch.no_grad():
        vit.eval()
        assert torch.equal(vit(x), vit(x))
        vit.train()
        assert not torch.equal(vit(x), vit(x))


def _small_teacher() -> ModelConfig:
    return ModelConfig(name="test_small_vit", backbone="vit", input_size=(256, 192), crop_columns=32,
                       context_dim=32, feature_size=(16, 12), vit=SMALL_VIT, head=SMALL_HEAD)  # fmt: skip


def test_teacher_cuts_32_columns_each_side() -> None:
    torch.manual_seed(0)
    model = create_model(_small_teacher()).eval()
    x = torch.randn(1, 3, 256, 256)
    y = x.clone()
    y[..., :32] = 5.0
    y[..., -32:] = -5.0
    with torch.no_grad():
        assert torch.equal(model(x)["features"], model(y)["features"])
        y[..., 100] = 3.0
        assert not torch.equal(model(x)["features"], model(y)["features"])


def _ref_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int) -> torch.Tensor:
    """HaMeR pose_transformer: 'b n (h d) -> b h n d', softmax(q k^T * d^-0.5) v, back to 'b n (h d)'."""
    b, n, _ = q.shape
    q, k, v = (t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2) for t in (q, k, v))
    out = (q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5).softmax(-1) @ v
    return out.transpose(1, 2).reshape(b, n, -1)


def _ref_head_token(head: MANOTransformerDecoderHead, context: torch.Tensor) -> torch.Tensor:
    t = head.transformer
    b = context.shape[0]
    x = t.to_token_embedding(torch.zeros(b, 1, 1)) + t.pos_embedding
    for sa, ca, ff in t.transformer.layers:
        h = sa.norm(x)
        q, k, v = F.linear(h, sa.fn.to_qkv.weight).chunk(3, dim=-1)
        x = sa.fn.to_out[0](_ref_attention(q, k, v, sa.fn.heads)) + x
        h = ca.norm(x)
        k, v = F.linear(context, ca.fn.to_kv.weight).chunk(2, dim=-1)
        x = ca.fn.to_out[0](_ref_attention(F.linear(h, ca.fn.to_q.weight), k, v, ca.fn.heads)) + x
        x = ff.fn.net[3](F.gelu(ff.fn.net[0](ff.norm(x)))) + x
    return x[:, 0]


def test_head_matches_hamer_formula() -> None:
    torch.manual_seed(0)
    head = MANOTransformerDecoderHead(SMALL_HEAD, context_dim=24).eval()
    feats = torch.randn(2, 24, 8, 8)
    with torch.no_grad():
        params, cam, _ = head(feats)
        token = _ref_head_token(head, feats.flatten(2).transpose(1, 2))
        pose = head.decpose(token) + head.init_hand_pose
        rot = rot6d_to_rotmat(pose.reshape(2, 16, 6))
    torch.testing.assert_close(params["global_orient"], rot[:, :1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(params["hand_pose"], rot[:, 1:], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(params["betas"], head.decshape(token) + head.init_betas, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(cam, head.deccam(token) + head.init_cam, atol=1e-5, rtol=1e-4)


def _zero_decoders(head: MANOTransformerDecoderHead) -> None:
    for lin in (head.decpose, head.decshape, head.deccam):
        torch.nn.init.zeros_(lin.weight)
        torch.nn.init.zeros_(lin.bias)


def test_default_mean_params_are_identity_zero_and_default_cam() -> None:
    head = MANOTransformerDecoderHead(SMALL_HEAD, context_dim=8).eval()
    _zero_decoders(head)
    with torch.no_grad():
        params, cam, _ = head(torch.randn(3, 8, 4, 4))
    torch.testing.assert_close(params["global_orient"], torch.eye(3).expand(3, 1, 3, 3))
    torch.testing.assert_close(params["hand_pose"], torch.eye(3).expand(3, 15, 3, 3))
    assert torch.equal(params["betas"], torch.zeros(3, 10))
    assert torch.equal(cam, torch.tensor(DEFAULT_INIT_CAM).expand(3, 3))


def test_mean_params_from_hamer_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pose, shape, cam = rng.normal(size=96), rng.normal(size=10), np.array([0.9, 0.1, -0.2])
    np.savez(tmp_path / "mano_mean_params.npz", pose=pose, shape=shape, cam=cam)
    head = MANOTransformerDecoderHead(SMALL_HEAD, 8, mean_params=tmp_path / "mano_mean_params.npz")
    assert head.init_hand_pose.shape == (1, 96) and head.init_hand_pose.dtype == torch.float32
    np.testing.assert_allclose(head.init_hand_pose[0].numpy(), pose, rtol=1e-6)
    np.testing.assert_allclose(head.init_betas[0].numpy(), shape, rtol=1e-6)
    np.testing.assert_allclose(head.init_cam[0].numpy(), cam, rtol=1e-6)
    _zero_decoders(head)
    with torch.no_grad():
        _, out_cam, _ = head.eval()(torch.randn(1, 8, 2, 2))
    np.testing.assert_allclose(out_cam[0].numpy(), cam, rtol=1e-6)


def test_bad_mean_params_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="mean parameters file not found"):
        MANOTransformerDecoderHead(SMALL_HEAD, 8, mean_params=tmp_path / "missing.npz")
    np.savez(tmp_path / "short.npz", pose=np.zeros(90), shape=np.zeros(10), cam=np.zeros(3))
    with pytest.raises(ValueError, match="'pose' has 90 values, expected 96"):
        MANOTransformerDecoderHead(SMALL_HEAD, 8, mean_params=tmp_path / "short.npz")
    np.savez(tmp_path / "keys.npz", pose=np.zeros(96))
    with pytest.raises(ValueError, match=r"lacks keys \['cam', 'shape'\]"):
        MANOTransformerDecoderHead(SMALL_HEAD, 8, mean_params=tmp_path / "keys.npz")


def test_ief_iterations_refine_and_report_each_step() -> None:
    torch.manual_seed(0)
    cfg = HeadConfig(dim=32, depth=1, heads=2, dim_head=8, mlp_dim=32, ief_iters=3)
    head = MANOTransformerDecoderHead(cfg, 8).eval()
    with torch.no_grad():
        _, cam, steps = head(torch.randn(2, 8, 4, 4))
    assert steps["hand_pose"].shape == (6, 15, 3, 3)
    assert steps["betas"].shape == (6, 10) and steps["cam"].shape == (6, 3)
    torch.testing.assert_close(steps["cam"][4:], cam)  # the last step is the output
    delta = steps["cam"][2:4] - steps["cam"][:2]  # the same zero query refines by the same residual
    torch.testing.assert_close(steps["cam"][4:] - steps["cam"][2:4], delta)
    assert delta.abs().max() > 0


def test_vitpose_backbone_init(tmp_path: Path) -> None:
    """HaMeR's PRETRAINED_WEIGHTS layout: {'state_dict': backbone.* (+ keypoint_head.*)}."""
    torch.manual_seed(2)
    source = ViT(SMALL_VIT).state_dict()
    wrapped = {f"backbone.{k}": v for k, v in source.items()}
    wrapped["keypoint_head.final_layer.weight"] = torch.zeros(21, 32, 1, 1)
    torch.save({"state_dict": wrapped, "meta": {"epoch": 210}}, tmp_path / "vitpose_backbone.pth")
    model = create_model(_small_teacher(), backbone_init=tmp_path / "vitpose_backbone.pth")
    for k, v in model.backbone.state_dict().items():
        assert torch.equal(v, source[k]), k
    del wrapped["backbone.last_norm.weight"]
    torch.save({"state_dict": wrapped}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"partial\.pth does not match the ViT backbone.*last_norm\.weight"):
        create_model(_small_teacher(), backbone_init=tmp_path / "partial.pth")
