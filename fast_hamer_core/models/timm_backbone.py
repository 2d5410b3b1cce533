"""timm student backbones: a timm classifier cut to its last-stage feature map.

Built with ``pretrained=False`` always: nothing is downloaded at run time. An ImageNet
initialisation comes from a local timm state-dict file through :func:`load_timm_weights`.
"""

from __future__ import annotations

from pathlib import Path

import timm
import torch
from torch import nn


class TimmBackbone(nn.Module):
    """(B, 3, H, W) -> (B, C, H/32, W/32): ``timm_model.forward_features`` (stride-32 map).

    The timm model lives in ``self.model`` with timm's own parameter names, so a timm state dict
    loads into it unchanged. Its classifier is removed (``num_classes=0``, no pooling) and the modules
    named in ``drop_modules`` (pre-logits layers ``forward_features`` never calls, e.g. MobileNetV3's
    ``conv_head``) are replaced by identities so that every parameter is used.
    """

    def __init__(
        self, timm_name: str, drop_modules: tuple[str, ...] = (), drop_path_rate: float = 0.0
    ) -> None:
        super().__init__()
        kwargs = {"drop_path_rate": drop_path_rate} if drop_path_rate > 0 else {}
        self.timm_name = timm_name
        self.model = timm.create_model(timm_name, pretrained=False, num_classes=0, global_pool="", **kwargs)
        for name in drop_modules:
            _replace_module(self.model, name, nn.Identity())
        self.drop_modules = tuple(drop_modules)
        self.out_channels = int(self.model.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)  # (B, C, H/32, W/32)

    def load_timm_weights(self, path: str | Path) -> None:
        """Load an ImageNet init from a local timm state-dict file; see :func:`load_timm_weights`."""
        load_timm_weights(self, path)


def _replace_module(root: nn.Module, dotted: str, new: nn.Module) -> None:
    parent_name, _, leaf = dotted.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    if not hasattr(parent, leaf):
        raise ValueError(f"{type(root).__name__} has no sub-module {dotted!r} to drop")
    setattr(parent, leaf, new)


def read_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a local ``.safetensors`` or torch (``.pth``/``.pt``/``.bin``) file, loaded safely.

    Torch files load with ``weights_only=True``; a ``{"state_dict": ...}`` or ``{"model": ...}``
    wrapper is unwrapped. Raises FileNotFoundError / ValueError naming the file.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"backbone init file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            data = load_file(str(path), device="cpu")
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt / truncated / not a weights file
        raise ValueError(f"cannot read backbone weights from {path}: {exc}") from exc
    for wrapper in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(wrapper), dict):
            data = data[wrapper]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    return data


def check_state_dict(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], what: str) -> None:
    """ValueError ``what: N missing [...], N unexpected [...], N wrong-shaped [...]`` unless ``state`` has
    exactly ``expected``'s keys with its shapes (the weights files of both backbone kinds)."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = sorted(k for k in set(state) & set(expected) if state[k].shape != expected[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(
            f"{what}: {len(missing)} missing {missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}, "
            f"{len(shapes)} wrong-shaped {shapes[:5]}"
        )


def load_timm_weights(backbone: TimmBackbone, path: str | Path) -> None:
    """Load a timm ImageNet state dict (local file) into ``backbone.model``, strictly.

    The classifier (timm's ``pretrained_cfg['classifier']``) and the dropped modules are ignored;
    every other key must match in name and shape, else ValueError lists the mismatches.
    """
    state = read_state_dict_file(path)
    classifier = backbone.model.pretrained_cfg.get("classifier") or ()
    ignored = tuple(p + "." for p in (*_as_tuple(classifier), *backbone.drop_modules))
    state = {k: v for k, v in state.items() if not k.startswith(ignored)}
    if state and all(k.startswith("model.") for k in state):  # saved from a TimmBackbone
        state = {k[len("model.") :]: v for k, v in state.items()}
    check_state_dict(state, backbone.model.state_dict(), f"{path} is not a {backbone.timm_name} state dict")
    backbone.model.load_state_dict(state, strict=True)


def _as_tuple(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
