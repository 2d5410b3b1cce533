"""From a :class:`TrainConfig` to a running Lightning ``Trainer``: models, data, logger, checkpoints.

Single GPU, several GPUs (DDP) and several machines (DDP under torchrun or SLURM) are Lightning's job:
``run.devices`` / ``run.num_nodes`` / ``run.strategy`` go straight to ``lightning.pytorch.Trainer``,
which detects torchrun's and SLURM's environment variables itself. The data stream splits its shards
over ranks and DataLoader workers (:class:`~fast_hamer_core.distill.data.HandShardDataset`).

Outputs in ``<run.output_dir>/<name>/``: ``config.yaml`` (the resolved config), ``checkpoints/``
(``step=<N>.ckpt`` every ``run.checkpoint_every_n_steps`` steps and at the last step, the newest
``run.keep_checkpoints`` kept, plus ``last.ckpt`` = the final step; :mod:`.checkpoints`) and
``tensorboard/`` (losses, learning rate, validation loss and PA-MPJPE).

Resuming (``resume=``) restores weights, optimiser and loop counters (Lightning) and fast-forwards the
data stream past the samples already trained on (same pass seed, augmentation drawn for the skipped ones);
the adversarial prior's MoCap draws depend on (seed, step) only. So a resumed run continues bit for bit
(exactly with ``data.num_workers: 0`` on one device; with workers, each worker skips its own share).
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


def mean_params_from_checkpoint(
    path: Path, model: ModelConfig | str | None = None
) -> dict[str, torch.Tensor]:
    """The head's ``init_hand_pose`` / ``init_betas`` / ``init_cam`` buffers of a checkpoint (any format;
    ``model``: the registered architecture of a HaMeR-layout file, default ``hamer_vith``)."""
    from fast_hamer_core.models.checkpoint import CheckpointError, load_checkpoint, load_hamer_checkpoint
    from fast_hamer_core.models.registry import get_config

    try:
        _, state, _ = load_checkpoint(path)
    except CheckpointError:
        state = load_hamer_checkpoint(path, get_config(model) if isinstance(model, str) else model)
    return {k: v for k, v in state.items() if k.startswith("mano_head.init_")}


MEAN_PARAMS_TEACHER = "teacher"
MEAN_PARAMS_IDENTITY = "identity"


def resolve_mean_params(config: TrainConfig) -> dict[str, torch.Tensor] | str | None:
    """Where the student head's mean parameters come from (``student.mean_params``):

    - ``teacher`` (default): the teacher checkpoint's buffers (HaMeR's ``mano_mean_params.npz`` values)
      for *every* strategy, ``none`` included, so a baseline starts where the KD runs start; when the
      teacher file is absent, the copy a teacher cache stored (``mean_params.npz``); else identity pose /
      zero betas with a warning.
    - ``identity``: identity pose, zero betas, the default camera.
    - a path: HaMeR's ``mano_mean_params.npz`` (keys ``pose`` (96), ``shape`` (10), ``cam`` (3)).

    -> head buffers by name (``init_hand_pose`` ...), a file path, or None (identity)."""
    choice = config.student.mean_params or MEAN_PARAMS_TEACHER
    if choice == MEAN_PARAMS_IDENTITY:
        return None
    if choice != MEAN_PARAMS_TEACHER:
        return os.path.expandvars(choice)
    try:
        ckpt = resolve_teacher_checkpoint(config)
    except FileNotFoundError:
        ckpt = None
    if ckpt is not None:
        buffers = mean_params_from_checkpoint(ckpt, config.teacher.model)
        log.info("student head starts from the mean parameters of the teacher %s", ckpt)
        return {k[len("mano_head.") :]: v for k, v in buffers.items()}
    if config.distill.cache_dir:
        from fast_hamer_core.distill.cache import MEAN_PARAMS_NAME

        cached = Path(config.distill.cache_dir).expanduser() / MEAN_PARAMS_NAME
        if cached.is_file():
            log.info("student head starts from the teacher's mean parameters stored in %s", cached)
            return str(cached)
    log.warning(
        "no teacher checkpoint to copy mean parameters from: the student head starts from identity pose and "
        "zero betas (set student.mean_params to HaMeR's mano_mean_params.npz to compare with KD runs)"
    )
    return None


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

    The student's head starts from the mean parameters :func:`resolve_mean_params` chooses (unless
    ``student.init_checkpoint`` gives all weights). ``load_teacher`` False: no teacher file is read beyond
    its mean parameters (cache-only training needs no teacher file at all).
    """
    from fast_hamer_core.mano import MANO21, load_mano_arrays, resolve_mano_path
    from fast_hamer_core.models.checkpoint import load_model, load_weights
    from fast_hamer_core.models.registry import create_model

    mano_arrays = load_mano_arrays(resolve_mano_path(config.mano))
    init = read_init_checkpoint(config)
    mean = resolve_mean_params(config) if init is None else None
    student = create_model(
        init[0] if init is not None else config.student.model,
        mano=MANO21(arrays=mano_arrays),
        backbone_init=os.path.expandvars(config.student.backbone_init)
        if config.student.backbone_init
        else None,
        mean_params=mean if isinstance(mean, str) else None,
    )
    if isinstance(mean, dict):
        student.mano_head.load_state_dict(mean, strict=False)
    if init is not None:
        load_weights(student, init[1], source=str(config.student.init_checkpoint))
    teacher = None
    if config.needs_teacher and load_teacher:
        ckpt = resolve_teacher_checkpoint(config)
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


#: Lightning messages that say nothing about this run (an advert, a default it states on every load).
_LIGHTNING_NOISE: tuple[str, ...] = ("litlogger", "`weights_only` was not set")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(n in record.getMessage() for n in _LIGHTNING_NOISE)


def quiet_lightning_logs() -> None:
    """Lightning's INFO lines once, in the application's format: ``import lightning`` gives its logger
    its own console handler *and* lets records reach the root's, so each line was printed twice. With a
    configured root logger, Lightning's own handler goes; adverts are dropped; the warning about a
    ``validation_step`` without validation data (no ``data.val``) is silenced."""
    import warnings

    lightning_log = logging.getLogger("lightning")
    if logging.getLogger().hasHandlers():
        for h in [h for h in lightning_log.handlers if isinstance(h, logging.StreamHandler)]:
            lightning_log.removeHandler(h)
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in lg.filters):
            lg.addFilter(_DropNoise())
    for name in (
        "lightning.pytorch.utilities.rank_zero",
        "lightning.pytorch.trainer.connectors.checkpoint_connector",
    ):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _DropNoise) for f in lg.filters):
            lg.addFilter(_DropNoise())
    warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)` is deprecated.*")


def build_trainer(config: TrainConfig, callbacks: list | None = None, enable_logger: bool = True):
    """The Lightning Trainer of a config (step-based, checkpoints every N steps and at the end,
    TensorBoard with the learning rate, validation every ``run.val_every_n_steps`` when ``data.val`` is
    set)."""
    import lightning.pytorch as pl
    from lightning.pytorch.loggers import TensorBoardLogger

    from fast_hamer_core.distill.checkpoints import StepCheckpoints

    quiet_lightning_logs()
    r, o = config.run, config.optim
    precision = o.precision
    if precision == "auto":
        accel_gpu = r.accelerator in ("gpu", "cuda") or (
            r.accelerator == "auto" and torch.cuda.is_available()
        )
        precision = "16-mixed" if accel_gpu else "32-true"
    run_dir = config.run_dir
    ckpt = StepCheckpoints(run_dir / "checkpoints", r.checkpoint_every_n_steps, r.keep_checkpoints)
    logger = (
        TensorBoardLogger(save_dir=str(run_dir), name="tensorboard", version="") if enable_logger else False
    )
    validate = bool(config.data.val)
    every = r.val_every_n_steps if r.val_every_n_steps > 0 else o.max_steps
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
        enable_checkpointing=False,  # StepCheckpoints does it
        enable_progress_bar=r.progress_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=(r.val_max_batches or 1.0) if validate else 0,
        val_check_interval=min(every, o.max_steps) if validate else None,
        check_val_every_n_epoch=None if validate else 1,
        default_root_dir=str(run_dir),
        deterministic=False,
    )


def build_val_loader(config: TrainConfig, crop: CropConfig) -> torch.utils.data.DataLoader | None:
    """One un-augmented pass over ``data.val`` (None when it lists nothing)."""
    if not config.data.val:
        return None
    d = config.data
    dataset = HandShardDataset(
        sources=d.sources("val"), crop=crop, augment=None, filters=d.filters, shuffle_buffer=0,
        resampled=False, seed=config.run.seed,
    )  # fmt: skip
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.optim.batch_size, num_workers=0, collate_fn=collate, drop_last=False
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


def setup_training(
    config: TrainConfig, resume_at: tuple[int, int] = (0, 0)
) -> tuple[DistillModule, torch.utils.data.DataLoader, torch.utils.data.DataLoader | None]:
    """Data, teacher cache, models and the module for ``config`` (everything but the Trainer) ->
    (module, training loader, validation loader or None). ``resume_at``: (epoch, batches of it already
    trained): the training stream continues there."""
    from fast_hamer_core.models.registry import get_config

    crop = crop_config(get_config(config.student.model))
    build_dataset(config, crop)  # cheap checks first: a missing dataset is reported before models load
    val_loader = build_val_loader(config, crop)
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
    dataset = build_dataset(config, crop, cache)
    dataset.skip_batches(resume_at[1], config.optim.batch_size, epoch=resume_at[0])
    return module, make_dataloader(config, dataset), val_loader


def train(
    config: TrainConfig,
    resume: str | os.PathLike | None = None,
    callbacks: list | None = None,
    enable_logger: bool = True,
) -> DistillModule:
    """Train as ``config`` says (resuming from a Lightning checkpoint if given); returns the module.

    The last checkpoint written is ``module.final_checkpoint`` (``step=<N>.ckpt``, copied to
    ``last.ckpt``); ``module.final_step`` its step."""
    import lightning.pytorch as pl

    from fast_hamer_core.distill.checkpoints import StepCheckpoints, checkpoint_position

    pl.seed_everything(config.run.seed, workers=True, verbose=False)
    resume_step, resume_at = 0, (0, 0)
    if resume is not None:
        if not Path(resume).is_file():
            raise FileNotFoundError(f"checkpoint to resume from not found: {resume}")
        resume_step, epoch, in_epoch = checkpoint_position(resume)
        resume_at = (epoch, in_epoch)
        if resume_step >= config.optim.max_steps:
            raise ValueError(
                f"{resume} is at step {resume_step}, optim.max_steps is {config.optim.max_steps}: nothing to "
                "train; raise optim.max_steps to continue"
            )
    module, loader, val_loader = setup_training(config, resume_at)
    save_config(config, config.run_dir / "config.yaml")
    trainer = build_trainer(config, callbacks, enable_logger)
    trainer.fit(
        module,
        train_dataloaders=loader,
        val_dataloaders=val_loader,
        ckpt_path=str(resume) if resume else None,
    )
    saver = next(c for c in trainer.callbacks if isinstance(c, StepCheckpoints))
    module.final_checkpoint = saver.last_path
    module.final_step = int(trainer.global_step)
    return module
