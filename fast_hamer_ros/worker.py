"""Newest-frame-only hand-off between a subscription callback and an inference thread, and the
rate / latency bookkeeping behind ``/diagnostics``. ROS-free, thread-safe, bounded memory.

Why newest-frame-only: inference is slower than most cameras. Queueing frames would make the
output lag further and further behind the camera; instead the callback overwrites the one pending
frame (counting the overwritten one as dropped) and the worker always takes the newest.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from fast_hamer_core.stream import LatestSlot

__all__ = ["DetectionRates", "LatestSlot", "PipelineStats", "ReasonThrottle", "SequenceGaps", "StatsSnapshot"]


@dataclass
class StatsSnapshot:
    """What ``/diagnostics`` reports, over the last ``window_s`` seconds unless marked total."""

    input_rate_hz: float
    output_rate_hz: float
    latency_p50_ms: float
    latency_p95_ms: float
    received_total: int
    processed_total: int
    dropped_total: int
    rejected_total: int
    errors_total: int
    hands_last_frame: int
    seconds_since_input: float | None
    failed_in_window: int = 0  #: frames refused or failed in the window
    processed_in_window: int = 0  #: frames processed (published) in the window
    last_failure: str | None = None  #: why the newest refused / failed frame was not processed


class PipelineStats:
    """Counts and timings of the node's pipeline (monotonic clock, seconds)."""

    def __init__(self, window_s: float = 5.0, max_samples: int = 1000) -> None:
        self.window_s = float(window_s)
        self._lock = threading.Lock()
        self._inputs: deque[float] = deque(maxlen=max_samples)
        self._outputs: deque[float] = deque(maxlen=max_samples)
        self._latencies: deque[tuple[float, float]] = deque(maxlen=max_samples)  # (time, latency s)
        self._failures: deque[float] = deque(maxlen=max_samples)  # times of refused / failed frames
        self.last_failure: str | None = None
        self.received = 0
        self.processed = 0
        self.rejected = 0
        self.errors = 0
        self.hands_last_frame = 0

    def input(self, now: float | None = None) -> None:
        """A frame arrived."""
        with self._lock:
            self._inputs.append(time.monotonic() if now is None else now)
            self.received += 1

    def output(self, received_at: float, hands: int, now: float | None = None) -> None:
        """A frame received at ``received_at`` was processed and its results published."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._outputs.append(now)
            self._latencies.append((now, now - received_at))
            self.processed += 1
            self.hands_last_frame = int(hands)

    def reject(self, reason: str | None = None, frame: bool = True, now: float | None = None) -> None:
        """A malformed or refused message was skipped; ``frame``: it was an image frame (a failed frame
        of the window), not a side input such as a depth image."""
        with self._lock:
            self.rejected += 1
            if frame:
                self._failures.append(time.monotonic() if now is None else now)
                self.last_failure = reason or self.last_failure

    def error(self, reason: str | None = None, now: float | None = None) -> None:
        """Inference failed on a frame."""
        with self._lock:
            self.errors += 1
            self._failures.append(time.monotonic() if now is None else now)
            self.last_failure = reason or self.last_failure

    def snapshot(self, dropped: int, now: float | None = None) -> StatsSnapshot:
        now = time.monotonic() if now is None else now
        start = now - self.window_s
        with self._lock:
            inputs = [t for t in self._inputs if t >= start]
            outputs = [t for t in self._outputs if t >= start]
            lat = np.array([lat for t, lat in self._latencies if t >= start], dtype=np.float64)
            last_input = self._inputs[-1] if self._inputs else None
            p50, p95 = (np.percentile(lat, [50, 95]) * 1e3).tolist() if lat.size else (float("nan"),) * 2
            return StatsSnapshot(
                input_rate_hz=_rate(inputs),
                output_rate_hz=_rate(outputs),
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                received_total=self.received,
                processed_total=self.processed,
                dropped_total=int(dropped),
                rejected_total=self.rejected,
                errors_total=self.errors,
                hands_last_frame=self.hands_last_frame,
                seconds_since_input=None if last_input is None else now - last_input,
                failed_in_window=sum(1 for t in self._failures if t >= start),
                processed_in_window=len(outputs),
                last_failure=self.last_failure,
            )


def _rate(times: list[float]) -> float:
    """Events per second from their times: (n - 1) / span; 0 with fewer than two events."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])


class SequenceGaps:
    """Frames lost before they reached the node (the DDS reader keeps only the newest, or the network
    lost them), counted from gaps in each publisher's publication sequence numbers."""

    def __init__(self, max_publishers: int = 64) -> None:
        self._last: dict[bytes, int] = {}
        self.max_publishers = max_publishers
        self.lost = 0

    def observe(self, publisher: bytes, sequence_number: int | None) -> int:
        """Record a received message; returns how many of that publisher's messages were skipped
        since the previous one received (0 when unknown, e.g. the middleware gives no numbers)."""
        if sequence_number is None:
            return 0
        last = self._last.get(publisher)
        if last is None and len(self._last) >= self.max_publishers:
            self._last.pop(next(iter(self._last)))  # bounded: forget the oldest publisher
        self._last[publisher] = int(sequence_number)
        gap = int(sequence_number) - last - 1 if last is not None else 0
        if gap > 0:
            self.lost += gap
            return gap
        return 0


class ReasonThrottle:
    """Lets a message through the first time a reason is seen and then at most once per ``period_s``
    (a flood of identical bad messages must not flood the log); counts what it held back."""

    def __init__(self, period_s: float = 5.0) -> None:
        self.period_s = float(period_s)
        self._last: dict[Any, float] = {}
        self.suppressed: dict[Any, int] = {}

    def allow(self, key: Any, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        last = self._last.get(key)
        if last is not None and now - last < self.period_s:
            self.suppressed[key] = self.suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        return True


class DetectionRates:
    """Palm searches, window searches, body searches, landmark and mirror passes per frame over the last
    ``window_s`` s, from the detector's running counts
    (:class:`fast_hamer_core.detection.stream.StreamCounts`) sampled at each report. With no frame in the
    window the rates are over the node's whole life (never a division by 0)."""

    NAMES: tuple[str, ...] = (
        "palm_searches",
        "window_searches",
        "body_searches",
        "landmark_passes",
        "mirror_passes",
    )

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = float(window_s)
        self._samples: deque[tuple[float, Any]] = deque()

    def update(self, counts: Any, now: float | None = None) -> dict[str, str]:
        """Record ``counts`` (cumulative) and return ``{<name>_per_frame: "0.123"}``."""
        now = time.monotonic() if now is None else now
        self._samples.append((now, counts))
        while len(self._samples) > 1 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()  # keep one sample at or before the window's start
        base = self._samples[0][1]
        if counts.frames - base.frames <= 0:
            base = type(counts)()  # nothing in the window: the whole life
        frames = max(counts.frames - base.frames, 1)
        return {
            f"{name}_per_frame": f"{(getattr(counts, name) - getattr(base, name)) / frames:.3f}"
            for name in self.NAMES
        }
