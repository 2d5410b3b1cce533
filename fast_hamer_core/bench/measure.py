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

from fast_hamer_core.bench.options import MIN_RUNS, ROUNDS, SPREAD_LIMIT

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
    """Median, 95th percentile and mean of ``times_s`` in milliseconds, the number of runs and the
    spread ``(p75 - p25) / median`` (a dimensionless noise measure)."""
    t = np.asarray(times_s, dtype=np.float64) * 1e3
    median = float(np.median(t))
    p25, p75 = np.percentile(t, [25, 75])
    return {
        "median_ms": median,
        "p95_ms": float(np.percentile(t, 95)),
        "mean_ms": float(t.mean()),
        "runs": len(t),
        "spread": float((p75 - p25) / median) if median > 0 else 0.0,
    }


def load_average() -> float | None:
    """The 1-minute load average (None where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def is_reliable(row: dict[str, Any], cpus: int | None = None) -> bool:
    """Whether a summarised row can carry a ratio: its spread is within :data:`SPREAD_LIMIT` and no more
    processes were runnable than there are CPUs when it was measured."""
    cpus = cpus or os.cpu_count() or 1
    load = row.get("load_1min")
    return row.get("spread", 0.0) <= SPREAD_LIMIT and (load is None or load <= cpus)


def time_interleaved(
    variants: Sequence[tuple[Callable[[Any], Any], Callable[[], Any]]],
    repeats: int,
    warmup: int,
    budget_s: float,
    sync: Callable[[], None] = lambda: None,
    rounds: int = ROUNDS,
) -> list[list[float]]:
    """:func:`time_calls` for several ``(call, make_input)`` variants taking turns: every variant is
    warmed up, then ``rounds`` rounds each time a share of ``repeats`` calls of every variant in turn, so
    that a change of machine load hits all variants alike instead of one row. ``budget_s`` is per
    variant. -> the timed seconds per variant, in the order given."""
    rounds = max(1, min(rounds, repeats))
    per_round = [repeats // rounds + (1 if r < repeats % rounds else 0) for r in range(rounds)]
    min_runs = -(-MIN_RUNS // rounds)  # MIN_RUNS over all rounds
    times: list[list[float]] = [[] for _ in variants]
    for call, make_input in variants:
        time_calls(call, make_input, 0, warmup, budget_s, sync)  # warm-up only
    for n in per_round:
        for i, (call, make_input) in enumerate(variants):
            times[i] += time_calls(call, make_input, n, 0, budget_s / rounds, sync, min_runs=min_runs)
    return times


def time_calls(
    call: Callable[[Any], Any],
    make_input: Callable[[], Any],
    repeats: int,
    warmup: int,
    budget_s: float,
    sync: Callable[[], None] = lambda: None,
    min_runs: int = MIN_RUNS,
) -> list[float]:
    """Seconds of ``call(make_input())`` for up to ``repeats`` calls, a fresh input each time (made outside
    the timed region), after ``warmup`` untimed calls; stops early once ``budget_s`` is spent (but never
    before ``min_runs`` timed calls). ``sync`` waits for the device before each clock reading."""
    start = time.perf_counter()
    for _ in range(warmup):
        call(make_input())
        if time.perf_counter() - start > budget_s / 3:
            break
    times: list[float] = []
    start = time.perf_counter()
    if repeats <= 0:
        return times
    while len(times) < repeats:
        x = make_input()
        sync()
        t0 = time.perf_counter()
        call(x)
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= min_runs and time.perf_counter() - start > budget_s:
            break
    return times


def cuda_sync(device: str) -> Callable[[], None]:
    """A function that waits for ``device`` (no-op on the CPU)."""
    if device.startswith("cuda"):
        dev = torch.device(device)
        return lambda: torch.cuda.synchronize(dev)
    return lambda: None
