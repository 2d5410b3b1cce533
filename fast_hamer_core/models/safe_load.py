"""Reading PyTorch files without running code: weights-only first, else a restricted unpickler.

``torch.load(weights_only=True)`` reads our files. Lightning ``.ckpt`` files (HaMeR, Fast-HaMeR) also
pickle non-tensor objects (the yacs ``CfgNode`` / OmegaConf ``DictConfig`` in ``hyper_parameters``),
which it refuses. Then the file is read again with a restricted unpickler: it resolves only the globals
that PyTorch's own weights-only loader allows (tensor rebuilders, dtypes, OrderedDict, ...); every other
class or function named in the file becomes an inert :class:`OpaqueObject` that records its arguments
and state, and object state is set only on those stand-ins. Nothing named in the file is imported or
executed. :func:`plain_data` turns such stand-ins of yacs / OmegaConf configs back into plain dicts.
"""

from __future__ import annotations

import _compat_pickle
import logging
import pickle
import re
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, ClassVar

import torch

log = logging.getLogger(__name__)


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


def torch_load_safely(path: Path, *, allow_opaque: bool, mmap: bool = False) -> Any:
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
                f"{path} is not a fast_hamer checkpoint: it pickles objects other than tensors and plain "
                "data "
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
# Configs pickled as yacs / OmegaConf objects -> plain data
# --------------------------------------------------------------------------------------------

_MAX_DEPTH = 64


def plain_data(value: Any, _depth: int = 0) -> Any:
    """Plain dicts / lists / scalars from a config read by the restricted unpickler.

    - yacs ``CfgNode`` (a dict subclass): its items.
    - OmegaConf ``DictConfig`` / ``ListConfig``: the ``_content`` of their pickled state; value nodes
      (``AnyNode``, ``StringNode``, ...): their ``_val``. Parents are never followed (they make cycles).
      ``${...}`` references stay the strings they are (nothing is resolved, no resolver runs).
    - plain dicts, lists, tuples and scalars as they are; any other stand-in becomes None.
    """
    if _depth > _MAX_DEPTH:
        raise ValueError(f"config nested deeper than {_MAX_DEPTH} levels")
    if isinstance(value, OpaqueObject):
        state = value.state if isinstance(getattr(value, "state", None), dict) else {}
        if "_content" in state:  # OmegaConf container
            return plain_data(state["_content"], _depth + 1)
        if "_val" in state:  # OmegaConf value node
            return plain_data(state["_val"], _depth + 1)
        if len(value):  # yacs CfgNode: a dict subclass
            return {str(k): plain_data(v, _depth + 1) for k, v in dict.items(value)}
        return {} if type(value).qualified_name.endswith("CfgNode") else None
    if isinstance(value, dict):
        return {str(k): plain_data(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v, _depth + 1) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return None
