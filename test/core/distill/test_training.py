"""The distillation trainer on CPU: a tiny teacher (reduced ViT) and a tiny student (timm test_convnext)."""

from __future__ import annotations

import copy

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from fixtures import distill as distill_fixtures
from fixtures.distill import Recorder, make_config

from fast_hamer_core.distill.config import config_from_dict
from fast_hamer_core.distill.module import DistillModule
from fast_hamer_core.distill.trainer import build_models, build_trainer, setup_training, train

distill_setup = distill_fixtures.distill_setup  # pytest fixture


@pytest.fixture
def setup(distill_setup):
    return distill_setup


@pytest.mark.parametrize("strategy", ["none", "output", "feature", "hybrid"])
def test_strategy_trains_and_keeps_teacher_frozen(setup, tmp_path, strategy):
    # A random teacher contradicts the ground truth; with HaMeR's lambda_KD 0.3 the GT terms win and the KD
    # loss stalls, so this test weights KD above GT to see that the KD terms are optimisable.
    cfg = config_from_dict(make_config(setup, strategy, tmp_path, **{"distill.lambda_kd": 10.0}))
    rec = Recorder()
    module, loader, _ = setup_training(cfg)
    teacher_before = copy.deepcopy(module.teacher.state_dict()) if module.teacher is not None else None
    phi_before = module.phi.conv.weight.detach().clone() if module.phi is not None else None
    build_trainer(cfg, [rec], enable_logger=False).fit(module, train_dataloaders=loader)
    assert len(rec.steps) == 100
    key = "gt" if strategy == "none" else "kd"
    first = np.mean([s[key] for s in rec.steps[:5]])
    last = np.mean([s[key] for s in rec.steps[-5:]])
    assert last <= 0.5 * first, f"{strategy}: {key} loss {first:.4g} -> {last:.4g}"
    if strategy == "none":
        assert module.teacher is None and module.phi is None
        return
    # the teacher: bit-identical weights, eval mode throughout, nothing trainable, not in the state dict
    assert rec.teacher_training and not any(rec.teacher_training)
    assert not any(m.training for m in module.teacher.modules())
    for k, v in module.teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert not any(p.requires_grad for p in module.teacher.parameters())
    assert not any(k.startswith("teacher") for k in module.state_dict())
    module.train()  # what Lightning does at fit start
    assert not module.teacher.training
    if strategy in ("feature", "hybrid"):
        assert not torch.equal(module.phi.conv.weight.detach(), phi_before)  # phi was optimised
        assert "feature_kd" in rec.steps[0]
    if strategy in ("output", "hybrid"):
        assert "kd_keypoints_3d" in rec.steps[0]


def test_phi_gets_gradients_and_adversarial_terms_stay_separate(setup, tmp_path):
    cfg = config_from_dict(make_config(setup, "hybrid", tmp_path, **{"loss.adversarial": 0.0005}))
    module, loader, _ = setup_training(cfg)
    module.train()
    batch = next(iter(loader))
    terms = module.compute_losses(batch)
    disc = list(module.discriminator.parameters())
    student = [p for p in module.student.parameters() if p.requires_grad]
    (g_phi,) = torch.autograd.grad(terms["loss"], [module.phi.conv.weight], retain_graph=True)
    assert g_phi.abs().sum() > 0
    # generator term: no gradient into the discriminator; discriminator term: none into the student
    assert all(
        g is None
        for g in torch.autograd.grad(terms["adversarial_gen"], disc, retain_graph=True, allow_unused=True)
    )
    assert all(
        g is None
        for g in torch.autograd.grad(terms["adversarial_disc"], student, retain_graph=True, allow_unused=True)
    )
    g_disc = torch.autograd.grad(terms["adversarial_disc"], disc, allow_unused=True)
    assert any(g is not None and g.abs().sum() > 0 for g in g_disc)
    # the teacher's output does not depend on the mode Lightning might set: eval is enforced
    x = batch["img"]
    with torch.no_grad():
        a = module.teacher(x)["pred_keypoints_3d"]
        b = module.teacher(x)["pred_keypoints_3d"]
    assert torch.equal(a, b)
    assert {g["name"] for g in module.configure_optimizers().param_groups} == {
        "student",
        "phi",
        "discriminator",
    }


def test_checkpoint_resumes_bit_exactly(setup, tmp_path):
    """12 steps straight vs 5 steps + checkpoint + resume for 7 more, with augmentation, a shuffle buffer,
    resampled shards and the adversarial prior (torch's RNG): identical losses and weights."""
    over = {
        "optim.max_steps": 12, "run.checkpoint_every_n_steps": 5, "run.keep_checkpoints": 0,
        "data.augment_enabled": True, "data.shuffle_buffer": 4, "data.resampled": True,
        "loss.adversarial": 0.0005,
    }  # fmt: skip
    full = Recorder()
    cfg_a = config_from_dict(make_config(setup, "hybrid", tmp_path / "a", **over))
    module_a = train(cfg_a, callbacks=[full], enable_logger=False)
    names = sorted(p.name for p in (cfg_a.run_dir / "checkpoints").iterdir())
    assert names == ["last.ckpt", "step=10.ckpt", "step=12.ckpt", "step=5.ckpt"]  # the end is always saved
    assert module_a.final_step == 12 and module_a.final_checkpoint.name == "step=12.ckpt"
    last = torch.load(cfg_a.run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert last["global_step"] == 12
    ckpt = cfg_a.run_dir / "checkpoints" / "step=5.ckpt"
    stored = torch.load(ckpt, map_location="cpu", weights_only=True)  # loadable without running code
    assert stored["global_step"] == 5
    assert not any(k.startswith("teacher") for k in stored["state_dict"])
    assert any(k.startswith("phi.") for k in stored["state_dict"])
    resumed = Recorder()
    cfg_c = config_from_dict(make_config(setup, "hybrid", tmp_path / "c", **over))
    module_c = train(cfg_c, resume=ckpt, callbacks=[resumed], enable_logger=False)
    assert len(resumed.steps) == 7
    assert [s["loss"] for s in resumed.steps] == [s["loss"] for s in full.steps[5:]]
    for (k, v), w in zip(
        module_a.student.state_dict().items(), module_c.student.state_dict().values(), strict=True
    ):
        assert torch.equal(v, w), k
    with pytest.raises(ValueError, match="nothing to train"):
        train(cfg_c, resume=cfg_c.run_dir / "checkpoints" / "last.ckpt", enable_logger=False)


def test_validation_and_learning_rate_are_logged(setup, tmp_path):
    """data.val: validation loss and PA-MPJPE every run.val_every_n_steps steps; train/lr every step."""
    over = {"optim.max_steps": 4, "run.val_every_n_steps": 2, "run.log_every_n_steps": 1}
    data = make_config(setup, "output", tmp_path, **over)
    data["data"]["val"] = [{"name": "held-out", "urls": [str(p) for p in setup["pair"]]}]
    cfg = config_from_dict(data)
    metrics: list[dict[str, float]] = []

    class Spy(pl.Callback):
        def on_validation_end(self, trainer, module):
            metrics.append({k: float(v) for k, v in trainer.callback_metrics.items()})

    train(cfg, callbacks=[Spy()], enable_logger=False)
    assert len(metrics) == 2  # steps 2 and 4
    for m in metrics:
        assert 0 < m["val/pa_mpjpe_mm"] < 1000 and m["val/loss_gt"] > 0
        assert m["train/lr"] == pytest.approx(cfg.optim.lr)


def test_student_starts_from_teacher_mean_params(setup, tmp_path):
    cfg = config_from_dict(make_config(setup, "output", tmp_path))
    student, teacher = build_models(cfg)
    for name in ("init_hand_pose", "init_betas", "init_cam"):
        assert torch.equal(getattr(student.mano_head, name), getattr(teacher.mano_head, name))
    assert student.mano is not teacher.mano  # the student's train() must not reach into the teacher
    # the `none` baseline starts from the same point (no confound), unless told otherwise
    baseline, no_teacher = build_models(config_from_dict(make_config(setup, "none", tmp_path)))
    assert no_teacher is None
    for name in ("init_hand_pose", "init_betas", "init_cam"):
        assert torch.equal(getattr(baseline.mano_head, name), getattr(teacher.mano_head, name))
    identity, _ = build_models(
        config_from_dict(make_config(setup, "none", tmp_path, **{"student.mean_params": "identity"}))
    )
    assert not torch.equal(identity.mano_head.init_hand_pose, teacher.mano_head.init_hand_pose)


def test_student_fine_tunes_from_init_checkpoint(setup, tmp_path):
    """student.init_checkpoint: every backbone + head weight comes from the trained checkpoint."""
    from fixtures.models import save_tiny_checkpoint

    from fast_hamer_core.models.checkpoint import load_checkpoint

    ckpt = save_tiny_checkpoint(tmp_path / "trained.pt", "tiny_student", seed=5)
    cfg = config_from_dict(make_config(setup, "output", tmp_path, **{"student.init_checkpoint": str(ckpt)}))
    student, _ = build_models(cfg, load_teacher=False)
    _, expected, _ = load_checkpoint(ckpt)
    state = student.state_dict()
    for k, v in expected.items():
        assert torch.equal(state[k], v), (
            k
        )  # also the mean-parameter buffers: the checkpoint's, not the teacher's
    wrong = make_config(
        setup, "none", tmp_path, **{"student.init_checkpoint": str(ckpt), "student.model": "resnet50"}
    )
    with pytest.raises(ValueError, match=r"holds a 'tiny_student', but student.model is 'resnet50'"):
        build_models(config_from_dict(wrong))


def test_missing_inputs_are_clear_errors(setup, tmp_path):
    cfg = config_from_dict(
        make_config(setup, "output", tmp_path, **{"teacher.checkpoint": str(tmp_path / "no.ckpt")})
    )
    with pytest.raises(FileNotFoundError, match="teacher checkpoint not found"):
        setup_training(cfg)
    cfg = config_from_dict(
        make_config(setup, "hybrid", tmp_path, **{"loss.adversarial": 0.1, "data.mocap": "nope.npz"})
    )
    with pytest.raises(FileNotFoundError, match="MoCap"):
        setup_training(cfg)
    with pytest.raises(ValueError, match="strategy"):
        config_from_dict(make_config(setup, "full", tmp_path))
    with pytest.raises(ValueError, match="unknown keys"):
        config_from_dict({**make_config(setup, "output", tmp_path), "optimiser": {}})
    module = DistillModule(
        config_from_dict(make_config(setup, "output", tmp_path)),
        build_models(config_from_dict(make_config(setup, "none", tmp_path)))[0],
    )
    with pytest.raises(RuntimeError, match="no teacher is loaded"):
        module.compute_losses({"img": torch.zeros(1, 3, 256, 256), **_dummy_labels()})


def _dummy_labels() -> dict:
    eye = torch.eye(3)
    return {
        "keypoints_2d": torch.zeros(1, 21, 3),
        "keypoints_3d": torch.zeros(1, 21, 4),
        "global_orient": eye.expand(1, 1, 3, 3),
        "hand_pose": eye.expand(1, 15, 3, 3),
        "betas": torch.zeros(1, 10),
        "has_global_orient": torch.ones(1),
        "has_hand_pose": torch.ones(1),
        "has_betas": torch.ones(1),
    }


def test_student_starts_from_local_imagenet_weights(setup, tmp_path):
    """student.backbone_init: a local timm state-dict file (ImageNet weights) initialises the backbone."""
    import timm

    torch.manual_seed(3)
    imagenet = timm.create_model("test_convnext", pretrained=False)  # stands in for downloaded weights
    path = tmp_path / "test_convnext_in1k.pth"
    torch.save(imagenet.state_dict(), path)
    cfg = config_from_dict(make_config(setup, "none", tmp_path, **{"student.backbone_init": str(path)}))
    student, _ = build_models(cfg)
    loaded = student.backbone.model.state_dict()
    for k, v in imagenet.state_dict().items():
        if k in loaded:
            assert torch.equal(loaded[k], v), k
    assert sum(k in loaded for k in imagenet.state_dict()) > 10
