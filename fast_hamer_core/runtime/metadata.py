"""What an exported network carries about itself: model config, output names, where it came from.

ONNX files hold it in their ``metadata_props`` (string -> string); TensorRT engines cannot, so a JSON file
beside the engine (``<engine>.json``, see :func:`sidecar_path`) holds the same keys.
:func:`network_metadata` and :func:`config_from_metadata` are inverses for the config.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fast_hamer_core.models.config import ModelConfig
from fast_hamer_core.runtime.base import INPUT_NAME

#: Value of :data:`KEY_FORMAT` in every file we write.
FORMAT = "fast_hamer.network"
VERSION = 1
KEY_FORMAT = "fast_hamer.format"
KEY_VERSION = "fast_hamer.version"
KEY_CONFIG = "fast_hamer.model_config"
KEY_OUTPUTS = "fast_hamer.outputs"
KEY_INPUT = "fast_hamer.input"
KEY_SOURCE = "fast_hamer.source"


def network_metadata(config: ModelConfig, outputs: tuple[str, ...], source: str = "") -> dict[str, str]:
    """String metadata for an exported network. Inverse (for the config): :func:`config_from_metadata`."""
    return {
        KEY_FORMAT: FORMAT,
        KEY_VERSION: str(VERSION),
        KEY_CONFIG: json.dumps(config.to_dict(), sort_keys=True),
        KEY_OUTPUTS: ",".join(outputs),
        KEY_INPUT: INPUT_NAME,
        KEY_SOURCE: source,
    }


def config_from_metadata(metadata: dict[str, str], source: str) -> ModelConfig:
    """The ModelConfig stored by :func:`network_metadata`; ValueError naming ``source`` if absent/bad."""
    if metadata.get(KEY_FORMAT) != FORMAT:
        raise ValueError(
            f"{source} was not written by `fast-hamer export` (no {KEY_FORMAT!r} metadata): "
            "pass the model config explicitly (config=get_config(NAME))"
        )
    version = metadata.get(KEY_VERSION, "")
    if not version.isdigit() or int(version) > VERSION:
        raise ValueError(
            f"{source}: unsupported network metadata version {version!r} (this code reads <= {VERSION})"
        )
    try:
        return ModelConfig.from_dict(json.loads(metadata[KEY_CONFIG]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{source}: invalid model config in its metadata: {exc}") from exc


def sidecar_path(engine_path: str | os.PathLike) -> Path:
    """``model.engine`` -> ``model.engine.json``: the metadata of a TensorRT engine."""
    path = Path(engine_path)
    return path.with_name(path.name + ".json")


def write_sidecar(engine_path: str | os.PathLike, metadata: dict[str, str]) -> Path:
    """Write ``metadata`` beside ``engine_path``. Inverse: :func:`read_sidecar`."""
    path = sidecar_path(engine_path)
    path.write_text(json.dumps(metadata, indent=1, sort_keys=True))
    return path


def read_sidecar(engine_path: str | os.PathLike) -> dict[str, str]:
    """Metadata written by :func:`write_sidecar`; FileNotFoundError / ValueError naming the file."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a TensorRT engine needs the metadata file that `fast-hamer export` "
            "writes beside it"
        )
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return {str(k): str(v) for k, v in data.items()}
