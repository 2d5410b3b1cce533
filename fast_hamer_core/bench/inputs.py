"""Benchmark inputs: the photo (resized to the pipeline size), MANO (or a stand-in), the models."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from fast_hamer_core.bench.options import DEFAULT_IMAGE_DIRS, DEFAULT_IMAGE_NAME, PIPELINE_SIZE

log = logging.getLogger("fast_hamer_core.bench")


def default_image_path() -> Path | None:
    """``$FAST_HAMER_BENCH_IMAGE``, else :data:`DEFAULT_IMAGE_NAME` among the sample photos, else None."""
    env = os.environ.get("FAST_HAMER_BENCH_IMAGE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    for d in DEFAULT_IMAGE_DIRS:
        candidate = (repo / d / DEFAULT_IMAGE_NAME).resolve()
        if candidate.is_file():
            return candidate
    return None


def fit_to_size(rgb: np.ndarray, size: tuple[int, int] = PIPELINE_SIZE) -> np.ndarray:
    """RGB uint8 (H, W, 3) of ``size`` = (W, H): ``rgb`` centre-cropped to that aspect, then resized."""
    import cv2

    h, w = rgb.shape[:2]
    out_w, out_h = size
    if w * out_h > h * out_w:  # too wide: cut columns
        cw = round(h * out_w / out_h)
        x0 = (w - cw) // 2
        rgb = rgb[:, x0 : x0 + cw]
    else:  # too tall: cut rows
        ch = round(w * out_h / out_w)
        y0 = (h - ch) // 2
        rgb = rgb[y0 : y0 + ch]
    return np.ascontiguousarray(cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA))


def load_bench_image(path: str | os.PathLike, size: tuple[int, int] = PIPELINE_SIZE) -> np.ndarray:
    """The photo at ``path`` through :func:`fit_to_size`."""
    from fast_hamer_core.preprocess import read_rgb

    return fit_to_size(read_rgb(path), size)


def stand_in_mano_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays of MANO's exact shapes and kinematic tree: same skinning cost, meaningless mesh.

    For timing only, when the user's licensed MANO file is not available.
    """
    from fast_hamer_core import mano as m

    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for key, shape in m.REQUIRED_SHAPES.items():
        arrays[key] = rng.normal(0.0, 0.01, shape).astype(np.float32)
    arrays["v_template"] = rng.uniform(-0.05, 0.05, (m.NUM_VERTICES, 3)).astype(np.float32)
    reg = rng.uniform(0.0, 1.0, (m.NUM_MANO_JOINTS, m.NUM_VERTICES))
    arrays["J_regressor"] = (reg / reg.sum(1, keepdims=True)).astype(np.float32)
    weights = rng.uniform(0.0, 1.0, (m.NUM_VERTICES, m.NUM_MANO_JOINTS))
    arrays["weights"] = (weights / weights.sum(1, keepdims=True)).astype(np.float32)
    parents = np.array(m.MANO_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    arrays["kintree_table"] = np.stack([parents, np.arange(m.NUM_MANO_JOINTS)])
    arrays["f"] = rng.integers(0, m.NUM_VERTICES, (m.NUM_FACES, 3))
    return arrays


def load_mano_or_stand_in(path: str | None, notes: list[str]):
    """The user's MANO (``path`` or the default location), else a random stand-in (noted)."""
    from fast_hamer_core.mano import MANO21

    try:
        return MANO21(path)
    except FileNotFoundError:
        if path is not None:
            raise
        notes.append(
            "MANO: no MANO file found; timed with a random stand-in of MANO's exact shapes "
            "(same cost, meaningless meshes)"
        )
        return MANO21(arrays=stand_in_mano_arrays())


def load_torch_model(spec: str, device: str):
    """A registered name (random weights), a checkpoint file or a run folder -> HandMeshModel in eval mode."""
    from fast_hamer_core.models import create_model, list_models, load_model

    if Path(spec).expanduser().exists():  # a checkpoint file, or a HaMeR / Fast-HaMeR run folder
        return load_model(spec, mano_path=None, device=device).eval()
    if spec not in list_models():
        raise ValueError(
            f"{spec!r} is neither a checkpoint (file or run folder) nor a registered model "
            f"({', '.join(list_models())})"
        )
    torch.manual_seed(0)
    return create_model(spec).to(device).eval()
