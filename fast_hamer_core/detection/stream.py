"""Hand detection with per-stream state: hands are followed from frame to frame without a palm search.

What MediaPipe's VIDEO mode does inside its black box, made explicit and cheaper (see
:mod:`~fast_hamer_core.detection.blaze`): each tracked hand's landmarks give the region where the landmark
model looks in the next frame, so a frame with tracked hands costs one landmark pass per hand (about
5 ms each here) instead of a palm search plus landmarks (22 ms for two hands).

Per frame (:meth:`StreamHandDetector.detect`):

1. **Follow.** The landmark model runs on every tracked hand's region; a hand whose presence drops below
   ``min_presence`` is lost. Two tracked hands that converged onto one hand become one. Regions given by
   :meth:`StreamHandDetector.hint` (the mesh network's 2D joints of a hand the detector lost and the
   tracker carries by reconstruction) are looked at too, so such a hand is picked up again as soon as
   the landmark model sees it, without waiting for the next palm search.
2. **Search.** The palm detector searches the whole image when no hand is tracked, in the frame a hand was
   lost, and every ``search_every`` frames otherwise (new hands walk in), and with ``lite_palms`` MediaPipe's
   lite palm detector searches it too (:meth:`~fast_hamer_core.detection.blaze.PalmDetector.lite`, the photo
   detector's second palm detector: it sees some hands the full one misses); palms not already tracked are
   confirmed by the landmark model (presence) and become tracked hands, up to ``max_hands``. With
   ``scan_windows`` the palm detector also looks at one more window of the photo detector's multi-scale
   search (:func:`~fast_hamer_core.detection.search.search_windows`: the padded image, where a hand
   filling the frame fits the detector's anchors, then the overlapping tiles, where a small hand is large
   enough to be seen, then the whole image on its grey copy, where a gloved hand is seen: the photo
   detector's grey pass, :mod:`~fast_hamer_core.detection.grey`), a different one each time: every
   frame while nothing is tracked, else once per search period, half-way between two whole-image
   searches (no frame pays for both). Over a few periods
   every scale is covered for one extra palm detector run per period. A window's palm touching a
   tracked hand's box is not looked at (the whole-image search covers hands next to tracked ones). A
   new hand, from any palm, must reach ``min_new_presence`` (0.8, the photo detector's bar; on the grey
   copy the grey pass's 0.9), while a followed hand is kept down to ``min_presence_confidence`` (0.5):
   a false hand, once followed, stays a while, and on hand-free clips of the photos (``detect-hard-set
   --cases no_hands``) the new hands taken at the lower bar were almost all false. A hand found on the
   grey copy is followed there (and its mirror passes too).
3. **Arms.** Every ``body_every`` frames, in a frame without a palm or window search (while nothing is
   tracked: in any frame, so a new stream looks at once), MediaPipe's body models look for people
   (:class:`~fast_hamer_core.detection.pose.BodyHandProposer`, one look per person), and each arm's
   region whose centre no tracked hand covers is looked at by the landmark model, rebuilt from its
   landmarks up to twice (the photo detector's refinement); at ``min_new_presence`` the hand becomes
   tracked. This is how a hand the palm detector does not see (holding something, gloved, small) is
   picked up in a stream. While every arm the last look saw has a tracked hand (and none was lost
   since), the next look waits :data:`BODY_SETTLED_FACTOR` times longer. The arm's own cue (the photo
   detector's lower bar for an agreeing arm) is not used: a false hand, once tracked, would be followed
   for a while.
4. **Side, per hand.** A new hand, and a hand whose side is still uncertain, gets a mirror pass: the
   landmark model on its mirrored region (the same hand seen in a mirror, whose evidence is swapped back),
   which makes the side mirror-consistent like the photo detector's flip pass, at the cost of one
   landmark pass instead of a second whole-image search. The side is the mean evidence of those passes;
   it is established once it is ``side_margin`` away from 0.5 (or after ``max_mirror_passes``), and from
   then on the hand keeps it with one mirror pass every ``side_recheck_every`` frames, which decides it anew
   when it contradicts the side (the rule: :class:`~fast_hamer_core.detection.stream_tracks.SideRule`; the
   tracker's hysteresis still guards the side downstream).
   ``handedness="raw"`` uses the plain passes' evidence and no mirror pass.

:attr:`StreamHandDetector.counts` says how many frames, palm searches, landmark and mirror passes ran
(``/diagnostics`` and ``fast-hamer bench --stream`` report them per frame). Photos keep the per-image
detector (:class:`~fast_hamer_core.detection.mediapipe_detector.MediaPipeHandDetector`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fast_hamer_core.detection.base import (
    DEFAULT_MAX_SIDE_PX,
    HANDEDNESS_MODES,
    HandDetector,
    require_at_least,
    require_choice,
    require_fractions,
)
from fast_hamer_core.detection.blaze import (
    LITE_PALM_MODEL,
    HandLandmarkModel,
    HandLandmarks,
    Palm,
    PalmDetector,
    RotatedRect,
    box_iou_matrix,
)
from fast_hamer_core.detection.grey import GreyPassConfig
from fast_hamer_core.detection.merge import DuplicateRule, box_cover, without_finger_fits
from fast_hamer_core.detection.search import (
    SearchConfig,
    grey_copy,
    merge_palms,
    palms_in_window,
    search_windows,
)
from fast_hamer_core.detection.stream_tracks import SideRule, TrackedHand
from fast_hamer_core.preprocess import box_from_keypoints
from fast_hamer_core.types import Detection

#: Landmark presence a new hand needs to be followed (the thorough photo detector's bar), and on the grey
#: copy (the photo detector's grey pass's bar); a followed hand is kept down to ``min_presence_confidence``.
MIN_NEW_PRESENCE: float = 0.8
GREY_MIN_PRESENCE: float = GreyPassConfig().min_presence
#: While every arm the last body search saw has a followed hand (and none was lost since), the next body
#: search waits this many times ``body_every`` (new people still get looked at, less often).
BODY_SETTLED_FACTOR: int = 4
#: The photo detector's rule for one hand seen twice (its nested part is what the stream detector uses).
DUPLICATES = DuplicateRule()
#: The full and the lite palm detector's palms of one hand are merged at this IoU (the photo search's
#: merge across windows).
PALM_MERGE_IOU: float = SearchConfig().merge_iou


@dataclass
class StreamCounts:
    """What the detector ran since the last :meth:`StreamHandDetector.reset_counts`."""

    frames: int = 0
    palm_searches: int = 0  #: whole-image palm searches
    window_searches: int = 0  #: palm detector runs on one extra window (``scan_windows``)
    body_searches: int = 0  #: looks for hands at the ends of people's arms (``body_every``)
    landmark_passes: int = 0
    mirror_passes: int = 0

    def per_frame(self) -> dict[str, float]:
        """Palm searches, window searches, landmark and mirror passes per frame (0 before the first frame)."""
        n = max(self.frames, 1)
        return {
            "palm_searches_per_frame": self.palm_searches / n if self.frames else 0.0,
            "window_searches_per_frame": self.window_searches / n if self.frames else 0.0,
            "body_searches_per_frame": self.body_searches / n if self.frames else 0.0,
            "landmark_passes_per_frame": self.landmark_passes / n if self.frames else 0.0,
            "mirror_passes_per_frame": self.mirror_passes / n if self.frames else 0.0,
        }


class StreamHandDetector(HandDetector):
    """Palm search + landmark tracking with per-stream state (see the module docstring).

    Args:
        model_path: ``hand_landmarker.task``; ``None`` resolves it like the photo detector.
        max_hands: most hands followed at once.
        min_detection_confidence: palm detector score threshold.
        min_presence_confidence: landmark presence below which a followed hand is lost.
        search_every: palm search every k frames while hands are tracked (1: every frame).
        handedness: ``"flip_consistent"`` (mirror passes for new / uncertain hands) or ``"raw"``.
        mirrored_input: the camera feed is mirrored (selfie view): swap every side.
        side_margin: a side is established when its mean evidence is this far from 0.5.
        max_mirror_passes: a hand's side is settled after this many mirror passes even if uncertain.
        side_recheck_every: every that many frames a settled hand gets one more mirror pass; when that look
            contradicts its side by ``side_margin``, the side is decided anew (a followed region that
            slid onto another hand, a hand-over, a scene cut). 0: never.
        duplicate_iou: two tracked hands whose boxes overlap more than this are one hand.
        threads: LiteRT threads per model.
        scan_windows: the palm detector also runs on one more window (padded image, the tiles, then the
            whole grey copy, in turn) once per search period, for close-up, small and gloved hands
            (module docstring).
        min_new_presence: landmark presence a new hand (from a whole-image palm, a window's palm or an
            arm) needs to be followed (at least ``min_presence_confidence``, which keeps it followed).
        body_every: every that many frames, in a frame without a palm or window search, hands are looked
            for at the ends of people's arms (module docstring); 0: never (and the body models are not
            loaded).
        loose_models: optional explicit paths ``{"pose_detection.tflite": ..., ...}`` of the loose models
            (:data:`~fast_hamer_core.detection.assets.LOOSE_MODELS`: the body models, the lite palm
            detector), as the photo detector takes them.
        lite_palms: every whole-image search runs the lite palm detector too (about 6 ms more per
            search; module docstring).
    """

    name = "mediapipe_stream"

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        max_hands: int = 4,
        min_detection_confidence: float = 0.5,
        min_presence_confidence: float = 0.5,
        search_every: int = 10,
        handedness: str = "flip_consistent",
        mirrored_input: bool = False,
        side_margin: float = 0.3,
        max_mirror_passes: int = 5,
        side_recheck_every: int = 15,
        duplicate_iou: float = 0.5,
        threads: int = 1,
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
        scan_windows: bool = True,
        min_new_presence: float = MIN_NEW_PRESENCE,
        body_every: int = 15,
        loose_models: dict[str, str] | None = None,
        lite_palms: bool = True,
    ) -> None:
        super().__init__(max_side_px=max_side_px)
        require_choice("handedness", handedness, HANDEDNESS_MODES)
        require_at_least("max_hands", max_hands, 1)
        require_at_least("search_every", search_every, 1)
        require_at_least("side_recheck_every", side_recheck_every, 0)
        require_at_least("body_every", body_every, 0)
        require_fractions(
            min_detection_confidence=min_detection_confidence,
            min_presence_confidence=min_presence_confidence,
            duplicate_iou=duplicate_iou,
            min_new_presence=min_new_presence,
        )
        self.max_hands = int(max_hands)
        self.min_presence = float(min_presence_confidence)
        self.search_every = int(search_every)
        self.handedness = handedness
        self.mirrored_input = bool(mirrored_input)
        self.sides = SideRule(float(side_margin), int(max_mirror_passes), int(side_recheck_every))
        self.duplicate_iou = float(duplicate_iou)
        self.scan_windows = bool(scan_windows)
        self.min_new_presence = max(float(min_new_presence), self.min_presence)
        self.palms = PalmDetector(model_path, threads=threads, min_score=min_detection_confidence)
        paths = loose_models or {}
        self.lite_palms = None
        if lite_palms:
            lite_path = paths.get(LITE_PALM_MODEL)
            self.lite_palms = PalmDetector.lite(lite_path, threads, min_score=min_detection_confidence)
        self.landmarks = HandLandmarkModel(self.palms.model_path, threads=threads)
        self.model_path = self.palms.model_path
        self.body_every = int(body_every)
        self.body = None
        if self.body_every:
            from fast_hamer_core.detection.pose import BodyHandProposer

            self.body = BodyHandProposer(
                pose_detector_path=paths.get("pose_detection.tflite"),
                pose_landmark_path=paths.get("pose_landmark_full.tflite"),
                threads=threads,
                mirrored_look=False,
            )
        self.counts = StreamCounts()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget every tracked hand (a new stream); counts are kept (see :meth:`reset_counts`)."""
        self._hands: list[TrackedHand] = []
        self._since_search = 0
        self._search_next = True
        self._window_turn = 0  # which extra window the next search looks at
        self._since_body = self.body_every  # frames since the last look at people's arms (a new stream: due)
        self._open_arms = True  # the last look left an arm without a followed hand (or a hand was lost since)
        self._hint_lock = threading.Lock()
        self._hints: list[np.ndarray] = []
        self._scale = 1.0  # detector image px per input image px (large inputs are downscaled)

    def hint(self, keypoints_2d: Sequence[np.ndarray]) -> None:
        """Hands believed to be at these 21 keypoints (input image pixels) but not detected in the last
        frame: their regions are looked at in the next frame. Thread-safe (the pipeline's stage 2 calls
        it while stage 1 detects)."""
        with self._hint_lock:
            self._hints = [np.asarray(k, dtype=np.float64).reshape(21, 2) for k in keypoints_2d]

    def detect(self, rgb: np.ndarray, stamp_s: float | None = None) -> list[Detection]:
        longest = max(np.shape(rgb)[:2]) if np.ndim(rgb) >= 2 else 0
        self._scale = min(1.0, self.max_side_px / longest) if longest else 1.0
        return super().detect(rgb, stamp_s)

    def reset_counts(self) -> None:
        self.counts = StreamCounts()

    @property
    def tracked(self) -> int:
        """Hands followed now."""
        return len(self._hands)

    # ------------------------------------------------------------------ per frame
    def _view(self, rgb: np.ndarray, grey: bool) -> np.ndarray:
        """The frame, or its grey copy (made once per frame, only when a grey hand or window needs it)."""
        if not grey:
            return rgb
        if self._grey is None:
            self._grey = grey_copy(rgb)
        return self._grey

    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        del stamp_s  # state follows the frame order, not the clock
        self.counts.frames += 1
        self._grey: np.ndarray | None = None
        lost = self._follow(rgb)
        self._open_arms = self._open_arms or lost
        self._pick_up_hints(rgb)
        self._since_search += 1
        idle = not self._hands
        search = (
            idle
            or lost
            or self._search_next
            or (self._since_search >= self.search_every and len(self._hands) < self.max_hands)
        )
        self._search_next = False
        if search:
            self._search(rgb)
        # The extra window: every frame while nothing is tracked (no network work then), else half-way
        # between two whole-image searches, so that no frame pays for both.
        window = self.scan_windows and (idle or self._since_search == self.search_every // 2)
        if window:
            self._search_window(rgb)
        # People's arms: every body_every frames (BODY_SETTLED_FACTOR times that while every arm's hand is
        # followed), in a frame without a palm or window search unless nothing is tracked (no network work
        # then); a new stream looks at once.
        self._since_body += 1
        wait = self.body_every * (1 if self._open_arms or idle else BODY_SETTLED_FACTOR)
        if self.body is not None and self._since_body >= wait and (idle or not (search or window)):
            self._search_body(rgb)
        for hand in self._hands:
            self._decide_side(rgb, hand)
        return [self._to_detection(hand) for hand in self._hands]

    def _follow(self, rgb: np.ndarray) -> bool:
        """Landmarks of every tracked hand from its previous region; True when a hand was lost."""
        kept: list[TrackedHand] = []
        for hand in self._hands:
            roi = self.landmarks.roi_from_landmarks(hand.landmarks.keypoints_2d)
            result = self.landmarks.run(self._view(rgb, hand.grey), roi)
            self.counts.landmark_passes += 1
            if result.presence >= self.min_presence and np.isfinite(result.keypoints_2d).all():
                hand.landmarks = result
                kept.append(hand)
        lost = len(kept) < len(self._hands)
        self._hands = self._without_duplicates(kept)
        return lost

    def _pick_up_hints(self, rgb: np.ndarray) -> None:
        """Landmarks at the hinted regions that no tracked hand covers; found hands become tracked."""
        with self._hint_lock:
            hints, self._hints = self._hints, []
        for keypoints in hints:
            if len(self._hands) >= self.max_hands:
                break
            keypoints = keypoints * self._scale
            if not np.isfinite(keypoints).all():
                continue
            probe = TrackedHand(HandLandmarks(keypoints, np.zeros((21, 3)), 1.0, 0.5, None))
            if self._overlaps(probe, self._hands):
                continue
            result = self.landmarks.run(rgb, self.landmarks.roi_from_landmarks(keypoints))
            self.counts.landmark_passes += 1
            if result.presence >= self.min_presence and np.isfinite(result.keypoints_2d).all():
                hand = TrackedHand(result)
                if not self._overlaps(hand, self._hands):
                    self._hands.append(hand)

    def _without_duplicates(self, hands: list[TrackedHand]) -> list[TrackedHand]:
        """Older hands first; a hand overlapping an earlier one by more than ``duplicate_iou`` goes, and so
        does a much smaller "hand" lying inside another's box (the landmark model's fit onto a hand's
        fingers: the photo detector's nested rule,
        :func:`~fast_hamer_core.detection.merge.without_finger_fits`)."""
        out: list[TrackedHand] = []
        for hand in hands:
            if not self._overlaps(hand, out):
                out.append(hand)
        return [out[i] for i in without_finger_fits([h.landmarks.keypoints_2d for h in out], DUPLICATES)]

    def _overlaps(self, hand: TrackedHand, others: list[TrackedHand]) -> bool:
        """Whether ``hand`` overlaps one of ``others`` by more than ``duplicate_iou`` (the same hand)."""
        if not others:
            return False
        iou = box_iou_matrix(hand.box[None], np.stack([h.box for h in others]))  # (1, N)
        return bool(iou.max() > self.duplicate_iou)

    def _search(self, rgb: np.ndarray) -> None:
        """Palm search over the whole image (the full palm detector's palms, then the lite one's);
        untracked palms confirmed by the landmark model become tracked hands."""
        self.counts.palm_searches += 1
        self._since_search = 0
        palms = self.palms.detect(rgb)
        if self.lite_palms is not None:  # one palm per hand that both detectors see (weighted NMS)
            palms = merge_palms(palms + self.lite_palms.detect(rgb), self.palms, PALM_MERGE_IOU)
        self._adopt(rgb, palms, self.min_new_presence, from_window=False)

    def _search_window(self, rgb: np.ndarray) -> None:
        """Palm search in the next extra window (padded image, the tiles, then the whole grey copy, in
        turn); its hands need ``min_new_presence`` (and the grey pass's presence on the grey copy)."""
        if len(self._hands) >= self.max_hands:
            return
        height, width = rgb.shape[:2]
        every = search_windows(width, height)  # padded, whole, tiles: largest first
        cycle = [(w, False) for w in every if w.kind != "whole"] + [
            (w, True) for w in every if w.kind == "whole"
        ]
        window, grey = cycle[self._window_turn % len(cycle)]
        self._window_turn += 1
        self.counts.window_searches += 1
        view = self._view(rgb, grey)
        palms = palms_in_window(self.palms, view, window, mirror=False)
        least = max(self.min_new_presence, GREY_MIN_PRESENCE) if grey else self.min_new_presence
        self._adopt(rgb, palms, least, from_window=True, grey=grey)

    def _search_body(self, rgb: np.ndarray) -> None:
        """Hands at the ends of people's arms (:class:`~fast_hamer_core.detection.pose.BodyHandProposer`)
        that no tracked hand covers: each arm's region is looked at, rebuilt from those landmarks up to
        twice, and the hand becomes tracked at ``min_new_presence`` (the arm's own cue is not used:
        a false hand once tracked is followed for a while). Afterwards an arm is open when no tracked
        hand covers its region's centre (and another hand could still be followed)."""
        self._since_body = 0
        self._open_arms = False
        if len(self._hands) >= self.max_hands:
            return
        self.counts.body_searches += 1
        arms = self.body.propose(rgb)
        for arm in arms:
            if len(self._hands) >= self.max_hands:
                break
            if not self._covered(arm.roi.center_px):
                self._adopt_arm(rgb, arm.roi)
        self._open_arms = len(self._hands) < self.max_hands and any(
            not self._covered(arm.roi.center_px) for arm in arms
        )

    def _covered(self, point_px: tuple[float, float]) -> bool:
        """Whether a tracked hand's box holds this point (image pixels)."""
        return bool(self._hands) and _inside_any(np.asarray(point_px), np.stack([h.box for h in self._hands]))

    def _adopt_arm(self, rgb: np.ndarray, roi: RotatedRect) -> None:
        """The landmark model on an arm's region, rebuilt from its landmarks up to twice; a hand present
        enough (``min_new_presence``) and not already tracked becomes tracked."""
        result = self.landmarks.run(rgb, roi)
        self.counts.landmark_passes += 1
        for _ in range(2):
            if result.presence >= self.min_new_presence or not np.isfinite(result.keypoints_2d).all():
                break
            result = self.landmarks.run(rgb, self.landmarks.roi_from_landmarks(result.keypoints_2d))
            self.counts.landmark_passes += 1
        if result.presence < self.min_new_presence or not np.isfinite(result.keypoints_2d).all():
            return
        hand = TrackedHand(result)
        if not (self._overlaps(hand, self._hands) or self._inside_tracked(hand)):
            self._hands.append(hand)

    def _adopt(
        self,
        rgb: np.ndarray,
        palms: Sequence[Palm],
        min_presence: float,
        from_window: bool,
        grey: bool = False,
    ) -> None:
        """Palms not on a tracked hand, confirmed by the landmark model at ``min_presence``, become
        tracked hands (up to ``max_hands``); ``from_window``: found in an extra window (stricter
        duplicate rule, :meth:`_inside_tracked`)."""
        for palm in palms:
            if len(self._hands) >= self.max_hands:
                break
            if self._hands:
                tracked = np.stack([h.box for h in self._hands])  # (T, 4)
                touches = box_iou_matrix(palm.box_px[None], tracked).max() > 0.0
                if touches and (from_window or _inside_any(palm.keypoints_px[0], tracked)):
                    continue  # this palm belongs to a hand already followed
            result = self.landmarks.run(self._view(rgb, grey), palm.hand_roi)
            self.counts.landmark_passes += 1
            if result.presence < min_presence or not np.isfinite(result.keypoints_2d).all():
                continue
            hand = TrackedHand(result, grey=grey)
            if self._overlaps(hand, self._hands) or (from_window and self._inside_tracked(hand)):
                continue
            self._hands.append(hand)

    def _inside_tracked(self, hand: TrackedHand) -> bool:
        """Whether ``hand``'s box lies mostly (``DuplicateRule.nested_cover`` of its area) inside a tracked
        hand's box. For hands found in an extra window only: a tile cuts hands, and the landmark model,
        given a cut hand, fits a thin "hand" onto its fingers. (Whole-image palms keep the IoU rule, so that
        a second hand overlapping a tracked one, as in a hand-over, is still picked up.)"""
        cover = DUPLICATES.nested_cover
        return any(box_cover(hand.box, other.box) >= cover for other in self._hands)

    def _decide_side(self, rgb: np.ndarray, hand: TrackedHand) -> None:
        """A side look at ``hand`` when :class:`~fast_hamer_core.detection.stream_tracks.SideRule` says
        one is due: a mirror pass in flip-consistent mode, the plain look in raw mode."""
        if not self.sides.due(hand):
            return
        if self.handedness == "raw":
            p_right = hand.landmarks.p_right
        else:
            mirrored = self.landmarks.run(self._view(rgb, hand.grey), hand.landmarks.roi, mirror=True)
            self.counts.mirror_passes += 1
            p_right = 0.5 * (hand.landmarks.p_right + mirrored.p_right)
        self.sides.add(hand, p_right)

    def _to_detection(self, hand: TrackedHand) -> Detection:
        p_right = 1.0 - hand.p_right if self.mirrored_input else hand.p_right
        lm = hand.landmarks
        return Detection(
            box=box_from_keypoints(lm.keypoints_2d),
            score=float(lm.presence),
            side="right" if p_right >= 0.5 else "left",
            side_score=float(max(p_right, 1.0 - p_right)),
            keypoints_2d=lm.keypoints_2d.copy(),
            keypoints_3d_hand=lm.keypoints_3d.copy(),
        )

    def close(self) -> None:
        self._hands = []
        super().close()


def _inside_any(point: np.ndarray, boxes: np.ndarray) -> bool:
    """Whether ``point`` (2,) lies inside any xyxy box of ``boxes`` (N, 4)."""
    x, y = float(point[0]), float(point[1])
    return bool(np.any((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])))
