"""Keep the native libraries' console chatter (MediaPipe / LiteRT / TFLite) off the terminal.

LiteRT and absl inside MediaPipe write straight to file descriptor 2 ("INFO: [environment.cc:36] Creating
LiteRT environment", "W0000 ... landmark_projection_calculator.cc ..."), a dozen lines per command, and
expose no switch for it (``GLOG_minloglevel`` / ``TF_CPP_MIN_LOG_LEVEL`` are not read by these builds).
:func:`filter_native_stderr` puts a pipe on fd 2 and forwards everything to the real stderr except lines
that look like those libraries' INFO / WARNING messages; errors (``E``/``F`` lines) still pass. Python's
own output (logging, tqdm bars with their carriage returns) passes through unchanged.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import re
import sys
import threading

#: Lines dropped: LiteRT's "INFO: [file.cc:N]", TFLite's delegate note, absl's pre-init banner and its
#: I / W lines ("W0000 00:00:..."). Anything else is forwarded.
NATIVE_NOISE = re.compile(
    rb"^(INFO: \[[\w./-]+:\d+\]|INFO: Created TensorFlow Lite"
    rb"|WARNING: Logging before InitGoogle\(\)|[IW]\d{4} )"
)
#: A partial line starting so may still become a dropped one: it waits for its newline (other partial
#: output, e.g. a progress bar redrawn with carriage returns, is shown at once).
_MAYBE_NOISE_START: tuple[bytes, ...] = (b"I", b"W")


class _Filter:
    def __init__(self) -> None:
        sys.stderr.flush()
        self.original = os.dup(2)
        read_fd, write_fd = os.pipe()
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.read_fd = read_fd
        self.thread = threading.Thread(target=self._pump, name="native-stderr-filter", daemon=True)
        self.thread.start()

    def _write(self, data: bytes) -> None:
        if data:
            os.write(self.original, data)

    def _pump(self) -> None:
        pending = b""
        try:
            while chunk := os.read(self.read_fd, 65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                self._write(b"".join(line + b"\n" for line in lines if not NATIVE_NOISE.match(line)))
                if pending and not pending.startswith(_MAYBE_NOISE_START):
                    self._write(pending)  # e.g. a progress bar redrawn with \r: show it now
                    pending = b""
            if pending and not NATIVE_NOISE.match(pending):
                self._write(pending)
        except OSError:
            pass

    def close(self) -> None:
        """Put the real stderr back on fd 2 and forward what is still in the pipe. Objects left for the
        collector (a MediaPipe landmarker says goodbye when destroyed) are collected first, still filtered."""
        gc.collect()
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.flush()
        os.dup2(self.original, 2)  # closes the pipe's last write end: the pump drains and stops
        self.thread.join(timeout=2.0)
        os.close(self.read_fd)


_active: _Filter | None = None


def filter_native_stderr() -> None:
    """Install the filter for the rest of the process (idempotent; undone at exit)."""
    global _active
    if _active is not None:
        return
    try:
        _active = _Filter()
    except OSError:  # no fd 2, or no pipes: leave stderr alone
        _active = None
        return
    atexit.register(restore_stderr)


def restore_stderr() -> None:
    """Undo :func:`filter_native_stderr`."""
    global _active
    if _active is not None:
        _active.close()
        _active = None
