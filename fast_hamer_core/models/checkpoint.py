"""Checkpoints: our one-file format, HaMeR's Lightning checkpoints, and ``load_model``.

Our format (``.pt``, written by :func:`save_checkpoint`, read by :func:`load_checkpoint`) is one
``torch.save`` file holding only plain data and tensors::

    {"format": "fast_hamer", "version": 1, "model_name": str, "config": ModelConfig.to_dict(),
     "state_dict": {name: tensor} (backbone + head; no MANO buffers), "metadata": {str: str|int|float|bool}}

It loads with ``torch.load(weights_only=True)``: no code runs while reading it.

HaMeR's and Fast-HaMeR's checkpoints are PyTorch Lightning ``.ckpt`` files in a run folder
(``model_config.yaml`` beside ``checkpoints/``). Their ``state_dict`` keys ``backbone.*`` and
``mano_head.*`` map 1:1 onto ``hamer_vith`` / the ``fh_*`` students; the config picks which
(:mod:`~fast_hamer_core.models.lightning`). They are read without running code
(:mod:`~fast_hamer_core.models.safe_load`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from fast_hamer_core.models.config import ModelConfig
from fast_hamer_core.models.hand_model import HandMeshModel
from fast_hamer_core.models.lightning import (  # noqa: F401  (check_hamer_config: re-exported)
    check_hamer_config,
    describe_mismatch,
    find_run_checkpoint,
    read_lightning_run,
)
from fast_hamer_core.models.registry import as_mano, create_model, get_config
from fast_hamer_core.models.safe_load import (  # noqa: F401  (re-exported: the public error and reader)
    CheckpointError,
    OpaqueObject,
    _restricted_pickle_module,
    torch_load_safely,
)

log = logging.getLogger(__name__)

FORMAT = "fast_hamer"
VERSION = 1
HAMER_MODEL_NAME = "hamer_vith"
_MODEL_PREFIXES: tuple[str, ...] = ("backbone.", "mano_head.")


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
    data = torch_load_safely(path, allow_opaque=False)
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
# HaMeR / Fast-HaMeR Lightning checkpoints (details in fast_hamer_core.models.lightning)
# --------------------------------------------------------------------------------------------


def load_hamer_checkpoint(
    ckpt_path: str | os.PathLike, config: ModelConfig | None = None
) -> dict[str, torch.Tensor]:
    """HaMeR Lightning ``.ckpt`` (or its run folder) -> state dict (``backbone.*``, ``mano_head.*``)
    for ``config`` (default: ``hamer_vith``).

    ``mano.*``, ``discriminator.*``, ``teacher.*``, ``channel_projection.*`` and ``initialized`` are
    dropped; any other key is dropped with a warning naming it. Every config the run holds (the pickled
    ``hyper_parameters['cfg']``, ``model_config.yaml`` beside the file or one level up) must describe
    ``config``'s backbone type and transformer head, else CheckpointError.
    """
    path = find_run_checkpoint(ckpt_path)
    data = torch_load_safely(path, allow_opaque=True, mmap=True)
    return read_lightning_run(path, data, config or get_config(HAMER_MODEL_NAME)).state_dict


# --------------------------------------------------------------------------------------------
# Building a model from a checkpoint
# --------------------------------------------------------------------------------------------


def load_weights(
    model: HandMeshModel, state_dict: dict[str, torch.Tensor], source: str = "state dict"
) -> None:
    """Load backbone + head weights strictly (MANO buffers excluded on both sides).

    CheckpointError lists the missing, unexpected and wrong-shaped keys (first few + counts).
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items() if k.startswith(_MODEL_PREFIXES)}
    mismatch = describe_mismatch(expected, state_dict)
    if mismatch:
        raise CheckpointError(f"{source} does not fit model {model.config.name!r}: {mismatch}")
    result = model.load_state_dict(state_dict, strict=False)
    assert not result.unexpected_keys and all(k.startswith("mano.") for k in result.missing_keys)


def build_empty(config: ModelConfig, device: torch.device) -> HandMeshModel:
    """The architecture with uninitialised storage on ``device`` (skips random init: the checkpoint
    overwrites every persistent tensor). Falls back to a normal build if it has non-persistent buffers."""
    with torch.device("meta"):
        model = create_model(config)
    persistent = set(model.state_dict())
    if any(name not in persistent for name, _ in model.named_buffers()):
        with torch.device(device):
            return create_model(config)
    return model.to_empty(device=device)


def read_checkpoint(
    checkpoint: str | os.PathLike, model_name: str | None = None
) -> tuple[ModelConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Any supported checkpoint -> (config, backbone + head state dict, metadata), nothing built yet.

    ``checkpoint``: our ``.pt``; a HaMeR / Fast-HaMeR Lightning ``.ckpt``; or a run folder / its
    ``checkpoints/`` folder (see :func:`~fast_hamer_core.models.lightning.find_run_checkpoint`). The
    kind is detected from the content. Metadata: ours as stored; a Lightning run's provenance
    (``source``, ``backbone_type``, ``step``, ...). ``model_name`` as in :func:`load_model`.
    """
    path = find_run_checkpoint(checkpoint)
    data = torch_load_safely(path, allow_opaque=True, mmap=True)
    if isinstance(data, dict) and data.get("format") == FORMAT:
        config, state, metadata = _parse_ours(path, data)
    else:
        run = read_lightning_run(path, data, model_name)
        config, state, metadata = run.config, run.state_dict, dict(run.provenance)
    if model_name is not None:
        config = get_config(model_name)
    return config, state, metadata


def load_model(
    checkpoint: str | os.PathLike,
    mano_path: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    model_name: str | None = None,
) -> HandMeshModel:
    """Build the model a checkpoint describes and load its weights strictly; returns it in eval mode.

    Args:
        checkpoint: our ``.pt`` file, a HaMeR / Fast-HaMeR Lightning ``.ckpt``, or such a run folder
            (``model_config.yaml`` + ``checkpoints/``; detected from the content).
        mano_path: MANO model (``.npz``/``.pkl``) to attach; None -> outputs without vertices/keypoints.
        device: where the model lives.
        model_name: build this registered architecture instead of the checkpoint's own (ours: the
            stored config; Lightning: the one its config describes). A mismatch raises CheckpointError
            naming the keys.
    """
    config, state, _ = read_checkpoint(checkpoint, model_name)
    model = build_empty(config, torch.device(device))
    load_weights(model, state, source=str(find_run_checkpoint(checkpoint)))
    if mano_path is not None:
        model.set_mano(as_mano(mano_path))
    return model.eval()
