"""The two architectures of the synthetic world, registered under names no real run uses.

- ``synthetic_student``: timm's ``test_convnext`` (random init, 64-channel 8x8 map on the 256x256 crop)
  + a one-layer MANO head of width 32. Trains at a few steps per second on one CPU core.
- ``synthetic_teacher``: a ViT of HaMeR's layout (patch 16, 256x192 input, 16x12 map) reduced to width 32,
  depth 2, with the same one-layer head; written as a HaMeR Lightning checkpoint by
  :func:`fast_hamer_core.synth.world.write_synthetic_teacher`.

Importing this module registers both (idempotently); :mod:`fast_hamer_core.distill.config` imports it,
so every training config can name them.
"""

from __future__ import annotations

from fast_hamer_core.models.config import HeadConfig, ModelConfig, ViTConfig
from fast_hamer_core.models.registry import register_model

#: One transformer layer of width 32: the head of both synthetic models.
SYNTHETIC_HEAD = HeadConfig(dim=32, depth=1, heads=2, dim_head=16, mlp_dim=32)

SYNTHETIC_STUDENT = ModelConfig(
    name="synthetic_student",
    backbone="timm",
    timm_name="test_convnext",
    input_size=(256, 256),
    context_dim=64,
    feature_size=(8, 8),
    head=SYNTHETIC_HEAD,
)

SYNTHETIC_TEACHER = ModelConfig(
    name="synthetic_teacher",
    backbone="vit",
    input_size=(256, 192),
    crop_columns=32,
    context_dim=32,
    feature_size=(16, 12),
    head=SYNTHETIC_HEAD,
    vit=ViTConfig(embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, drop_path_rate=0.55),
)

for _config in (SYNTHETIC_STUDENT, SYNTHETIC_TEACHER):
    register_model(_config)
del _config
