"""fast_hamer_core: ROS-free hand mesh reconstruction (HaMeR teacher, distilled students, MANO).

Never imports ROS. The public entry points are re-exported lazily so that ``import fast_hamer_core``
stays cheap (no torch import until a model is needed).
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "load_model": "fast_hamer_core.models.checkpoint",
    "HandReconstructor": "fast_hamer_core.pipeline",
    "HandResult": "fast_hamer_core.types",
    "Detection": "fast_hamer_core.types",
    "PinholeCamera": "fast_hamer_core.geometry",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fast_hamer_core' has no attribute {name!r}")
