"""Hands from the body: MediaPipe's pose models run with LiteRT, one hand region per visible wrist.

A hand the palm detector misses (holding an object, half hidden, gloved, small) is often still at the
end of a clearly visible arm. Three models from the ``mediapipe==0.10.21`` wheel
(:data:`~fast_hamer_core.detection.assets.LOOSE_MODELS`) turn a person into hand regions:

1. :class:`PoseDetector` (``pose_detection.tflite``, 224x224, the letterboxed whole image or any square
   window): people, each with a face box and four alignment keypoints (mid-hip, a full-body
   size/rotation point, mid-shoulder, an upper-body point); the body region is the mid-hip-centred square
   of MediaPipe's ``pose_detection_to_roi``. :class:`PeopleSearch` runs it on the whole image and on
   overlapping tiles (the palm search's windows,
   :func:`~fast_hamer_core.detection.search.search_windows`) and merges the people across windows: on the
   whole image alone it reports about one person per photo.
2. :class:`PoseLandmarkModel` (``pose_landmark_full.tflite``, 256x256 body crop): 33 body landmarks with
   visibility; each arm ends in wrist, pinky, index and thumb landmarks, labelled with the person's
   anatomical side.
3. :func:`hand_roi_from_pose` (MediaPipe's ``hand_landmarks_from_pose_to_recrop_roi``): a square around
   the estimated middle finger, up from the wrist; :class:`HandRecropModel` (``hand_recrop.tflite``)
   refines it into the region the hand landmark model expects.

:class:`BodyHandProposer` chains them: ``propose(rgb)`` -> :class:`HandProposal` per visible wrist.
A proposal is not a detection: the caller confirms it with the hand landmark model on its region.

Conventions as :mod:`~fast_hamer_core.detection.blaze`: continuous pixel coordinates, regions are
:class:`~fast_hamer_core.detection.blaze.RotatedRect` (clockwise on screen, "up" towards the fingers or
the head). Not implemented from MediaPipe's graphs: the pose heatmap refinement of the landmarks
(sub-pixel accuracy is not needed for a search region) and the tracking between frames.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from fast_hamer_core.detection.assets import ensure_loose_model
from fast_hamer_core.detection.base import require_at_least, require_fractions
from fast_hamer_core.detection.blaze import (
    RotatedRect,
    SsdAnchorConfig,
    TfliteModel,
    decode_ssd,
    rotation_to_up,
    ssd_anchors,
    weighted_nms,
)
from fast_hamer_core.detection.search import Window, WindowConfig, search_windows

#: pose_detection.tflite: 224x224 input, strides 8, 16, 32, 32, 32 -> 2254 anchors.
POSE_ANCHORS = SsdAnchorConfig(input_size_px=224, strides=(8, 16, 32, 32, 32))


def _read(path: os.PathLike) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


def _unit_input(rgb_uint8: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 -> (1, S, S, 3) float32 in [0, 1] (pose landmark and hand re-crop models)."""
    return (rgb_uint8.astype(np.float32) * (1.0 / 255.0))[None]


def _signed_input(rgb_uint8: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 -> (1, S, S, 3) float32 in [-1, 1] (the pose detector)."""
    return (rgb_uint8.astype(np.float32) * (2.0 / 255.0) - 1.0)[None]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


# ---------------------------------------------------------------------------------------------- people
@dataclass(frozen=True)
class PoseDetectorConfig:
    """Constants of ``pose_detection`` (MediaPipe's ``pose_detection_cpu`` and ``pose_detection_to_roi``)."""

    anchors: SsdAnchorConfig = POSE_ANCHORS
    nms_iou: float = 0.3
    roi_scale: float = 1.25  #: body region = this x twice the hip -> size-point distance
    rotation_start: int = 0  #: keypoint: mid-hip centre (the body region's centre)
    rotation_end: int = 1  #: keypoint: full-body size and rotation point (straight above the hips)


@dataclass
class Person:
    """One person found by :class:`PoseDetector`, in image pixels."""

    box_px: np.ndarray  #: (4,) xyxy of the face
    score: float
    keypoints_px: np.ndarray  #: (4, 2): mid-hip, full-body point, mid-shoulder, upper-body point
    body_roi: RotatedRect = field(repr=False)  #: the region the pose landmark model should look at


class PoseDetector:
    """The pose detector on a whole image (letterboxed to 224x224), people in image pixels."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        threads: int = 1,
        min_score: float = 0.5,
        config: PoseDetectorConfig = PoseDetectorConfig(),
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.model_path = ensure_loose_model("pose_detection.tflite", model_path)
        self.config = config
        self.min_score = float(min_score)
        self._model = TfliteModel(_read(self.model_path), threads)
        self._anchors = ssd_anchors(config.anchors)

    def detect(self, rgb: np.ndarray, region: RotatedRect | None = None) -> list[Person]:
        """People in an RGB uint8 (H, W, 3) image, best first, in image pixels.

        ``region``: the square the detector looks at (resampled to 224x224; outside the image: black),
        e.g. a :class:`~fast_hamer_core.detection.search.Window`'s; default the letterboxed whole image.
        """
        height, width = rgb.shape[:2]
        if region is None:
            region = RotatedRect((width / 2.0, height / 2.0), float(max(height, width)))  # the letterbox
        size = self.config.anchors.input_size_px
        out = self._model(_signed_input(region.crop(rgb, size)))
        raw_boxes = next(v for v in out.values() if v.shape[-1] > 1)  # (1, 2254, 12)
        raw_scores = next(v for v in out.values() if v.shape[-1] == 1)  # (1, 2254, 1)
        boxes, kps, scores = decode_ssd(
            raw_boxes[0], raw_scores[0, :, 0], self._anchors, size, self.min_score
        )
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.config.nms_iou)
        people = []
        for box, kp, score in zip(boxes, kps, scores, strict=True):
            box_px = region.to_image(box.reshape(2, 2) * size, size).reshape(4)
            kp_px = region.to_image(kp * size, size)  # (4, 2)
            people.append(Person(box_px, float(score), kp_px, self.body_roi(kp_px)))
        return people

    def body_roi(self, keypoints_px: np.ndarray) -> RotatedRect:
        """The body region: centred on the hips, side twice the hip -> size-point distance, upright."""
        c = self.config
        start, end = keypoints_px[c.rotation_start], keypoints_px[c.rotation_end]
        side = 2.0 * float(np.linalg.norm(end - start))
        rect = RotatedRect((float(start[0]), float(start[1])), side, rotation_to_up(start, end))
        return rect.transformed(scale=c.roi_scale)


@dataclass(frozen=True)
class PeopleSearchConfig:
    """The people search (:class:`PeopleSearch`): its windows, thresholds and merge.

    Windows: the whole image, and optionally overlapping tiles (no padded pass: a person too big for the
    whole image is not this search's case). On the whole image the detector sees a group photo at 224x224 and
    reports about one person (fasthamer_sample6: 1 of 3) and misses a person who is small in the frame;
    on a tile each face is three times larger in its input and the others are found (all three on
    fasthamer_sample6, the small person of the hard sets' shrunk copies at 0.96-0.98). A 2x2 grid as well
    found no further hand on the shared photos and hard sets, cost 4 more detector runs, and led to one
    false hand more (README, "Detection modes").

    Thresholds: a tile shows part of a scene out of its context, where hands and body parts pass for
    faces more often: on the close-up copies of the hard sets, "people" of 0.50-0.57 on tiles led to
    arms' regions on fingers (and one false hand); real people scored 0.61 or more on their tiles. So a
    tile needs ``min_tile_score`` (0.6), the whole image MediaPipe's 0.5.

    ``max_people``: 8, for crowds. Each further person costs one pose landmark run (about 13 ms on this
    project's 2-core machine) and the check of up to two arm regions (about 16-24 ms each; many are
    dropped before the check as duplicates of a palm's region).
    """

    #: Default: the whole image only. The 3x3 tiles (``WindowConfig(pad_factor=0.0, tile_grids=(3,))``)
    #: found 3 more hands of 224 on the two hard sets and one false hand, for about 80 ms more per image,
    #: and nothing more on mosaics of the shared photos (crowds of small people): off until a set of real
    #: crowds shows them worth their time (README, "Detection modes").
    windows: WindowConfig = field(default_factory=lambda: WindowConfig(pad_factor=0.0, tile_grids=()))
    min_score: float = 0.5  #: pose detector threshold on the whole (and padded) window
    #: Pose detector threshold on a tile (see the class docstring for why it is higher).
    min_tile_score: float = 0.6
    merge_iou: float = 0.3  #: weighted NMS threshold across windows (on head boxes, see PeopleSearch)
    #: Head box side over the person's upper-body scale (mid-shoulder -> upper-body point distance).
    head_scale: float = 0.5
    max_people: int = 8  #: most people whose body landmarks are computed (best detection scores first)

    def __post_init__(self) -> None:
        require_at_least("max_people", self.max_people, 1)
        require_fractions(
            min_score=self.min_score, min_tile_score=self.min_tile_score, merge_iou=self.merge_iou
        )
        if self.head_scale <= 0.0:
            raise ValueError(f"head_scale must be > 0, got {self.head_scale}")


class PeopleSearch:
    """The pose detector over several windows (:func:`~fast_hamer_core.detection.search.search_windows`),
    people merged across windows by weighted non-maximum suppression.

    The detector's face box is not a measure of the face: it is about a fifth of its input whatever the
    person's size (one face of fasthamer_sample6: 128, 80 and 53 pixels in windows of 640, 400 and 267),
    so the same person's boxes from two window sizes hardly overlap. The merge uses a head box instead:
    centred on the face box, of side ``head_scale`` x the person's upper-body scale (its mid-shoulder ->
    upper-body keypoint distance, which agrees across windows). The four alignment keypoints and the face
    box are averaged over each cluster (score-weighted), and the body region is built from the merged
    keypoints (:meth:`PoseDetector.body_roi`).
    """

    def __init__(self, detector: PoseDetector, config: PeopleSearchConfig = PeopleSearchConfig()) -> None:
        self.detector = detector
        self.config = config

    def windows(self, width: int, height: int) -> list[Window]:
        return search_windows(width, height, self.config.windows)

    def min_score(self, window: Window) -> float:
        """The pose detector score a person needs in ``window`` (higher on tiles, see the config)."""
        return self.config.min_tile_score if window.kind == "tile" else self.config.min_score

    def head_box_px(self, person: Person) -> np.ndarray:
        """(4,) xyxy head box of a person (the box the merge compares, see the class docstring)."""
        centre = 0.5 * (person.box_px[:2] + person.box_px[2:])
        upper_body_px = float(np.linalg.norm(person.keypoints_px[3] - person.keypoints_px[2]))
        half = 0.5 * self.config.head_scale * upper_body_px
        return np.concatenate([centre - half, centre + half])

    def find(self, rgb: np.ndarray) -> list[Person]:
        """People in an RGB uint8 image, merged across all windows, best first (at most ``max_people``)."""
        height, width = rgb.shape[:2]
        found = [
            person
            for window in self.windows(width, height)
            for person in self.detector.detect(rgb, window.region)
            if person.score >= self.min_score(window)
        ]
        if not found:
            return []
        boxes = np.stack([self.head_box_px(p) for p in found])  # (N, 4)
        # (N, 6, 2): the 4 alignment keypoints, then the face box's two corners (averaged with them)
        points = np.stack([np.concatenate([p.keypoints_px, p.box_px.reshape(2, 2)]) for p in found])
        scores = np.array([p.score for p in found])
        _, points, scores = weighted_nms(boxes, points, scores, self.config.merge_iou)
        people = [
            Person(pts[4:].reshape(4), float(s), pts[:4], self.detector.body_roi(pts[:4]))
            for pts, s in zip(points, scores, strict=True)
        ]
        return people[: self.config.max_people]


# ------------------------------------------------------------------------------------ body landmarks
@dataclass(frozen=True)
class ArmJoints:
    """Indices of one arm's landmarks among the 33 pose landmarks."""

    elbow: int
    wrist: int
    pinky: int
    index: int
    thumb: int


#: Anatomical side -> that arm's pose landmarks (MediaPipe's topology: 15/16 wrists, 17/18 pinkies, ...).
ARMS: dict[str, ArmJoints] = {
    "left": ArmJoints(elbow=13, wrist=15, pinky=17, index=19, thumb=21),
    "right": ArmJoints(elbow=14, wrist=16, pinky=18, index=20, thumb=22),
}
NUM_POSE_LANDMARKS = 33
#: Pose landmark index -> the index of the same point on the mirrored body (left and right swap; nose,
#: the only unpaired landmark, stays). Its own inverse.
MIRRORED_POSE_LANDMARKS: tuple[int, ...] = (
    *(0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9),  # nose, eyes (inner, centre, outer), ears, mouth
    *(12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21),  # shoulders, elbows, wrists, pinkies, indices, thumbs
    *(24, 23, 26, 25, 28, 27, 30, 29, 32, 31),  # hips, knees, ankles, heels, foot indices
)


@dataclass
class PoseLandmarks:
    """The pose landmark model's answer for one body region."""

    keypoints_px: np.ndarray  #: (33, 2) image pixels
    visibility: np.ndarray  #: (33,) probability that each landmark is visible (not occluded, in frame)
    score: float  #: probability that the region holds a person
    roi: RotatedRect = field(repr=False)


class PoseLandmarkModel:
    """The 33-landmark body model on a body region (a 256x256 crop)."""

    def __init__(self, model_path: str | os.PathLike | None = None, threads: int = 1) -> None:
        self.model_path = ensure_loose_model("pose_landmark_full.tflite", model_path)
        self._model = TfliteModel(_read(self.model_path), threads)
        self.input_size = self._model.input_hw[0]

    def run(self, rgb: np.ndarray, roi: RotatedRect, mirror: bool = False) -> PoseLandmarks:
        """Landmarks of the person in ``roi`` of an RGB uint8 image.

        ``mirror``: the model looks at the mirrored crop, and its answer is mapped back onto the image
        (x -> S - x in the crop, then each landmark relabelled with :data:`MIRRORED_POSE_LANDMARKS`: the
        mirrored person's left wrist is the person's right wrist). Either way, index ``i`` is the same
        anatomical point of the person; the two looks are the model's two independent guesses of it.
        """
        size = self.input_size
        out = self._model(_unit_input(roi.crop(rgb, size, mirror=mirror)))
        raw = out["Identity"].reshape(-1, 5)[:NUM_POSE_LANDMARKS]  # (33, 5): x, y, z px, visibility, presence
        score = float(out["Identity_1"].reshape(()))  # already a probability
        xy_crop = raw[:, :2].astype(np.float64)  # (33, 2) crop px
        visibility = _sigmoid(raw[:, 3].astype(np.float64))  # (33,)
        if mirror:
            xy_crop[:, 0] = size - xy_crop[:, 0]
            xy_crop, visibility = (
                xy_crop[list(MIRRORED_POSE_LANDMARKS)],
                visibility[list(MIRRORED_POSE_LANDMARKS)],
            )
        return PoseLandmarks(roi.to_image(xy_crop, size), visibility, score, roi)


# ---------------------------------------------------------------------------------------------- hand regions
@dataclass(frozen=True)
class HandFromPoseConfig:
    """MediaPipe's hand region from the arm (``hand_landmarks_from_pose_to_recrop_roi``, holistic)."""

    #: Region side = this x twice the wrist -> estimated middle finger distance.
    roi_scale: float = 2.7
    roi_shift_y: float = -0.1  #: shift towards the fingers, in region sides
    #: Re-crop model output -> hand region (``hand_recrop_by_roi``): side = 2 x |centre -> scale point|.
    recrop_shift_y: float = -0.1


def hand_roi_from_pose(
    wrist_px: np.ndarray,
    pinky_px: np.ndarray,
    index_px: np.ndarray,
    config: HandFromPoseConfig = HandFromPoseConfig(),
) -> RotatedRect:
    """The search region of one hand from its arm's wrist, pinky and index landmarks (image pixels).

    The middle finger is estimated as ``(2 index + pinky) / 3``; the square is centred there, points from
    the wrist to it, and its side is ``2 |middle - wrist|`` grown by ``config.roi_scale``.
    """
    wrist = np.asarray(wrist_px, dtype=np.float64)
    middle = (2.0 * np.asarray(index_px, dtype=np.float64) + np.asarray(pinky_px, dtype=np.float64)) / 3.0
    side = max(2.0 * float(np.linalg.norm(middle - wrist)), 1.0)
    rect = RotatedRect((float(middle[0]), float(middle[1])), side, rotation_to_up(wrist, middle))
    return rect.transformed(scale=config.roi_scale, shift_y=config.roi_shift_y)


class HandRecropModel:
    """``hand_recrop.tflite``: a rough hand region (from the arm) -> the region the hand landmark model wants.

    The model predicts two points on the 256x256 crop: the hand's centre and a point whose distance
    from it is half the new region's side, in the direction of the fingers.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        threads: int = 1,
        config: HandFromPoseConfig = HandFromPoseConfig(),
    ) -> None:
        self.model_path = ensure_loose_model("hand_recrop.tflite", model_path)
        self.config = config
        self._model = TfliteModel(_read(self.model_path), threads)
        self.input_size = self._model.input_hw[0]

    def refine(self, rgb: np.ndarray, roi: RotatedRect) -> RotatedRect:
        """The refined hand region for a rough one (image pixels)."""
        size = self.input_size
        out = self._model(_unit_input(roi.crop(rgb, size)))
        pts = roi.to_image(next(iter(out.values())).reshape(2, 2).astype(np.float64), size)  # (2, 2) px
        centre, scale_point = pts[0], pts[1]
        side = max(2.0 * float(np.linalg.norm(scale_point - centre)), 1.0)
        rect = RotatedRect(
            (float(centre[0]), float(centre[1])), side, rotation_to_up(centre, scale_point, target_deg=-90.0)
        )
        return rect.transformed(shift_y=self.config.recrop_shift_y)


@dataclass
class HandProposal:
    """A hand region proposed from a person's arm; to be confirmed by the hand landmark model."""

    side: str  #: anatomical side of the arm ("left" / "right")
    roi: RotatedRect  #: region for the hand landmark model
    wrist_px: np.ndarray  #: (2,) the pose model's wrist
    visibility: float  #: the pose model's wrist visibility in [0, 1]
    person_score: float  #: the person's detection score


class BodyHandProposer:
    """People -> body landmarks -> one hand region per visible wrist (see the module docstring).

    Args:
        pose_detector_path, pose_landmark_path, hand_recrop_path: model files (default: resolved by
            :func:`~fast_hamer_core.detection.assets.ensure_loose_model`).
        threads: LiteRT threads per model.
        people: where and how people are searched (:class:`PeopleSearchConfig`: windows, pose detector
            threshold, ``max_people``).
        min_body_score: pose landmark model's person-presence threshold (MediaPipe: 0.5); every person
            the search finds is confirmed by it before its arms propose anything.
        min_wrist_visibility: a wrist below this visibility proposes nothing (MediaPipe holistic: 0.1).
        recrop: refine each arm's region with the hand re-crop model (MediaPipe holistic's step). Off by
            default: on the shared photos and their hard copies, rebuilding the region from the hand
            landmark model's own answer (the thorough detector's refinement) found as many hands, and the
            re-crop sometimes centred a region between two hands.
        mirrored_look: each person's landmarks also from the mirrored crop
            (:meth:`PoseLandmarkModel.run` ``mirror=True``), and arms from both looks: where the two
            looks disagree, one is often right (on hamer_test1 the plain look puts the woman's left
            wrist on the girl's hand). +13 ms per person; the hand check decides between them.
    """

    def __init__(
        self,
        pose_detector_path: str | os.PathLike | None = None,
        pose_landmark_path: str | os.PathLike | None = None,
        hand_recrop_path: str | os.PathLike | None = None,
        threads: int = 1,
        people: PeopleSearchConfig = PeopleSearchConfig(),
        min_body_score: float = 0.5,
        min_wrist_visibility: float = 0.1,
        recrop: bool = False,
        config: HandFromPoseConfig = HandFromPoseConfig(),
        mirrored_look: bool = True,
    ) -> None:
        limits = (("min_body_score", min_body_score), ("min_wrist_visibility", min_wrist_visibility))
        for label, value in limits:
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}")
        lowest = min(people.min_score, people.min_tile_score)
        self.detector = PoseDetector(pose_detector_path, threads=threads, min_score=lowest)
        self.people = PeopleSearch(self.detector, people)
        self.landmarks = PoseLandmarkModel(pose_landmark_path, threads=threads)
        self.recrop = HandRecropModel(hand_recrop_path, threads=threads, config=config) if recrop else None
        self.config = config
        self.min_body_score = float(min_body_score)
        self.min_wrist_visibility = float(min_wrist_visibility)
        self.mirrored_look = bool(mirrored_look)

    def bodies(
        self, rgb: np.ndarray, people: PeopleSearch | None = None
    ) -> list[tuple[Person, PoseLandmarks]]:
        """People with their body landmarks (those the landmark model confirms), best first; ``people``:
        another search than the proposer's own (e.g. the grey pass's, on fewer windows)."""
        out = []
        for person in (people or self.people).find(rgb):
            body = self.landmarks.run(rgb, person.body_roi)
            if body.score >= self.min_body_score:
                out.append((person, body))
        return out

    def propose(self, rgb: np.ndarray, people: PeopleSearch | None = None) -> list[HandProposal]:
        """One :class:`HandProposal` per visible wrist of every person found in an RGB uint8 image (per
        look: plain, and mirrored with ``mirrored_look``; the two looks' regions of a wrist mostly
        coincide, and the thorough detector checks such a region once)."""
        proposals = []
        for person, body in self.bodies(rgb, people):
            looks = [body]
            if self.mirrored_look:
                looks.append(self.landmarks.run(rgb, person.body_roi, mirror=True))
            for look in looks:
                proposals += self._arms(rgb, person, look)
        return proposals

    def _arms(self, rgb: np.ndarray, person: Person, body: PoseLandmarks) -> list[HandProposal]:
        """The :class:`HandProposal` of each visible wrist of one look at one person."""
        proposals = []
        for side, arm in ARMS.items():
            visibility = float(body.visibility[arm.wrist])
            if visibility < self.min_wrist_visibility:
                continue
            kp = body.keypoints_px
            roi = hand_roi_from_pose(kp[arm.wrist], kp[arm.pinky], kp[arm.index], self.config)
            if self.recrop is not None:
                roi = self.recrop.refine(rgb, roi)
            proposals.append(HandProposal(side, roi, kp[arm.wrist].copy(), visibility, person.score))
        return proposals
