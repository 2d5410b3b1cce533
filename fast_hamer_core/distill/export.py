"""Trainer checkpoint (Lightning ``.ckpt``) -> the node's student checkpoint (our ``.pt`` format).

The Lightning file holds the student (``student.*``), phi, the discriminator, optimiser states and the
training config; the export keeps only the student's backbone + head (``save_checkpoint``: config,
weights, metadata) - no teacher weights (the trainer never stores them), no phi, no discriminator, no
MANO data. The result loads with :func:`fast_hamer_core.models.checkpoint.load_model`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from fast_hamer_core.models.config import ModelConfig

STUDENT_PREFIX = "student."


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load a trainer checkpoint safely (tensors and plain data only); ValueError if it is not one."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"training checkpoint not found: {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"cannot read {path} as a training checkpoint: {exc}") from exc
    if not isinstance(data, dict) or "fast_hamer_student" not in data or "state_dict" not in data:
        raise ValueError(
            f"{path} is not a `fast-hamer train` checkpoint (no student config inside); "
            "for HaMeR or exported checkpoints nothing needs exporting"
        )
    return data


def export_student(
    ckpt_path: str | os.PathLike, out_path: str | os.PathLike, metadata: dict[str, Any] | None = None
) -> Path:
    """Write the student of a trainer checkpoint as our checkpoint; returns the written path."""
    from fast_hamer_core.models.checkpoint import load_weights, save_checkpoint
    from fast_hamer_core.models.registry import create_model

    data = read_training_checkpoint(ckpt_path)
    config = ModelConfig.from_dict(data["fast_hamer_student"])
    state = {
        k[len(STUDENT_PREFIX) :]: v for k, v in data["state_dict"].items() if k.startswith(STUDENT_PREFIX)
    }
    state = {k: v for k, v in state.items() if not k.startswith("mano.")}
    model = create_model(config)  # random init, overwritten (a meta build would miss non-persistent buffers)
    load_weights(model, state, source=str(ckpt_path))
    train_cfg = data.get("fast_hamer_train_config") or {}
    meta: dict[str, Any] = {
        "source": str(Path(ckpt_path).expanduser().resolve()),
        "global_step": int(data.get("global_step", 0)),
        "strategy": str(train_cfg.get("distill", {}).get("strategy", "")),
        "run_name": str(train_cfg.get("name", "")),
        "teacher": str(train_cfg.get("teacher", {}).get("model", "")),
    }
    meta.update(metadata or {})
    return save_checkpoint(out_path, model, meta)
