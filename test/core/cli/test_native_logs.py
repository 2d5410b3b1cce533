"""The console command's stderr filter: MediaPipe / LiteRT INFO and WARNING chatter is dropped, the
program's own lines, progress bars and native errors pass (a subprocess: the filter owns fd 2)."""

from __future__ import annotations

import os
import subprocess
import sys

from fixtures.data import REPO_ROOT

SCRIPT = r"""
import os, sys, logging
from fast_hamer_core.cli.native_logs import filter_native_stderr, restore_stderr
filter_native_stderr()
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
os.write(2, b"INFO: [environment.cc:36] Creating LiteRT environment with options\n")
os.write(2, b"INFO: [accel")  # a native line arriving in pieces
os.write(2, b"erator_registry.cc:54] RegisterAccelerator: ptr=0x1\n")
os.write(2, b"WARNING: Logging before InitGoogle() is written to STDERR\n")
os.write(2, b"W0000 00:00:1796118665.488305   32003 inference_runner_litert.cc:1433] Input tensor\n")
os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
os.write(2, b"E0000 00:00:1.0 1 calculator.cc:1] a real native error\n")
logging.getLogger("fast_hamer.infer").info("wrote result.json")
sys.stderr.write("\rinfer:  50%|#####     | 1/2")
sys.stderr.flush()
restore_stderr()
os.write(2, b"after restore\n")
"""


def test_native_chatter_is_dropped_and_the_rest_passes():
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, timeout=60, check=True
    ).stderr.decode()
    assert out == (
        "E0000 00:00:1.0 1 calculator.cc:1] a real native error\n"
        "INFO fast_hamer.infer: wrote result.json\n"
        "\rinfer:  50%|#####     | 1/2"
        "after restore\n"
    )
