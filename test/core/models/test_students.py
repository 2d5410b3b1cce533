"""Every registered student builds offline, runs, and returns HaMeR's output dict."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from fixtures.models import one_torch_thread  # noqa: F401  (autouse: one torch thread per test)

from fast_hamer_core.mano import MANO21
from fast_hamer_core.models import TimmBackbone, create_model, get_config, list_models

#: The seed paper's timm students (not the fh_* ones, not the synthetic world's tiny test model).
STUDENTS = [
    n
    for n in list_models()
    if get_config(n).backbone == "timm" and get_config(n).layer_cut is None and not n.startswith("synthetic_")
]


@pytest.fixture(scope="module")
def mano(synthetic_mano_npz: Path) -> MANO21:
    return MANO21(synthetic_mano_npz)


def test_all_students_registered() -> None:
    assert len(STUDENTS) == 9


@pytest.mark.parametrize("name", STUDENTS)
def test_student_forward_full_dict(name: str, mano: MANO21) -> None:
    torch.manual_seed(0)
    model = create_model(name, mano=mano).eval()
    cfg = model.config
    with torch.no_grad():
        out = model(torch.randn(2, 3, 256, 256))
    assert out["features"].shape == (2, cfg.context_dim, 8, 8)
    assert model.backbone.out_channels == cfg.context_dim
    params = out["pred_mano_params"]
    assert params["global_orient"].shape == (2, 1, 3, 3)
    assert params["hand_pose"].shape == (2, 15, 3, 3)
    assert params["betas"].shape == (2, 10)
    assert out["pred_cam"].shape == out["pred_cam_t"].shape == (2, 3)
    assert out["focal_length"].shape == (2, 2)
    assert out["pred_keypoints_3d"].shape == (2, 21, 3)
    assert out["pred_vertices"].shape == (2, 778, 3)
    assert out["pred_keypoints_2d"].shape == (2, 21, 2)
    assert all(torch.isfinite(v).all() for k, v in out.items() if isinstance(v, torch.Tensor))
    # Rotations are proper rotation matrices.
    rot = torch.cat([params["global_orient"], params["hand_pose"]], dim=1)
    eye = torch.eye(3).expand_as(rot)
    torch.testing.assert_close(rot @ rot.transpose(-1, -2), eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(rot), torch.ones(2, 16), atol=1e-5, rtol=0)
    # HaMeR's crop camera: tz = 2 f / (256 s); 2D keypoints = pinhole with focal f / 256, centre 0.
    s, tx, ty = out["pred_cam"].unbind(-1)
    torch.testing.assert_close(out["pred_cam_t"], torch.stack([tx, ty, 2 * 5000.0 / (256 * s + 1e-9)], -1))
    p = out["pred_keypoints_3d"] + out["pred_cam_t"][:, None]
    torch.testing.assert_close(out["pred_keypoints_2d"], p[..., :2] / p[..., 2:] * (5000.0 / 256))


def test_output_without_mano_has_no_mesh_keys() -> None:
    model = create_model("mobilenetv3_large").eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 256, 256))
    assert set(out) == {"pred_cam", "pred_mano_params", "pred_cam_t", "focal_length", "features"}
    assert not model.has_mano


def test_mano_from_path(synthetic_mano_npz: Path) -> None:
    model = create_model("mobilevit_s", mano=synthetic_mano_npz).eval()
    assert isinstance(model.mano, MANO21)
    with torch.no_grad():
        assert model(torch.randn(1, 3, 256, 256))["pred_vertices"].shape == (1, 778, 3)


def test_mano_missing_path_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope"):
        create_model("mobilenetv3_large", mano=tmp_path / "nope.npz")


def test_wrong_input_size_fails_clearly() -> None:
    model = create_model("mobilenetv3_large").eval()
    with pytest.raises(ValueError, match=r"expects \(B, 3, 256, 256\) crops, got \(1, 3, 224, 224\)"):
        model(torch.randn(1, 3, 224, 224))


@pytest.mark.parametrize("name", [*STUDENTS, "hamer_vith"])
def test_every_backbone_parameter_is_used(name: str) -> None:
    """No dead weights (e.g. MobileNetV3's 1280-ch conv_head): forward hooks on the meta device."""
    with torch.device("meta"):
        model = create_model(name)
    called: set[str] = set()
    for mod_name, mod in model.backbone.named_modules():
        mod.register_forward_hook(lambda m, i, o, n=mod_name: called.add(n))
    feats = model.backbone(torch.empty(1, 3, *model.config.input_size, device="meta"))
    assert tuple(feats.shape) == (1, model.config.context_dim, *model.config.feature_size)
    unused = [n for n, _ in model.backbone.named_parameters() if n.rpartition(".")[0] not in called]
    assert unused == []


def test_mobilenetv3_map_is_last_stage_before_head_conv() -> None:
    with torch.device("meta"):
        full = timm.create_model("mobilenetv3_large_100", pretrained=False)
    assert full.conv_head.in_channels == 960 and full.conv_head.out_channels == 1280
    with torch.device("meta"):
        model = create_model("mobilenetv3_large")
    assert isinstance(model.backbone.model.conv_head, torch.nn.Identity)


def _write_imagenet_state(path: Path, timm_name: str) -> dict[str, torch.Tensor]:
    """A timm ImageNet-layout state dict (with its 1000-class classifier), as a local file."""
    torch.manual_seed(1)
    state = timm.create_model(timm_name, pretrained=False).state_dict()
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return state


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_backbone_init_from_local_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"mobilenetv3_large_100{suffix}"
    state = _write_imagenet_state(path, "mobilenetv3_large_100")
    model = create_model("mobilenetv3_large", backbone_init=path)
    loaded = model.backbone.model.state_dict()
    assert "classifier.weight" in state and "conv_head.weight" in state  # dropped on load
    for k, v in loaded.items():
        assert torch.equal(v, state[k]), k


def test_backbone_init_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="backbone init file not found"):
        create_model("resnet50", backbone_init=tmp_path / "resnet50.pth")


def test_backbone_init_of_another_architecture_fails(tmp_path: Path) -> None:
    path = tmp_path / "mobilevit_s.pth"
    _write_imagenet_state(path, "mobilevit_s")
    with pytest.raises(ValueError, match=r"not a mobilenetv3_large_100 state dict: \d+ missing"):
        create_model("mobilenetv3_large", backbone_init=path)


def test_backbone_init_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match=r"cannot read backbone weights from .*broken\.pth"):
        TimmBackbone("mobilenetv3_large_100").load_timm_weights(path)


def test_mano_stays_fp32_under_autocast(mano: MANO21) -> None:
    model = create_model("mobilenetv3_large", mano=mano).eval()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 3, 256, 256))
    assert out["features"].dtype == torch.bfloat16  # the backbone did run in mixed precision
    for key in ("pred_vertices", "pred_keypoints_3d", "pred_keypoints_2d", "pred_cam_t"):
        assert out[key].dtype == torch.float32, key
