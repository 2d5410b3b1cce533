"""Fixtures of the command-line tests."""

from __future__ import annotations

import pytest
from fixtures.models import save_tiny_checkpoint


@pytest.fixture(scope="session")
def student_checkpoint(tmp_path_factory):
    """A mobilenetv3_large student with random weights (seed 0), saved once for the CLI tests."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "mobilenetv3_large.pt", "mobilenetv3_large")
