"""What ``fast-hamer bench`` measures (options), what it found (result), and the documented columns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from fast_hamer_core.runtime.base import RUNTIMES

log = logging.getLogger("fast_hamer_core.bench")


TEACHER = "hamer_vith"
DEFAULT_MODELS: tuple[str, ...] = ("mobilenetv3_large", "mobilevit_s", "convnext_tiny", "resnet50", TEACHER)
DEFAULT_IMAGE_NAME = "hamer_test5.jpg"
#: Where the default photo is looked for: ``$FAST_HAMER_BENCH_IMAGE``, then the project's sample photos.
DEFAULT_IMAGE_DIRS: tuple[str, ...] = ("../shared/data/hands", "shared/data/hands", "/work/shared/data/hands")
PIPELINE_SIZE: tuple[int, int] = (640, 480)
STAGES: tuple[str, ...] = ("detector", "crops", "network", "mano", "outputs")
#: Fewest timed runs, whatever the time budget says.
MIN_RUNS = 3
#: A row whose spread ((p75 - p25) / median) exceeds this is noisy: ratios built on it are flagged.
SPREAD_LIMIT = 0.2
#: Timed rounds the variants of one model take turns in (interleaved, so that load changes hit all alike).
ROUNDS = 5

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
    "spread": "(p75 - p25) / median of the timed calls: above SPREAD_LIMIT (0.2) the row is noisy",
    "load_1min": "1-minute load average right after the row was measured",
    "reliable": "spread <= SPREAD_LIMIT and load_1min <= CPUs (no other work competed for the cores)",
    "x_torch": "torch latency / this latency (same model, batch): the runtime's speed-up",
    "x_teacher": "teacher latency / this latency (same runtime, batch): the student's speed-up",
    "ratio_reliable": "every row x_torch / x_teacher are built from is reliable; tables mark others '?'",
}
PIPELINE_COLUMNS: dict[str, str] = {
    "model": "registered model name",
    "runtime": "torch | onnxruntime | tensorrt",
    "hands": "hands reconstructed per frame",
    "frames": "timed frames",
    "mode": "frame (the per-image path) | stream (stream detector, tracking by reconstruction, overlap)",
    "fps": "throughput, frames per second (single-photo rows: 1000 / median_ms; --stream: frames / wall)",
    "median_ms": "median time per frame, detector to results, milliseconds",
    "p95_ms": "95th percentile per frame, milliseconds",
    "stages_ms": f"median milliseconds of each stage: {', '.join(STAGES)}",
    "stages_share": "each stage's share of the mean frame time (0..1)",
    "x_torch": "torch frame time / this frame time (same model)",
    "x_teacher": "teacher frame time / this frame time (same runtime)",
}
#: Extra columns of the ``--stream`` pipeline rows.
STREAM_COLUMNS: dict[str, str] = {
    "latency_p50_ms": "--stream: frame handed in -> results, median, frames paced at rate_hz (newest first)",
    "latency_p95_ms": "--stream: idem, 95th percentile",
    "rate_hz": "--stream: camera rate of the paced (latency) run, Hz",
    "paced_answered": "--stream: frames answered in the paced run",
    "paced_dropped": "--stream: frames replaced before the detector took them in the paced run",
    "palm_searches_per_frame": "--stream: whole-image palm searches per frame",
    "window_searches_per_frame": "--stream: extra-window palm detector runs (stream.scan_windows) per frame",
    "body_searches_per_frame": "--stream: looks for hands at people's arms (stream.body_every_frames) per "
    "frame",
    "mirror_passes_per_frame": "--stream: mirrored passes (handedness checks) per frame",
    "all_hands_fraction": "--stream: fraction of the frames where frame mode finds hands on which this mode "
    "finds at least as many (frame mode: 1, the reference)",
    "side_changes": "--stream: frames on which a track id changed side",
    "x_frame": "--stream: this mode's throughput / frame mode's (same model, runtime)",
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
    int8: bool = False
    stream: bool = False
    input: str | None = None
    stream_frames: int = 150
    rate_hz: float = 30.0
    search_every: int = 10
    body_every: int = 15
    lite_palms: bool = True
    max_unconfirmed_frames: int = 5

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
        if self.stream and (self.detector == "none" or not self.pipeline):
            raise ValueError("--stream times the whole pipeline with the real detector (no --detector none)")
        if self.stream_frames < 2 or self.rate_hz <= 0 or self.search_every < 1 or self.body_every < 0:
            raise ValueError("stream frames must be >= 2, rate_hz > 0, search_every >= 1 and body_every >= 0")


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
            "columns": {"latency": LATENCY_COLUMNS, "pipeline": PIPELINE_COLUMNS, "stream": STREAM_COLUMNS},
            "models": self.models,
            "latency": self.latency,
            "pipeline": self.pipeline,
            "skipped": self.skipped,
            "notes": self.notes,
        }


def options_dict(opts: BenchOptions) -> dict[str, Any]:
    """The options as plain data (for the JSON report)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(opts).items()}
