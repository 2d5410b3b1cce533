"""Hand-mesh networks: HaMeR's ViT-H teacher, timm students, Fast-HaMeR's own (torchvision) students,
the MANO transformer head, checkpoints.

Typical use::

    from fast_hamer_core.models import create_model, load_model, list_models
    model = load_model("students/convnext_large/best.pt", mano_path="mano/MANO_RIGHT.npz")
    model = load_model("logs/train/runs/resnet_50_kd_full")  # a Fast-HaMeR run folder -> fh_resnet50
    out = model(crops)  # (B, 3, 256, 256) ImageNet-normalised -> HaMeR's output dict
"""

from __future__ import annotations

from fast_hamer_core.models.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_hamer_checkpoint,
    load_model,
    load_weights,
    read_checkpoint,
    save_checkpoint,
)
from fast_hamer_core.models.config import (
    CROP_FOCAL_LENGTH_PX,
    IMAGENET_MEAN,
    IMAGENET_STD,
    HeadConfig,
    ModelConfig,
    PreprocessConfig,
    ViTConfig,
)
from fast_hamer_core.models.hand_model import HandMeshModel
from fast_hamer_core.models.head import MANOTransformerDecoderHead
from fast_hamer_core.models.registry import (
    build_backbone,
    create_model,
    get_config,
    list_models,
    register_model,
    unregister_model,
)
from fast_hamer_core.models.timm_backbone import TimmBackbone
from fast_hamer_core.models.torchvision_backbone import SequentialBackbone
from fast_hamer_core.models.vit import ViT

__all__ = [
    "CROP_FOCAL_LENGTH_PX",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointError",
    "HandMeshModel",
    "HeadConfig",
    "MANOTransformerDecoderHead",
    "ModelConfig",
    "PreprocessConfig",
    "SequentialBackbone",
    "TimmBackbone",
    "ViT",
    "ViTConfig",
    "build_backbone",
    "create_model",
    "get_config",
    "list_models",
    "load_checkpoint",
    "load_hamer_checkpoint",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "register_model",
    "save_checkpoint",
    "unregister_model",
]

# The synthetic world's two tiny architectures (`fast-hamer synth-data`) are always registered, so that the
# registry never depends on which module was imported first.
from fast_hamer_core.synth import models as _synthetic_models  # noqa: F401
