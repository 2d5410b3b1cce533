"""Model registry: name -> :class:`ModelConfig`, and the ``create_model`` factory.

Built-in names: ``hamer_vith`` (the HaMeR teacher) and the students of the Fast-HaMeR paper
(``mobilenetv3_large``, ``mobilevit_s``, ``convnext_{tiny,small,base,large}``,
``resnet{50,101,152}``), all with HaMeR's head, and the students exactly as the public Fast-HaMeR code
builds them (``fh_*``: torchvision classifiers, timm for MobileViT, cut into an ``nn.Sequential`` with
Fast-HaMeR's parameter names, so its checkpoints load; see
:mod:`~fast_hamer_core.models.torchvision_backbone`). Students see the full 256x256 crop, giving an
8x8 stride-32 feature map (1x1 for ``fh_efficientnet_v2_*``, which keep the average pool). Nothing is
downloaded: models are built with ``pretrained=False`` / ``weights=None`` and an ImageNet
initialisation is read from a local file (``backbone_init``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from torch import nn

from fast_hamer_core.models.config import ModelConfig, ViTConfig
from fast_hamer_core.models.hand_model import HandMeshModel
from fast_hamer_core.models.head import MANOTransformerDecoderHead
from fast_hamer_core.models.timm_backbone import TimmBackbone, read_state_dict_file
from fast_hamer_core.models.torchvision_backbone import SequentialBackbone

if TYPE_CHECKING:
    from fast_hamer_core.mano import MANO21

_REGISTRY: dict[str, ModelConfig] = {}


def register_model(config: ModelConfig, *, overwrite: bool = False) -> ModelConfig:
    """Add ``config`` under ``config.name``; ValueError if the name is taken (unless ``overwrite``)."""
    if config.name in _REGISTRY and not overwrite and _REGISTRY[config.name] != config:
        raise ValueError(f"model {config.name!r} is already registered with a different config")
    _REGISTRY[config.name] = config
    return config


def unregister_model(name: str) -> None:
    """Remove a registered name (for tests and experiments); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def get_config(name: str) -> ModelConfig:
    """The config registered as ``name``; ValueError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None


def build_backbone(config: ModelConfig) -> nn.Module:
    """The backbone alone (random init): ``ViT``, ``TimmBackbone`` or ``SequentialBackbone``; each maps
    images to (B, C, h, w)."""
    if config.backbone == "vit":
        from fast_hamer_core.models.vit import ViT

        assert config.vit is not None  # checked by ModelConfig
        return ViT(config.vit)
    if config.layer_cut is not None:
        if config.backbone == "torchvision":
            return SequentialBackbone("torchvision", config.torchvision_name or "", config.layer_cut)
        return SequentialBackbone("timm", config.timm_name or "", config.layer_cut)
    return TimmBackbone(config.timm_name or "", config.timm_drop_modules, config.backbone_drop_path_rate)


def load_backbone_init(backbone: nn.Module, path: str | os.PathLike) -> None:
    """Load a local backbone initialisation file (strict, shapes checked); FileNotFoundError if missing.

    timm backbones take a timm ImageNet state dict (``.pth``/``.safetensors``); Fast-HaMeR's
    Sequential backbones the torchvision / timm classifier's state dict; the ViT takes
    ViTPose weights (``{"state_dict": ...}``, keys with or without a ``backbone.`` prefix, other
    prefixes such as ``keypoint_head.`` ignored).
    """
    if isinstance(backbone, TimmBackbone):
        backbone.load_timm_weights(path)
        return
    if isinstance(backbone, SequentialBackbone):
        backbone.load_classifier_weights(path)
        return
    state = read_state_dict_file(path)
    if any(k.startswith("backbone.") for k in state):
        state = {k[len("backbone.") :]: v for k, v in state.items() if k.startswith("backbone.")}
    expected = backbone.state_dict()
    bad = sorted(set(expected) ^ set(state)) + sorted(
        k for k in set(expected) & set(state) if expected[k].shape != state[k].shape
    )
    if bad:
        raise ValueError(
            f"{path} does not match the {type(backbone).__name__} backbone: "
            f"{len(bad)} missing/unexpected/wrong-shaped keys, e.g. {bad[:5]}"
        )
    backbone.load_state_dict(state, strict=True)


def create_model(
    name: str | ModelConfig,
    mano: MANO21 | str | os.PathLike | None = None,
    backbone_init: str | os.PathLike | None = None,
    mean_params: str | os.PathLike | None = None,
) -> HandMeshModel:
    """Build a registered model (random init unless ``backbone_init``), in train mode, on the current
    default device (e.g. under ``with torch.device("meta")``).

    Args:
        name: registered name, or a ModelConfig.
        mano: None (no vertices / keypoints in the output), a ``MANO21`` layer, or a MANO model path
            (``.npz`` / ``.pkl`` file or a directory holding one) to build one from.
        backbone_init: local backbone initialisation file (see :func:`load_backbone_init`).
        mean_params: HaMeR's ``mano_mean_params.npz`` for the head's init buffers (default: identity
            pose, zero betas, :data:`~fast_hamer_core.models.head.DEFAULT_INIT_CAM`).
    """
    config = name if isinstance(name, ModelConfig) else get_config(name)
    backbone = build_backbone(config)
    if backbone.out_channels != config.context_dim:
        raise ValueError(
            f"model {config.name!r}: backbone gives {backbone.out_channels} channels, config says "
            f"context_dim={config.context_dim}"
        )
    if backbone_init is not None:
        load_backbone_init(backbone, backbone_init)
    head = MANOTransformerDecoderHead(config.head, config.context_dim, mean_params)
    model = HandMeshModel(config, backbone, head)
    if mano is not None:
        model.set_mano(as_mano(mano))
    return model


def as_mano(mano: MANO21 | str | os.PathLike) -> MANO21:
    """A MANO21 as given, or built from a MANO file / directory (MANO21 reports a missing file)."""
    if isinstance(mano, (str, os.PathLike)):
        from fast_hamer_core.mano import MANO21

        return MANO21(Path(mano).expanduser())
    if not isinstance(mano, nn.Module):
        raise TypeError(f"mano must be None, a MANO21 or a path, got {type(mano).__name__}")
    return mano


def _student(name: str, timm_name: str, channels: int, drop: tuple[str, ...] = ()) -> ModelConfig:
    """A Fast-HaMeR student: timm backbone on the full 256x256 crop, 8x8 stride-32 map."""
    return ModelConfig(
        name=name,
        backbone="timm",
        timm_name=timm_name,
        input_size=(256, 256),
        context_dim=channels,
        feature_size=(8, 8),
        timm_drop_modules=drop,
    )


def _fh_student(
    name: str,
    library: str,
    classifier: str,
    cut: str,
    channels: int,
    feature_size: tuple[int, int] = (8, 8),
) -> ModelConfig:
    """A student as Fast-HaMeR's ``create_backbone`` builds it: a ``library`` classifier cut at ``cut``."""
    return ModelConfig(
        name=name,
        backbone="torchvision" if library == "torchvision" else "timm",
        torchvision_name=classifier if library == "torchvision" else None,
        timm_name=classifier if library == "timm" else None,
        layer_cut=cut,
        input_size=(256, 256),
        context_dim=channels,
        feature_size=feature_size,
    )


#: Fast-HaMeR's students, by registry name (its MODEL.BACKBONE.TYPE / SIZE -> name: see
#: ``fast_hamer_core.models.fast_hamer.FAST_HAMER_BACKBONES``).
FAST_HAMER_STUDENTS: tuple[ModelConfig, ...] = (
    _fh_student("fh_mobilenet_v3_large", "torchvision", "mobilenet_v3_large", "features", 960),
    _fh_student("fh_mobilevit_s", "timm", "mobilevit_s", "children[:-1]", 640),  # stem, stages, final_conv
    _fh_student("fh_resnet50", "torchvision", "resnet50", "children[:-2]", 2048),
    _fh_student("fh_resnet101", "torchvision", "resnet101", "children[:-2]", 2048),
    _fh_student("fh_wide_resnet50_2", "torchvision", "wide_resnet50_2", "children[:-2]", 2048),
    _fh_student("fh_wide_resnet101_2", "torchvision", "wide_resnet101_2", "children[:-2]", 2048),
    _fh_student("fh_convnext_large", "torchvision", "convnext_large", "features", 1536),
    # children[:-1] keeps the average pool: a 1x1 map, i.e. the head cross-attends to one 1280-d token.
    _fh_student("fh_efficientnet_v2_m", "torchvision", "efficientnet_v2_m", "children[:-1]", 1280, (1, 1)),
    _fh_student("fh_efficientnet_v2_l", "torchvision", "efficientnet_v2_l", "children[:-1]", 1280, (1, 1)),
)

#: HaMeR teacher: ViTPose-H on the 256x192 centre of the crop (experiment hamer_vit_transformer.yaml).
HAMER_VITH = ModelConfig(
    name="hamer_vith",
    backbone="vit",
    input_size=(256, 192),
    crop_columns=32,
    context_dim=1280,
    feature_size=(16, 12),
    vit=ViTConfig(),
)

for _config in (
    HAMER_VITH,
    _student("mobilenetv3_large", "mobilenetv3_large_100", 960, drop=("conv_head",)),  # before the 1280 conv
    _student("mobilevit_s", "mobilevit_s", 640),
    _student("convnext_tiny", "convnext_tiny", 768, drop=("head.norm",)),
    _student("convnext_small", "convnext_small", 768, drop=("head.norm",)),
    _student("convnext_base", "convnext_base", 1024, drop=("head.norm",)),
    _student("convnext_large", "convnext_large", 1536, drop=("head.norm",)),
    _student("resnet50", "resnet50", 2048),
    _student("resnet101", "resnet101", 2048),
    _student("resnet152", "resnet152", 2048),
    *FAST_HAMER_STUDENTS,
):
    register_model(_config)

del _config
