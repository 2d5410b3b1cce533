"""Speed and size of a hand-mesh network: latency / FPS done properly, parameters, GFLOPs.

Latency (:func:`measure_latency`): inputs made once on the device; ``warmup`` untimed runs (cuDNN
autotuning, allocator, lazy init); then ``runs`` timed forwards, each bracketed by device
synchronisation (``torch.cuda.synchronize``) so that the clock sees finished kernels; the *median*
is reported (robust to scheduler hiccups) with the 90th percentile. FPS = batch size / median seconds,
i.e. hands per second. The timed call is the whole network (backbone, head, MANO when attached) under
``torch.inference_mode``, optionally in fp16 autocast on a GPU.

GFLOPs (:func:`count_gflops`): ``torch.utils.flop_counter.FlopCounterMode`` over one batch-1 forward;
it counts a multiply-add as 2 FLOPs (papers quoting "FLOPs" often mean multiply-adds: half of this).
Parameters (:func:`count_parameters`): backbone + head (MANO has no parameters).
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameters (trainable or not)."""
    return int(sum(p.numel() for p in model.parameters()))


def _input(model: torch.nn.Module, batch: int, device: torch.device) -> torch.Tensor:
    crop = getattr(getattr(getattr(model, "config", None), "preprocess", None), "crop_size", 256)
    gen = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, crop, crop, generator=gen).to(device)


def count_gflops(model: torch.nn.Module, device: str | torch.device = "cpu") -> float:
    """GFLOPs of one batch-1 forward (2 FLOPs per multiply-add), counted by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(device)
    x = _input(model, 1, device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return counter.get_total_flops() / 1e9


def measure_latency(
    model: torch.nn.Module,
    batch_size: int,
    device: str | torch.device = "cpu",
    warmup: int = 10,
    runs: int = 50,
    fp16: bool = False,
) -> dict[str, Any]:
    """Median / p90 latency (ms) and FPS of ``model`` on ``batch_size`` crops; see the module docstring."""
    device = torch.device(device)
    if runs < 1:
        raise ValueError("runs must be >= 1")
    model = model.to(device).eval()
    x = _input(model, batch_size, device)
    use_amp = fp16 and device.type == "cuda"
    times: list[float] = []
    with (
        torch.inference_mode(),
        torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp),
    ):
        for _ in range(warmup):
            model(x)
        _sync(device)
        for _ in range(runs):
            _sync(device)
            t0 = time.perf_counter()
            model(x)
            _sync(device)
            times.append(time.perf_counter() - t0)
    times.sort()
    median = statistics.median(times)
    p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
    return {
        "batch_size": batch_size,
        "median_ms": median * 1e3,
        "p90_ms": p90 * 1e3,
        "fps": batch_size / median,
        "runs": runs,
        "warmup": warmup,
        "fp16": use_amp,
    }


def device_name(device: str | torch.device) -> str:
    """Human-readable device (GPU model, or CPU with its thread count)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return f"CPU {platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def benchmark(
    model: torch.nn.Module,
    device: str | torch.device = "cpu",
    batch_sizes: tuple[int, ...] = (1, 4),
    warmup: int = 10,
    runs: int = 50,
    fp16: bool = False,
) -> dict[str, Any]:
    """Parameters, GFLOPs and latency at each batch size, as one JSON-ready dict."""
    device = torch.device(device)
    out: dict[str, Any] = {
        "device": device_name(device),
        "params": count_parameters(model),
        "gflops": count_gflops(model.to(device), device),
        "latency": {},
    }
    for b in batch_sizes:
        out["latency"][f"batch_{b}"] = measure_latency(model, b, device, warmup, runs, fp16)
    return out
