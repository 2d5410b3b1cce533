"""Optional backend: an Ultralytics YOLO hand detector with user-supplied weights (as WiLoR uses).

Faster than MediaPipe on a GPU, but it gives boxes only (no keypoints, so no landmarks-only 3D), and
the side comes from the class: WiLoR's ``detector.pt`` has class 0 = left, class 1 = right
(WiLoR's demo passes ``boxes.cls`` on as ``is_right``), for an ordinary, non-mirrored image;
``mirrored_input=True`` swaps it. ``side_score`` is the box's class confidence (YOLO reports one score
per box). The boxes are whole-hand boxes, used as they are for the mesh network's crop.

Needs the optional ``ultralytics`` package (extra ``yolo``: ``pip install "fast_hamer_ros[yolo]"``
or ``pip install ultralytics``); it is imported only when this detector is built.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_core.detection.base import DEFAULT_MAX_SIDE_PX, HandDetector
from fast_hamer_core.types import Detection

#: Class index -> anatomical side in WiLoR's hand detector weights.
YOLO_CLASS_SIDES: tuple[str, ...] = ("left", "right")


class YOLOHandDetector(HandDetector):
    """Hand boxes and sides from an Ultralytics YOLO model.

    Args:
        weights_path: the ``.pt`` weights (e.g. WiLoR's ``pretrained_models/detector.pt``).
        min_detection_confidence: box confidence threshold.
        iou_threshold: NMS IoU threshold.
        max_hands: most boxes kept per image.
        mirrored_input: the camera feed is mirrored (selfie view): swap every side.
        device: torch device for ultralytics (``None``: its default).
    """

    name = "yolo"

    def __init__(
        self,
        weights_path: str | os.PathLike,
        min_detection_confidence: float = 0.3,
        iou_threshold: float = 0.5,
        max_hands: int = 4,
        mirrored_input: bool = False,
        device: str | None = None,
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
    ) -> None:
        super().__init__(max_side_px=max_side_px)
        weights = Path(weights_path).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(
                f"YOLO hand detector weights not found: {weights} (bring your own, e.g. WiLoR's "
                "pretrained_models/detector.pt)"
            )
        try:
            from ultralytics import YOLO
        except ImportError as err:
            raise RuntimeError(
                "the YOLO hand detector needs the optional 'ultralytics' package: "
                'pip install "fast_hamer_ros[yolo]" (or pip install ultralytics)'
            ) from err
        self.weights_path = weights
        self.min_detection_confidence = float(min_detection_confidence)
        self.iou_threshold = float(iou_threshold)
        self.max_hands = int(max_hands)
        self.mirrored_input = bool(mirrored_input)
        self.device = device
        self._model = YOLO(str(weights))

    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # ultralytics reads numpy images as BGR
        kwargs = {"conf": self.min_detection_confidence, "iou": self.iou_threshold, "verbose": False}
        kwargs["max_det"] = self.max_hands
        if self.device is not None:
            kwargs["device"] = self.device
        boxes = self._model(bgr, **kwargs)[0].boxes
        xyxy = boxes.xyxy.cpu().numpy().reshape(-1, 4)  # (N, 4) pixels
        conf = boxes.conf.cpu().numpy().reshape(-1)  # (N,)
        cls = boxes.cls.cpu().numpy().reshape(-1).astype(int)  # (N,)
        detections = []
        for box, score, label in zip(xyxy, conf, cls, strict=True):
            if label not in (0, 1):
                continue
            side = YOLO_CLASS_SIDES[label]
            if self.mirrored_input:
                side = "left" if side == "right" else "right"
            score = float(np.clip(score, 0.0, 1.0))
            detections.append(Detection(box=box, score=score, side=side, side_score=score))
        return detections

    def close(self) -> None:
        self._model = None
        super().close()
