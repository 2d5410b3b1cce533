"""MediaPipe's two hand models run directly with LiteRT: the palm detector and the landmark model.

The Tasks ``HandLandmarker`` (:mod:`~fast_hamer_core.detection.mediapipe_detector`) runs both models as one
black box: on every ``detect`` call the palm detector searches the whole image and the landmark model
runs on each palm, about 22 ms for two hands on this project's 2-core machine. Run one at a time, the
same two TFLite files (from the ``hand_landmarker.task`` bundle) cost 6.5 ms (palm, 1 thread) and 5.3 ms
(landmarks per hand), and the landmark model can be pointed at any region: the previous frame's hand
(tracking without a palm search), a tile of a large image, a proposal from the body, or a mirrored crop
(a handedness check on one hand instead of on the whole mirrored image).

Conventions: pixel coordinates are continuous image coordinates as MediaPipe reports them
(``x = normalised x * width``), the same numbers the Tasks detector returns. A region of interest is a
:class:`RotatedRect`: a square, rotated clockwise on screen by ``rotation_rad`` (MediaPipe's convention),
whose "up" points from the wrist to the fingers. The maths of the regions (anchors, box decoding,
weighted NMS, palm -> hand region, landmarks -> next region) follows MediaPipe's graphs
(``palm_detection_full.pbtxt``, ``hand_landmark_full.pbtxt``, ``hand_landmark_landmarks_to_roi.pbtxt``,
``palm_detection_detection_to_roi.pbtxt``), with their constants below as data.
"""

from __future__ import annotations

import math
import os
import threading
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_core.detection.assets import ensure_detector_model, ensure_loose_model

#: Member names of the two models inside a ``hand_landmarker.task`` bundle.
PALM_MEMBER = "hand_detector.tflite"
LANDMARK_MEMBER = "hand_landmarks_detector.tflite"
#: The lite palm detector: a loose model next to the bundle
#: (:data:`~fast_hamer_core.detection.assets.LOOSE_MODELS`).
LITE_PALM_MODEL = "palm_detection_lite.tflite"


# ---------------------------------------------------------------------------------------------- regions
@dataclass(frozen=True)
class RotatedRect:
    """A square image region: centre and side in pixels, rotation clockwise on screen in radians.

    ``crop`` warps it to an ``S x S`` image whose up direction is the region's up; :meth:`to_crop` and
    :meth:`to_image` map points between the image and that crop (inverses of each other).
    """

    center_px: tuple[float, float]
    size_px: float
    rotation_rad: float = 0.0

    def _axes(self) -> np.ndarray:
        """(2, 2) columns = the region's x and y axes in image pixels per crop unit (rotation)."""
        c, s = math.cos(self.rotation_rad), math.sin(self.rotation_rad)
        return np.array([[c, -s], [s, c]])

    def to_image(self, pts_crop: np.ndarray, out_size: int) -> np.ndarray:
        """Crop coordinates (N, 2) of an ``out_size`` crop -> image pixels (N, 2).

        Inverse of :meth:`to_crop`."""
        q = np.asarray(pts_crop, dtype=np.float64).reshape(-1, 2) - out_size / 2.0
        scale = self.size_px / out_size
        return (q * scale) @ self._axes().T + np.asarray(self.center_px, dtype=np.float64)

    def to_crop(self, pts_px: np.ndarray, out_size: int) -> np.ndarray:
        """Image pixels (N, 2) -> crop coordinates (N, 2). Inverse of :meth:`to_image`."""
        p = np.asarray(pts_px, dtype=np.float64).reshape(-1, 2) - np.asarray(self.center_px, dtype=np.float64)
        scale = out_size / self.size_px
        return (p @ self._axes()) * scale + out_size / 2.0

    def crop_matrix(self, out_size: int) -> np.ndarray:
        """(2, 3) affine matrix, image -> crop, for ``cv2.warpAffine`` (pixel centres at integers)."""
        a = self._axes().T * (out_size / self.size_px)  # (2, 2) image offset -> crop offset
        centre = np.asarray(self.center_px, dtype=np.float64)
        # continuous (corner) coordinates: q = a (p - c) + S/2; OpenCV's centres are corner - 0.5.
        t = -a @ (centre - 0.5) + out_size / 2.0 - 0.5
        return np.hstack([a, t[:, None]])

    def crop(self, rgb: np.ndarray, out_size: int, mirror: bool = False) -> np.ndarray:
        """(S, S, 3) uint8 crop of the region (outside the image: black); ``mirror`` flips it left-right."""
        m = self.crop_matrix(out_size)
        if mirror:
            m = np.array([[-1.0, 0.0, out_size - 1.0], [0.0, 1.0, 0.0]]) @ np.vstack([m, [0, 0, 1]])
        return cv2.warpAffine(
            rgb, m, (out_size, out_size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
        )

    def corners_px(self) -> np.ndarray:
        """(4, 2) corners in image pixels (top-left, top-right, bottom-right, bottom-left of the crop)."""
        return self.to_image(np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]), 1)

    def box_px(self) -> np.ndarray:
        """(4,) axis-aligned xyxy box around the corners."""
        c = self.corners_px()
        return np.concatenate([c.min(0), c.max(0)])

    def transformed(
        self,
        scale: float = 1.0,
        shift_x: float = 0.0,
        shift_y: float = 0.0,
        rotation_rad: float | None = None,
    ) -> RotatedRect:
        """MediaPipe's RectTransformation on a square: shift by fractions of the side along the region's
        own axes, then scale the side (and optionally replace the rotation first)."""
        rot = self.rotation_rad if rotation_rad is None else rotation_rad
        rect = RotatedRect(self.center_px, self.size_px, rot)
        shift = rect._axes() @ np.array([shift_x, shift_y]) * self.size_px
        centre = np.asarray(self.center_px, dtype=np.float64) + shift
        return RotatedRect((float(centre[0]), float(centre[1])), float(self.size_px * scale), float(rot))


def normalize_radians(angle: float) -> float:
    """``angle`` wrapped to [-pi, pi)."""
    return angle - 2.0 * math.pi * math.floor((angle + math.pi) / (2.0 * math.pi))


def rotation_to_up(start_px: np.ndarray, end_px: np.ndarray, target_deg: float = 90.0) -> float:
    """Clockwise rotation that makes ``start -> end`` point up in the crop (MediaPipe's ComputeRotation)."""
    dx, dy = float(end_px[0] - start_px[0]), float(end_px[1] - start_px[1])
    return normalize_radians(math.radians(target_deg) - math.atan2(-dy, dx))


# ---------------------------------------------------------------------------------------------- SSD
@dataclass(frozen=True)
class SsdAnchorConfig:
    """MediaPipe's SsdAnchorsCalculator options for a fixed-size-anchor detector (the Blaze models).

    Consecutive layers with the same stride share one grid; each layer adds two anchors per cell
    (aspect ratio 1 and the interpolated scale), as in MediaPipe with ``aspect_ratios: 1.0``.
    """

    input_size_px: int
    strides: tuple[int, ...]
    offset: float = 0.5


#: palm_detection_full.tflite: 192x192 input, strides 8, 16, 16, 16 -> 2016 anchors.
PALM_ANCHORS = SsdAnchorConfig(input_size_px=192, strides=(8, 16, 16, 16))


def ssd_anchors(cfg: SsdAnchorConfig) -> np.ndarray:
    """(N, 2) anchor centres, normalised to [0, 1], in the model's output order."""
    centres: list[np.ndarray] = []
    i = 0
    while i < len(cfg.strides):
        stride = cfg.strides[i]
        same = 0
        while i < len(cfg.strides) and cfg.strides[i] == stride:
            same += 1
            i += 1
        grid = math.ceil(cfg.input_size_px / stride)
        ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cell = np.stack([(xs + cfg.offset) / grid, (ys + cfg.offset) / grid], -1).reshape(-1, 1, 2)
        centres.append(np.repeat(cell, 2 * same, axis=1).reshape(-1, 2))  # (grid*grid*2*same, 2)
    return np.concatenate(centres).astype(np.float64)


def decode_ssd(
    raw_boxes: np.ndarray,
    raw_scores: np.ndarray,
    anchors: np.ndarray,
    input_size_px: int,
    min_score: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode a Blaze detector's outputs (MediaPipe's TensorsToDetections, ``reverse_output_order``).

    ``raw_boxes`` (N, 4 + 2K): centre x, y, width, height, then K keypoints (x, y), in input pixels
    relative to the anchor; ``raw_scores`` (N,) logits. Returns the boxes scoring at least
    ``min_score``: ``boxes`` (M, 4) normalised xyxy, ``keypoints`` (M, K, 2) normalised, ``scores`` (M,).
    """
    raw_boxes = np.asarray(raw_boxes, dtype=np.float64).reshape(len(anchors), -1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(raw_scores, dtype=np.float64).reshape(-1), -100, 100)))
    keep = scores >= min_score
    raw, anc, scores = raw_boxes[keep] / input_size_px, anchors[keep], scores[keep]
    centre = raw[:, :2] + anc  # (M, 2)
    half = raw[:, 2:4] / 2.0  # (M, 2)
    boxes = np.concatenate([centre - half, centre + half], axis=1)  # (M, 4)
    num_keypoints = (raw_boxes.shape[1] - 4) // 2
    keypoints = raw[:, 4:].reshape(len(raw), num_keypoints, 2) + anc[:, None, :]  # (M, K, 2)
    return boxes, keypoints, scores


def box_iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) intersection over union of xyxy boxes ``a`` (A, 4) and ``b`` (B, 4)."""
    a, b = np.asarray(a, dtype=np.float64).reshape(-1, 4), np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0.0, None), axis=-1)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0.0, None), axis=-1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0.0, None), axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe's WEIGHTED non-maximum suppression: each cluster of boxes overlapping the best remaining
    one by more than ``iou_threshold`` becomes one box (and keypoints), the score-weighted mean of the
    cluster, with the best score. Shapes as :func:`decode_ssd`'s; sorted by score."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    out_b, out_k, out_s = [], [], []
    iou = box_iou_matrix(boxes, boxes)
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        cluster = remaining & (iou[i] > iou_threshold)
        cluster[i] = True
        w = scores[cluster][:, None]
        out_b.append((boxes[cluster] * w).sum(0) / w.sum())
        out_k.append((keypoints[cluster] * w[:, :, None]).sum(0) / w.sum())
        out_s.append(scores[i])
        remaining &= ~cluster
    if not out_s:
        k = keypoints.shape[1] if keypoints.ndim == 3 else 0
        return np.zeros((0, 4)), np.zeros((0, k, 2)), np.zeros(0)
    return np.stack(out_b), np.stack(out_k), np.asarray(out_s)


# ---------------------------------------------------------------------------------------------- models
def read_task_member(task_path: str | os.PathLike, member: str) -> bytes:
    """One TFLite model's bytes from a ``.task`` bundle."""
    with zipfile.ZipFile(task_path) as zf:
        return zf.read(member)


class TfliteModel:
    """A LiteRT interpreter on one TFLite model (bytes), fed float32 NHWC images; one call at a time."""

    def __init__(self, model: bytes, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self._model = model  # the interpreter reads the buffer in place: keep it alive
        self._interpreter = Interpreter(model_content=model, num_threads=int(threads))
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._outputs = self._interpreter.get_output_details()
        self.input_hw: tuple[int, int] = tuple(int(v) for v in self._input["shape"][1:3])
        self._lock = threading.Lock()

    def __call__(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Outputs by tensor name for one input (1, H, W, 3) float32."""
        with self._lock:
            self._interpreter.set_tensor(self._input["index"], x)
            self._interpreter.invoke()
            return {o["name"]: self._interpreter.get_tensor(o["index"]).copy() for o in self._outputs}


def _to_input(rgb_uint8: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 -> (1, S, S, 3) float32 in [0, 1] (both Blaze hand models)."""
    return (rgb_uint8.astype(np.float32) * (1.0 / 255.0))[None]


@dataclass
class Palm:
    """One palm found by :class:`PalmDetector`, in image pixels."""

    box_px: np.ndarray  #: (4,) xyxy
    score: float
    keypoints_px: (
        np.ndarray
    )  #: (7, 2): wrist centre, index MCP, middle MCP, ring MCP, pinky MCP, thumb CMC, thumb MCP
    hand_roi: RotatedRect = field(repr=False)  #: the region the landmark model should look at


@dataclass(frozen=True)
class PalmConfig:
    """Constants of ``palm_detection_full`` and of its palm -> hand region step."""

    anchors: SsdAnchorConfig = PALM_ANCHORS
    nms_iou: float = 0.3
    roi_scale: float = 2.6
    roi_shift_y: float = -0.5
    rotation_start: int = 0  #: keypoint: wrist centre
    rotation_end: int = 2  #: keypoint: middle finger MCP


class PalmDetector:
    """The palm detector on a whole image (letterboxed to 192x192), palms in image pixels.

    Args:
        model_path: ``hand_landmarker.task`` whose palm detector (``palm_detection_full``) runs;
            ``None``: resolved (:func:`~fast_hamer_core.detection.assets.ensure_detector_model`).
        threads: LiteRT threads.
        min_score: palms scoring less are dropped.
        config: the model's constants (anchors, NMS, palm -> hand region).
        tflite_path: a palm detector's own TFLite file with the same input and anchors (MediaPipe's
            ``palm_detection_lite``, :meth:`lite`), run instead of the bundle's; ``model_path`` is then
            not used.
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        threads: int = 1,
        min_score: float = 0.5,
        config: PalmConfig = PalmConfig(),
        tflite_path: str | os.PathLike | None = None,
    ) -> None:
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        if tflite_path is None:
            self.model_path = ensure_detector_model(model_path)
            model = read_task_member(self.model_path, PALM_MEMBER)
        else:
            self.model_path = Path(tflite_path)
            model = self.model_path.read_bytes()
        self.config = config
        self.min_score = float(min_score)
        self._model = TfliteModel(model, threads)
        size = config.anchors.input_size_px
        if self._model.input_hw != (size, size):
            raise ValueError(
                f"{self.model_path} takes {self._model.input_hw} images, not a palm detector's {size}x{size}"
            )
        self._anchors = ssd_anchors(config.anchors)

    @classmethod
    def lite(
        cls, path: str | os.PathLike | None = None, threads: int = 1, min_score: float = 0.5
    ) -> PalmDetector:
        """MediaPipe's lite palm detector (:data:`LITE_PALM_MODEL`, a loose model of the mediapipe wheel,
        resolved by :func:`~fast_hamer_core.detection.assets.ensure_loose_model` unless ``path`` is given):
        the full one's input, anchors and outputs, from a smaller network that finds some palms the full
        one misses (and misses others)."""
        path = ensure_loose_model(LITE_PALM_MODEL, path)
        return cls(threads=threads, min_score=min_score, tflite_path=path)

    def detect(self, rgb: np.ndarray) -> list[Palm]:
        """Palms in an RGB uint8 (H, W, 3) image, best first."""
        height, width = rgb.shape[:2]
        side = float(max(height, width))
        region = RotatedRect((width / 2.0, height / 2.0), side)  # the letterbox: a centred square
        size = self.config.anchors.input_size_px
        out = self._model(_to_input(region.crop(rgb, size)))
        raw_boxes = next(v for v in out.values() if v.shape[-1] > 1)  # (1, 2016, 18)
        raw_scores = next(v for v in out.values() if v.shape[-1] == 1)  # (1, 2016, 1)
        boxes, kps, scores = decode_ssd(
            raw_boxes[0], raw_scores[0, :, 0], self._anchors, size, self.min_score
        )
        boxes, kps, scores = weighted_nms(boxes, kps, scores, self.config.nms_iou)
        palms = []
        for box, kp, score in zip(boxes, kps, scores, strict=True):
            corners = region.to_image(box.reshape(2, 2) * size, size)  # (2, 2) xyxy in image px
            kp_px = region.to_image(kp * size, size)  # (7, 2)
            palms.append(
                Palm(corners.reshape(4), float(score), kp_px, self.hand_roi(corners.reshape(4), kp_px))
            )
        return palms

    def hand_roi(self, box_px: np.ndarray, keypoints_px: np.ndarray) -> RotatedRect:
        """The whole-hand region around a palm (palm box rotated upright, shifted and scaled)."""
        c = self.config
        rotation = rotation_to_up(keypoints_px[c.rotation_start], keypoints_px[c.rotation_end])
        centre = 0.5 * (box_px[:2] + box_px[2:])
        side = float(max(box_px[2] - box_px[0], box_px[3] - box_px[1]))
        rect = RotatedRect((float(centre[0]), float(centre[1])), side, rotation)
        return rect.transformed(scale=c.roi_scale, shift_y=c.roi_shift_y)


@dataclass
class HandLandmarks:
    """The landmark model's answer for one region, in image pixels / metres."""

    keypoints_2d: np.ndarray  #: (21, 2) image pixels, skeleton order
    keypoints_3d: np.ndarray  #: (21, 3) metres, metric hand frame (image axes: x right, y down, z away)
    presence: float  #: probability that the region holds a hand
    p_right: float  #: probability of an anatomical right hand (for a non-mirrored image)
    roi: RotatedRect = field(repr=False)


@dataclass(frozen=True)
class LandmarkConfig:
    """Constants of ``hand_landmark_full`` and of its landmarks -> next region step."""

    roi_scale: float = 2.0
    roi_shift_y: float = -0.1
    #: Landmarks that bound the next region (wrist, thumb CMC..IP, and the MCP/PIP of each finger).
    roi_joints: tuple[int, ...] = (0, 1, 2, 3, 5, 6, 9, 10, 13, 14, 17, 18)


class HandLandmarkModel:
    """The 21-landmark model on any region of an image; also the hand-presence and handedness check."""

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        threads: int = 1,
        config: LandmarkConfig = LandmarkConfig(),
    ) -> None:
        self.model_path = ensure_detector_model(model_path)
        self.config = config
        self._model = TfliteModel(read_task_member(self.model_path, LANDMARK_MEMBER), threads)
        self.input_size = self._model.input_hw[0]

    def run(self, rgb: np.ndarray, roi: RotatedRect, mirror: bool = False) -> HandLandmarks:
        """Landmarks of the hand in ``roi`` of an RGB uint8 image. ``mirror`` feeds the mirrored crop (the
        same hand seen in a mirror); the answer is mapped back, so it is comparable with ``mirror=False``."""
        size = self.input_size
        out = self._model(_to_input(roi.crop(rgb, size, mirror=mirror)))
        screen = out["Identity"].reshape(21, 3)  # (21, 3) crop px (x, y) and relative depth
        presence = float(out["Identity_1"].reshape(()))
        handed = float(out["Identity_2"].reshape(()))
        world = out["Identity_3"].reshape(21, 3).astype(np.float64)  # (21, 3) m, in the crop's axes
        xy = screen[:, :2].astype(np.float64)
        if mirror:
            xy[:, 0] = size - xy[:, 0]
            world[:, 0] = -world[:, 0]
        keypoints_2d = roi.to_image(xy, size)
        c, s = math.cos(roi.rotation_rad), math.sin(roi.rotation_rad)
        world[:, :2] = world[:, :2] @ np.array([[c, -s], [s, c]]).T  # crop axes -> image axes
        p_right = 1.0 - handed if mirror else handed
        return HandLandmarks(keypoints_2d, world, presence, float(p_right), roi)

    def roi_from_landmarks(self, keypoints_2d: np.ndarray) -> RotatedRect:
        """The region to look at in the next frame: the hand upright, bounded by its palm and finger bases,
        grown by MediaPipe's constants (hand_landmark_landmarks_to_roi)."""
        kp = np.asarray(keypoints_2d, dtype=np.float64).reshape(21, 2)
        wrist = kp[0]
        knuckles = 0.5 * (0.5 * (kp[5] + kp[13]) + kp[9])  # index/ring MCP mean, averaged with middle MCP
        rotation = rotation_to_up(wrist, knuckles)
        pts = kp[list(self.config.roi_joints)]
        centre = 0.5 * (pts.min(0) + pts.max(0))
        upright = RotatedRect((float(centre[0]), float(centre[1])), 1.0, rotation)
        local = upright.to_crop(pts, 1) - 0.5  # (N, 2) region-axis offsets from ``centre``, pixels
        lo, hi = local.min(0), local.max(0)
        mid = upright.to_image((0.5 * (lo + hi) + 0.5)[None], 1)[0]
        side = float(max(hi - lo))
        rect = RotatedRect((float(mid[0]), float(mid[1])), side, rotation)
        return rect.transformed(scale=self.config.roi_scale, shift_y=self.config.roi_shift_y)
