"""HaMeR and Fast-HaMeR Lightning checkpoints and run folders -> (ModelConfig, state dict, provenance).

Layout (HaMeR's release ``hamer_ckpts/`` and every Fast-HaMeR training run)::

    RUN/model_config.yaml          the config (OmegaConf.save: ``${...}`` references unresolved)
    RUN/dataset_config.yaml
    RUN/checkpoints/*.ckpt         Lightning: state_dict, hyper_parameters {"cfg": CfgNode | DictConfig},
                                   global_step, epoch, loops, optimizer_states, ...

The config comes from the pickled ``hyper_parameters['cfg']`` (read by the restricted unpickler of
:mod:`~fast_hamer_core.models.safe_load`, turned into plain data), else from ``model_config.yaml`` next
to the ``.ckpt`` or one level above ``checkpoints/``. When both exist they must describe the same model.
``MODEL.BACKBONE.TYPE`` / ``SIZE`` pick the registered architecture (:data:`FAST_HAMER_BACKBONES`);
the head, normalisation and focal length come from the config too. State-dict keys ``backbone.*`` and
``mano_head.*`` are kept; ``teacher.*`` (a KD run's whole ViT-H), ``channel_projection.*`` (phi),
``mano.*``, ``discriminator.*`` and ``initialized`` are skipped. A config that contradicts the weights
is an error naming both.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fast_hamer_core.models.config import IMAGENET_MEAN, IMAGENET_STD, HeadConfig, ModelConfig
from fast_hamer_core.models.registry import build_backbone, get_config, list_models
from fast_hamer_core.models.safe_load import CheckpointError, plain_data

log = logging.getLogger(__name__)

CONFIG_NAME = "model_config.yaml"
CHECKPOINTS_DIR = "checkpoints"
MODEL_PREFIXES: tuple[str, ...] = ("backbone.", "mano_head.")
#: State-dict prefixes of HaMeR's / Fast-HaMeR's LightningModule that a student never needs.
SKIPPED_PREFIXES: tuple[str, ...] = ("teacher.", "channel_projection.", "mano.", "discriminator.")
SKIPPED_KEYS: tuple[str, ...] = ("initialized",)
#: The state-dict key whose input width is the head's context_dim (the backbone's channels).
CONTEXT_KEY = "mano_head.transformer.transformer.layers.0.1.fn.to_kv.weight"

#: (MODEL.BACKBONE.TYPE, SIZE) -> registry name, as Fast-HaMeR's ``create_backbone`` builds them.
#: SIZE None: the upstream code ignores SIZE for that type (always the large model / ViT-H).
FAST_HAMER_BACKBONES: dict[tuple[str, str | None], str] = {
    ("vit", None): "hamer_vith",
    ("mobilenet_v3", None): "fh_mobilenet_v3_large",
    ("mobilevit", "small"): "fh_mobilevit_s",
    ("resnet", "50"): "fh_resnet50",
    ("resnet", "101"): "fh_resnet101",
    ("wide_resnet", "50"): "fh_wide_resnet50_2",
    ("wide_resnet", "101"): "fh_wide_resnet101_2",
    ("convnext", None): "fh_convnext_large",
    ("efficientnet_v2", "medium"): "fh_efficientnet_v2_m",
    ("efficientnet_v2", "large"): "fh_efficientnet_v2_l",
}
_MAX_LISTED = 5
_REF = re.compile(r"\$\{([A-Za-z0-9_.]+)\}")


def supported_backbones() -> str:
    """One line: the TYPE (SIZE) pairs that load, e.g. ``resnet (50, 101)``."""
    sizes: dict[str, list[str]] = {}
    for (kind, size), _ in FAST_HAMER_BACKBONES.items():
        sizes.setdefault(kind, []).append(size or "any")
    return ", ".join(f"{k} ({', '.join(v)})" for k, v in sizes.items())


def upstream_backbone(model_name: str) -> str | None:
    """The ``MODEL.BACKBONE.TYPE`` that builds registry model ``model_name``, or None."""
    for (kind, _), name in FAST_HAMER_BACKBONES.items():
        if name == model_name:
            return kind
    return None


# --------------------------------------------------------------------------------------------
# Files of a run
# --------------------------------------------------------------------------------------------


def _step_of(path: Path) -> int:
    match = re.search(r"step=(\d+)", path.name)
    return int(match.group(1)) if match else -1


def find_run_checkpoint(path: str | Path) -> Path:
    """The ``.ckpt`` a path stands for: a file as it is; a run folder (``checkpoints/*.ckpt`` inside)
    or a ``checkpoints`` folder -> ``last.ckpt`` if there, else the highest ``step=N``, else the newest.

    FileNotFoundError if nothing exists at ``path``; CheckpointError for a folder that is no run folder.
    """
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if not p.exists():
        raise FileNotFoundError(f"checkpoint not found: {p}")
    for folder in (p / CHECKPOINTS_DIR, p):
        ckpts = sorted(f for f in folder.glob("*.ckpt") if f.is_file()) if folder.is_dir() else []
        if ckpts:
            last = [f for f in ckpts if f.name == "last.ckpt"]
            return last[0] if last else max(ckpts, key=lambda f: (_step_of(f), f.stat().st_mtime, f.name))
    raise CheckpointError(
        f"{p} is a folder but not a HaMeR / Fast-HaMeR run folder: no {CHECKPOINTS_DIR}/*.ckpt and no "
        f"*.ckpt in it. Give a checkpoint file (.pt / .ckpt), a run folder (model_config.yaml + "
        f"{CHECKPOINTS_DIR}/), its {CHECKPOINTS_DIR}/ folder, or a model name"
    )


def find_run_config(ckpt: Path) -> Path | None:
    """``model_config.yaml`` next to ``ckpt`` or one level above its folder (HaMeR / Fast-HaMeR layout)."""
    for candidate in (ckpt.parent / CONFIG_NAME, ckpt.parent.parent / CONFIG_NAME):
        if candidate.is_file():
            return candidate
    return None


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except (yaml.YAMLError, OSError) as exc:
        raise CheckpointError(f"{path} is not valid YAML: {exc}") from exc


def _hparams_config(hparams: Any) -> dict[str, Any] | None:
    """The model config inside Lightning's ``hyper_parameters`` ({'cfg': config} or the config itself)."""
    plain = plain_data(hparams)
    if isinstance(plain, dict) and isinstance(plain.get("cfg"), dict):
        plain = plain["cfg"]
    return plain if isinstance(plain, dict) and isinstance(plain.get("MODEL"), dict) else None


def run_configs(ckpt: Path, hparams: Any) -> list[tuple[dict[str, Any], str]]:
    """Every config a run holds, as (plain data, where it came from): the pickled
    ``hyper_parameters['cfg']`` first, then ``model_config.yaml`` (see :func:`find_run_config`)."""
    found = []
    pickled = _hparams_config(hparams)
    if pickled is not None:
        found.append((pickled, f"{ckpt} hyper_parameters"))
    yaml_path = find_run_config(ckpt)
    if yaml_path is not None:
        from_yaml = _read_yaml(yaml_path)
        if not isinstance(from_yaml, dict):
            raise CheckpointError(f"{yaml_path}: the top level is not a mapping")
        found.append((from_yaml, str(yaml_path)))
    return found


def _first_difference(a: ModelConfig, b: ModelConfig) -> str:
    da, db = a.to_dict(), b.to_dict()

    def walk(x: Any, y: Any, where: str) -> str | None:
        if isinstance(x, dict) and isinstance(y, dict):
            for k in x:
                found = walk(x[k], y.get(k), f"{where}.{k}" if where else k)
                if found:
                    return found
            return None
        return None if x == y else f"{where}: {x!r} vs {y!r}"

    return walk(da, db, "") or "?"


# --------------------------------------------------------------------------------------------
# Config -> ModelConfig
# --------------------------------------------------------------------------------------------


def lookup(cfg: Any, dotted: str, default: Any = None) -> Any:
    """``cfg['A']['B']`` for ``"A.B"`` (``default`` if absent). A value that is exactly ``${X.Y}`` is
    replaced by ``X.Y`` of ``cfg`` (plain references only: no resolvers, no string interpolation); one
    that leads nowhere stays the string it is, so that errors show it."""
    node = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return default
        for _ in range(8):  # follow a chain of plain references
            match = _REF.fullmatch(node) if isinstance(node, str) else None
            target = lookup(cfg, match.group(1)) if match else None
            if target is None:
                break
            node = target
    return node


def backbone_id(cfg: Any) -> tuple[str | None, str | None]:
    """(MODEL.BACKBONE.TYPE, SIZE as a string) of a HaMeR / Fast-HaMeR config."""
    kind, size = lookup(cfg, "MODEL.BACKBONE.TYPE"), lookup(cfg, "MODEL.BACKBONE.SIZE")
    return (None if kind is None else str(kind), None if size is None else str(size))


def _show(ident: tuple[str | None, str | None]) -> str:
    return f"TYPE={ident[0]!r}" + (f" SIZE={ident[1]!r}" if ident[1] is not None else "")


def registry_name_for(cfg: Any, source: str) -> str:
    """The registered architecture Fast-HaMeR builds for ``cfg``; CheckpointError (one line) if none."""
    kind, size = backbone_id(cfg)
    name = FAST_HAMER_BACKBONES.get((kind or "", size)) or FAST_HAMER_BACKBONES.get((kind or "", None))
    if name is None:
        raise CheckpointError(
            f"{source}: backbone MODEL.BACKBONE.{_show((kind, size))} is not supported; supported TYPE "
            f"(SIZE): {supported_backbones()}"
        )
    return name


_HEAD_SIZES: tuple[str, ...] = ("depth", "heads", "dim_head", "mlp_dim")
_DEC = "MODEL.MANO_HEAD.TRANSFORMER_DECODER."


def _head_checks(cfg: Any, h: HeadConfig) -> list[tuple[str, Any, Any]]:
    """(name, value in cfg, value HaMeR's head needs) for the MANO_HEAD options both loaders check."""
    head = "MODEL.MANO_HEAD."
    return [
        (head + "TYPE", lookup(cfg, head + "TYPE", "transformer_decoder"), "transformer_decoder"),
        (head + "JOINT_REP", lookup(cfg, head + "JOINT_REP", "6d"), h.joint_rep),
        (head + "TRANSFORMER_INPUT", lookup(cfg, head + "TRANSFORMER_INPUT", "zero"), "zero"),
    ]


def _check(source: str, what: str, checks: list[tuple[str, Any, Any]]) -> None:
    bad = [f"{name}={got!r} (expected {want!r})" for name, got, want in checks if got != want]
    if bad:
        raise CheckpointError(f"{source} is not {what}: {'; '.join(bad)}")


def model_config_from_run(cfg: Any, source: str) -> ModelConfig:
    """The ModelConfig a HaMeR / Fast-HaMeR config describes: the registered backbone for its
    TYPE / SIZE, the head from ``MODEL.MANO_HEAD.TRANSFORMER_DECODER``, mean/std and focal length.

    CheckpointError naming the values when the config is unsupported or contradicts itself
    (``FEATURE_DIM`` != ``context_dim``, a context_dim other than the backbone's channels, ...).
    """
    base = get_config(registry_name_for(cfg, source))
    h = base.head
    context = lookup(cfg, _DEC + "context_dim", base.context_dim)
    feature_dim = lookup(cfg, "MODEL.BACKBONE.FEATURE_DIM")
    kind = upstream_backbone(base.name)
    if feature_dim is not None and feature_dim != context:
        raise CheckpointError(
            f"{source}: MODEL.BACKBONE.FEATURE_DIM={feature_dim} contradicts "
            f"TRANSFORMER_DECODER.context_dim={context}"
        )
    checks = [
        (f"context_dim ({kind} gives {base.context_dim} channels)", context, base.context_dim),
        *_head_checks(cfg, h),
        ("TRANSFORMER_DECODER.norm", lookup(cfg, _DEC + "norm", "layer"), "layer"),
        ("MANO.NUM_HAND_JOINTS", lookup(cfg, "MANO.NUM_HAND_JOINTS", h.num_hand_joints), h.num_hand_joints),
        ("MODEL.IMAGE_SIZE", lookup(cfg, "MODEL.IMAGE_SIZE", 256), base.preprocess.crop_size),
    ]
    _check(source, f"a config {base.name} can load", checks)
    head = HeadConfig(
        dim=int(lookup(cfg, _DEC + "dim", h.dim)),
        depth=int(lookup(cfg, _DEC + "depth", h.depth)),
        heads=int(lookup(cfg, _DEC + "heads", h.heads)),
        dim_head=int(lookup(cfg, _DEC + "dim_head", h.dim_head)),
        mlp_dim=int(lookup(cfg, _DEC + "mlp_dim", h.mlp_dim)),
        dropout=float(lookup(cfg, _DEC + "dropout", h.dropout)),
        emb_dropout=float(lookup(cfg, _DEC + "emb_dropout", h.emb_dropout)),
        ief_iters=int(lookup(cfg, "MODEL.MANO_HEAD.IEF_ITERS", h.ief_iters)),
    )
    mean = tuple(float(v) for v in lookup(cfg, "MODEL.IMAGE_MEAN", IMAGENET_MEAN))
    std = tuple(float(v) for v in lookup(cfg, "MODEL.IMAGE_STD", IMAGENET_STD))
    if len(mean) != 3 or len(std) != 3:
        raise CheckpointError(
            f"{source}: MODEL.IMAGE_MEAN / IMAGE_STD must hold 3 values, got {mean} / {std}"
        )
    return dataclasses.replace(
        base,
        head=head,
        preprocess=dataclasses.replace(base.preprocess, mean=mean, std=std),
        focal_length_px=float(lookup(cfg, "EXTRA.FOCAL_LENGTH", base.focal_length_px)),
    )


def check_hamer_config(cfg: Any, config: ModelConfig, source: str) -> None:
    """Check a HaMeR / Fast-HaMeR config against a chosen ``config``: same backbone type (when the
    registry knows which upstream type builds it) and the same transformer head; CheckpointError else.
    Keys absent from ``cfg`` take HaMeR's defaults."""
    h = config.head
    want_type = upstream_backbone(config.name) or ("vit" if config.backbone == "vit" else None)
    crop = config.preprocess.crop_size
    checks = [
        *_head_checks(cfg, h),
        ("MODEL.MANO_HEAD.IEF_ITERS", lookup(cfg, "MODEL.MANO_HEAD.IEF_ITERS", 1), h.ief_iters),
        ("MODEL.IMAGE_SIZE", lookup(cfg, "MODEL.IMAGE_SIZE", crop), crop),
        *(
            (f"TRANSFORMER_DECODER.{k}", lookup(cfg, _DEC + k, getattr(h, k)), getattr(h, k))
            for k in _HEAD_SIZES
        ),
        (
            "TRANSFORMER_DECODER.context_dim",
            lookup(cfg, _DEC + "context_dim", config.context_dim),
            config.context_dim,
        ),
    ]
    if want_type is not None:
        checks.insert(0, ("MODEL.BACKBONE.TYPE", backbone_id(cfg)[0], want_type))
    what = "ViT" if want_type == "vit" else (want_type or config.backbone)
    _check(source, f"a HaMeR {what} config for {config.name}", checks)


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------


def split_lightning(path: Path, data: Any) -> tuple[dict[str, torch.Tensor], Any]:
    """(every tensor of ``state_dict``, ``hyper_parameters``) of a Lightning checkpoint's content."""
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a checkpoint: it holds a {type(data).__name__}, not a dict")
    if data.get("format") == "fast_hamer":
        raise CheckpointError(f"{path} is a fast_hamer checkpoint, not a HaMeR Lightning one")
    state = data.get("state_dict", data)
    if not isinstance(state, dict) or not any(
        isinstance(k, str) and k.startswith(MODEL_PREFIXES) for k in state
    ):
        raise CheckpointError(
            f"{path} is not a HaMeR checkpoint: no 'state_dict' with backbone/mano_head keys"
        )
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        bad = [k for k in state if k not in tensors]
        raise CheckpointError(f"{path}: state_dict entries that are not tensors: {bad[:_MAX_LISTED]}")
    return tensors, data.get("hyper_parameters")


def model_state(path: Path, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``backbone.*`` + ``mano_head.*``; the known extras are skipped, anything else with a warning."""
    kept = {k: v for k, v in state.items() if k.startswith(MODEL_PREFIXES)}
    unexpected = [
        k for k in state if k not in kept and not (k.startswith(SKIPPED_PREFIXES) or k in SKIPPED_KEYS)
    ]
    if unexpected:
        warnings.warn(
            f"{path}: dropped {len(unexpected)} unexpected keys outside backbone/mano_head: "
            f"{unexpected[:_MAX_LISTED]}",
            stacklevel=3,
        )
    if not kept:
        raise CheckpointError(f"{path}: no 'backbone.*' or 'mano_head.*' weights in its state_dict")
    return kept


def describe_mismatch(expected: dict[str, tuple[int, ...]], state: dict[str, torch.Tensor]) -> str | None:
    """ "N missing keys: [...]; M unexpected keys: [...]; K wrong-shaped keys: [...]", or None if they fit."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(expected[k])}"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != tuple(expected[k])
    )
    parts = [
        f"{len(items)} {what} keys: {items[:_MAX_LISTED]}"
        for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong-shaped", shapes))
        if items
    ]
    return "; ".join(parts) or None


@functools.lru_cache(maxsize=32)
def backbone_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """``backbone.*`` key -> shape of ``config``'s backbone (built on the meta device: no memory)."""
    with torch.device("meta"):
        backbone = build_backbone(config)
    return {f"backbone.{k}": tuple(v.shape) for k, v in backbone.state_dict().items()}


def architectures_fitting(state: dict[str, torch.Tensor], first_only: bool = False) -> list[str]:
    """Registered names whose backbone has exactly the keys and shapes of ``state``'s ``backbone.*``;
    HaMeR's / Fast-HaMeR's architectures are tried first (``first_only``: stop at the first fit)."""
    have = {k: tuple(v.shape) for k, v in state.items() if k.startswith("backbone.")}
    upstream = list(FAST_HAMER_BACKBONES.values())
    fits = []
    for name in upstream + [n for n in list_models() if n not in upstream]:
        if backbone_shapes(get_config(name)) == have:
            fits.append(name)
            if first_only:
                break
    return fits


def check_weights_fit(config: ModelConfig, state: dict[str, torch.Tensor], path: Path, said_by: str) -> None:
    """CheckpointError naming the config and the weights when the weights are not ``config``'s backbone
    or the head's context width differs from ``config.context_dim``. ``said_by``: where config came from."""
    mismatch = describe_mismatch(
        backbone_shapes(config), {k: v for k, v in state.items() if k.startswith("backbone.")}
    )
    if mismatch:
        fits = architectures_fitting(state, first_only=True)
        fit = f"they fit {fits[0]}" if fits else "they fit no registered architecture"
        raise CheckpointError(
            f"{path}: {said_by} says {config.name}, but its backbone weights contradict it ({fit}): "
            f"{path} does not fit model {config.name!r}: {mismatch}"
        )
    kv = state.get(CONTEXT_KEY)
    if kv is not None and kv.ndim == 2 and kv.shape[1] != config.context_dim:
        raise CheckpointError(
            f"{path}: {said_by} says context_dim={config.context_dim} ({config.name}), but the weights' "
            f"{CONTEXT_KEY} takes {kv.shape[1]} channels"
        )


# --------------------------------------------------------------------------------------------
# The whole read
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LightningRun:
    """A Lightning checkpoint read for loading: the model it describes, its weights, its provenance.

    ``provenance`` holds plain str/int values (it becomes our checkpoint's metadata on import):
    ``source`` (the .ckpt), ``source_format``, ``backbone_type`` (``"resnet 50"``), ``step``, ``epoch``,
    ``config_source``.
    """

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    provenance: dict[str, str | int]


def read_lightning_run(path: Path, data: Any, model: str | ModelConfig | None = None) -> LightningRun:
    """Config + weights of a HaMeR / Fast-HaMeR ``.ckpt`` already read (``data``) from ``path``.

    ``model``: build this architecture (a registered name or a config; the run's configs are checked
    against it); None: the one the run's config describes, else (no config at all) the one its weights fit.
    """
    state, hparams = split_lightning(path, data)
    configs = run_configs(path, hparams)
    cfg, source = configs[0] if configs else (None, None)
    kept = model_state(path, state)
    if model is not None:
        config = model if isinstance(model, ModelConfig) else get_config(model)
        for c, where in configs:
            check_hamer_config(c, config, where)
        said_by = f"model {config.name!r}"
    elif cfg is not None and source is not None:
        config = model_config_from_run(cfg, source)
        for c, where in configs[1:]:
            other = model_config_from_run(c, where)
            if other != config:
                raise CheckpointError(
                    f"{path}: {source} and {where} describe different models ({config.name} vs "
                    f"{other.name}; {_first_difference(config, other)})"
                )
        said_by = f"its config ({source}: MODEL.BACKBONE {_show(backbone_id(cfg))})"
        check_weights_fit(config, kept, path, said_by)
    else:
        fits = architectures_fitting(kept, first_only=True)
        if not fits:
            raise CheckpointError(
                f"{path}: no config (hyper_parameters['cfg'] or {CONFIG_NAME} beside it or one level up) "
                "and its backbone weights fit no registered architecture"
            )
        config = get_config(fits[0])
        log.info("%s: no config found; its weights fit %s", path, config.name)
        said_by = "its weights"
    kind, size = backbone_id(cfg) if cfg is not None else (upstream_backbone(config.name), None)
    provenance: dict[str, str | int] = {
        "source": str(path),
        "source_format": "hamer_lightning" if config.backbone == "vit" else "fast_hamer_lightning",
        "backbone_type": " ".join(str(v) for v in (kind, size) if v is not None) or config.name,
        "config_source": source or said_by,
    }
    for key in ("global_step", "epoch"):
        if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
            provenance["step" if key == "global_step" else key] = int(data[key])
    return LightningRun(config, kept, provenance)
