"""Track ids, handedness stabilisation and temporal smoothing of hands across video frames.

Use, per frame, in this order (what :class:`~fast_hamer_core.pipeline.HandReconstructor` does)::

    detections = tracker.detections_for_frame(lambda: detector.detect(rgb))  # detector every k frames
    detections, track_ids = tracker.assign(detections, stamp_s)  # ids + stable sides, BEFORE the crop
    results = reconstruct(detections)                              # left crops are mirrored by side
    for result, track_id in zip(results, track_ids):
        result.track_id = track_id
    results = tracker.smooth(results, stamp_s)                     # One-Euro per track, if enabled

Sides are stabilised before reconstruction because the side decides whether the crop is mirrored:
a flickering label would flip the whole mesh. :meth:`HandTracker.update` does ``assign`` + ``smooth``
in one call for results that need no separate reconstruction step (it then only relabels the side).

Association (:meth:`HandTracker.assign`): each live track predicts its box and 2D keypoints with a
constant-velocity model (box-centre velocity, pixels per frame, at most 3 frames ahead); the cost of a
(track, detection) pair is ``iou_weight * (1 - IoU) + (1 - iou_weight) * min(d / max_keypoint_dist_px, 1)
+ side_weight * [sides differ]``, ``d`` the mean 2D keypoint distance (box-centre distance when a
detection has no keypoints); pairs with ``d > max_keypoint_dist_px`` and ``IoU < min_iou`` are never
matched. Hungarian assignment (``scipy.optimize.linear_sum_assignment``). Unmatched detections start
new tracks (ids 0, 1, 2, ... never reused); a track unseen for more than ``ttl_frames`` frames is dropped.

Handedness hysteresis: a track keeps its side unless the detector reports the other side on
``side_hysteresis`` consecutive matched frames; ``side_hysteresis=0`` locks the side at the track's birth.
When a track's side flips, its filters restart (the geometry is mirrored).

Smoothing (:meth:`HandTracker.smooth`, off unless ``one_euro`` is given): One-Euro filters per track.
Points: ``keypoints_3d``, ``cam_t`` and ``vertices`` are filtered as one array with one shared cutoff
(from the mean point speed), so they stay consistent (vertices move with the joints, joints regressed
from filtered vertices equal the filtered joints). Rotations: ``global_orient``, ``hand_pose`` and
``joint_rotations`` by :class:`RotationOneEuroFilter` on SO(3) (tangent space at the previous estimate,
log/exp maps), one shared cutoff from the mean angular speed; the ``*_aa`` fields are recomputed from
the filtered matrices. 2D keypoints and boxes are not filtered.

Detecting every k frames (``detect_every=k``): :meth:`HandTracker.detections_for_frame` runs the detector
on every k-th frame (and whenever no track is alive) and otherwise returns :func:`propagate_boxes` of
the tracks' last results: boxes from the previous frame's 2D joints. In landmarks-only mode the
detector is the model, so a propagated frame repeats the previous hand.

Tracking by reconstruction (``max_unconfirmed_frames=N > 0``, mesh mode in streams): a track that no
detection confirms this frame, but whose last result came from the mesh network, is carried: the mesh's
own 2D joints (:func:`propagate_boxes`) give its box, and the network reconstructs it again, so a hand
that closes around an object keeps its track while the detector loses it. A track carried for ``N``
frames in a row without a detection ends. Landmarks results are never carried (the detector is the
model there). :attr:`HandTracker.carried_ids` names the tracks carried in the last frame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.transform import Rotation

from fast_hamer_core.preprocess import box_from_keypoints
from fast_hamer_core.types import Detection, HandResult
from fast_hamer_core.validation import non_finite_fields

_INFEASIBLE = 1e6
_MAX_PREDICT_FRAMES = 3
#: A carried hand keeps going only while at least this fraction of its box is inside the image ...
CARRY_MIN_INSIDE = 0.5
#: ... and while it overlaps no detected hand by more than this IoU.
CARRY_MAX_IOU = 0.3


# ---------------------------------------------------------------------------------------------- filters
def _alpha(cutoff_hz: np.ndarray | float, dt_s: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass with ``cutoff_hz`` sampled every ``dt_s`` seconds."""
    tau = 1.0 / (2.0 * np.pi * cutoff_hz)
    return 1.0 / (1.0 + tau / dt_s)


SPEED_MODES: tuple[str, ...] = ("elementwise", "mean_norm")


class _OneEuroBase(ABC):
    """The parameters every One-Euro filter takes (checked), and ``reset()`` (subclasses) at construction."""

    def __init__(
        self, min_cutoff: float = 1.0, beta: float = 0.0, d_cutoff: float = 1.0, speed: str = "elementwise"
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0:
            raise ValueError(f"cutoffs must be > 0 Hz, got min_cutoff={min_cutoff}, d_cutoff={d_cutoff}")
        if beta < 0:
            raise ValueError(f"beta must be >= 0, got {beta}")
        if speed not in SPEED_MODES:
            raise ValueError(f"speed must be one of {SPEED_MODES}, got {speed!r}")
        self.min_cutoff, self.beta, self.d_cutoff, self.speed = min_cutoff, beta, d_cutoff, speed
        self.reset()

    @abstractmethod
    def reset(self) -> None:
        """Forget the past (subclasses)."""


class OneEuroFilter(_OneEuroBase):
    """One-Euro filter (Casiez et al., CHI 2012) of a scalar or an array sampled at irregular times.

    ``cutoff = min_cutoff + beta * |speed|`` (Hz), with ``speed`` the low-passed (``d_cutoff``) rate of
    change in units per second. ``speed="elementwise"`` gives every element its own cutoff (classic);
    ``"mean_norm"`` treats the last axis as a vector and uses one cutoff for the whole array from the
    mean vector speed (so all elements are smoothed alike). A stamp equal to the last one returns the
    last estimate; a stamp going back in time restarts the filter.
    """

    def reset(self) -> None:
        """Forget the past; the next sample passes through unchanged."""
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @property
    def value(self) -> np.ndarray | None:
        """The last filtered value (``None`` before the first sample)."""
        return self._x

    def __call__(self, x: np.ndarray | float, stamp_s: float) -> np.ndarray | float:
        scalar = np.ndim(x) == 0
        x = np.array(x, dtype=np.float64)
        if self._x is None or self._t is None or stamp_s < self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x, np.zeros_like(x), float(stamp_s)
            return float(x) if scalar else x.copy()
        dt = float(stamp_s) - self._t
        if dt > 0:
            dx = (x - self._x) / dt
            self._dx = self._dx + _alpha(self.d_cutoff, dt) * (dx - self._dx)
            if self.speed == "mean_norm" and x.ndim > 0:
                speed = float(np.mean(np.linalg.norm(self._dx.reshape(-1, x.shape[-1]), axis=-1)))
            else:
                speed = np.abs(self._dx)
            cutoff = self.min_cutoff + self.beta * speed
            self._x = self._x + _alpha(cutoff, dt) * (x - self._x)
            self._t = float(stamp_s)
        return float(self._x) if scalar else self._x.copy()


class RotationOneEuroFilter(_OneEuroBase):
    """One-Euro filter on rotations (..., 3, 3), computed on the manifold SO(3).

    Each step takes the residual ``log(R_prev^T R)`` (a rotation vector in the tangent space at the
    previous estimate), low-passes the angular velocity with ``d_cutoff``, picks
    ``cutoff = min_cutoff + beta * |angular speed|`` (Hz per rad/s) and moves
    ``R_prev @ exp(alpha * residual)``: the output is always an exact rotation (det 1, orthonormal).
    Inputs are projected onto SO(3) first. ``speed`` as in :class:`OneEuroFilter` (per rotation or one
    shared cutoff from the mean angular speed).
    """

    def reset(self) -> None:
        """Forget the past; the next sample passes through (projected onto SO(3))."""
        self._rot: Rotation | None = None
        self._omega: np.ndarray | None = None
        self._t: float | None = None
        self._shape: tuple[int, ...] | None = None

    def __call__(self, rotations: np.ndarray, stamp_s: float) -> np.ndarray:
        rotations = np.asarray(rotations, dtype=np.float64)
        if rotations.shape[-2:] != (3, 3):
            raise ValueError(f"rotations must have shape (..., 3, 3), got {rotations.shape}")
        shape = rotations.shape
        current = Rotation.from_matrix(rotations.reshape(-1, 3, 3))  # projects onto SO(3)
        if self._rot is None or self._t is None or stamp_s < self._t or self._shape != shape:
            self._rot, self._omega = current, np.zeros((len(current), 3))  # (M, 3) rad/s
            self._t, self._shape = float(stamp_s), shape
            return current.as_matrix().reshape(shape)
        dt = float(stamp_s) - self._t
        if dt > 0:
            residual = (self._rot.inv() * current).as_rotvec()  # (M, 3) rad, tangent at the estimate
            self._omega = self._omega + _alpha(self.d_cutoff, dt) * (residual / dt - self._omega)
            speed = np.linalg.norm(self._omega, axis=-1)  # (M,) rad/s
            if self.speed == "mean_norm":
                speed = np.full_like(speed, speed.mean())
            alpha = _alpha(self.min_cutoff + self.beta * speed, dt)  # (M,)
            self._rot = self._rot * Rotation.from_rotvec(alpha[:, None] * residual)
            self._t = float(stamp_s)
        return self._rot.as_matrix().reshape(shape)


@dataclass(frozen=True)
class OneEuroConfig:
    """One-Euro parameters of the tracker's smoothing.

    ``min_cutoff`` (Hz) sets the smoothing at rest (lower: smoother, more lag); ``beta`` (Hz per m/s)
    raises the cutoff with the hand's speed (higher: less lag when moving); ``d_cutoff`` (Hz) smooths the
    speed estimate. ``beta_rotation`` (Hz per rad/s) and ``min_cutoff_rotation`` (Hz, default
    ``min_cutoff``) are the same for rotations.
    """

    min_cutoff: float = 1.0
    beta: float = 10.0
    d_cutoff: float = 1.0
    beta_rotation: float = 1.0
    min_cutoff_rotation: float | None = None

    def point_filter(self) -> OneEuroFilter:
        return OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff, speed="mean_norm")

    def rotation_filter(self) -> RotationOneEuroFilter:
        min_cutoff = self.min_cutoff if self.min_cutoff_rotation is None else self.min_cutoff_rotation
        return RotationOneEuroFilter(min_cutoff, self.beta_rotation, self.d_cutoff, speed="mean_norm")


# ---------------------------------------------------------------------------------------------- boxes
def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two xyxy boxes (0 for empty boxes)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _box_centre(box: np.ndarray) -> np.ndarray:
    return 0.5 * (box[:2] + box[2:])


def propagate_boxes(
    prev_results: Sequence[HandResult], image_size: tuple[int, int] | None = None
) -> list[Detection]:
    """Detections for a frame without detector: the previous frame's results as boxes for the crop.

    Each box is the min/max of the previous 2D joints (as a detector's keypoint box), clipped to
    ``image_size = (width, height)`` if given; side, score and 2D keypoints carry over, and the previous
    camera-frame 3D joints, centred, stand in for the detector's metric hand-frame keypoints (a rigid
    transform of them, which is all PnP needs). ``side_score`` is 1: the side is the track's.
    """
    out = []
    for res in prev_results:
        kp2d = np.asarray(res.keypoints_2d, dtype=np.float64).reshape(-1, 2)
        box = box_from_keypoints(kp2d)
        if image_size is not None:
            width, height = image_size
            box = np.clip(box, 0.0, [width, height, width, height])
        kp3d = None
        if res.keypoints_3d is not None:
            kp3d = np.asarray(res.keypoints_3d, dtype=np.float64)
            kp3d = kp3d - kp3d.mean(axis=0)
        out.append(Detection(box, float(res.score), res.side, 1.0, kp2d.copy(), kp3d))
    return out


# ---------------------------------------------------------------------------------------------- tracks
@dataclass
class Track:
    """State of one tracked hand. ``side`` is the stabilised side."""

    track_id: int
    side: str
    box: np.ndarray  #: (4,) last observed box, pixels
    keypoints_2d: np.ndarray | None  #: (21, 2) last observed keypoints, pixels
    velocity_px: np.ndarray  #: (2,) box-centre velocity, pixels per frame
    missed: int = 0  #: frames since last matched
    unconfirmed: int = 0  #: consecutive frames carried by reconstruction without a detection
    disagree: int = 0  #: consecutive matched frames whose detected side differs from ``side``
    hits: int = 1
    last_result: HandResult | None = None
    point_filter: OneEuroFilter | None = None
    rotation_filter: RotationOneEuroFilter | None = None

    def predicted(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Box and keypoints extrapolated to the current frame (constant velocity, capped)."""
        shift = self.velocity_px * min(self.missed + 1, _MAX_PREDICT_FRAMES)
        box = self.box + np.tile(shift, 2)
        kp = None if self.keypoints_2d is None else self.keypoints_2d + shift
        return box, kp

    def reset_filters(self) -> None:
        for f in (self.point_filter, self.rotation_filter):
            if f is not None:
                f.reset()


class HandTracker:
    """Persistent track ids, side hysteresis and One-Euro smoothing (see the module docstring).

    Args:
        ttl_frames: frames a track survives without a matching detection.
        iou_weight: weight of ``1 - IoU`` in the association cost (the rest goes to keypoint distance).
        max_keypoint_dist_px: mean 2D keypoint distance that costs the maximum (and gates pairs).
        min_iou: pairs with at least this IoU are allowed even beyond ``max_keypoint_dist_px``.
        side_weight: extra cost for a detection whose side differs from the track's.
        side_hysteresis: consecutive disagreeing frames needed to flip a track's side; 0 locks it.
        one_euro: smoothing parameters (:class:`OneEuroConfig` or a dict of its fields); ``None``: off.
        detect_every: run the detector every k frames, propagating boxes in between (k=1: every frame).
        max_unconfirmed_frames: carry a mesh track without detection for at most this many frames
            (tracking by reconstruction, see the module docstring); 0: never carry.
    """

    def __init__(
        self,
        ttl_frames: int = 5,
        iou_weight: float = 0.5,
        max_keypoint_dist_px: float = 150.0,
        min_iou: float = 0.3,
        side_weight: float = 0.1,
        side_hysteresis: int = 3,
        one_euro: OneEuroConfig | dict | None = None,
        detect_every: int = 1,
        max_unconfirmed_frames: int = 0,
    ) -> None:
        if ttl_frames < 0:
            raise ValueError(f"ttl_frames must be >= 0, got {ttl_frames}")
        if not 0.0 <= iou_weight <= 1.0:
            raise ValueError(f"iou_weight must be in [0, 1], got {iou_weight}")
        if max_keypoint_dist_px <= 0:
            raise ValueError(f"max_keypoint_dist_px must be > 0, got {max_keypoint_dist_px}")
        if side_hysteresis < 0:
            raise ValueError(f"side_hysteresis must be >= 0 (0 locks the side), got {side_hysteresis}")
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if max_unconfirmed_frames < 0:
            raise ValueError(f"max_unconfirmed_frames must be >= 0, got {max_unconfirmed_frames}")
        if isinstance(one_euro, dict):
            one_euro = OneEuroConfig(**one_euro)
        self.ttl_frames = int(ttl_frames)
        self.iou_weight = float(iou_weight)
        self.max_keypoint_dist_px = float(max_keypoint_dist_px)
        self.min_iou = float(min_iou)
        self.side_weight = float(side_weight)
        self.side_hysteresis = int(side_hysteresis)
        self.one_euro = one_euro
        self.detect_every = int(detect_every)
        self.max_unconfirmed_frames = int(max_unconfirmed_frames)
        self.reset()

    def reset(self) -> None:
        """Drop every track and restart ids and the frame count."""
        self._tracks: dict[int, Track] = {}
        self._next_id = 0
        self._frame = 0
        self.carried_ids: set[int] = set()

    @property
    def tracks(self) -> list[Track]:
        """Live tracks, oldest first."""
        return list(self._tracks.values())

    # ------------------------------------------------------------------ detection schedule
    def should_detect(self) -> bool:
        """Whether the coming frame needs the detector: every ``detect_every``-th frame, or no live track."""
        live = any(t.missed == 0 and t.last_result is not None for t in self._tracks.values())
        return self._frame % self.detect_every == 0 or not live

    def propagate(self) -> list[Detection]:
        """:func:`propagate_boxes` of the tracks matched in the last frame (their last smoothed results)."""
        return propagate_boxes(
            [t.last_result for t in self._tracks.values() if t.missed == 0 and t.last_result is not None]
        )

    def detections_for_frame(self, detect: Callable[[], list[Detection]]) -> list[Detection]:
        """``detect()`` on detection frames, else the propagated boxes (see :meth:`should_detect`)."""
        return list(detect()) if self.should_detect() else self.propagate()

    # ------------------------------------------------------------------ association
    def _cost(self, track: Track, det: Detection) -> float:
        box, kp = track.predicted()
        iou = box_iou(box, det.box)
        if kp is not None and det.keypoints_2d is not None and np.shape(det.keypoints_2d) == kp.shape:
            dist = float(np.linalg.norm(np.asarray(det.keypoints_2d) - kp, axis=1).mean())
        else:
            dist = float(np.linalg.norm(_box_centre(box) - _box_centre(det.box)))
        if dist > self.max_keypoint_dist_px and iou < self.min_iou:
            return _INFEASIBLE
        cost = self.iou_weight * (1.0 - iou)
        cost += (1.0 - self.iou_weight) * min(dist / self.max_keypoint_dist_px, 1.0)
        return cost + (self.side_weight if det.side != track.side else 0.0)

    def _observe(self, track: Track, det: Detection) -> None:
        """Update a matched track with its detection: motion, side hysteresis."""
        step = _box_centre(det.box) - _box_centre(track.box)
        frames = track.missed + 1
        velocity = step / frames
        track.velocity_px = velocity if track.hits == 1 else 0.5 * (track.velocity_px + velocity)
        track.box = det.box.copy()
        kp = det.keypoints_2d
        track.keypoints_2d = None if kp is None else np.array(kp, dtype=np.float64)
        track.missed = 0
        track.unconfirmed = 0
        track.hits += 1
        if det.side == track.side or self.side_hysteresis == 0:
            track.disagree = 0
            return
        track.disagree += 1
        if track.disagree >= self.side_hysteresis:
            track.side = det.side
            track.disagree = 0
            track.reset_filters()

    def assign(
        self,
        detections: Sequence[Detection],
        stamp_s: float,
        image_size: tuple[int, int] | None = None,
    ) -> tuple[list[Detection], list[int]]:
        """Match this frame's detections to tracks. ``image_size = (width, height)`` clips carried boxes;
        a carried hand mostly outside the image, or overlapping a detected hand, is not carried.

        Returns ``(detections, track_ids)`` in the input order: copies of the detections with the
        track's stabilised side (``side_score`` becomes the detector's probability of that side), and
        each one's track id; then, with ``max_unconfirmed_frames``, the carried tracks' boxes (see the
        module docstring; their ids are in :attr:`carried_ids`). Ages and drops unmatched tracks.
        ``stamp_s`` is accepted for symmetry with :meth:`smooth`; association counts frames, not seconds.
        """
        del stamp_s
        tracks = list(self._tracks.values())
        det_to_track: dict[int, Track] = {}
        if tracks and detections:
            cost = np.array([[self._cost(t, d) for d in detections] for t in tracks])  # (T, D)
            rows, cols = linear_sum_assignment(cost)
            for r, c in zip(rows, cols, strict=True):
                if cost[r, c] < _INFEASIBLE:
                    det_to_track[int(c)] = tracks[r]

        matched_ids = set()
        out_dets, out_ids = [], []
        for i, det in enumerate(detections):
            track = det_to_track.get(i)
            if track is None:
                track = self._new_track(det)
            else:
                self._observe(track, det)
            matched_ids.add(track.track_id)
            side_score = det.side_score if det.side == track.side else 1.0 - det.side_score
            out_dets.append(replace(det, side=track.side, side_score=float(side_score)))
            out_ids.append(track.track_id)

        self.carried_ids = set()
        detected_boxes = [d.box for d in out_dets]
        for track in tracks:
            if track.track_id in matched_ids:
                continue
            carried = self._carried(track, detected_boxes, image_size)
            if carried is not None:
                track.unconfirmed += 1
                out_dets.append(replace(carried, side=track.side))
                out_ids.append(track.track_id)
                self.carried_ids.add(track.track_id)
                continue
            track.missed += 1
            ended = self.max_unconfirmed_frames > 0 and track.unconfirmed >= self.max_unconfirmed_frames
            if ended or track.missed > self.ttl_frames:
                del self._tracks[track.track_id]
        self._frame += 1
        return out_dets, out_ids

    def _carried(
        self, track: Track, detected_boxes: list[np.ndarray], image_size: tuple[int, int] | None
    ) -> Detection | None:
        """The box an unmatched track is carried with this frame (tracking by reconstruction), or None."""
        last = track.last_result
        if not (
            self.max_unconfirmed_frames > 0
            and track.missed == 0
            and track.unconfirmed < self.max_unconfirmed_frames
            and last is not None
            and last.mode == "mesh"
        ):
            return None
        full = propagate_boxes([last])[0]
        carried = propagate_boxes([last], image_size)[0] if image_size is not None else full
        area = float(np.prod(np.clip(full.box[2:] - full.box[:2], 0.0, None)))
        inside = float(np.prod(np.clip(carried.box[2:] - carried.box[:2], 0.0, None)))
        if area <= 0.0 or inside < CARRY_MIN_INSIDE * area:
            return None  # the hand left the image
        if any(box_iou(carried.box, box) > CARRY_MAX_IOU for box in detected_boxes):
            return None  # a detected hand is there: this track lost it to another one
        return carried

    def stabilise_sides(self, detections: Sequence[Detection], stamp_s: float) -> list[Detection]:
        """:meth:`assign` without the ids: the detections with their tracks' stabilised sides."""
        return self.assign(detections, stamp_s)[0]

    def _new_track(self, det: Detection) -> Track:
        kp = None if det.keypoints_2d is None else np.array(det.keypoints_2d, dtype=np.float64)
        track = Track(self._next_id, det.side, det.box.copy(), kp, np.zeros(2))
        if self.one_euro is not None:
            track.point_filter = self.one_euro.point_filter()
            track.rotation_filter = self.one_euro.rotation_filter()
        self._tracks[track.track_id] = track
        self._next_id += 1
        return track

    # ------------------------------------------------------------------ smoothing
    def smooth(self, results: Sequence[HandResult], stamp_s: float) -> list[HandResult]:
        """Filter each result on its track (``result.track_id`` from :meth:`assign`); copies, same order.

        Results without a live track id pass through unchanged. With ``one_euro=None`` nothing is
        filtered, but the results are still remembered for :meth:`propagate`. A result with a NaN /
        inf is never filtered: its track's filters restart and it passes through unchanged, not
        remembered (the pipeline drops it), so a bad value cannot linger in a filter's state.
        """
        out = []
        for res in results:
            track = self._tracks.get(res.track_id) if res.track_id is not None else None
            if track is None:
                out.append(res)
                continue
            if non_finite_fields(res):
                track.reset_filters()
                track.last_result = None
                out.append(res)
                continue
            if self.one_euro is not None:
                res = self._filter(track, res, stamp_s)
            track.last_result = res
            out.append(res)
        return out

    @staticmethod
    def _filter(track: Track, res: HandResult, stamp_s: float) -> HandResult:
        # Points: one array, one cutoff -> keypoints, translation and vertices move together.
        parts = [np.asarray(res.keypoints_3d, dtype=np.float64).reshape(-1, 3)]  # (21, 3)
        if res.cam_t is not None:
            parts.append(np.asarray(res.cam_t, dtype=np.float64).reshape(1, 3))
        if res.vertices is not None:
            parts.append(np.asarray(res.vertices, dtype=np.float64).reshape(-1, 3))  # (778, 3)
        sizes = np.cumsum([len(p) for p in parts])[:-1]
        filtered = np.split(track.point_filter(np.concatenate(parts), stamp_s), sizes)  # (N, 3) -> parts
        changes: dict = {"keypoints_3d": filtered.pop(0)}
        if res.cam_t is not None:
            changes["cam_t"] = filtered.pop(0).reshape(3)
        if res.vertices is not None:
            changes["vertices"] = filtered.pop(0)

        # Rotations: one stack on SO(3), one cutoff.
        names = ("global_orient", "hand_pose", "joint_rotations")
        rot_fields = [f for f in names if getattr(res, f) is not None]
        if rot_fields:
            stacks = [np.asarray(getattr(res, f), dtype=np.float64).reshape(-1, 3, 3) for f in rot_fields]
            sizes = np.cumsum([len(s) for s in stacks])[:-1]
            smoothed = np.split(track.rotation_filter(np.concatenate(stacks), stamp_s), sizes)
            for name, value in zip(rot_fields, smoothed, strict=True):
                changes[name] = value.reshape(np.shape(getattr(res, name)))
            if "global_orient" in changes and res.global_orient_aa is not None:
                changes["global_orient_aa"] = Rotation.from_matrix(changes["global_orient"]).as_rotvec()
            if "hand_pose" in changes and res.hand_pose_aa is not None:
                changes["hand_pose_aa"] = Rotation.from_matrix(changes["hand_pose"]).as_rotvec()
        return replace(res, **changes)

    def update(self, results: Sequence[HandResult], stamp_s: float) -> list[HandResult]:
        """``assign`` + ``smooth`` for finished results: sets ``track_id`` and the stabilised side.

        Prefer ``assign`` before reconstruction: here a relabelled side does not re-mirror the mesh.
        """
        detections = [Detection(r.box, r.score, r.side, 1.0, r.keypoints_2d) for r in results]
        stable, ids = self.assign(detections, stamp_s)
        labelled = [replace(r, side=d.side, track_id=i) for r, d, i in zip(results, stable, ids, strict=True)]
        return self.smooth(labelled, stamp_s)
