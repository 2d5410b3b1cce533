"""Frames for streams: a video file, an image folder, a camera (:class:`FrameReader`), or a moving sequence
made from one photo (:func:`moving_sequence`: the same hands shifted, zoomed and rotated a little every
frame, for stream tests and ``fast-hamer bench --stream``). ROS-free; ``image_source`` publishes them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

#: Image file suffixes read from a folder.
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class FrameReader:
    """RGB frames (H, W, 3) uint8 from a video file, an image folder / single image, or a camera.

    ``source``: a directory (its images in name order), an image file, a video file, ``/dev/videoN``
    or a camera index (``"0"``). ``loop`` restarts files at the end (cameras never end).
    ``resize_width`` > 0 scales frames to that width (aspect kept). Raises FileNotFoundError /
    ValueError naming the source when it cannot be opened."""

    def __init__(self, source: str, loop: bool = False, resize_width: int = 0) -> None:
        self.source, self.loop, self.resize_width = str(source), bool(loop), int(resize_width)
        self._images: list[Path] | None = None
        self._capture = None
        self.kind = self._open()

    def _open(self) -> str:
        src = self.source
        if src.isdigit() or src.startswith("/dev/video"):
            index = int(src) if src.isdigit() else src
            cap = cv2.VideoCapture(index, cv2.CAP_V4L2)
            if not cap.isOpened():
                raise FileNotFoundError(f"cannot open camera {src!r} (V4L2)")
            self._capture = cap
            return "camera"
        path = Path(src).expanduser()
        if path.is_dir():
            self._images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not self._images:
                raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
            return "folder"
        if not path.is_file():
            raise FileNotFoundError(f"input not found: {path}")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            self._images = [path]
            return "image"
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise ValueError(f"cannot read {path} as a video (OpenCV could not open it)")
        self._capture = cap
        return "video"

    def _resize(self, rgb: np.ndarray) -> np.ndarray:
        if self.resize_width <= 0 or rgb.shape[1] == self.resize_width:
            return rgb
        height = round(rgb.shape[0] * self.resize_width / rgb.shape[1])
        return cv2.resize(rgb, (self.resize_width, height), interpolation=cv2.INTER_AREA)

    def frames(self) -> Iterator[np.ndarray]:
        """Yield frames until the source ends (never, with ``loop`` or a camera)."""
        while True:
            produced = 0
            if self._images is not None:
                for path in self._images:
                    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
                    if bgr is None:
                        raise ValueError(f"cannot decode image {path}")
                    produced += 1
                    yield self._resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            else:
                while True:
                    ok, bgr = self._capture.read()
                    if not ok:
                        break
                    produced += 1
                    yield self._resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                if self.kind == "video" and self.loop:
                    self._capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
            if not self.loop or self.kind == "camera" or produced == 0:
                return

    @property
    def fps(self) -> float:
        """Frame rate of a video or camera (as OpenCV reports it; 0 when unknown or for images)."""
        return float(self._capture.get(cv2.CAP_PROP_FPS) or 0.0) if self._capture is not None else 0.0

    @property
    def frame_count(self) -> int | None:
        """Frames in a folder, an image or a video file (None for a camera or when unknown)."""
        if self._images is not None:
            return len(self._images)
        if self.kind == "video":
            count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
            return count or None
        return None

    @property
    def names(self) -> list[str] | None:
        """The image file stems of a folder / image (None for videos and cameras)."""
        return [p.stem for p in self._images] if self._images is not None else None

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


#: Border modes of :func:`moving_sequence`: what fills the frame where the moved photo does not reach.
BORDERS: dict[str, int] = {"reflect": cv2.BORDER_REFLECT, "constant": cv2.BORDER_CONSTANT}


def moving_transforms(
    width: int,
    height: int,
    frames: int,
    size: tuple[int, int] = (640, 480),
    shift_frac: float = 0.06,
    zoom: float = 0.08,
    rotation_deg: float = 6.0,
    period_frames: int = 90,
) -> Iterator[np.ndarray]:
    """The (2, 3) affine matrices, photo pixels -> frame pixels, of :func:`moving_sequence` for a
    ``width`` x ``height`` photo (apply one to points as ``m[:, :2] @ p + m[:, 2]``)."""
    out_w, out_h = size
    scale = max(out_w / width, out_h / height)  # cover the output, like a centre crop
    for i in range(int(frames)):
        phase = 2.0 * math.pi * i / period_frames
        dx = shift_frac * out_w * math.sin(phase)
        dy = 0.5 * shift_frac * out_h * math.sin(2.0 * phase)
        s = scale * (1.0 + zoom * math.sin(0.5 * phase))
        m = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), rotation_deg * math.sin(phase), s)
        m[:, 2] += (out_w / 2.0 - width / 2.0 + dx, out_h / 2.0 - height / 2.0 + dy)
        yield m


def moving_sequence(
    image_rgb: np.ndarray,
    frames: int,
    size: tuple[int, int] = (640, 480),
    shift_frac: float = 0.06,
    zoom: float = 0.08,
    rotation_deg: float = 6.0,
    period_frames: int = 90,
    border: str = "reflect",
) -> Iterator[np.ndarray]:
    """``frames`` RGB frames of ``size = (W, H)``: ``image_rgb`` centre-cropped to that aspect, then moved by
    a smooth periodic motion (shift up to ``shift_frac`` of the width, zoom up to +-``zoom``, rotation up to
    +-``rotation_deg`` degrees, one cycle every ``period_frames``), like a camera held in a hand.
    ``border``: ``"reflect"`` (the photo mirrored beyond its edges, no empty corners) or ``"constant"``
    (black: no mirrored copy of a hand, for scoring against labels). The motion is
    :func:`moving_transforms`."""
    if border not in BORDERS:
        raise ValueError(f"border must be one of {sorted(BORDERS)}, got {border!r}")
    h, w = image_rgb.shape[:2]
    motion = moving_transforms(w, h, frames, size, shift_frac, zoom, rotation_deg, period_frames)
    for m in motion:
        yield cv2.warpAffine(image_rgb, m, tuple(size), flags=cv2.INTER_LINEAR, borderMode=BORDERS[border])
