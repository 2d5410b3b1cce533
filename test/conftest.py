"""Shared pytest set-up: makes ``test/fixtures`` importable as ``fixtures`` and keeps torch small."""

from __future__ import annotations

import os
import sys
from pathlib import Path

TEST_DIR = Path(__file__).resolve().parent
if str(TEST_DIR) not in sys.path:
    sys.path.insert(0, str(TEST_DIR))

# Never look anything up on a hub during tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TIMM_OFFLINE", "1")

# Synthetic MANO in the real file formats (test/fixtures/mano.py).
from fixtures.mano import (  # noqa: E402, F401
    mano_models_dir,
    synthetic_mano_arrays,
    synthetic_mano_npz,
    synthetic_mano_pkl,
)
