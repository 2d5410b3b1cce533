"""Small measuring tools: device name, parameters, GFLOPs, timed calls and their summary."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fast_hamer_core.bench.options import MIN_RUNS

log = logging.getLogger("fast_hamer_core.bench")


def device_name(device: str) -> str:
    """Human-readable name of the compute device: GPU name, or CPU model and thread count."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu} ({os.cpu_count()} CPUs, {torch.get_num_threads()} threads)"


def count_params(model: torch.nn.Module) -> int:
    """Parameters of backbone + head (MANO has buffers only)."""
    return sum(p.numel() for p in model.parameters())


def count_gflops(config) -> float:
    """GFLOPs of backbone + head for one crop, counted on the ``meta`` device (no weights allocated)."""
    from torch.utils.flop_counter import FlopCounterMode

    from fast_hamer_core.models import create_model
    from fast_hamer_core.runtime.torch_model import HandNetwork

    with torch.device("meta"):
        network = HandNetwork(create_model(config).eval()).eval()
        crop = config.preprocess.crop_size
        x = torch.empty(1, 3, crop, crop)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            network(x)
    return counter.get_total_flops() / 1e9


def summarize(times_s: Sequence[float]) -> dict[str, float]:
    """Median, 95th percentile and mean of ``times_s``, in milliseconds."""
    t = np.asarray(times_s, dtype=np.float64) * 1e3
    return {
        "median_ms": float(np.median(t)),
        "p95_ms": float(np.percentile(t, 95)),
        "mean_ms": float(t.mean()),
        "runs": len(t),
    }


def time_calls(
    call: Callable[[Any], Any],
    make_input: Callable[[], Any],
    repeats: int,
    warmup: int,
    budget_s: float,
    sync: Callable[[], None] = lambda: None,
) -> list[float]:
    """Seconds of ``call(make_input())`` for up to ``repeats`` calls, a fresh input each time (made outside
    the timed region), after ``warmup`` untimed calls; stops early once ``budget_s`` is spent (but never
    before :data:`MIN_RUNS` timed calls). ``sync`` waits for the device before each clock reading."""
    start = time.perf_counter()
    for _ in range(warmup):
        call(make_input())
        if time.perf_counter() - start > budget_s / 3:
            break
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats:
        x = make_input()
        sync()
        t0 = time.perf_counter()
        call(x)
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= MIN_RUNS and time.perf_counter() - start > budget_s:
            break
    return times


def cuda_sync(device: str) -> Callable[[], None]:
    """A function that waits for ``device`` (no-op on the CPU)."""
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None
