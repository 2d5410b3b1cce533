"""Optional backend: an Ultralytics YOLO hand detector with user-supplied weights (as WiLoR uses).

Faster than MediaPipe on a GPU, but it gives boxes only (no keypoints, so no landmarks-only 3D). The side
comes from the box's class: the model's class names when they say ``left`` / ``right`` (any case, e.g.
``"Left hand"``), else, for a two-class model with other names, WiLoR's convention (class 0 = left,
class 1 = right: WiLoR's demo passes ``boxes.cls`` on as ``is_right``), for an ordinary, non-mirrored
image; ``mirrored_input=True`` swaps it. ``score`` and ``side_score`` are the box's confidence (YOLO
reports one score per box). The boxes are whole-hand boxes, used as they are for the mesh network's crop.

WiLoR's weights: ``pretrained_models/detector.pt`` of https://huggingface.co/spaces/rolpotamias/WiLoR
(linked from the README of github.com/rolpotamias/WiLoR; CC BY-NC-ND 4.0, non-commercial), made with
ultralytics 8.1.34; WiLoR's demo thresholds it at ``conf=0.3``.

Needs the optional ``ultralytics`` package, imported only when this detector is built. It is installed
without its dependencies (``make env`` does it; see the README) because it requires ``opencv-python``,
a second OpenCV that would overwrite the ``opencv-contrib-python`` that MediaPipe brings. Before
importing it, this module sets ``YOLO_OFFLINE=1`` (no online check, no usage analytics) and
``YOLO_AUTOINSTALL=0`` (no pip installs at run time) unless they are set already: a robot's detector
must never reach for the network.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from fast_hamer_core.detection.base import DEFAULT_MAX_SIDE_PX, HandDetector
from fast_hamer_core.types import Detection

#: Class index -> anatomical side in WiLoR's hand detector weights (used when names do not say it).
YOLO_CLASS_SIDES: tuple[str, ...] = ("left", "right")
#: The pinned ultralytics version (setup.py's ``ULTRALYTICS``), for error messages.
ULTRALYTICS_PIN: str = "ultralytics==8.4.190"
#: Ultralytics environment switches set (if unset) before it is imported: offline, no auto-install.
ULTRALYTICS_ENV: dict[str, str] = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0"}


def class_sides(names: dict[int, str] | list[str]) -> dict[int, str]:
    """Class index -> ``"left"`` / ``"right"`` for a YOLO model's class ``names``.

    Names that contain the word left or right decide; a two-class model with other names follows WiLoR
    (0 = left, 1 = right). Classes that are neither are left out (their boxes are ignored). ``ValueError``
    if no class is a side.
    """
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    sides = {}
    for index, name in names.items():
        words = set(re.findall(r"[a-z]+", str(name).lower()))
        if ("left" in words) != ("right" in words):
            sides[int(index)] = "left" if "left" in words else "right"
    if not sides and len(names) == 2:
        sides = dict(enumerate(YOLO_CLASS_SIDES))
    if not sides:
        raise ValueError(
            f"the YOLO model's classes {dict(names)} name no hand side: a hand detector needs classes "
            "'left' and 'right' (or two classes, 0 = left and 1 = right, as WiLoR's detector.pt)"
        )
    return sides


def import_yolo():
    """``ultralytics.YOLO``, imported offline (see the module docstring); ``RuntimeError`` if missing."""
    for key, value in ULTRALYTICS_ENV.items():
        os.environ.setdefault(key, value)
    try:
        from ultralytics import YOLO
    except ImportError as err:
        raise RuntimeError(
            "the YOLO hand detector needs the optional 'ultralytics' package, installed without its "
            "opencv-python dependency: `make env`, or "
            f'pip install "fast_hamer_ros[yolo]" && pip install --no-deps {ULTRALYTICS_PIN}'
        ) from err
    return YOLO


class YOLOHandDetector(HandDetector):
    """Hand boxes and sides from an Ultralytics YOLO model.

    Args:
        weights_path: the ``.pt`` weights (e.g. WiLoR's ``pretrained_models/detector.pt``).
        min_detection_confidence: box confidence threshold.
        iou_threshold: NMS IoU threshold.
        max_hands: most boxes kept per image.
        mirrored_input: the camera feed is mirrored (selfie view): swap every side.
        device: torch device for ultralytics (``None``: its default).
        max_side_px: longer side of the image the model sees; larger inputs are downscaled.
    """

    name = "yolo"

    def __init__(
        self,
        weights_path: str | os.PathLike | None,
        min_detection_confidence: float = 0.3,
        iou_threshold: float = 0.5,
        max_hands: int = 4,
        mirrored_input: bool = False,
        device: str | None = None,
        max_side_px: int = DEFAULT_MAX_SIDE_PX,
    ) -> None:
        super().__init__(max_side_px=max_side_px)
        if weights_path is None or str(weights_path) == "":
            raise ValueError(
                "the YOLO hand detector needs weights (detector_model / --detector-model), e.g. WiLoR's "
                "pretrained_models/detector.pt"
            )
        weights = Path(weights_path).expanduser()
        if not weights.is_file():
            raise FileNotFoundError(
                f"YOLO hand detector weights not found: {weights} (bring your own, e.g. WiLoR's "
                "pretrained_models/detector.pt)"
            )
        if max_hands < 1:
            raise ValueError(f"max_hands must be >= 1, got {max_hands}")
        for label, value in (("min_detection_confidence", min_detection_confidence), ("iou", iou_threshold)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{label} must be in [0, 1], got {value}")
        YOLO = import_yolo()
        self.weights_path = weights
        self.min_detection_confidence = float(min_detection_confidence)
        self.iou_threshold = float(iou_threshold)
        self.max_hands = int(max_hands)
        self.mirrored_input = bool(mirrored_input)
        self.device = device
        self._model = YOLO(str(weights), task="detect")
        self.class_sides = class_sides(self._model.names)

    def _detect(self, rgb: np.ndarray, stamp_s: float | None) -> list[Detection]:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)  # ultralytics reads numpy images as BGR
        kwargs = {
            "conf": self.min_detection_confidence,
            "iou": self.iou_threshold,
            "max_det": self.max_hands,
            "verbose": False,
        }
        if self.device is not None:
            kwargs["device"] = self.device
        boxes = self._model(bgr, **kwargs)[0].boxes
        xyxy = boxes.xyxy.cpu().numpy().reshape(-1, 4)  # (N, 4) pixels
        conf = boxes.conf.cpu().numpy().reshape(-1)  # (N,)
        cls = boxes.cls.cpu().numpy().reshape(-1).astype(int)  # (N,)
        detections = []
        for box, score, label in zip(xyxy, conf, cls, strict=True):
            side = self.class_sides.get(int(label))
            if side is None:  # a class that is no hand side
                continue
            if self.mirrored_input:
                side = "left" if side == "right" else "right"
            score = float(np.clip(score, 0.0, 1.0))
            detections.append(Detection(box=box, score=score, side=side, side_score=score))
        return detections

    def close(self) -> None:
        self._model = None
        super().close()
