"""Training configuration: plain dataclasses read from YAML (``training/configs/*.yaml``), with overrides.

Every key has a default equal to the seed paper's / HaMeR's setting, so a config file only says what
differs (student, strategy, paths); ``base: other.yaml`` (or a list) merges shared files underneath.
Unknown keys are errors (a typo must not silently train the wrong thing). ``--set key.sub=value``
overrides parse ``value`` as YAML (``1e-5``-style floats included).

Relative data paths are resolved against ``data.root``; ``~`` and ``$VARS`` are expanded everywhere.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from fast_hamer_core.distill.augment import AugmentConfig
from fast_hamer_core.distill.data import FilterConfig, ShardSource
from fast_hamer_core.distill.losses import STRATEGIES, LossWeights


@dataclass(frozen=True)
class StudentConfig:
    """The network being trained: a registered model name (``fast_hamer_core.models.list_models()``),
    an optional local ImageNet init of its backbone, and where the head's mean parameters come from.

    ``backbone_init``: a local ImageNet weights file of the backbone (timm state dict ``.pth`` /
    ``.safetensors``; for ``fh_*`` students the torchvision / timm classifier's state dict); nothing is
    downloaded. None: random init.

    ``mean_params`` (the MANO pose / shape / camera the head regresses residuals from):
    ``teacher`` (default, also when null): the teacher checkpoint's buffers - for every strategy,
    ``none`` included, so that baselines and KD runs start from the same point (from a teacher cache's
    ``mean_params.npz`` when the teacher file is absent; identity with a warning when neither exists);
    ``identity``: identity pose, zero betas; or a path to HaMeR's ``mano_mean_params.npz``.

    ``init_checkpoint``: fine-tune a trained network instead: our ``.pt``, a Fast-HaMeR / HaMeR ``.ckpt``
    or run folder, or a model name; all backbone + head weights load strictly and it must be a ``model``
    (its own head config, e.g. a Fast-HaMeR mlp_dim 512 head, is kept)."""

    model: str = "mobilenetv3_large"
    backbone_init: str | None = None
    mean_params: str | None = None
    init_checkpoint: str | None = None


@dataclass(frozen=True)
class TeacherConfig:
    """The frozen teacher: a checkpoint (HaMeR's Lightning ``.ckpt`` or ours) of registered ``model``.

    ``checkpoint`` None -> ``<models dir>/hamer/hamer.ckpt``.
    """

    checkpoint: str | None = None
    model: str = "hamer_vith"


@dataclass(frozen=True)
class DistillConfig:
    """Knowledge distillation: ``strategy`` none | output | feature | hybrid (Fast-HaMeR: -, outputs,
    features, full), the KD weight ``lambda_kd`` on the whole KD term, the feature-MSE weight inside
    it, and an optional teacher cache directory written by ``fast-hamer distill-cache``."""

    strategy: str = "hybrid"
    lambda_kd: float = 0.3
    feature_weight: float = 6.0
    cache_dir: str | None = None


@dataclass(frozen=True)
class SourceConfig:
    """One training dataset (HaMeR ``datasets_tar.yaml`` + ``mix_all.yaml`` weight); ``urls``: a shard
    pattern (``{000000..000130}`` ranges and globs expand) or a list of them."""

    name: str
    urls: str | tuple[str, ...]
    weight: float = 1.0


@dataclass(frozen=True)
class DataConfig:
    """Training data: shard sources (paths relative to ``root``), the MoCap file of the adversarial
    prior, augmentation, filters and loader settings. ``resampled``: endless stream of random shards
    (HaMeR); else epochs over the shards. ``val``: held-out shard sources for validation (no
    augmentation, one pass; see ``run.val_every_n_steps``)."""

    root: str = "hamer_training_data"
    train: tuple[SourceConfig, ...] = ()
    val: tuple[SourceConfig, ...] = ()
    mocap: str | None = "freihand_mocap.npz"
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    augment_enabled: bool = True
    filters: FilterConfig = field(default_factory=FilterConfig)
    shuffle_buffer: int = 100
    resampled: bool = True
    num_workers: int = 4

    def resolve(self, path: str) -> str:
        """``path`` with ``~``/``$VARS`` expanded, joined to ``root`` when relative."""
        p = os.path.expanduser(os.path.expandvars(path))
        if os.path.isabs(p) or "://" in p:
            return p
        return os.path.join(os.path.expanduser(os.path.expandvars(self.root)), p)

    def sources(self, split: str = "train") -> list[ShardSource]:
        """The ``train`` or ``val`` sources with their shard patterns resolved against ``root``."""
        out = []
        for s in self.train if split == "train" else self.val:
            urls = (s.urls,) if isinstance(s.urls, str) else s.urls
            out.append(ShardSource(s.name, tuple(self.resolve(u) for u in urls), s.weight))
        return out


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and loop (HaMeR / Fast-HaMeR: AdamW lr 1e-5, wd 1e-4, batch 8, fp16, step-based).

    ``precision``: "auto" = 16-mixed on a GPU, 32-true on the CPU. ``mocap_per_sample``: MoCap poses per
    image in the discriminator's real batch (HaMeR ``NUM_TRAIN_SAMPLES``: 2).
    """

    lr: float = 1e-5
    weight_decay: float = 1e-4
    batch_size: int = 8
    max_steps: int = 1_000_000
    grad_clip: float = 0.0
    precision: str = "auto"
    mocap_per_sample: int = 2


@dataclass(frozen=True)
class RunConfig:
    """Where and how Lightning runs: devices (``auto``, a count or a list), nodes, strategy (``auto`` ->
    DDP when more than one device), logging/checkpoint intervals in steps, seed, output directory.

    ``val_every_n_steps``: validate on ``data.val`` every N steps (0: only after the last step), at most
    ``val_max_batches`` batches (0: the whole split); logged as ``val/loss_gt`` and ``val/pa_mpjpe_mm``."""

    output_dir: str = "runs"
    accelerator: str = "auto"
    devices: Any = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    log_every_n_steps: int = 50
    checkpoint_every_n_steps: int = 1000
    keep_checkpoints: int = 2
    val_every_n_steps: int = 0
    val_max_batches: int = 50
    seed: int = 0
    progress_bar: bool = True


@dataclass(frozen=True)
class TrainConfig:
    """Everything ``fast-hamer train`` needs; see ``training/README.md``."""

    name: str = "student"
    student: StudentConfig = field(default_factory=StudentConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    mano: str | None = None
    distill: DistillConfig = field(default_factory=DistillConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def __post_init__(self) -> None:
        if self.distill.strategy not in STRATEGIES:
            raise ValueError(f"distill.strategy must be one of {STRATEGIES}, got {self.distill.strategy!r}")
        for name in ("lambda_kd", "feature_weight"):
            if getattr(self.distill, name) < 0:
                raise ValueError(f"distill.{name} must be >= 0")
        if self.optim.batch_size < 1 or self.optim.max_steps < 1:
            raise ValueError("optim.batch_size and optim.max_steps must be >= 1")
        if self.run.checkpoint_every_n_steps < 1:
            raise ValueError("run.checkpoint_every_n_steps must be >= 1")
        if self.run.val_every_n_steps < 0 or self.run.val_max_batches < 0:
            raise ValueError("run.val_every_n_steps and run.val_max_batches must be >= 0")

    @property
    def needs_teacher(self) -> bool:
        return self.distill.strategy != "none"

    @property
    def uses_output_kd(self) -> bool:
        return self.distill.strategy in ("output", "hybrid")

    @property
    def uses_feature_kd(self) -> bool:
        return self.distill.strategy in ("feature", "hybrid")

    @property
    def run_dir(self) -> Path:
        return Path(os.path.expanduser(os.path.expandvars(self.run.output_dir))) / self.name

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (YAML-safe). Inverse: :func:`config_from_dict`."""
        return _plain(dataclasses.asdict(self))


def _plain(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _coerce(tp: Any, value: Any, where: str) -> Any:
    """Convert YAML data ``value`` to the annotated type ``tp`` (dataclasses, tuples, optionals, scalars)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in (a for a in args if a is not type(None)):
            try:
                return _coerce(a, value, where)
            except (TypeError, ValueError) as exc:
                errors.append(str(exc))
        raise ValueError(f"{where}: {value!r} fits none of {tp} ({'; '.join(errors)})")
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping, got {value!r}")
        return _build(tp, value, where)
    if origin is tuple:
        (item, *_rest) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp in (int, float):
        if isinstance(value, bool):
            raise ValueError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value) if isinstance(value, str) else value
            if tp is int and float(number) != int(number):
                raise ValueError
            return tp(number)
        except (TypeError, ValueError):
            raise ValueError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ValueError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _build(cls: type, data: dict[str, Any], where: str = "config") -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(names)}")
    kwargs = {k: _coerce(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required field is missing
        raise ValueError(f"{where}: {exc}") from None


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from plain data (e.g. parsed YAML)."""
    return _build(TrainConfig, data or {}, "config")


def apply_overrides(data: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Apply ``key.sub=value`` overrides (value parsed as YAML) to nested plain data, in place."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"bad override {item!r}: expected key.sub=value")
        value = yaml.safe_load(raw) if raw.strip() else None
        node = data
        parts = key.strip().split(".")
        for p in parts[:-1]:
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ValueError(f"override {item!r}: {p!r} is not a mapping")
            node = child
        node[parts[-1]] = value
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def read_config_data(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A config file as plain data, with its ``base:`` file(s) (relative to it) merged underneath."""
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise FileNotFoundError(f"training config not found: {p}")
    if p in _seen:
        raise ValueError(f"{p}: circular 'base' chain")
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{p} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{p}: the top level must be a mapping")
    bases = data.pop("base", None) or []
    merged: dict[str, Any] = {}
    for b in [bases] if isinstance(bases, str) else bases:
        merged = _deep_merge(merged, read_config_data(p.parent / b, (*_seen, p)))
    return _deep_merge(merged, data)


def load_config(path: str | os.PathLike | None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (None: defaults only), merge its ``base:`` files under it, apply ``key=value``
    overrides, validate. Errors name the file and the key."""
    data = read_config_data(path) if path is not None else {}
    apply_overrides(data, list(overrides))
    try:
        return config_from_dict(data)
    except ValueError as exc:
        raise ValueError(f"{path or 'config'}: {exc}") from None


def save_config(config: TrainConfig, path: str | os.PathLike) -> Path:
    """Write the full, resolved config as YAML (next to the checkpoints, for reproducibility)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
    return p
