"""The shipped training configs: one per registered student and strategy, all valid, generator in sync."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from fast_hamer_core.distill.config import load_config
from fast_hamer_core.distill.losses import STRATEGIES
from fast_hamer_core.models.registry import list_models

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "training" / "configs"


def test_every_student_and_strategy_has_a_valid_config():
    students = [m for m in list_models() if m != "hamer_vith" and not m.startswith("synthetic_")]
    assert students
    for student in students:
        for strategy in STRATEGIES:
            cfg = load_config(CONFIGS / f"{student}_{strategy}.yaml")
            assert cfg.student.model == student and cfg.distill.strategy == strategy
            assert cfg.name == f"{student}_{strategy}"
            # HaMeR / seed-paper settings from _base.yaml
            assert (cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.batch_size) == (1e-5, 1e-4, 8)
            assert (cfg.loss.keypoints_3d, cfg.loss.keypoints_2d, cfg.loss.betas) == (0.05, 0.01, 0.0005)
            assert len(cfg.data.train) == 10 and cfg.data.augment.rot_factor == 30.0
            if strategy != "none":
                assert cfg.distill.lambda_kd in (0.3, 0.5, 0.8)
    spec = importlib.util.spec_from_file_location("make_configs", REPO / "training" / "make_configs.py")
    make_configs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_configs)
    assert make_configs.main(["--check"]) == 0  # the generated files are up to date


def test_base_merge_and_overrides(tmp_path):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump({"optim": {"lr": 1e-4, "batch_size": 4}, "name": "b"}))
    (tmp_path / "run.yaml").write_text(yaml.safe_dump({"base": "base.yaml", "optim": {"batch_size": 2}}))
    cfg = load_config(tmp_path / "run.yaml", ["distill.strategy=output", "optim.max_steps=7", "data.mocap="])
    assert (cfg.optim.lr, cfg.optim.batch_size, cfg.optim.max_steps, cfg.name) == (1e-4, 2, 7, "b")
    assert cfg.distill.strategy == "output" and cfg.data.mocap is None
    with pytest.raises(ValueError, match=r"optim\.batch_size: expected int"):
        load_config(tmp_path / "run.yaml", ["optim.batch_size=two"])
    with pytest.raises(FileNotFoundError, match="training config not found"):
        load_config(tmp_path / "missing.yaml")


def test_feature_kd_into_a_pooled_student_map_averages_the_teacher_map():
    """fh_efficientnet_v2_* keep Fast-HaMeR's average pool (a 1x1 map): phi pools the teacher map too."""
    import torch

    from fast_hamer_core.distill.losses import FeatureProjector
    from fast_hamer_core.models.registry import get_config

    assert get_config("fh_efficientnet_v2_m").feature_size == (1, 1)
    torch.manual_seed(0)
    phi = FeatureProjector(8, 4)
    teacher = torch.randn(2, 8, 16, 12)
    out = phi(teacher, (1, 1))
    torch.testing.assert_close(out, phi.conv(teacher.mean(dim=(-2, -1), keepdim=True)))
    assert not torch.allclose(out, phi.conv(teacher[:, :, 7:9, 5:7].mean(dim=(-2, -1), keepdim=True)))
