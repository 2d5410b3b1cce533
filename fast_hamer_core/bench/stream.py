"""``fast-hamer bench --stream``: the same frames, in order, through the photo path and the stream path.

Two modes per model x runtime, both through :class:`~fast_hamer_core.stream.StreamPipeline`, the class the
node runs:

- ``frame``: today's per-image path: the Tasks detector searches every frame (flip-consistent sides: a
  second, mirrored pass), the tracker and One-Euro smoothing as the node configures them, one thread.
- ``stream``: the node's stream configuration: the stream detector (landmark tracking, palm search every
  ``search_every`` frames or on a loss, mirror passes for new or uncertain hands), tracking by
  reconstruction in mesh mode, detection of frame t+1 overlapping the reconstruction of frame t.

Each mode runs twice on the frames, state reset in between: once saturated (the next frame is handed in as
soon as the detector takes the previous one, nothing dropped) for the **throughput** (frames / wall
time), stage times, detector counts and the hands found; once paced at the camera rate (``rate_hz``,
newest frame first, drops counted, as a camera feeds the node) for the **latency** (frame handed in ->
results ready, p50 / p95). Hands found are compared per frame with the frame mode's: ``all_hands_fraction``
is the fraction of frames where frame mode finds hands on which this mode finds at least as many
(1.0 for frame mode, the reference). ``side_changes`` counts frames where a track id changes side.

Frames: a video or an image folder (``--input``; resized to 640x480 by a centre crop) or, from one photo,
:func:`~fast_hamer_core.frames.moving_sequence` (the hands shifted, zoomed and rotated a little every
frame).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fast_hamer_core.bench.inputs import default_image_path, fit_to_size
from fast_hamer_core.bench.options import PIPELINE_SIZE, STAGES, BenchOptions, BenchResult
from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.runtime.base import RuntimeHandModel

log = logging.getLogger("fast_hamer_core.bench")

MODES: tuple[str, ...] = ("frame", "stream")


def stream_frames(opts: BenchOptions, result: BenchResult) -> list[np.ndarray]:
    """The benchmark's frames (RGB uint8, 640x480): ``opts.input`` as a video / folder, or a moving
    sequence made from one photo (``opts.input`` or the default photo)."""
    from fast_hamer_core.frames import IMAGE_SUFFIXES, FrameReader, moving_sequence
    from fast_hamer_core.preprocess import read_rgb

    path = Path(opts.input) if opts.input else default_image_path()
    if path is None:
        raise FileNotFoundError("no input for --stream: give --input VIDEO|FOLDER|IMAGE")
    if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
        frames = list(moving_sequence(read_rgb(path), opts.stream_frames, size=PIPELINE_SIZE))
        result.environment["stream_input"] = f"{path}: moving sequence of {len(frames)} frames"
        return frames
    reader = FrameReader(str(path))
    frames = []
    try:
        for rgb in reader.frames():
            frames.append(fit_to_size(rgb, PIPELINE_SIZE))
            if len(frames) >= opts.stream_frames:
                break
    finally:
        reader.close()
    if not frames:
        raise ValueError(f"{path}: no frames")
    result.environment["stream_input"] = f"{path}: first {len(frames)} frames ({reader.kind})"
    return frames


def build_mode(mode: str, runner: RuntimeHandModel | None, opts: BenchOptions):
    """The HandReconstructor of ``mode`` with the node's default tracking."""
    from fast_hamer_core.detection import create_detector
    from fast_hamer_core.detection.stream import StreamHandDetector
    from fast_hamer_core.pipeline import HandReconstructor
    from fast_hamer_core.tracking import HandTracker

    tracking: dict[str, Any] = {"ttl_frames": 5, "one_euro": {"min_cutoff": 1.0, "beta": 10.0}}
    if mode == "stream":
        detector = StreamHandDetector(
            model_path=opts.detector_model,
            search_every=opts.search_every,
            body_every=opts.body_every,
            lite_palms=opts.lite_palms,
        )
        if runner is not None:
            tracking["max_unconfirmed_frames"] = opts.max_unconfirmed_frames
    else:
        detector = create_detector("mediapipe", model_path=opts.detector_model)
    return HandReconstructor(
        detector=detector, model=runner, device=opts.device, tracker=HandTracker(**tracking), fp16=opts.fp16
    )


def _run_once(
    recon, frames: Sequence[np.ndarray], camera: PinholeCamera, overlap: bool, rate_hz: float | None
):
    """Frames through a StreamPipeline; ``rate_hz`` None: saturated (wait for stage 1), else paced.
    Returns (outputs in frame order, wall seconds, dropped)."""
    from fast_hamer_core.stream import PreparedFrame, StreamPipeline

    runner = recon.model
    outputs = []

    def on_output(out) -> None:
        lt = getattr(runner, "last_timings", None) or {}
        out.times.update({f"runner_{k}": v for k, v in lt.items()})
        if runner is not None:
            runner.last_timings = {}
        outputs.append(out)

    errors: list[str] = []
    with StreamPipeline(
        recon, on_output, on_error=lambda s, e: errors.append(f"{s}: {e}"), overlap=overlap
    ) as sp:
        start = time.perf_counter()
        for i, rgb in enumerate(frames):
            frame = PreparedFrame(rgb, camera, i / 30.0, context=i)
            if rate_hz is None:
                sp.submit(frame, wait=True)
            else:
                due = start + i / rate_hz
                time.sleep(max(0.0, due - time.perf_counter()))
                sp.submit(frame)
        sp.drain()
        wall = time.perf_counter() - start
        dropped = sp.dropped
    if errors:
        raise RuntimeError(f"the pipeline failed on {len(errors)} frames, first: {errors[0]}")
    return outputs, wall, dropped


def _stages_ms(out) -> dict[str, float]:
    t = out.times
    split = {"detector": t["detect_end"] - t["detect_start"]}
    if "runner_start_s" in t:
        split.update(
            crops=t["runner_start_s"] - t["reconstruct_start"],
            network=t["runner_network_s"],
            mano=t["runner_mano_s"],
            outputs=t["reconstruct_end"] - t["runner_end_s"],
        )
    else:
        split.update(crops=0.0, network=0.0, mano=0.0, outputs=t["reconstruct_end"] - t["reconstruct_start"])
    return {k: 1e3 * v for k, v in split.items()}


def _side_changes(outputs) -> int:
    sides: dict[int, str] = {}
    changes = 0
    for out in outputs:
        for res in out.results:
            if res.track_id is None:
                continue
            if sides.get(res.track_id, res.side) != res.side:
                changes += 1
            sides[res.track_id] = res.side
    return changes


def time_stream_modes(
    runner: RuntimeHandModel | None,
    frames: Sequence[np.ndarray],
    opts: BenchOptions,
    progress: Callable[[str], None] = log.info,
) -> list[dict[str, Any]]:
    """One row per mode (see the module docstring) on the same frames."""
    h, w = frames[0].shape[:2]
    camera = PinholeCamera.assumed(w, h)
    rows: list[dict[str, Any]] = []
    reference: list[int] | None = None
    for mode in MODES:
        overlap = mode == "stream"
        recon = build_mode(mode, runner, opts)
        try:
            recon.detect(frames[0], 0.0)  # warm-up (models loaded, first inference)
            recon.reset_stream()
            recon.reset_detection_counts()
            outputs, wall, _ = _run_once(recon, frames, camera, overlap, rate_hz=None)
            counts = recon.detection_counts()
            recon.reset_stream()
            paced, _, dropped = _run_once(recon, frames, camera, overlap, rate_hz=opts.rate_hz)
        finally:
            recon.close()
        hands = [len(o.results) for o in outputs]
        if reference is None:
            reference = hands
        found = [h_ >= r for h_, r in zip(hands, reference, strict=True) if r > 0]
        stages = [_stages_ms(o) for o in outputs]
        per_frame = [o.times["reconstruct_end"] - o.times["detect_start"] for o in outputs]
        latency = np.array([o.latency_s for o in paced]) * 1e3
        mean_work = float(np.mean([sum(s.values()) for s in stages]))
        row = {
            "mode": mode,
            "hands": float(np.mean(hands)),
            "frames": len(outputs),
            "fps": len(outputs) / wall,
            "median_ms": float(np.median(per_frame)) * 1e3,
            "p95_ms": float(np.percentile(per_frame, 95)) * 1e3,
            "latency_p50_ms": float(np.median(latency)) if latency.size else None,
            "latency_p95_ms": float(np.percentile(latency, 95)) if latency.size else None,
            "rate_hz": opts.rate_hz,
            "paced_answered": len(paced),
            "paced_dropped": int(dropped),
            "stages_ms": {s: float(np.median([st[s] for st in stages])) for s in STAGES},
            "stages_share": {s: float(np.mean([st[s] for st in stages])) / mean_work for s in STAGES},
            "palm_searches_per_frame": counts["palm_searches_per_frame"],
            "window_searches_per_frame": counts["window_searches_per_frame"],
            "body_searches_per_frame": counts["body_searches_per_frame"],
            "mirror_passes_per_frame": counts["mirror_passes_per_frame"],
            "all_hands_fraction": float(np.mean(found)) if found else None,
            "side_changes": _side_changes(outputs),
        }
        rows.append(row)
        progress(
            f"{mode}: {row['fps']:.1f} FPS, latency p50 {row['latency_p50_ms']:.1f} ms "
            f"at {opts.rate_hz:g} Hz, "
            f"{row['palm_searches_per_frame']:.2f} palm searches / frame"
        )
    frame_fps = rows[0]["fps"]
    for row in rows:
        row["x_frame"] = row["fps"] / frame_fps if frame_fps else None
    return rows
