"""MediaPipe Tasks ``HandLandmarker`` behind :class:`~fast_hamer_core.detection.base.HandDetector`.

Output per hand: the 21 landmarks in pixels (MediaPipe's order is the skeleton's), the metric
"world" landmarks (metres, origin near the hand's centre, axes along the image's x right / y down /
z away from the camera), a box for the mesh network built the HaMeR way (min/max of the keypoints,
clipped to the image), and the anatomical side.

Handedness convention (established on real photos, see ``test/core/detection``): on an ordinary,
non-mirrored camera image, the landmarker's raw label is the anatomical side. For a mirrored
("selfie") feed pass ``mirrored_input=True``, which swaps every label.

Two handedness modes:

- ``"flip_consistent"`` (default): the landmarker runs on the image and on its horizontal flip; hands
  are matched across the two passes by their mirrored keypoints (Hungarian, mean joint distance
  relative to the hand's size). For a matched pair, ``p(right) = (p_right(image) + 1 - p_right(flip)) / 2``
  and keypoints are the mean of both passes (flip-pass keypoints mirrored back, world x negated);
  a hand found in one pass only keeps that pass's estimate. Flipping the input image swaps the roles of
  the two passes exactly, so every label swaps (exact up to a tie at ``p = 0.5``, broken towards
  "right"). Costs two landmarker runs.
- ``"raw"``: one pass, the landmarker's label as is. Faster, but not mirror-consistent.

Score: the Tasks API exposes no per-hand detection score (every returned hand passed
``min_presence_confidence``), so ``score`` is the fraction of passes that found the hand: 1.0 in raw
mode, 1.0 or 0.5 in flip-consistent mode. ``side_score`` is the probability of the chosen side.

Running modes: ``"image"`` treats every call independently; ``"video"`` lets MediaPipe track hands
between calls (faster, needs increasing ``stamp_s``; one landmarker per pass).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from fast_hamer_core.detection.assets import ensure_detector_model
from fast_hamer_core.detection.base import (
    DEFAULT_MAX_SIDE_PX,
    HANDEDNESS_MODES,
    HandDetector,
    require_at_least,
    require_choice,
    require_fractions,
)
from fast_hamer_core.detection.merge import without_finger_fits
from fast_hamer_core.preprocess import box_from_keypoints
from fast_hamer_core.types import Detection

log = logging.getLogger(__name__)


def ignore_stray_sigprof() -> None:
    """Make SIGPROF harmless before MediaPipe's native library loads.

    libmediapipe starts threads that arm per-thread CPU-time timers delivering SIGPROF (its embedded
    CPU profiler) without installing a handler; SIGPROF's default action terminates the process, which
    happened here at random under load ("Profiling timer expired"). A handler someone else installed (a
    real profiler) is left alone. Needs the main thread (Python only sets signal handlers there).
    """
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGPROF) == signal.SIG_DFL:
        signal.signal(signal.SIGPROF, signal.SIG_IGN)


ignore_stray_sigprof()

RUNNING_MODES: tuple[str, ...] = ("image", "video")

#: Two hands from the two passes are the same hand if their mean joint distance is below this
#: fraction of the larger box diagonal.
MATCH_MAX_REL_DIST: float = 0.5


@dataclass
class _PassHand:
    """One hand from one landmarker pass, already in the original (unflipped) image frame."""

    keypoints_2d: np.ndarray  #: (21, 2) pixels
    keypoints_3d: np.ndarray  #: (21, 3) metres, world landmarks
    p_right: float  #: evidence that the hand is anatomically right, for a non-mirrored image


def _mirror_x_px(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror pixel x in an image of ``width`` pixels (pixel-corner convention). Its own inverse."""
    out = keypoints.copy()
    out[:, 0] = width - out[:, 0]
    return out


def _rel_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance of corresponding keypoints over the larger box diagonal of the two hands."""
    diag = max(np.linalg.norm(np.ptp(a, axis=0)), np.linalg.norm(np.ptp(b, axis=0)), 1e-6)
    return float(np.linalg.norm(a - b, axis=1).mean() / diag)


class MediaPipeHandDetector(HandDetector):
    """Hand detector on MediaPipe's ``HandLandmarker`` (palm detector + 21-landmark model, full size).

    Args:
        model_path: ``.task`` file; ``None`` resolves it with :func:`ensure_detector_model`.
        max_hands: most hands reported per pass.
        min_detection_confidence: palm detector threshold.
        min_presence_confidence: landmark model's hand presence threshold.
        min_tracking_confidence: video mode only: below it, MediaPipe re-runs the palm detector.
        handedness: ``"flip_consistent"`` (mirror-equivariant, two passes) or ``"raw"`` (one pass).
        mirrored_input: the camera feed is mirrored (selfie view): swap every side.
        running_mode: ``"image"`` or ``"video"`` (see the module docstring).
        max_side_px: longer side of the image the landmarker sees; larger inputs are downscaled.
        allow_build: let :func:`ensure_detector_model` build the model from the mediapipe wheel.
    """

    name = "mediapipe"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        max_hands: int = 4,
        min_detection_confidence: float = 0.3,
        min_presence_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        handedness: str = "flip_consistent",
        mirrored_input: bool = False,
        running_mode: str = "image",
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
        allow_build: bool = True,
    ) -> None:
        super().__init__(max_side_px=max_side_px)
        require_choice("handedness", handedness, HANDEDNESS_MODES)
        require_choice("running_mode", running_mode, RUNNING_MODES)
        require_at_least("max_hands", max_hands, 1)
        require_fractions(
            min_detection_confidence=min_detection_confidence,
            min_presence_confidence=min_presence_confidence,
            min_tracking_confidence=min_tracking_confidence,
        )
        self.handedness = handedness
        self.mirrored_input = bool(mirrored_input)
        self.running_mode = running_mode
        self.model_path = ensure_detector_model(model_path, allow_build=allow_build)
        self._last_stamp_ms = -1

        ignore_stray_sigprof()
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp_vision = vision
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=(vision.RunningMode.VIDEO if running_mode == "video" else vision.RunningMode.IMAGE),
            num_hands=int(max_hands),
            min_hand_detection_confidence=float(min_detection_confidence),
            min_hand_presence_confidence=float(min_presence_confidence),
            min_tracking_confidence=float(min_tracking_confidence),
        )
        self._landmarker = vision.HandLandmarker.create_from_options(options)
        # Video mode keeps tracking state per stream, so the flipped stream needs its own landmarker.
        needs_second = handedness == "flip_consistent" and running_mode == "video"
        self._flip_landmarker = vision.HandLandmarker.create_from_options(options) if needs_second else None
        log.debug("hand landmarker %s: %s handedness, %s mode", self.model_path, handedness, running_mode)

    # ------------------------------------------------------------------ passes
    def _run(self, landmarker, rgb: np.ndarray, stamp_ms: int | None, flipped: bool) -> list[_PassHand]:
        """One landmarker pass on ``rgb`` (already flipped if ``flipped``), results in the unflipped frame."""
        import mediapipe as mp

        height, width = rgb.shape[:2]
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb)
        if stamp_ms is None:
            result = landmarker.detect(image)
        else:
            result = landmarker.detect_for_video(image, stamp_ms)
        hands = []
        for categories, landmarks, world in zip(
            result.handedness, result.hand_landmarks, result.hand_world_landmarks, strict=True
        ):
            keypoints_2d = np.array([[lm.x * width, lm.y * height] for lm in landmarks])  # (21, 2) px
            keypoints_3d = np.array([[lm.x, lm.y, lm.z] for lm in world])  # (21, 3) m
            top = categories[0]
            p_right = float(top.score) if top.category_name.lower() == "right" else 1.0 - float(top.score)
            if flipped:
                # The same physical hand seen in a mirror: positions mirror back, the side evidence swaps.
                keypoints_2d = _mirror_x_px(keypoints_2d, width)
                keypoints_3d = keypoints_3d * np.array([-1.0, 1.0, 1.0])
                p_right = 1.0 - p_right
            hands.append(_PassHand(keypoints_2d, keypoints_3d, p_right))
        return hands

    def _stamp_ms(self, stamp_s: float | None) -> int | None:
        """Video mode: strictly increasing integer milliseconds (``None`` stamps count up by 33 ms)."""
        if self.running_mode != "video":
            return None
        stamp_ms = self._last_stamp_ms + 33 if stamp_s is None else round(stamp_s * 1000.0)
        stamp_ms = max(stamp_ms, self._last_stamp_ms + 1)
        self._last_stamp_ms = stamp_ms
        return stamp_ms

    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        stamp_ms = self._stamp_ms(stamp_s)
        first = self._run(self._landmarker, rgb, stamp_ms, flipped=False)
        if self.handedness == "raw":
            combined = [(hand, 1.0) for hand in first]
        else:
            flipped_rgb = np.ascontiguousarray(rgb[:, ::-1])
            second_landmarker = self._flip_landmarker or self._landmarker
            second = self._run(second_landmarker, flipped_rgb, stamp_ms, flipped=True)
            combined = self._combine(first, second)
        # A much smaller "hand" inside another's box is a fit onto its fingers, whatever its score (on a
        # close-up of hamer_test5 both passes found one, its hand only one pass).
        combined = [combined[i] for i in without_finger_fits([hand.keypoints_2d for hand, _ in combined])]

        detections = []
        for hand, score in combined:
            p_right = 1.0 - hand.p_right if self.mirrored_input else hand.p_right
            side = "right" if p_right >= 0.5 else "left"
            detections.append(
                Detection(
                    box=box_from_keypoints(hand.keypoints_2d),
                    score=score,
                    side=side,
                    side_score=float(max(p_right, 1.0 - p_right)),
                    keypoints_2d=hand.keypoints_2d,
                    keypoints_3d_hand=hand.keypoints_3d,
                )
            )
        # Deterministic order: most confident first, then left to right.
        detections.sort(key=lambda d: (-d.score, float(d.box[0] + d.box[2])))
        return detections

    @staticmethod
    def _combine(first: list[_PassHand], second: list[_PassHand]) -> list[tuple[_PassHand, float]]:
        """Merge the image pass and the (mirrored-back) flip pass; symmetric in the two passes."""
        out: list[tuple[_PassHand, float]] = []
        matched_a: set[int] = set()
        matched_b: set[int] = set()
        if first and second:
            cost = np.array([[_rel_distance(a.keypoints_2d, b.keypoints_2d) for b in second] for a in first])
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols, strict=True):
                if cost[i, j] > MATCH_MAX_REL_DIST:
                    continue
                a, b = first[i], second[j]
                merged = _PassHand(
                    keypoints_2d=0.5 * (a.keypoints_2d + b.keypoints_2d),
                    keypoints_3d=0.5 * (a.keypoints_3d + b.keypoints_3d),
                    p_right=0.5 * (a.p_right + b.p_right),
                )
                out.append((merged, 1.0))
                matched_a.add(i)
                matched_b.add(j)
        out += [(hand, 0.5) for i, hand in enumerate(first) if i not in matched_a]
        out += [(hand, 0.5) for j, hand in enumerate(second) if j not in matched_b]
        return out

    def close(self) -> None:
        """Close the MediaPipe landmarker(s). Idempotent."""
        for attr in ("_landmarker", "_flip_landmarker"):
            landmarker = getattr(self, attr, None)
            if landmarker is not None:
                landmarker.close()
                setattr(self, attr, None)
        super().close()

    def __del__(self) -> None:  # best effort if the user forgot close()
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn mediapipe down already
            self.close()
