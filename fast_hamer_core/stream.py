"""Frames of a live stream through the pipeline in two overlapping stages, newest frame first.

Stage 1 (``detect``): prepare the frame (the caller's decoding and camera), then find the hands
(:meth:`HandReconstructor.detect`). Stage 2 (``reconstruct``): tracking, the mesh network, MANO, results
(:meth:`HandReconstructor.reconstruct` with the stage-1 detections), depth fusion when the frame carries
an aligned depth image (:meth:`HandReconstructor.fuse_depth`), then the caller's ``on_output``
(publishing). With ``overlap`` the two stages run on two threads, so the detector works on frame t+1
while the network finishes frame t (MediaPipe/LiteRT and ONNX Runtime / torch release the GIL): the
throughput is set by the slower stage, not by their sum. Without it one thread runs both (a photo's path).

Frames enter through a :class:`LatestSlot`: the newest frame replaces one not yet taken (counted as
dropped), so the output never falls behind the camera. Between the stages the hand-off blocks (depth 1):
a frame whose hands were found is always reconstructed. ``submit(..., wait=True)`` waits until stage 1
has taken the previous frame instead (offline input, benchmarks: nothing dropped).

The node (``fast_hamer_ros``), ``fast-hamer bench --stream`` and tests run this same class.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from fast_hamer_core.geometry import PinholeCamera
from fast_hamer_core.types import Detection, HandResult

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """Holds at most one pending item. :meth:`put` replaces (and counts as dropped) an item the
    consumer has not taken yet; :meth:`take` waits for an item and removes it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0  #: items replaced before they were taken
        self.received = 0  #: items put

    def put(self, item: T) -> bool:
        """Store ``item``; returns True when it replaced an untaken item (a dropped frame)."""
        with self._cond:
            replaced = self._item is not None
            if replaced:
                self.dropped += 1
            self._item = item
            self.received += 1
            self._cond.notify_all()
            return replaced

    def take(self, timeout_s: float | None = None) -> T | None:
        """The pending item (removed from the slot), or None after ``timeout_s`` or when closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def wait_empty(self, timeout_s: float | None = None) -> bool:
        """Wait until the pending item was taken (or the slot closed); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._item is None or self._closed, timeout_s)

    def close(self) -> None:
        """Wake a waiting :meth:`take` for shutdown; later takes return what is pending or None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@dataclass
class PreparedFrame:
    """A frame ready for the pipeline: RGB uint8 (H, W, 3), its camera and stamp (seconds)."""

    image_rgb: np.ndarray
    camera: PinholeCamera
    stamp_s: float | None
    context: Any = None  #: the caller's (e.g. the ROS message), passed through to the output
    depth_m: np.ndarray | None = None  #: (H, W) metres aligned to the image, for depth fusion; or None
    depth_options: dict = field(default_factory=dict)  #: :func:`fast_hamer_core.depth.correct_depth` options


@dataclass
class StreamOutput:
    """One frame's answer. Times are ``time.perf_counter()`` seconds."""

    frame: PreparedFrame
    detections: list[Detection]
    results: list[HandResult]
    times: dict[str, float] = field(
        default_factory=dict
    )  #: received, detect_start/end, reconstruct_start/end

    @property
    def latency_s(self) -> float:
        """Received -> results ready."""
        return self.times["reconstruct_end"] - self.times["received"]


class StreamPipeline:
    """Two-stage runner of a :class:`~fast_hamer_core.pipeline.HandReconstructor` (see the module docstring).

    Args:
        reconstructor: the pipeline; its detector keeps the stream's state.
        prepare: ``payload -> PreparedFrame`` on stage 1 (decoding, camera); ``None`` skips the frame.
        on_output: called on stage 2 with each :class:`StreamOutput`, in frame order.
        on_error: ``(stage, exception)`` for a frame that failed (``"prepare"``, ``"detect"``,
            ``"reconstruct"``, ``"output"``); the stream goes on with the next frame.
        overlap: two threads (stream) or one (frame by frame).
    """

    def __init__(
        self,
        reconstructor,
        on_output: Callable[[StreamOutput], None],
        prepare: Callable[[Any], PreparedFrame | None] = lambda frame: frame,
        on_error: Callable[[str, Exception], None] | None = None,
        overlap: bool = True,
        name: str = "hand_stream",
    ) -> None:
        self.reconstructor = reconstructor
        self._prepare = prepare
        self._on_output = on_output
        self._on_error = on_error or (lambda stage, exc: None)
        self.overlap = bool(overlap)
        self._input: LatestSlot[tuple[Any, float]] = LatestSlot()
        self._handoff: queue.Queue = queue.Queue(maxsize=1)
        self._idle = threading.Condition()
        self._in_flight = 0
        self._threads = [threading.Thread(target=self._stage1, name=f"{name}_detect", daemon=True)]
        if self.overlap:
            self._threads.append(
                threading.Thread(target=self._stage2, name=f"{name}_reconstruct", daemon=True)
            )
        for thread in self._threads:
            thread.start()

    # ------------------------------------------------------------------ input
    def submit(self, payload: Any, received_s: float | None = None, wait: bool = False) -> bool:
        """Hand a frame in; True when it replaced a frame stage 1 had not taken (dropped). ``wait``
        first waits until stage 1 took the previous frame, so none is dropped."""
        if wait:
            self._input.wait_empty()
        with self._idle:
            self._in_flight += 1
        replaced = self._input.put((payload, time.perf_counter() if received_s is None else received_s))
        if replaced:
            self._done()
        return replaced

    @property
    def dropped(self) -> int:
        """Frames replaced before stage 1 took them."""
        return self._input.dropped

    @property
    def received(self) -> int:
        return self._input.received

    def drain(self, timeout_s: float | None = None) -> bool:
        """Wait until every submitted frame was answered or skipped; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout_s)

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()

    # ------------------------------------------------------------------ stages
    def _stage1(self) -> None:
        while not self._input.closed:
            item = self._input.take(timeout_s=0.2)
            if item is None:
                continue
            work = self._detect(*item)
            if work is None:
                self._done()
            elif self.overlap:
                while not self._input.closed:
                    try:
                        self._handoff.put(work, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                else:
                    self._done()
            else:
                self._finish(work)

    def _stage2(self) -> None:
        while not self._input.closed or not self._handoff.empty():
            try:
                work = self._handoff.get(timeout=0.2)
            except queue.Empty:
                continue
            self._finish(work)

    def _detect(self, payload: Any, received_s: float) -> StreamOutput | None:
        try:
            frame = self._prepare(payload)
        except Exception as exc:  # the caller's decoding: a bad frame must not stop the stream
            self._on_error("prepare", exc)
            return None
        if frame is None:
            return None
        times = {"received": received_s, "detect_start": time.perf_counter()}
        try:
            detections = self.reconstructor.detect(frame.image_rgb, frame.stamp_s)
        except Exception as exc:
            self._on_error("detect", exc)
            return None
        times["detect_end"] = time.perf_counter()
        return StreamOutput(frame, detections, [], times)

    def _finish(self, work: StreamOutput) -> None:
        try:
            work.times["reconstruct_start"] = time.perf_counter()
            f = work.frame
            try:
                work.results = self.reconstructor.reconstruct(
                    f.image_rgb, f.camera, stamp_s=f.stamp_s, detections=work.detections
                )
            except Exception as exc:
                self._on_error("reconstruct", exc)
                return
            if f.depth_m is not None and work.results:
                work.results = self.reconstructor.fuse_depth(
                    work.results, f.depth_m, f.camera, **f.depth_options
                )
            work.times["reconstruct_end"] = time.perf_counter()
            try:
                self._on_output(work)
            except Exception as exc:
                self._on_error("output", exc)
        finally:
            self._done()

    # ------------------------------------------------------------------ shutdown
    def close(self, timeout_s: float = 10.0) -> None:
        """Stop both stages (a frame in progress finishes first). Idempotent."""
        self._input.close()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout_s)

    def __enter__(self) -> StreamPipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
