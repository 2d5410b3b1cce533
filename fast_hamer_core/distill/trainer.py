"""From a :class:`TrainConfig` to a running Lightning ``Trainer``: models, data, logger, checkpoints.

Single GPU, several GPUs (DDP) and several machines (DDP under torchrun or SLURM) are Lightning's job:
``run.devices`` / ``run.num_nodes`` / ``run.strategy`` go straight to ``lightning.pytorch.Trainer``,
which detects torchrun's and SLURM's environment variables itself. The data stream splits its shards
over ranks and DataLoader workers (:class:`~fast_hamer_core.distill.data.HandShardDataset`).

Outputs in ``<run.output_dir>/<name>/``: ``config.yaml`` (the resolved config), ``checkpoints/``
(``step=<N>.ckpt`` every ``run.checkpoint_every_n_steps`` steps, the newest ``run.keep_checkpoints``
kept, plus ``last.ckpt``) and ``tensorboard/``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from fast_hamer_core.distill.config import TrainConfig, save_config
from fast_hamer_core.distill.data import CropConfig, HandShardDataset, check_shards, collate, load_mocap
from fast_hamer_core.distill.module import DistillModule
from fast_hamer_core.models.config import ModelConfig
from fast_hamer_core.models.hand_model import HandMeshModel

log = logging.getLogger(__name__)


def crop_config(model: ModelConfig) -> CropConfig:
    """The crop a model expects (crop size, mean/std, box aspect) as a data-pipeline CropConfig."""
    p = model.preprocess
    return CropConfig(
        crop_size=p.crop_size, mean=tuple(p.mean), std=tuple(p.std), box_aspect_wh=p.box_aspect_wh
    )


def resolve_teacher_checkpoint(config: TrainConfig) -> Path:
    """``teacher.checkpoint`` or ``<models dir>/hamer/hamer.ckpt``; FileNotFoundError saying how to get it."""
    from fast_hamer_core import paths

    path = (
        Path(os.path.expandvars(config.teacher.checkpoint)).expanduser()
        if config.teacher.checkpoint
        else (paths.hamer_dir() / "hamer.ckpt")
    )
    if not path.is_file():
        raise FileNotFoundError(
            f"teacher checkpoint not found: {path}. Download HaMeR's demo data (hamer_demo_data.tar.gz: "
            "_DATA/hamer_ckpts/checkpoints/hamer.ckpt + model_config.yaml) and set teacher.checkpoint, "
            "or put it in <models dir>/hamer/."
        )
    return path


def mean_params_from_checkpoint(path: Path) -> dict[str, torch.Tensor]:
    """The head's ``init_hand_pose`` / ``init_betas`` / ``init_cam`` buffers of a checkpoint (any format)."""
    from fast_hamer_core.models.checkpoint import CheckpointError, load_checkpoint, load_hamer_checkpoint

    try:
        _, state, _ = load_checkpoint(path)
    except CheckpointError:
        state = load_hamer_checkpoint(path)
    return {k: v for k, v in state.items() if k.startswith("mano_head.init_")}


def read_init_checkpoint(config: TrainConfig) -> tuple[Any, dict[str, torch.Tensor]] | None:
    """(ModelConfig, backbone + head weights) of ``student.init_checkpoint``, or None when unset.

    ValueError when it holds another architecture than ``student.model``."""
    if not config.student.init_checkpoint:
        return None
    from fast_hamer_core.assets import resolve_checkpoint
    from fast_hamer_core.models.checkpoint import read_checkpoint

    path = resolve_checkpoint(os.path.expandvars(config.student.init_checkpoint))
    model_config, state, _ = read_checkpoint(path)
    if model_config.name != config.student.model:
        raise ValueError(
            f"student.init_checkpoint {path} holds a {model_config.name!r}, but student.model is "
            f"{config.student.model!r}; set student.model={model_config.name}"
        )
    return model_config, state


def build_models(
    config: TrainConfig, load_teacher: bool = True
) -> tuple[HandMeshModel, HandMeshModel | None]:
    """(student in train mode, teacher in eval mode or None), each with its own MANO layer (a shared
    one would be switched to train mode with the student).

    The student's head starts from ``student.mean_params``, or else from the teacher checkpoint's
    mean-parameter buffers (HaMeR's ``mano_mean_params.npz`` values) when there is a teacher checkpoint.
    """
    from fast_hamer_core.mano import MANO21, load_mano_arrays, resolve_mano_path
    from fast_hamer_core.models.checkpoint import load_model, load_weights
    from fast_hamer_core.models.registry import create_model

    mano_arrays = load_mano_arrays(resolve_mano_path(config.mano))
    init = read_init_checkpoint(config)
    student = create_model(
        init[0] if init is not None else config.student.model,
        mano=MANO21(arrays=mano_arrays),
        backbone_init=config.student.backbone_init,
        mean_params=config.student.mean_params,
    )
    if init is not None:
        load_weights(student, init[1], source=str(config.student.init_checkpoint))
    teacher = None
    if config.needs_teacher:
        ckpt = resolve_teacher_checkpoint(config)
        if config.student.mean_params is None and init is None:
            init = {k[len("mano_head.") :]: v for k, v in mean_params_from_checkpoint(ckpt).items()}
            student.mano_head.load_state_dict(init, strict=False)
        if load_teacher:
            teacher = load_model(ckpt, device="cpu", model_name=config.teacher.model)
            teacher.set_mano(MANO21(arrays=mano_arrays))
    return student.train(), teacher


def build_dataset(config: TrainConfig, crop: CropConfig, teacher_cache: Any = None) -> HandShardDataset:
    d = config.data
    if not d.train:
        raise ValueError("data.train lists no training dataset (name, urls, weight)")
    return HandShardDataset(
        sources=d.sources(),
        crop=crop,
        augment=d.augment if d.augment_enabled else None,
        filters=d.filters,
        shuffle_buffer=d.shuffle_buffer,
        resampled=d.resampled,
        seed=config.run.seed,
        teacher_cache=teacher_cache,
    )


def geometric_augmentation(config: TrainConfig) -> bool:
    """Whether training moves the crop (scale / rotation / shift / flip): cached feature maps are stale."""
    a = config.data.augment
    return config.data.augment_enabled and bool(
        a.scale_factor
        or (a.rot_factor and a.rot_aug_rate)
        or a.trans_factor
        or (a.do_flip and a.flip_aug_rate)
    )


def make_dataloader(config: TrainConfig, dataset: HandShardDataset) -> torch.utils.data.DataLoader:
    workers = config.data.num_workers
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=config.optim.batch_size,
        num_workers=workers,
        collate_fn=collate,
        drop_last=True,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=False,
        prefetch_factor=2 if workers > 0 else None,
    )


def build_trainer(config: TrainConfig, callbacks: list | None = None, enable_logger: bool = True):
    """The Lightning Trainer of a config (step-based, checkpoints every N steps, TensorBoard)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    r, o = config.run, config.optim
    precision = o.precision
    if precision == "auto":
        accel_gpu = r.accelerator in ("gpu", "cuda") or (
            r.accelerator == "auto" and torch.cuda.is_available()
        )
        precision = "16-mixed" if accel_gpu else "32-true"
    run_dir = config.run_dir
    ckpt = ModelCheckpoint(
        dirpath=run_dir / "checkpoints",
        filename="step={trained_steps:.0f}",
        auto_insert_metric_name=False,
        monitor="trained_steps",
        mode="max",
        save_top_k=r.keep_checkpoints,
        save_last=True,
        every_n_train_steps=r.checkpoint_every_n_steps,
    )
    logger = (
        TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="") if enable_logger else False
    )
    return pl.Trainer(
        accelerator=r.accelerator,
        devices=r.devices,
        num_nodes=r.num_nodes,
        strategy=r.strategy,
        precision=precision,
        max_steps=o.max_steps,
        max_epochs=-1,
        gradient_clip_val=o.grad_clip or None,
        log_every_n_steps=r.log_every_n_steps,
        callbacks=[ckpt, *(callbacks or [])],
        logger=logger,
        enable_progress_bar=r.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=str(run_dir),
        deterministic=False,
    )


def _open_cache(config: TrainConfig) -> tuple[Any, bool]:
    """The teacher cache of ``config`` and whether the teacher must still be loaded (feature KD with
    geometric augmentation or without cached feature maps). FileNotFoundError if shards are missing."""
    from fast_hamer_core.distill.cache import TeacherCache

    use_features = config.uses_feature_kd and not geometric_augmentation(config)
    if config.uses_feature_kd and not use_features:
        log.warning(
            "geometric augmentation is on: cached feature maps do not match the augmented crops, "
            "the teacher backbone runs online for feature KD"
        )
    cache = TeacherCache(config.distill.cache_dir, use_features=use_features)
    sources = config.data.sources()
    missing = cache.missing_shards(sources)
    if missing:
        raise FileNotFoundError(
            f"teacher cache {config.distill.cache_dir} lacks {len(missing)} shard(s), "
            f"e.g. {missing[0]}; run `fast-hamer distill-cache` with this config"
        )
    have_features = all(cache.has_features(s.name, p) for s in sources for p in check_shards(s.name, s.urls))
    if config.uses_feature_kd and use_features and not have_features:
        log.warning("teacher cache has no feature maps: the teacher backbone runs online for feature KD")
    return cache, config.uses_feature_kd and not (use_features and have_features)


def setup_training(config: TrainConfig) -> tuple[DistillModule, torch.utils.data.DataLoader]:
    """Data, teacher cache, models and the module for ``config`` (everything but the Trainer)."""
    from fast_hamer_core.models.registry import get_config

    crop = crop_config(get_config(config.student.model))
    build_dataset(config, crop)  # cheap checks first: a missing dataset is reported before models load
    mocap = None
    if config.loss.adversarial > 0:
        if config.data.mocap is None:
            raise ValueError("loss.adversarial > 0 needs data.mocap (HaMeR's freihand_mocap.npz)")
        mocap = load_mocap(config.data.resolve(config.data.mocap))
    cache = None
    load_teacher = config.needs_teacher
    if config.needs_teacher and config.distill.cache_dir:
        cache, load_teacher = _open_cache(config)
    student, teacher = build_models(config, load_teacher=load_teacher)
    module = DistillModule(
        config, student, teacher, teacher_channels=get_config(config.teacher.model).context_dim, mocap=mocap
    )
    loader = make_dataloader(config, build_dataset(config, crop, cache))
    return module, loader


def train(
    config: TrainConfig,
    resume: str | os.PathLike | None = None,
    callbacks: list | None = None,
    enable_logger: bool = True,
) -> DistillModule:
    """Train as ``config`` says (resuming from a Lightning checkpoint if given); returns the module."""
    import lightning.pytorch as pl

    pl.seed_everything(config.run.seed, workers=True, verbose=False)
    if resume is not None and not Path(resume).is_file():
        raise FileNotFoundError(f"checkpoint to resume from not found: {resume}")
    module, loader = setup_training(config)
    save_config(config, config.run_dir / "config.yaml")
    trainer = build_trainer(config, callbacks, enable_logger)
    trainer.fit(module, train_dataloaders=loader, ckpt_path=str(resume) if resume else None)
    return module
