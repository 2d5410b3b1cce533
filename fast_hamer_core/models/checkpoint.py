"""Checkpoints: our one-file format, HaMeR's Lightning checkpoints, and ``load_model``.

Our format (``.pt``, written by :func:`save_checkpoint`, read by :func:`load_checkpoint`) is one
``torch.save`` file holding only plain data and tensors::

    {"format": "fast_hamer", "version": 1, "model_name": str, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor} (backbone + head; no MANO buffers), "metadata": {str: str|int|float|bool}}

It loads with ``torch.load(weights_only=True)``: no code runs while reading it.

HaMeR's checkpoint is a PyTorch Lightning ``.ckpt``. Its ``state_dict`` keys ``backbone.*`` and
``mano_head.*`` map 1:1 onto ``hamer_vith``; ``mano.*`` (MANO buffers), ``discriminator.*`` and the
``initialized`` flag are dropped. Lightning files also pickle non-tensor objects (e.g. the yacs
``CfgNode`` in ``hyper_parameters``), which ``weights_only=True`` refuses. Then the file is read again
with a restricted unpickler: it resolves only the globals that PyTorch's own weights-only loader
allows (tensor rebuilders, dtypes, OrderedDict, ...); every other class or function named in the
file becomes an inert :class:`OpaqueObject` that records its arguments and state, and object state
is set only on those stand-ins. Nothing named in the file is imported or executed.
"""

from __future__ import annotations

import _compat_pickle
import logging
import os
import pickle
import re
import types
import warnings
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

import torch

from fast_hamer_core.models.config import ModelConfig
from fast_hamer_core.models.hand_model import HandMeshModel
from fast_hamer_core.models.registry import as_mano, create_model, get_config

log = logging.getLogger(__name__)

FORMAT = "fast_hamer"
VERSION = 1
HAMER_MODEL_NAME = "hamer_vith"
#: Top-level prefixes of a HaMeR Lightning state dict that are not part of backbone + head.
HAMER_DROPPED_PREFIXES: tuple[str, ...] = ("mano.", "discriminator.")
HAMER_DROPPED_KEYS: tuple[str, ...] = ("initialized",)
_MODEL_PREFIXES: tuple[str, ...] = ("backbone.", "mano_head.")
_MAX_LISTED = 5


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, of an unknown kind, or does not fit the model."""


# --------------------------------------------------------------------------------------------
# Reading files safely
# --------------------------------------------------------------------------------------------


class OpaqueObject(dict):
    """Inert stand-in for a class or function that a checkpoint names but we refuse to import.

    Behaves as a dict (so a pickled dict subclass such as yacs' ``CfgNode`` keeps its items);
    ``args`` holds constructor/call arguments and ``state`` the pickled state. ``qualified_name`` on
    the class is the global it replaces.
    """

    qualified_name: str = "?"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.args = args
        self.kwargs = kwargs
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __reduce__(self):  # an opaque object is not meant to be written back
        raise TypeError(f"OpaqueObject({self.qualified_name}) cannot be pickled")


def _opaque_reconstructor(cls: Any, base: Any = None, state: Any = None) -> Any:
    """Replacement for ``copyreg._reconstructor``: builds an instance only of an opaque class."""
    if isinstance(cls, type) and issubclass(cls, OpaqueObject):
        return cls()
    return _make_opaque("copyreg._reconstructor")(cls, base, state)


_SAFE_GLOBALS: dict[str, Any] | None = None


def _safe_globals() -> dict[str, Any]:
    """Globals the restricted unpickler may resolve: PyTorch's vetted weights-only allowlist."""
    global _SAFE_GLOBALS
    if _SAFE_GLOBALS is None:
        allowed: dict[str, Any] = {"collections.OrderedDict": OrderedDict}
        try:
            from torch._weights_only_unpickler import _get_allowed_globals

            allowed.update(_get_allowed_globals())
        except ImportError:  # pragma: no cover - a torch without the helper: the tensor rebuilders only
            import torch._utils as tu

            for name in ("_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"):
                if hasattr(tu, name):
                    allowed[f"torch._utils.{name}"] = getattr(tu, name)
        allowed["copyreg._reconstructor"] = _opaque_reconstructor
        _SAFE_GLOBALS = allowed
    return _SAFE_GLOBALS


_OPAQUE_CLASSES: dict[str, type[OpaqueObject]] = {}


def _make_opaque(full_name: str) -> type[OpaqueObject]:
    if full_name not in _OPAQUE_CLASSES:
        _OPAQUE_CLASSES[full_name] = type(
            "OpaqueObject", (OpaqueObject,), {"qualified_name": full_name, "__module__": __name__}
        )
    return _OPAQUE_CLASSES[full_name]


class _RestrictedUnpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcodes can be restricted
    """Unpickler that never imports and never sets state on anything but inert objects.

    ``find_class`` returns allowlisted globals or opaque stand-ins. ``BUILD`` (``__setstate__`` /
    attribute assignment) is allowed only on opaque objects and OrderedDicts (a state dict's
    ``_metadata``), so a file cannot patch attributes of allowlisted classes either.
    """

    replaced: ClassVar[set[str]]
    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        if self.proto < 3 and self.fix_imports:  # Python 2 names (protocol 2: __builtin__.set, ...)
            if (module, name) in _compat_pickle.NAME_MAPPING:
                module, name = _compat_pickle.NAME_MAPPING[(module, name)]
            elif module in _compat_pickle.IMPORT_MAPPING:
                module = _compat_pickle.IMPORT_MAPPING[module]
        full = f"{module}.{name}"
        allowed = _safe_globals()
        if full in allowed:
            return allowed[full]
        type(self).replaced.add(full)
        return _make_opaque(full)

    def load_build(self) -> None:
        inst = self.stack[-2]  # stack: [..., instance, state]
        if not (type(inst) is OrderedDict or isinstance(inst, OpaqueObject)):
            raise pickle.UnpicklingError(f"refusing to set the state of a {type(inst).__name__} object")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def _restricted_pickle_module(replaced: set[str]) -> types.ModuleType:
    """A module-like object for ``torch.load(pickle_module=...)`` using the restricted unpickler."""
    unpickler = type("RestrictedUnpickler", (_RestrictedUnpickler,), {"replaced": replaced})
    module = types.ModuleType("fast_hamer_restricted_pickle")
    module.Unpickler = unpickler  # type: ignore[attr-defined]
    module.load = lambda f, **kw: unpickler(f, **kw).load()  # type: ignore[attr-defined]
    module.__dict__["UnpicklingError"] = pickle.UnpicklingError
    return module


def _torch_load(path: Path, *, allow_opaque: bool, mmap: bool = False) -> Any:
    """``torch.load`` on the CPU, weights-only; with ``allow_opaque``, fall back to the restricted
    unpickler (module docstring). Any failure becomes a CheckpointError naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(f"{path} is truncated or not a PyTorch checkpoint (no zip archive directory)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:
        if not allow_opaque:
            raise CheckpointError(
                f"{path} is not a {FORMAT} checkpoint: it pickles objects other than tensors and plain data "
                f"({_short_reason(exc)}); a HaMeR Lightning .ckpt loads with load_hamer_checkpoint() or "
                "load_model()"
            ) from exc
        first_error: Exception = exc
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {type(exc).__name__}: {exc}") from exc
    replaced: set[str] = set()
    try:
        data = torch.load(
            path,
            map_location="cpu",
            weights_only=False,
            mmap=mmap,
            pickle_module=_restricted_pickle_module(replaced),
        )
    except Exception as exc:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {exc} "
            f"(weights-only load said: {_short_reason(first_error)})"
        ) from exc
    log.info("%s: read with opaque stand-ins for %s", path, sorted(replaced))
    return data


def _short_reason(exc: Exception) -> str:
    """The useful line of torch's long weights-only error (the refused global), else the message."""
    match = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
    return f"global {match.group(1)} is not allowed" if match else str(exc).strip().splitlines()[0]


# --------------------------------------------------------------------------------------------
# Our format
# --------------------------------------------------------------------------------------------


def model_state_dict(model: HandMeshModel) -> dict[str, torch.Tensor]:
    """Backbone + head tensors of ``model`` (no ``mano.*`` buffers), detached, on the CPU."""
    return {
        k: v.detach().to("cpu", copy=True)
        for k, v in model.state_dict().items()
        if k.startswith(_MODEL_PREFIXES)
    }


def save_checkpoint(
    path: str | os.PathLike, model: HandMeshModel, metadata: dict[str, Any] | None = None
) -> Path:
    """Write ``model`` (config + backbone/head weights + ``metadata``) to one ``.pt`` file, atomically.

    ``metadata`` values must be str, int, float or bool (e.g. training step, dataset, metrics).
    Inverse: :func:`load_checkpoint` (bit-exact).
    """
    path = Path(path).expanduser()
    metadata = dict(metadata or {})
    for k, v in metadata.items():
        if not isinstance(k, str) or not isinstance(v, (str, int, float, bool)):
            raise ValueError(f"checkpoint metadata must map str to str/int/float/bool; bad item {k!r}: {v!r}")
    if any(p.is_meta for p in model.parameters()):
        raise ValueError("cannot save a model whose weights live on the meta device")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_name": model.config.name,
        "config": model.config.to_dict(),
        "state_dict": model_state_dict(model),
        "metadata": metadata,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_checkpoint` -> (config, state_dict, metadata).

    Safe (``weights_only=True``). CheckpointError if the file is truncated, corrupt, HaMeR's
    Lightning format (use :func:`load_hamer_checkpoint`) or not ours.
    """
    path = Path(path).expanduser()
    data = _torch_load(path, allow_opaque=False)
    return _parse_ours(path, data)


def _parse_ours(path: Path, data: Any) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        if isinstance(data, dict) and "state_dict" in data:
            raise CheckpointError(
                f"{path} is a Lightning (HaMeR) checkpoint, not a {FORMAT} one; "
                "use load_hamer_checkpoint() or load_model()"
            )
        raise CheckpointError(f"{path} is not a {FORMAT} checkpoint (no format tag)")
    version = data.get("version")
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(
            f"{path}: unsupported {FORMAT} checkpoint version {version!r} (this code reads <= {VERSION})"
        )
    state = data.get("state_dict")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: 'state_dict' is not a dict of tensors")
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: 'metadata' is not a dict")
    try:
        config = ModelConfig.from_dict(data["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid model config: {exc}") from exc
    if config.name != data.get("model_name"):
        raise CheckpointError(f"{path}: model_name {data.get('model_name')!r} != config name {config.name!r}")
    return config, state, metadata


# --------------------------------------------------------------------------------------------
# HaMeR Lightning checkpoints
# --------------------------------------------------------------------------------------------


def load_hamer_checkpoint(
    ckpt_path: str | os.PathLike, config: ModelConfig | None = None
) -> dict[str, torch.Tensor]:
    """HaMeR Lightning ``.ckpt`` -> state dict (``backbone.*``, ``mano_head.*``) for ``hamer_vith``.

    ``mano.*``, ``discriminator.*`` and ``initialized`` are dropped; any other key is dropped with a
    warning naming it. The HaMeR config (``model_config.yaml`` beside the file, else the pickled
    ``hyper_parameters['cfg']``) must describe a ViT backbone with the transformer head of ``config``
    (default: ``hamer_vith``), else CheckpointError.
    """
    path = Path(ckpt_path).expanduser()
    return _hamer_state(path, _torch_load(path, allow_opaque=True, mmap=True), config)


def _hamer_state(path: Path, data: Any, config: ModelConfig | None) -> dict[str, torch.Tensor]:
    config = config or get_config(HAMER_MODEL_NAME)
    state, hparams = _split_lightning(path, data)
    yaml_path = path.parent / "model_config.yaml"
    if yaml_path.is_file():
        import yaml

        try:
            cfg = yaml.safe_load(yaml_path.read_text())
        except yaml.YAMLError as exc:
            raise CheckpointError(f"{yaml_path} is not valid YAML: {exc}") from exc
        check_hamer_config(cfg, config, source=str(yaml_path))
    elif isinstance(hparams, dict) and isinstance(hparams.get("cfg"), dict):
        check_hamer_config(hparams["cfg"], config, source=f"{path} hyper_parameters")
    kept = {k: v for k, v in state.items() if k.startswith(_MODEL_PREFIXES)}
    dropped = [k for k in state if k not in kept]
    unexpected = [k for k in dropped if not (k.startswith(HAMER_DROPPED_PREFIXES) or k in HAMER_DROPPED_KEYS)]
    if unexpected:
        warnings.warn(
            f"{path}: dropped {len(unexpected)} unexpected keys outside backbone/mano_head: "
            f"{unexpected[:_MAX_LISTED]}",
            stacklevel=3,
        )
    if not kept:
        raise CheckpointError(f"{path}: no 'backbone.*' or 'mano_head.*' weights in its state_dict")
    return kept


def _split_lightning(path: Path, data: Any) -> tuple[dict[str, torch.Tensor], Any]:
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} is not a checkpoint: it holds a {type(data).__name__}, not a dict")
    if data.get("format") == FORMAT:
        raise CheckpointError(f"{path} is a {FORMAT} checkpoint, not a HaMeR Lightning one")
    state = data.get("state_dict", data)
    if not isinstance(state, dict) or not any(
        isinstance(k, str) and k.startswith(_MODEL_PREFIXES) for k in state
    ):
        raise CheckpointError(
            f"{path} is not a HaMeR checkpoint: no 'state_dict' with backbone/mano_head keys"
        )
    tensors = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(tensors) != len(state):
        bad = [k for k in state if k not in tensors]
        raise CheckpointError(f"{path}: state_dict entries that are not tensors: {bad[:_MAX_LISTED]}")
    return tensors, data.get("hyper_parameters")


def check_hamer_config(cfg: Any, config: ModelConfig, source: str) -> None:
    """Check a HaMeR (yacs-style, upper-case keys) config against ``config``; CheckpointError if it is
    not a ViT backbone with the same transformer head. Keys absent from ``cfg`` take HaMeR's defaults."""
    model = _get(cfg, "MODEL") or {}
    backbone = _get(model, "BACKBONE") or {}
    head = _get(model, "MANO_HEAD") or {}
    dec = _get(head, "TRANSFORMER_DECODER") or {}
    h = config.head
    checks = [
        ("MODEL.BACKBONE.TYPE", _get(backbone, "TYPE"), "vit"),
        ("MODEL.MANO_HEAD.TYPE", _get(head, "TYPE", "transformer_decoder"), "transformer_decoder"),
        ("MODEL.MANO_HEAD.JOINT_REP", _get(head, "JOINT_REP", "6d"), h.joint_rep),
        ("MODEL.MANO_HEAD.IEF_ITERS", _get(head, "IEF_ITERS", 1), h.ief_iters),
        ("MODEL.MANO_HEAD.TRANSFORMER_INPUT", _get(head, "TRANSFORMER_INPUT", "zero"), "zero"),
        (
            "MODEL.IMAGE_SIZE",
            _get(model, "IMAGE_SIZE", config.preprocess.crop_size),
            config.preprocess.crop_size,
        ),
        ("TRANSFORMER_DECODER.depth", _get(dec, "depth", h.depth), h.depth),
        ("TRANSFORMER_DECODER.heads", _get(dec, "heads", h.heads), h.heads),
        ("TRANSFORMER_DECODER.dim_head", _get(dec, "dim_head", h.dim_head), h.dim_head),
        ("TRANSFORMER_DECODER.mlp_dim", _get(dec, "mlp_dim", h.mlp_dim), h.mlp_dim),
        ("TRANSFORMER_DECODER.context_dim", _get(dec, "context_dim", config.context_dim), config.context_dim),
    ]
    bad = [f"{name}={got!r} (expected {want!r})" for name, got, want in checks if got != want]
    if bad:
        raise CheckpointError(f"{source} is not a HaMeR ViT config for {config.name}: {'; '.join(bad)}")


def _get(node: Any, key: str, default: Any = None) -> Any:
    return node.get(key, default) if isinstance(node, dict) else default


# --------------------------------------------------------------------------------------------
# Building a model from a checkpoint
# --------------------------------------------------------------------------------------------


def load_weights(
    model: HandMeshModel, state_dict: dict[str, torch.Tensor], source: str = "state dict"
) -> None:
    """Load backbone + head weights strictly (MANO buffers excluded on both sides).

    CheckpointError lists the missing, unexpected and wrong-shaped keys (first few + counts).
    """
    expected = {k: v for k, v in model.state_dict().items() if k.startswith(_MODEL_PREFIXES)}
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    shapes = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or shapes:
        parts = [
            f"{len(items)} {what} keys: {items[:_MAX_LISTED]}"
            for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong-shaped", shapes))
            if items
        ]
        raise CheckpointError(f"{source} does not fit model {model.config.name!r}: " + "; ".join(parts))
    result = model.load_state_dict(state_dict, strict=False)
    assert not result.unexpected_keys and all(k.startswith("mano.") for k in result.missing_keys)


def _build_empty(config: ModelConfig, device: torch.device) -> HandMeshModel:
    """The architecture with uninitialised storage on ``device`` (skips random init: the checkpoint
    overwrites every persistent tensor). Falls back to a normal build if it has non-persistent buffers."""
    with torch.device("meta"):
        model = create_model(config)
    persistent = set(model.state_dict())
    if any(name not in persistent for name, _ in model.named_buffers()):
        with torch.device(device):
            return create_model(config)
    return model.to_empty(device=device)


def load_model(
    checkpoint: str | os.PathLike,
    mano_path: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    model_name: str | None = None,
) -> HandMeshModel:
    """Build the model a checkpoint describes and load its weights strictly; returns it in eval mode.

    Args:
        checkpoint: our ``.pt`` file or HaMeR's Lightning ``.ckpt`` (detected from the content).
        mano_path: MANO model (``.npz``/``.pkl``) to attach; None -> outputs without vertices/keypoints.
        device: where the model lives.
        model_name: build this registered architecture instead of the checkpoint's own (ours: the
            stored config; HaMeR: ``hamer_vith``). A mismatch raises CheckpointError naming the keys.
    """
    path = Path(checkpoint).expanduser()
    data = _torch_load(path, allow_opaque=True, mmap=True)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        config, state, _ = _parse_ours(path, data)
    else:
        state = _hamer_state(path, data, get_config(model_name or HAMER_MODEL_NAME))
        config = get_config(HAMER_MODEL_NAME)
    if model_name is not None:
        config = get_config(model_name)
    model = _build_empty(config, torch.device(device))
    load_weights(model, state, source=str(path))
    if mano_path is not None:
        model.set_mano(as_mano(mano_path))
    return model.eval()
