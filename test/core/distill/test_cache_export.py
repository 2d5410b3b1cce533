"""Teacher cache (distill-cache), training from it, and export-student, through their CLI entry points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import yaml
from fixtures import distill as distill_fixtures
from fixtures.cli import run_cli
from fixtures.distill import Recorder, make_config

from fast_hamer_core.cli import distill_cache as cli_cache
from fast_hamer_core.cli import export_student as cli_export
from fast_hamer_core.cli import train as cli_train
from fast_hamer_core.distill.augment import AugmentParams
from fast_hamer_core.distill.cache import TeacherCache
from fast_hamer_core.distill.config import config_from_dict
from fast_hamer_core.distill.data import (
    CropConfig,
    FilterConfig,
    clean_annotation,
    iterate_records,
    make_sample,
)
from fast_hamer_core.distill.trainer import build_trainer, setup_training
from fast_hamer_core.models.checkpoint import load_checkpoint, load_model

distill_setup = distill_fixtures.distill_setup  # pytest fixture


@pytest.fixture(scope="module")
def setup(distill_setup):
    return distill_setup


def _write_config(setup, tmp_path, strategy: str, **over) -> str:
    path = tmp_path / f"{strategy}.yaml"
    path.write_text(yaml.safe_dump(make_config(setup, strategy, tmp_path / "runs", **over)))
    return str(path)


@pytest.fixture(scope="module")
def cache_dir(setup, tmp_path_factory):
    root = tmp_path_factory.mktemp("cache")
    cfg = _write_config(setup, root, "hybrid")
    assert (
        run_cli(
            cli_cache,
            [
                "distill-cache",
                "--config",
                cfg,
                "--out",
                str(root / "cache"),
                "--features",
                "--batch-size",
                "3",
                "--device",
                "cpu",
            ],
        )
        == 0
    )
    return root / "cache"


def test_cached_targets_equal_the_online_teacher(setup, cache_dir):
    cfg = config_from_dict(make_config(setup, "hybrid", cache_dir.parent / "runs"))
    module, _, _ = setup_training(cfg)
    teacher = module.teacher
    cache = TeacherCache(cache_dir)
    crop = CropConfig()
    records = list(iterate_records([str(p) for p in setup["shards"]]))
    checked = 0
    for rec in records:
        for h, ann in enumerate(rec["hands"]):
            ann = clean_annotation(ann, FilterConfig())
            sid = f"{rec['__key__']}/{h}"
            labels, feats = cache.lookup("synthetic", rec["__url__"], sid)
            assert labels is not None and feats is not None and feats.shape == (32, 16, 12)
            s = make_sample(rec["image"], ann, sid, crop, AugmentParams(), labels, feats)
            with torch.no_grad():
                out = teacher(torch.from_numpy(s["img"])[None])
            np.testing.assert_allclose(
                s["teacher_keypoints_2d"], out["pred_keypoints_2d"][0].numpy(), atol=2e-5
            )
            np.testing.assert_allclose(
                s["teacher_keypoints_3d"], out["pred_keypoints_3d"][0].numpy(), atol=2e-5
            )
            for k in ("global_orient", "hand_pose", "betas"):
                np.testing.assert_allclose(
                    s[f"teacher_{k}"], out["pred_mano_params"][k][0].numpy(), atol=2e-5
                )
            np.testing.assert_allclose(
                s["teacher_features"], out["features"][0].numpy(), atol=2e-2, rtol=1e-2
            )
            # a rotated crop: the cached 2D targets turn by -rot about the crop centre, like the image
            rot = 35.0
            r = make_sample(rec["image"], ann, sid, crop, AugmentParams(rot_deg=rot), labels)
            a = math.radians(-rot)
            rz = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
            np.testing.assert_allclose(r["teacher_keypoints_2d"], s["teacher_keypoints_2d"] @ rz.T, atol=1e-5)
            checked += 1
    assert checked == 7
    assert cache.lookup("synthetic", str(setup["shards"][0]), "nope/0") == (None, None)


def test_training_from_the_cache_needs_no_teacher(setup, cache_dir, tmp_path):
    over = {"distill.cache_dir": str(cache_dir), "optim.max_steps": 6}
    cfg = config_from_dict(make_config(setup, "output", tmp_path, **over))
    module, loader, _ = setup_training(cfg)
    assert module.teacher is None  # output KD entirely from the cache: ViT-H never loaded
    batch = next(iter(loader))
    assert "teacher_keypoints_2d" in batch
    rec = Recorder()
    build_trainer(cfg, [rec], enable_logger=False).fit(module, train_dataloaders=loader)
    assert len(rec.steps) == 6 and all("kd_keypoints_2d" in s for s in rec.steps)
    # hybrid without geometric augmentation: cached feature maps too, still no teacher
    cfg = config_from_dict(make_config(setup, "hybrid", tmp_path, **over))
    module, loader, _ = setup_training(cfg)
    assert module.teacher is None and "teacher_features" in next(iter(loader))
    # no teacher file at all: the student still starts from the teacher's mean parameters (the cache's copy)
    gone = {**over, "teacher.checkpoint": str(tmp_path / "deleted_teacher.pt")}
    module, _, _ = setup_training(config_from_dict(make_config(setup, "output", tmp_path, **gone)))
    assert module.teacher is None
    teacher = load_model(setup["teacher"])
    for name in ("init_hand_pose", "init_betas", "init_cam"):
        torch.testing.assert_close(
            getattr(module.student.mano_head, name), getattr(teacher.mano_head, name), msg=name
        )
    # with geometric augmentation the feature maps are stale: the teacher backbone runs online
    cfg = config_from_dict(make_config(setup, "hybrid", tmp_path, **over, **{"data.augment_enabled": True}))
    module, loader, _ = setup_training(cfg)
    assert module.teacher is not None and "teacher_features" not in next(iter(loader))


def test_incomplete_cache_is_an_error(setup, tmp_path):
    (tmp_path / "empty").mkdir()
    cfg = config_from_dict(
        make_config(setup, "output", tmp_path, **{"distill.cache_dir": str(tmp_path / "empty")})
    )
    with pytest.raises(FileNotFoundError, match="distill-cache"):
        setup_training(cfg)


def test_train_cli_and_export_student(setup, tmp_path):
    cfg = _write_config(
        setup, tmp_path, "hybrid", **{"optim.max_steps": 4, "run.checkpoint_every_n_steps": 2}
    )
    assert run_cli(cli_train, ["train", "--config", cfg, "--set", "run.progress_bar=false"]) == 0
    run_dir = tmp_path / "runs" / "tiny_hybrid"
    assert (run_dir / "config.yaml").is_file() and (run_dir / "tensorboard").is_dir()
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    assert ckpt.is_file() and (run_dir / "checkpoints" / "step=4.ckpt").is_file()
    out = tmp_path / "student.pt"
    assert run_cli(cli_export, ["export-student", str(ckpt), "--out", str(out), "--meta", "note=test"]) == 0
    config, state, meta = load_checkpoint(out)
    assert config.name == "tiny_student" and meta["strategy"] == "hybrid" and meta["note"] == "test"
    assert meta["global_step"] == 4
    assert all(k.startswith(("backbone.", "mano_head.")) for k in state)  # no teacher, phi, discriminator
    lightning = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    student = {k[len("student.") :]: v for k, v in lightning.items() if k.startswith("student.")}
    assert set(state) == set(student)
    for k, v in state.items():
        assert torch.equal(v, student[k]), k
    model = load_model(out, mano_path=setup["mano"])
    assert model.config.name == "tiny_student" and model.has_mano
    with pytest.raises(ValueError, match="not a `fast-hamer train` checkpoint"):
        run_cli(cli_export, ["export-student", str(out), "--out", str(tmp_path / "x.pt")])


def test_print_config_applies_overrides(setup, tmp_path, capsys):
    cfg = _write_config(setup, tmp_path, "output")
    assert run_cli(cli_train, ["train", "--config", cfg, "--set", "optim.lr=3e-4", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["optim"]["lr"] == pytest.approx(3e-4) and printed["distill"]["strategy"] == "output"
