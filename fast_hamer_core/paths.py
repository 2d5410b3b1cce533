"""Where the product keeps its assets on disk (one models directory, documented layout).

Layout of the models directory (default ``~/.cache/fast_hamer/models``, or ``$FAST_HAMER_MODELS``)::

    mano/MANO_RIGHT.npz          MANO right hand, converted once from the user's licensed file
    detector/hand_landmarker.task MediaPipe HandLandmarker model bundle
    hamer/hamer.ckpt, hamer/model_config.yaml   the HaMeR teacher (training only)
    students/<model_name>/*.pt   trained students in our checkpoint format
"""

from __future__ import annotations

import os
from pathlib import Path

MODELS_ENV = "FAST_HAMER_MODELS"


def models_dir(override: str | os.PathLike | None = None) -> Path:
    """The models directory: ``override`` if given, else ``$FAST_HAMER_MODELS``, else the user cache."""
    if override:
        return Path(override).expanduser()
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "fast_hamer" / "models"


def mano_dir(override: str | os.PathLike | None = None) -> Path:
    return models_dir(override) / "mano"


def detector_dir(override: str | os.PathLike | None = None) -> Path:
    return models_dir(override) / "detector"


def hamer_dir(override: str | os.PathLike | None = None) -> Path:
    return models_dir(override) / "hamer"


def students_dir(override: str | os.PathLike | None = None) -> Path:
    return models_dir(override) / "students"
