"""MediaPipe's native threads raise SIGPROF; a process using the detector must survive it."""

from __future__ import annotations

import signal
import subprocess
import sys

from fast_hamer_core.detection.mediapipe_detector import ignore_stray_sigprof

SCRIPT = """
import os, signal, sys
from fast_hamer_core.detection.mediapipe_detector import MediaPipeHandDetector
with MediaPipeHandDetector(model_path=sys.argv[1]) as det:
    os.kill(os.getpid(), signal.SIGPROF)  # what libmediapipe's CPU-time timers deliver
    print("alive", flush=True)
"""


def test_a_process_with_the_detector_survives_sigprof(task_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(task_path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"rc={proc.returncode} (-{int(signal.SIGPROF)} = killed by SIGPROF)"
    assert "alive" in proc.stdout


def test_an_installed_profiler_handler_is_kept():
    def handler(signum, frame):
        return None

    previous = signal.signal(signal.SIGPROF, handler)
    try:
        ignore_stray_sigprof()
        assert signal.getsignal(signal.SIGPROF) is handler
    finally:
        signal.signal(signal.SIGPROF, previous)
