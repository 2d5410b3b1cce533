"""Labelled moving clips: a detector scored frame by frame on a stream, as the node runs it.

A robot's camera is a stream, and the stream detector (:class:`~fast_hamer_core.detection.stream.
StreamHandDetector`) keeps state from frame to frame: it follows hands by their landmarks and searches
for new ones only now and then. Its recall is a property of the sequence, not of one photo, so it is
scored on clips: each labelled photo becomes ``frames`` frames moving like a hand-held camera
(:func:`~fast_hamer_core.frames.moving_transforms`: shift, zoom and rotation, black outside the photo so
that no mirrored copy of a hand appears), and its labels go through the same motion
(:func:`transform_labels`). Every frame is scored like a photo
(:func:`~fast_hamer_core.evaluation.detection.score_image`), so
:func:`~fast_hamer_core.evaluation.detection.summarise` gives recall per kind, precision and side
accuracy over all frames, and ms per frame.

Frames keep the photo's own size (nothing is cropped). A detector with stream state is reset
(``reset()``) at the start of every clip: each clip is a new stream. With ``one_stream`` the clips play
back to back as one stream instead: every clip change is a scene cut (the hands followed so far vanish,
new ones appear) that the detector must handle without a fresh start, as a camera watching a workspace
does; a new stream's first searches no longer count once per clip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from fast_hamer_core.evaluation.detection import (
    DEFAULT_IOU_THRESHOLD,
    ImageScore,
    detect_and_score,
    read_labelled_image,
)
from fast_hamer_core.evaluation.hand_labels import LabelledImage
from fast_hamer_core.evaluation.hard_cases import place_labels

#: Default clip length: two seconds at 30 FPS, several palm-search periods of the stream detector.
DEFAULT_CLIP_FRAMES: int = 60


def transform_box(box: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The axis-aligned (4,) xyxy box around xyxy ``box`` after the (2, 3) affine ``m``."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])  # (4, 2)
    moved = corners @ m[:, :2].T + m[:, 2]  # (4, 2)
    return np.concatenate([moved.min(0), moved.max(0)])


def transform_labels(
    image: LabelledImage, m: np.ndarray, width: int, height: int, file: str
) -> LabelledImage:
    """``image``'s labels after the affine ``m`` (photo -> frame pixels) in a ``width`` x ``height`` frame.

    Boxes are the axis-aligned boxes of the moved boxes, then the hard copies' rules apply
    (:func:`~fast_hamer_core.evaluation.hard_cases.place_labels`): clipped to the frame, a hand with less
    than ``KEEP_VISIBLE`` of its box in view is ``ignore``, one with nothing in view is dropped, written
    size kinds are dropped (the scoring computes them from the new box)."""
    return place_labels(image, [transform_box(hand.box, m) for hand in image.hands], width, height, file)


def labelled_clip(
    rgb: np.ndarray, image: LabelledImage, frames: int = DEFAULT_CLIP_FRAMES
) -> Iterator[tuple[np.ndarray, LabelledImage]]:
    """``frames`` (frame RGB, frame labels) pairs: the photo moving like a hand-held camera, its labels
    following (frame ``i`` is named ``<stem>@<i>``)."""
    from fast_hamer_core.frames import moving_sequence, moving_transforms

    height, width = rgb.shape[:2]
    size = (width, height)
    stem = Path(image.file).stem
    motion = moving_transforms(width, height, frames, size)
    pictures = moving_sequence(rgb, frames, size, border="constant")
    for i, (m, picture) in enumerate(zip(motion, pictures, strict=True)):
        yield picture, transform_labels(image, m, width, height, f"{stem}@{i}")


def evaluate_on_clips(
    detector,
    images: Sequence[LabelledImage],
    image_dir: str | os.PathLike,
    frames: int = DEFAULT_CLIP_FRAMES,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    progress: bool = True,
    one_stream: bool = False,
) -> list[ImageScore]:
    """Run ``detector`` over a clip made from every labelled photo; one :class:`ImageScore` per frame.

    ``detector.reset()`` (when it has one) starts every clip as a new stream, or only the first with
    ``one_stream`` (module docstring). Only ``detect`` is timed; the first frame of each clip includes the
    first search, as a camera's first frame does."""
    from tqdm import tqdm

    if frames < 1:
        raise ValueError(f"a clip needs at least one frame, got {frames}")
    image_dir = Path(image_dir)
    scores: list[ImageScore] = []
    bar = tqdm(
        total=len(images) * frames, desc="detect-eval clips", unit="frame", disable=None if progress else True
    )
    with bar:
        for index, labelled in enumerate(images):
            rgb = read_labelled_image(image_dir, labelled)
            if hasattr(detector, "reset") and (index == 0 or not one_stream):
                detector.reset()
            for picture, labels in labelled_clip(rgb, labelled, frames):
                scores.append(detect_and_score(detector, picture, labels, iou_threshold))
                bar.update(1)
    return scores


__all__ = ["DEFAULT_CLIP_FRAMES", "evaluate_on_clips", "labelled_clip", "transform_box", "transform_labels"]
