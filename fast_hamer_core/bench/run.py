"""The benchmark run: every model x runtime, network latency and pipeline rows, ratios.

The runtimes and batch sizes of one model are timed in interleaved rounds (all its runners built first),
so a load change on a shared machine hits every variant alike; each row carries its spread and the load
average, and a ratio built on a noisy row is marked unreliable (``ratio_reliable``) instead of being a
headline."""

from __future__ import annotations

import contextlib
import datetime
import gc
import logging
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fast_hamer_core.bench.inputs import load_mano_or_stand_in, load_torch_model
from fast_hamer_core.bench.measure import (
    count_gflops,
    count_params,
    cuda_sync,
    device_name,
    is_reliable,
    load_average,
    summarize,
    time_interleaved,
)
from fast_hamer_core.bench.options import TEACHER, BenchOptions, BenchResult, options_dict
from fast_hamer_core.bench.pipeline import _pipeline_inputs, time_pipeline
from fast_hamer_core.bench.runners import make_runner, pipeline_runner
from fast_hamer_core.bench.stream import stream_frames, time_stream_modes
from fast_hamer_core.runtime.base import RuntimeUnavailableError

log = logging.getLogger("fast_hamer_core.bench")


def run_bench(opts: BenchOptions, progress: Callable[[str], None] = log.info) -> BenchResult:
    """Measure every model x runtime (see the module docstring); unavailable runtimes are skipped with
    the reason (e.g. TensorRT without a GPU) rather than failing the whole run."""
    import tempfile

    from fast_hamer_core.pipeline import HandReconstructor

    opts.validate()
    threads = opts.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    opts.threads = threads
    result = BenchResult(device=device_name(opts.device), environment=_environment(opts))
    result.environment["options"] = options_dict(opts)
    if opts.int8:
        result.notes.append(
            "onnxruntime rows: int8 weights in the matrix products (--int8); their accuracy is not checked "
            "here (random weights): `fast-hamer export --int8` checks a trained checkpoint against torch"
        )
    work_ctx = tempfile.TemporaryDirectory(prefix="fast_hamer_bench_") if opts.work_dir is None else None
    work_dir = Path(work_ctx.name if work_ctx else opts.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    mano = load_mano_or_stand_in(opts.mano, result.notes)

    image = camera = detector = frames = None
    if opts.stream:
        frames = stream_frames(opts, result)
    elif opts.pipeline:
        image, camera, detector = _pipeline_inputs(opts, result)
    sync = cuda_sync(opts.device)
    try:
        for spec in opts.models:
            progress(f"{spec}: building")
            model = load_torch_model(spec, opts.device)
            model.set_mano(None)
            name = model.config.name
            info = {
                "model": name,
                "source": spec,
                "params_m": count_params(model) / 1e6,
                "gflops": count_gflops(model.config),
            }
            result.models.append(info)
            runners = {}
            for runtime in opts.runtimes:
                try:
                    progress(f"{name} / {runtime}: preparing")
                    runner = make_runner(model, runtime, opts, work_dir)
                except (RuntimeUnavailableError, ImportError, NotImplementedError) as exc:
                    result.skipped.append({"model": name, "runtime": runtime, "reason": str(exc)})
                    progress(f"{name} / {runtime}: skipped: {exc}")
                    continue
                runner.mano = mano.to(runner.device)
                runners[runtime] = runner
            result.latency += _time_network(model, info, runners, opts, threads, sync, progress)
            for runtime, runner in runners.items():
                torch.set_num_threads(threads if runtime == "torch" else 1)  # see load_runtime_model
                if frames is not None:
                    runner = pipeline_runner(runner)
                    runner.synchronize = opts.device.startswith("cuda")
                    for row in time_stream_modes(runner, frames, opts, progress):
                        result.pipeline.append({"model": name, "runtime": runtime, **row})
                elif opts.pipeline and image is not None:
                    runner = pipeline_runner(runner)
                    runner.synchronize = opts.device.startswith("cuda")
                    recon = HandReconstructor(
                        detector=detector, model=runner, device=opts.device, tracker=None, fp16=opts.fp16
                    )
                    row = time_pipeline(recon, detector, runner, image, camera, opts.frames, opts.budget_s)
                    row = {"model": name, "runtime": runtime, "mode": "frame", **row}
                    result.pipeline.append(row)
                    progress(f"{name} / {runtime} / pipeline: {row['fps']:.1f} FPS, {row['hands']} hands")
                    del recon
                torch.set_num_threads(threads)
            runner = None
            runners.clear()  # an idle ONNX Runtime session must not share the cores with the next one
            del model
            gc.collect()
    finally:
        if detector is not None:
            detector.close()
        if work_ctx is not None:
            work_ctx.cleanup()
    if hasattr(os, "getloadavg"):
        result.environment["load_average_end"] = os.getloadavg()
        busiest = max(result.environment["load_average"][0], result.environment["load_average_end"][0])
        if busiest > 0.75 * (os.cpu_count() or 1) + 1:
            result.notes.append(
                f"the machine was busy (1-min load average up to {busiest:.1f} on {os.cpu_count()} CPUs): "
                "other processes shared the cores, times are noisy (torch's OpenMP threads suffer most)"
            )
    add_ratios(result.latency, keys=("model", "runtime", "batch"))
    add_ratios(result.pipeline, keys=("model", "runtime", "mode"))
    return result


def _time_network(
    model, info: dict[str, Any], runners: dict[str, Any], opts: BenchOptions, threads: int, sync, progress
) -> list[dict[str, Any]]:
    """Latency rows of one model: every (runtime, batch) variant timed in interleaved rounds
    (:func:`~fast_hamer_core.bench.measure.time_interleaved`), each with its spread and the load average."""
    variants, keys = [], []
    for runtime, runner in runners.items():
        for batch in opts.batches:
            crop = model.config.preprocess.crop_size
            shape = (int(batch), 3, crop, crop)
            rng = np.random.default_rng(int(batch))

            def make_input(shape=shape, rng=rng):  # numpy: no torch threads between timed calls
                return torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(opts.device)

            def call(x, runner=runner, runtime=runtime):
                torch.set_num_threads(threads if runtime == "torch" else 1)  # see load_runtime_model
                return runner.run_network(x)

            variants.append((call, make_input))
            keys.append((runtime, int(batch)))
    times = time_interleaved(variants, opts.repeats, opts.warmup, opts.budget_s, sync)
    torch.set_num_threads(threads)
    load = load_average()
    rows = []
    for (runtime, batch), t in zip(keys, times, strict=True):
        row = {"model": info["model"], "runtime": runtime, "batch": batch, "params_m": info["params_m"],
               "gflops": info["gflops"], **summarize(t), "load_1min": load}  # fmt: skip
        row["reliable"] = is_reliable(row)
        rows.append(row)
        progress(
            f"{info['model']} / {runtime} / batch {batch}: median {row['median_ms']:.1f} ms, "
            f"spread {100 * row['spread']:.0f}%"
        )
    return rows


def add_ratios(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """``x_torch`` and ``x_teacher`` for every row (None where the reference was not measured), and
    ``ratio_reliable``: every row a ratio is built from is ``reliable`` (rows without the flag count as
    reliable)."""
    index = {tuple(r[k] for k in keys): r for r in rows}
    for r in rows:
        key = dict(zip(keys, (r[k] for k in keys), strict=True))
        torch_row = index.get(tuple({**key, "runtime": "torch"}[k] for k in keys))
        teacher_row = index.get(tuple({**key, "model": TEACHER}[k] for k in keys)) or index.get(
            tuple({**key, "model": TEACHER, "runtime": "torch"}[k] for k in keys)
        )
        r["x_torch"] = torch_row["median_ms"] / r["median_ms"] if torch_row else None
        r["x_teacher"] = teacher_row["median_ms"] / r["median_ms"] if teacher_row else None
        used = [x for x in (r, torch_row, teacher_row) if x is not None]
        r["ratio_reliable"] = all(x.get("reliable", True) for x in used)


def _environment(opts: BenchOptions) -> dict[str, Any]:
    env: dict[str, Any] = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": opts.threads,
        "device": opts.device,
        "fp16": opts.fp16,
        "repeats": opts.repeats,
        "budget_s": opts.budget_s,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    with contextlib.suppress(ImportError):
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    with contextlib.suppress(ImportError):
        import tensorrt

        env["tensorrt"] = tensorrt.__version__
    return env
