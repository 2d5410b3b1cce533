"""Registry and ModelConfig: the documented architectures, as data."""

from __future__ import annotations

import pytest

from fast_hamer_core.models import (
    HeadConfig,
    ModelConfig,
    ViTConfig,
    get_config,
    list_models,
    register_model,
    unregister_model,
)

STUDENTS = {
    # name: (timm name, channels)
    "mobilenetv3_large": ("mobilenetv3_large_100", 960),
    "mobilevit_s": ("mobilevit_s", 640),
    "convnext_tiny": ("convnext_tiny", 768),
    "convnext_small": ("convnext_small", 768),
    "convnext_base": ("convnext_base", 1024),
    "convnext_large": ("convnext_large", 1536),
    "resnet50": ("resnet50", 2048),
    "resnet101": ("resnet101", 2048),
    "resnet152": ("resnet152", 2048),
}

#: Fast-HaMeR's students (hamer/models/backbones/__init__.py): name -> (library, classifier, cut,
#: channels, feature map size on the 256x256 crop).
FH_STUDENTS = {
    "fh_mobilenet_v3_large": ("torchvision", "mobilenet_v3_large", "features", 960, (8, 8)),
    "fh_mobilevit_s": ("timm", "mobilevit_s", "children[:-1]", 640, (8, 8)),
    "fh_resnet50": ("torchvision", "resnet50", "children[:-2]", 2048, (8, 8)),
    "fh_resnet101": ("torchvision", "resnet101", "children[:-2]", 2048, (8, 8)),
    "fh_wide_resnet50_2": ("torchvision", "wide_resnet50_2", "children[:-2]", 2048, (8, 8)),
    "fh_wide_resnet101_2": ("torchvision", "wide_resnet101_2", "children[:-2]", 2048, (8, 8)),
    "fh_convnext_large": ("torchvision", "convnext_large", "features", 1536, (8, 8)),
    "fh_efficientnet_v2_m": ("torchvision", "efficientnet_v2_m", "children[:-1]", 1280, (1, 1)),
    "fh_efficientnet_v2_l": ("torchvision", "efficientnet_v2_l", "children[:-1]", 1280, (1, 1)),
}


def test_registered_names() -> None:
    synthetic = ["synthetic_student", "synthetic_teacher"]  # `fast-hamer synth-data`'s, always registered
    assert list_models() == sorted(["hamer_vith", *STUDENTS, *FH_STUDENTS, *synthetic])


@pytest.mark.parametrize("name", sorted(FH_STUDENTS))
def test_fast_hamer_student_configs(name: str) -> None:
    cfg = get_config(name)
    library, classifier, cut, channels, feature_size = FH_STUDENTS[name]
    built_by = cfg.torchvision_name if library == "torchvision" else cfg.timm_name
    assert (cfg.backbone, built_by, cfg.layer_cut) == (
        "timm" if library == "timm" else "torchvision",
        classifier,
        cut,
    )
    assert (cfg.context_dim, cfg.feature_size, cfg.input_size, cfg.crop_columns) == (
        channels,
        feature_size,
        (256, 256),
        0,
    )
    assert cfg.head == get_config("hamer_vith").head  # HaMeR's head, context_dim = the backbone's channels


@pytest.mark.parametrize("name", sorted(STUDENTS))
def test_student_configs(name: str) -> None:
    cfg = get_config(name)
    timm_name, channels = STUDENTS[name]
    assert (cfg.backbone, cfg.timm_name, cfg.context_dim) == ("timm", timm_name, channels)
    assert cfg.input_size == (256, 256) and cfg.crop_columns == 0 and cfg.feature_size == (8, 8)


def test_teacher_config_is_hamer() -> None:
    cfg = get_config("hamer_vith")
    v = cfg.vit
    assert cfg.backbone == "vit" and cfg.input_size == (256, 192) and cfg.crop_columns == 32
    assert (v.patch_size, v.embed_dim, v.depth, v.num_heads, v.mlp_ratio, v.qkv_bias) == (
        16,
        1280,
        32,
        16,
        4,
        True,
    )
    assert v.drop_path_rate == 0.55 and v.patch_padding == 2 and v.grid_size == (16, 12)
    assert cfg.context_dim == 1280 and cfg.feature_size == (16, 12)


@pytest.mark.parametrize("name", ["hamer_vith", "mobilenetv3_large"])
def test_head_and_preprocess_defaults(name: str) -> None:
    cfg = get_config(name)
    h = cfg.head
    assert (h.dim, h.depth, h.heads, h.dim_head, h.mlp_dim, h.token_dim, h.num_tokens) == (
        1024,
        6,
        8,
        64,
        1024,
        1,
        1,
    )
    assert (h.joint_rep, h.num_hand_joints, h.ief_iters, h.npose) == ("6d", 15, 1, 96)
    p = cfg.preprocess
    assert p.crop_size == 256 and p.rescale_factor == 2.0
    assert p.mean == (0.485, 0.456, 0.406) and p.std == (0.229, 0.224, 0.225)
    assert cfg.focal_length_px == 5000.0


@pytest.mark.parametrize("name", sorted(["hamer_vith", *STUDENTS, *FH_STUDENTS]))
def test_config_dict_round_trip(name: str) -> None:
    cfg = get_config(name)
    plain = cfg.to_dict()
    assert ModelConfig.from_dict(plain) == cfg
    assert isinstance(plain["input_size"], list) and isinstance(plain["head"], dict)


def test_unknown_name_lists_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'nope'.*mobilenetv3_large"):
        get_config("nope")


def test_from_dict_rejects_unknown_keys() -> None:
    plain = get_config("resnet50").to_dict()
    plain["head"]["wings"] = 2
    with pytest.raises(ValueError, match="wings"):
        ModelConfig.from_dict(plain)


def test_invalid_configs_fail_clearly() -> None:
    with pytest.raises(ValueError, match="backbone must be one of"):
        ModelConfig(name="x", backbone="cnn", input_size=(256, 256), context_dim=8, feature_size=(8, 8))
    with pytest.raises(ValueError, match="needs timm_name"):
        ModelConfig(name="x", backbone="timm", input_size=(256, 256), context_dim=8, feature_size=(8, 8))
    with pytest.raises(ValueError, match="input_size"):
        ModelConfig(name="x", backbone="vit", input_size=(256, 256), crop_columns=32, context_dim=8,
                    feature_size=(8, 8), vit=ViTConfig())  # fmt: skip
    with pytest.raises(KeyError):
        HeadConfig(joint_rep="quat").npose  # noqa: B018
    with pytest.raises(ValueError, match="needs torchvision_name and layer_cut"):
        ModelConfig(name="x", backbone="torchvision", torchvision_name="resnet50", input_size=(256, 256),
                    context_dim=8, feature_size=(8, 8))  # fmt: skip
    with pytest.raises(ValueError, match=r"layer_cut must be one of .*got 'children\[:-3\]'"):
        ModelConfig(name="x", backbone="torchvision", torchvision_name="resnet50", layer_cut="children[:-3]",
                    input_size=(256, 256), context_dim=8, feature_size=(8, 8))  # fmt: skip


def test_register_and_unregister() -> None:
    cfg = ModelConfig(name="test_tmp", backbone="timm", timm_name="resnet18", input_size=(256, 256),
                      context_dim=512, feature_size=(8, 8))  # fmt: skip
    try:
        register_model(cfg)
        assert get_config("test_tmp") is cfg and "test_tmp" in list_models()
        register_model(cfg)  # the same config again is fine
        other = ModelConfig.from_dict({**cfg.to_dict(), "context_dim": 256})
        with pytest.raises(ValueError, match="already registered"):
            register_model(other)
        register_model(other, overwrite=True)
        assert get_config("test_tmp").context_dim == 256
    finally:
        unregister_model("test_tmp")
    assert "test_tmp" not in list_models()


def test_context_dim_must_match_the_backbone() -> None:
    from fast_hamer_core.models import create_model

    cfg = ModelConfig(name="test_bad", backbone="timm", timm_name="resnet18", input_size=(256, 256),
                      context_dim=2048, feature_size=(8, 8))  # fmt: skip
    with pytest.raises(ValueError, match="backbone gives 512 channels, config says context_dim=2048"):
        create_model(cfg)
