"""``fast-hamer bench``: how fast each model runs in each runtime, alone and in the whole pipeline.

Two measurements, same run, same machine (ratios are the headline; absolute times carry the device name):

1. **Network latency** (backbone + head, what a runtime changes): per model, runtime and batch size, the
   median and 95th percentile of ``runner.run_network(crops)`` over fresh random crops (a new tensor
   before every timed call, made outside the timed region), after warm-up, with a device sync around
   every call on CUDA. Columns ``x_torch`` (torch time / this runtime's time, same model and batch) and
   ``x_teacher`` (teacher time / this model's time, same runtime and batch; the teacher's torch time
   when the teacher was not run in this runtime).
2. **End-to-end pipeline** on a real photo (default: ``hamer_test5.jpg`` of the project's sample photos,
   centre-cropped to 4:3 and resized to 640x480, two hands): :class:`HandReconstructor` with the detector,
   crops, network, MANO and result assembly, frames per second, and each stage's share of the frame.
   Stages are timed without touching the pipeline: the detector is wrapped by a timing proxy, the runner
   records its own network / MANO split (:attr:`RuntimeHandModel.last_timings`) and call stamps, so
   ``crops`` = detector end -> runner start and ``outputs`` = runner end -> results returned.

What each runtime runs: ``torch`` is the trained model in eager mode, as the pipeline runs a checkpoint
(all ``--threads``); ``onnxruntime`` / ``tensorrt`` run the file ``fast-hamer export`` writes (with the
single-query head, :mod:`fast_hamer_core.runtime.deploy_head`), each checked against torch when exported.
ONNX Runtime uses ``--threads`` intra-op threads and torch keeps one (it only crops and runs MANO then;
see :func:`~fast_hamer_core.runtime.load_runtime_model`); its latency is measured with ONNX Runtime's
default spinning worker threads, its pipeline without them (:func:`pipeline_runner`).

Parameters count backbone + head; GFLOPs are counted by ``torch.utils.flop_counter`` at batch 1 on the
``meta`` device (no memory, no time; one multiply-add = 2 FLOPs).

Models are registered names (random weights: speed does not depend on the values) or checkpoint files.
Without the user's MANO file, a random stand-in of MANO's exact shapes is used (same cost, meaningless
meshes); the report says so.
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fast_hamer_core.runtime.base import RUNTIMES, RuntimeHandModel, RuntimeUnavailableError

log = logging.getLogger(__name__)

TEACHER = "hamer_vith"
DEFAULT_MODELS: tuple[str, ...] = ("mobilenetv3_large", "mobilevit_s", "convnext_tiny", "resnet50", TEACHER)
DEFAULT_IMAGE_NAME = "hamer_test5.jpg"
#: Where the default photo is looked for: ``$FAST_HAMER_BENCH_IMAGE``, then the project's sample photos.
DEFAULT_IMAGE_DIRS: tuple[str, ...] = ("../shared/data/hands", "shared/data/hands", "/work/shared/data/hands")
PIPELINE_SIZE: tuple[int, int] = (640, 480)
STAGES: tuple[str, ...] = ("detector", "crops", "network", "mano", "outputs")
#: Fewest timed runs, whatever the time budget says.
MIN_RUNS = 3

#: Documented columns of the JSON rows (and the printed tables).
LATENCY_COLUMNS: dict[str, str] = {
    "model": "registered model name",
    "runtime": "torch | onnxruntime | tensorrt",
    "batch": "crops per call",
    "params_m": "parameters of backbone + head, millions",
    "gflops": "GFLOPs of backbone + head per crop (batch 1)",
    "median_ms": "median latency of one network call, milliseconds",
    "p95_ms": "95th percentile latency, milliseconds",
    "mean_ms": "mean latency, milliseconds",
    "runs": "timed calls",
    "x_torch": "torch latency / this latency (same model, batch): the runtime's speed-up",
    "x_teacher": "teacher latency / this latency (same runtime, batch): the student's speed-up",
}
PIPELINE_COLUMNS: dict[str, str] = {
    "model": "registered model name",
    "runtime": "torch | onnxruntime | tensorrt",
    "hands": "hands reconstructed per frame",
    "frames": "timed frames",
    "fps": "frames per second (1000 / median_ms)",
    "median_ms": "median time per frame, detector to results, milliseconds",
    "p95_ms": "95th percentile per frame, milliseconds",
    "stages_ms": f"median milliseconds of each stage: {', '.join(STAGES)}",
    "stages_share": "each stage's share of the mean frame time (0..1)",
    "x_torch": "torch frame time / this frame time (same model)",
    "x_teacher": "teacher frame time / this frame time (same runtime)",
}


@dataclass
class BenchOptions:
    """What ``fast-hamer bench`` measures; every field has a command-line flag of the same name."""

    models: Sequence[str] = DEFAULT_MODELS
    runtimes: Sequence[str] = ("torch", "onnxruntime")
    batches: Sequence[int] = (1, 2, 4)
    device: str = "cpu"
    repeats: int = 20
    warmup: int = 3
    budget_s: float = 15.0
    threads: int | None = None
    pipeline: bool = True
    image: str | None = None
    frames: int = 20
    detector: str = "mediapipe"
    detector_model: str | None = None
    mano: str | None = None
    fp16: bool = False
    work_dir: str | None = None
    exporter: str = "dynamo"

    def validate(self) -> None:
        """ValueError naming the first bad field."""
        bad = [r for r in self.runtimes if r not in RUNTIMES]
        if bad:
            raise ValueError(f"unknown runtime(s) {bad}; choose from {RUNTIMES}")
        if not self.models:
            raise ValueError("no models to benchmark")
        if not self.batches or any(int(b) < 1 for b in self.batches):
            raise ValueError(f"batch sizes must be >= 1, got {list(self.batches)}")
        if self.repeats < 1 or self.warmup < 0 or self.frames < 1:
            raise ValueError("repeats and frames must be >= 1 and warmup >= 0")
        if self.device != "cpu" and not self.device.startswith("cuda"):
            raise ValueError(f"device must be cpu or cuda[:N], got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise RuntimeError(f"--device {self.device}: torch sees no CUDA GPU here")
        if self.detector not in ("mediapipe", "none"):
            raise ValueError(f"detector must be 'mediapipe' or 'none', got {self.detector!r}")


@dataclass
class BenchResult:
    """Everything one run measured; :meth:`to_dict` is the ``--out`` JSON."""

    device: str
    environment: dict[str, Any]
    models: list[dict[str, Any]] = field(default_factory=list)
    latency: list[dict[str, Any]] = field(default_factory=list)
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "environment": self.environment,
            "columns": {"latency": LATENCY_COLUMNS, "pipeline": PIPELINE_COLUMNS},
            "models": self.models,
            "latency": self.latency,
            "pipeline": self.pipeline,
            "skipped": self.skipped,
            "notes": self.notes,
        }


# --------------------------------------------------------------------------------------------------
# Small measuring tools


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


# --------------------------------------------------------------------------------------------------
# Inputs: image, MANO


def default_image_path() -> Path | None:
    """``$FAST_HAMER_BENCH_IMAGE``, else :data:`DEFAULT_IMAGE_NAME` among the sample photos, else None."""
    env = os.environ.get("FAST_HAMER_BENCH_IMAGE")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    for d in DEFAULT_IMAGE_DIRS:
        candidate = (repo / d / DEFAULT_IMAGE_NAME).resolve()
        if candidate.is_file():
            return candidate
    return None


def load_bench_image(path: str | os.PathLike, size: tuple[int, int] = PIPELINE_SIZE) -> np.ndarray:
    """RGB uint8 (H, W, 3) of ``size`` = (W, H): the photo centre-cropped to that aspect, then resized."""
    import cv2

    from fast_hamer_core.preprocess import read_rgb

    rgb = read_rgb(path)
    h, w = rgb.shape[:2]
    out_w, out_h = size
    if w * out_h > h * out_w:  # too wide: cut columns
        cw = round(h * out_w / out_h)
        x0 = (w - cw) // 2
        rgb = rgb[:, x0 : x0 + cw]
    else:  # too tall: cut rows
        ch = round(w * out_h / out_w)
        y0 = (h - ch) // 2
        rgb = rgb[y0 : y0 + ch]
    return np.ascontiguousarray(cv2.resize(rgb, (out_w, out_h), interpolation=cv2.INTER_AREA))


def stand_in_mano_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Random arrays of MANO's exact shapes and kinematic tree: same skinning cost, meaningless mesh.

    For timing only, when the user's licensed MANO file is not available.
    """
    from fast_hamer_core import mano as m

    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {}
    for key, shape in m.REQUIRED_SHAPES.items():
        arrays[key] = rng.normal(0.0, 0.01, shape).astype(np.float32)
    arrays["v_template"] = rng.uniform(-0.05, 0.05, (m.NUM_VERTICES, 3)).astype(np.float32)
    reg = rng.uniform(0.0, 1.0, (m.NUM_MANO_JOINTS, m.NUM_VERTICES))
    arrays["J_regressor"] = (reg / reg.sum(1, keepdims=True)).astype(np.float32)
    weights = rng.uniform(0.0, 1.0, (m.NUM_VERTICES, m.NUM_MANO_JOINTS))
    arrays["weights"] = (weights / weights.sum(1, keepdims=True)).astype(np.float32)
    parents = np.array(m.MANO_PARENTS, dtype=np.int64)
    parents[0] = 4294967295
    arrays["kintree_table"] = np.stack([parents, np.arange(m.NUM_MANO_JOINTS)])
    arrays["f"] = rng.integers(0, m.NUM_VERTICES, (m.NUM_FACES, 3))
    return arrays


def load_mano_or_stand_in(path: str | None, notes: list[str]):
    """The user's MANO (``path`` or the default location), else a random stand-in (noted)."""
    from fast_hamer_core.mano import MANO21

    try:
        return MANO21(path)
    except FileNotFoundError:
        if path is not None:
            raise
        notes.append(
            "MANO: no MANO file found; timed with a random stand-in of MANO's exact shapes "
            "(same cost, meaningless meshes)"
        )
        return MANO21(arrays=stand_in_mano_arrays())


# --------------------------------------------------------------------------------------------------
# Runners


def load_torch_model(spec: str, device: str):
    """A registered name (random weights) or a checkpoint file -> HandMeshModel in eval mode on ``device``."""
    from fast_hamer_core.models import create_model, list_models, load_model

    if Path(spec).expanduser().is_file():
        return load_model(spec, mano_path=None, device=device).eval()
    if spec not in list_models():
        raise ValueError(
            f"{spec!r} is neither a checkpoint file nor a registered model ({', '.join(list_models())})"
        )
    torch.manual_seed(0)
    return create_model(spec).to(device).eval()


def make_runner(model, runtime: str, opts: BenchOptions, work_dir: Path) -> RuntimeHandModel:
    """The runner for ``runtime``: exports (and checks) ONNX / TensorRT files into ``work_dir`` as needed."""
    from fast_hamer_core import export
    from fast_hamer_core.runtime import OnnxRuntimeHandModel, TensorRTHandModel, TorchHandModel

    name = model.config.name
    if runtime == "torch":
        return TorchHandModel(model, device=opts.device, fp16=opts.fp16)
    if runtime == "onnxruntime":
        providers = "cuda" if opts.device.startswith("cuda") else "cpu"
        from fast_hamer_core.runtime.onnxruntime_model import resolve_providers

        resolve_providers(providers)  # fail fast, before exporting
        path = work_dir / f"{name}.onnx"
        export.export_onnx(model, path, exporter=opts.exporter, check_batches=(1,), threads=opts.threads)
        dev = torch.device(opts.device)
        # ONNX Runtime's own default (spinning worker threads) for the network alone; see pipeline_runner.
        return OnnxRuntimeHandModel(
            path, providers=providers, threads=opts.threads, device_id=dev.index or 0, spin=True
        )
    if not opts.device.startswith("cuda"):
        raise RuntimeUnavailableError("the tensorrt runtime needs --device cuda")
    path = work_dir / f"{name}{'_fp16' if opts.fp16 else ''}.engine"
    export.export_tensorrt(
        model,
        path,
        fp16=opts.fp16,
        max_batch=max(max(opts.batches), 8),
        exporter=opts.exporter,
        check_batches=(1,),
    )
    return TensorRTHandModel(path, device=opts.device)


def pipeline_runner(runner: RuntimeHandModel) -> RuntimeHandModel:
    """The runner as the pipeline deploys it: ONNX Runtime without spinning threads (they would take the
    cores from the detector between frames; see OnnxRuntimeHandModel's ``spin``); others unchanged."""
    from fast_hamer_core.runtime import OnnxRuntimeHandModel

    if isinstance(runner, OnnxRuntimeHandModel) and runner.spin:
        providers = "cuda" if runner.use_cuda else "cpu"
        quiet = OnnxRuntimeHandModel(
            runner.path, runner.config, runner.mano, providers, runner.threads, runner.device_id, spin=False
        )
        return quiet
    return runner


# --------------------------------------------------------------------------------------------------
# Pipeline timing


class TimedDetector:
    """Wraps a detector; remembers the ``time.perf_counter()`` span of its last ``detect`` call."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.span: tuple[float, float] = (0.0, 0.0)

    def detect(self, rgb: np.ndarray, stamp_s: float | None = None):
        t0 = time.perf_counter()
        detections = self.detector.detect(rgb)
        self.span = (t0, time.perf_counter())
        return detections

    def close(self) -> None:
        if hasattr(self.detector, "close"):
            self.detector.close()


class FixedDetector:
    """Stand-in when no detector is used (``--detector none``): two fixed hand boxes, left and right."""

    def __init__(self, width: int, height: int) -> None:
        from fast_hamer_core.types import Detection

        s = 0.22 * min(width, height)
        cy = height / 2
        self._detections = [
            Detection(
                box=[0.3 * width - s / 2, cy - s / 2, 0.3 * width + s / 2, cy + s / 2],
                score=1.0,
                side="right",
                side_score=1.0,
            ),
            Detection(
                box=[0.7 * width - s / 2, cy - s / 2, 0.7 * width + s / 2, cy + s / 2],
                score=1.0,
                side="left",
                side_score=1.0,
            ),
        ]

    def detect(self, rgb: np.ndarray, stamp_s: float | None = None):
        return list(self._detections)


def time_pipeline(
    recon,
    detector: TimedDetector,
    runner: RuntimeHandModel,
    image: np.ndarray,
    camera,
    frames: int,
    budget_s: float,
    warmup: int = 1,
) -> dict[str, Any]:
    """Frames through ``recon`` (whose detector is ``detector`` and model ``runner``); per-stage medians."""
    for _ in range(max(warmup, 1)):
        hands = len(recon.reconstruct(image, camera))
    totals: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    start = time.perf_counter()
    while len(totals) < frames:
        runner.last_timings = {}
        t0 = time.perf_counter()
        results = recon.reconstruct(image, camera)
        t1 = time.perf_counter()
        totals.append(t1 - t0)
        hands = len(results)
        d0, d1 = detector.span
        lt = runner.last_timings
        if lt:
            split = {
                "detector": d1 - d0,
                "crops": lt["start_s"] - d1,
                "network": lt["network_s"],
                "mano": lt["mano_s"],
                "outputs": t1 - lt["end_s"],
            }
        else:  # no hand: only the detector ran
            split = {"detector": d1 - d0, "crops": 0.0, "network": 0.0, "mano": 0.0, "outputs": t1 - d1}
        for s in STAGES:
            stages[s].append(split[s])
        if len(totals) >= MIN_RUNS and time.perf_counter() - start > budget_s:
            break
    row: dict[str, Any] = {"hands": hands, "frames": len(totals), **summarize(totals)}
    row.pop("runs")
    row["fps"] = 1e3 / row["median_ms"]
    mean_total = float(np.mean(totals))
    row["stages_ms"] = {s: float(np.median(v)) * 1e3 for s, v in stages.items()}
    row["stages_share"] = {s: float(np.mean(v)) / mean_total for s, v in stages.items()}
    return row


# --------------------------------------------------------------------------------------------------
# The benchmark


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
    work_ctx = tempfile.TemporaryDirectory(prefix="fast_hamer_bench_") if opts.work_dir is None else None
    work_dir = Path(work_ctx.name if work_ctx else opts.work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    mano = load_mano_or_stand_in(opts.mano, result.notes)

    image = camera = detector = None
    if opts.pipeline:
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
            for runtime in opts.runtimes:
                try:
                    progress(f"{name} / {runtime}: preparing")
                    runner = make_runner(model, runtime, opts, work_dir)
                except (RuntimeUnavailableError, ImportError, NotImplementedError) as exc:
                    result.skipped.append({"model": name, "runtime": runtime, "reason": str(exc)})
                    progress(f"{name} / {runtime}: skipped: {exc}")
                    continue
                runner.mano = mano.to(runner.device)
                torch.set_num_threads(threads if runtime == "torch" else 1)  # see load_runtime_model
                for batch in opts.batches:
                    shape = (
                        int(batch),
                        3,
                        model.config.preprocess.crop_size,
                        model.config.preprocess.crop_size,
                    )
                    rng = np.random.default_rng(int(batch))

                    def make_input(shape=shape, rng=rng):  # numpy: no torch threads between timed calls
                        return torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)).to(opts.device)

                    times = time_calls(
                        runner.run_network, make_input, opts.repeats, opts.warmup, opts.budget_s, sync
                    )
                    row = {
                        "model": name,
                        "runtime": runtime,
                        "batch": int(batch),
                        "params_m": info["params_m"],
                        "gflops": info["gflops"],
                        **summarize(times),
                    }
                    result.latency.append(row)
                    progress(f"{name} / {runtime} / batch {batch}: median {row['median_ms']:.1f} ms")
                if opts.pipeline and image is not None:
                    runner = pipeline_runner(runner)
                    runner.synchronize = opts.device.startswith("cuda")
                    recon = HandReconstructor(
                        detector=detector, model=runner, device=opts.device, tracker=None, fp16=opts.fp16
                    )
                    row = time_pipeline(recon, detector, runner, image, camera, opts.frames, opts.budget_s)
                    row = {"model": name, "runtime": runtime, **row}
                    result.pipeline.append(row)
                    progress(f"{name} / {runtime} / pipeline: {row['fps']:.1f} FPS, {row['hands']} hands")
                    del recon
                torch.set_num_threads(threads)
                del runner  # an idle ONNX Runtime session must not share the cores with the next one
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
    add_ratios(result.pipeline, keys=("model", "runtime"))
    return result


def _pipeline_inputs(opts: BenchOptions, result: BenchResult):
    """(image, camera, timed detector) for the pipeline part, or Nones (noted) when no image is found."""
    from fast_hamer_core.geometry import PinholeCamera

    path = Path(opts.image) if opts.image else default_image_path()
    if path is None:
        result.notes.append("pipeline: skipped, no image (give --image PATH)")
        return None, None, None
    image = load_bench_image(path, PIPELINE_SIZE)
    h, w = image.shape[:2]
    camera = PinholeCamera.from_focal(5000.0 / 256.0 * max(w, h), w, h)  # HaMeR's default camera
    if opts.detector == "none":
        inner = FixedDetector(w, h)
        result.notes.append("pipeline: no detector (--detector none): two fixed boxes, detector time ~0")
    else:
        from fast_hamer_core.detection import create_detector

        inner = create_detector("mediapipe", model_path=opts.detector_model)
    result.environment["pipeline_image"] = f"{path} -> {w}x{h}"
    result.environment["detector"] = type(inner).__name__
    return image, camera, TimedDetector(inner)


def add_ratios(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> None:
    """``x_torch`` and ``x_teacher`` for every row (None where the reference was not measured)."""
    index = {tuple(r[k] for k in keys): r for r in rows}
    for r in rows:
        key = dict(zip(keys, (r[k] for k in keys), strict=True))
        torch_row = index.get(tuple({**key, "runtime": "torch"}[k] for k in keys))
        teacher_row = index.get(tuple({**key, "model": TEACHER}[k] for k in keys)) or index.get(
            tuple({**key, "model": TEACHER, "runtime": "torch"}[k] for k in keys)
        )
        r["x_torch"] = torch_row["median_ms"] / r["median_ms"] if torch_row else None
        r["x_teacher"] = teacher_row["median_ms"] / r["median_ms"] if teacher_row else None


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


# --------------------------------------------------------------------------------------------------
# Reports


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


def format_tables(result: BenchResult) -> str:
    """The printed report: latency table (one row per model x runtime, batches as columns) + pipeline."""
    lines = [
        f"Device: {result.device} | torch {result.environment.get('torch')}"
        + (
            f" | onnxruntime {result.environment['onnxruntime']}"
            if "onnxruntime" in result.environment
            else ""
        )
    ]
    batches = sorted({r["batch"] for r in result.latency})
    head = f"{'model':<18} {'runtime':<12} {'params_M':>8} {'GFLOPs':>7}"
    head += "".join(f" {'b' + str(b) + ' med/p95 ms':>18}" for b in batches)
    head += f" {'x_torch(b1)':>11} {'x_teacher(b1)':>13}"
    lines += ["", "Network latency (backbone + head)", head, "-" * len(head)]
    rows: dict[tuple[str, str], dict[int, dict]] = {}
    for r in result.latency:
        rows.setdefault((r["model"], r["runtime"]), {})[r["batch"]] = r
    for (model, runtime), per in rows.items():
        first = per[min(per)]
        line = f"{model:<18} {runtime:<12} {first['params_m']:>8.1f} {first['gflops']:>7.2f}"
        for b in batches:
            cell = f"{per[b]['median_ms']:.1f}/{per[b]['p95_ms']:.1f}" if b in per else "-"
            line += f" {cell:>18}"
        line += f" {_fmt(first['x_torch'], '.2f'):>11} {_fmt(first['x_teacher'], '.2f'):>13}"
        lines.append(line)
    if result.pipeline:
        head = f"{'model':<18} {'runtime':<12} {'hands':>5} {'FPS':>6} {'med ms':>7}"
        head += "".join(f" {s + ' %':>11}" for s in STAGES) + f" {'x_torch':>8} {'x_teacher':>9}"
        lines += [
            "",
            f"Pipeline end to end ({result.environment.get('pipeline_image', '')}, "
            f"detector {result.environment.get('detector', '')})",
            head,
            "-" * len(head),
        ]
        for r in result.pipeline:
            line = (
                f"{r['model']:<18} {r['runtime']:<12} {r['hands']:>5} {r['fps']:>6.1f} {r['median_ms']:>7.1f}"
            )
            line += "".join(f" {100 * r['stages_share'][s]:>11.1f}" for s in STAGES)
            line += f" {_fmt(r['x_torch'], '.2f'):>8} {_fmt(r['x_teacher'], '.2f'):>9}"
            lines.append(line)
    for s in result.skipped:
        lines.append(f"skipped {s['model']} / {s['runtime']}: {s['reason']}")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def write_json(result: BenchResult, path: str | os.PathLike) -> Path:
    """The full result as JSON (with the column documentation)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result.to_dict(), indent=1))
    return path


def plot(result: BenchResult, path: str | os.PathLike) -> Path:
    """PNG: network latency per model and runtime (one panel per batch size, log scale), and the
    pipeline's frame time split into stages when measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = sorted({r["batch"] for r in result.latency})
    models = list(dict.fromkeys(r["model"] for r in result.latency))
    runtimes = list(dict.fromkeys(r["runtime"] for r in result.latency))
    panels = len(batches) + (1 if result.pipeline else 0)
    fig, axes = plt.subplots(1, max(panels, 1), figsize=(5.5 * max(panels, 1), 5.0), squeeze=False)
    width = 0.8 / max(len(runtimes), 1)
    for ax, b in zip(axes[0], batches, strict=False):
        for i, rt in enumerate(runtimes):
            vals = [
                next(
                    (
                        r["median_ms"]
                        for r in result.latency
                        if r["model"] == m and r["runtime"] == rt and r["batch"] == b
                    ),
                    np.nan,
                )
                for m in models
            ]
            ax.bar(np.arange(len(models)) + (i - (len(runtimes) - 1) / 2) * width, vals, width, label=rt)
        ax.set_xticks(np.arange(len(models)), models, rotation=30, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("median latency (ms)")
        ax.set_title(f"network, batch {b}")
        ax.legend()
    if result.pipeline:
        ax = axes[0][-1]
        labels = [f"{r['model']} / {r['runtime']}: {r['fps']:.1f} FPS" for r in result.pipeline]
        y = np.arange(len(labels))[::-1]
        left = np.zeros(len(labels))
        for s in STAGES:
            share = np.array([100.0 * r["stages_share"][s] for r in result.pipeline])
            ax.barh(y, share, left=left, label=s)
            left += share
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlim(0, 100)
        ax.set_xlabel("share of the frame time (%)")
        ax.set_title("pipeline, 640x480: stages")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"fast-hamer bench: {result.device}", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def options_dict(opts: BenchOptions) -> dict[str, Any]:
    """The options as plain data (for the JSON report)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(opts).items()}
