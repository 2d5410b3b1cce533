"""End-to-end pipeline timing on one photo: the detector is timed by a proxy, the runner splits the rest."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from fast_hamer_core.bench.inputs import default_image_path, fit_to_size, load_bench_image
from fast_hamer_core.bench.measure import summarize
from fast_hamer_core.bench.options import MIN_RUNS, PIPELINE_SIZE, STAGES, BenchOptions, BenchResult
from fast_hamer_core.frames import IMAGE_SUFFIXES, FrameReader
from fast_hamer_core.runtime.base import RuntimeHandModel

log = logging.getLogger("fast_hamer_core.bench")


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


def _pipeline_inputs(opts: BenchOptions, result: BenchResult):
    """(image, camera, timed detector) for the pipeline part, or Nones (noted) when no image is found."""
    from fast_hamer_core.geometry import PinholeCamera

    given = opts.input or opts.image
    path = Path(given) if given else default_image_path()
    if path is None:
        result.notes.append("pipeline: skipped, no image (give --image PATH)")
        return None, None, None
    if path.suffix.lower() in IMAGE_SUFFIXES:
        image = load_bench_image(path, PIPELINE_SIZE)
    else:  # a video or a folder: its first frame
        reader = FrameReader(str(path))
        try:
            image = fit_to_size(next(iter(reader.frames())), PIPELINE_SIZE)
        finally:
            reader.close()
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
