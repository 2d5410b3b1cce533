"""Scoring a hand detector against box + side labels: recall per kind of hand, precision, sides, duplicates.

Labels: :mod:`fast_hamer_core.evaluation.hand_labels` (the JSON format, the kinds of hand, and the
``ignore`` flag).

Matching: one-to-one (Hungarian, :func:`match_boxes`) on the IoU of detection and label boxes, pairs
below ``iou_threshold`` never match; among the assignments with the most matches the one with the
largest total IoU wins. The default threshold is 0.3, lower than the usual 0.5, because the detectors
here report keypoint boxes (wrist to fingertips, tight) while labels are whole-hand boxes drawn by a
person; a hand found by its keypoints typically overlaps its label by 0.5-0.8.

A hand marked ``ignore`` (for instance one cut by a crop so that little of it is left, see
:mod:`~fast_hamer_core.evaluation.hard_cases`) is not counted: it is not a hand to find, and a detection
on it is not a false positive.

Counting:

- recall = labelled hands matched / labelled hands (overall and per kind);
- precision = matched detections / all detections; every unmatched detection counts against it;
- an unmatched detection is *on* a labelled hand if its IoU with the label box is >= ``iou_threshold``
  or if it lies mostly (:data:`DUPLICATE_MIN_COVER` of its own area) inside the label box. On a hand
  that another detection matched, it is a *duplicate* (the same hand reported twice); on a hand that
  nothing matched, it is *misplaced* (found, but with a box too far off to count). Both are reported on
  their own and both are false positives;
- side accuracy = matched hands whose labelled side is known and equals the detected side / matched
  hands whose labelled side is known.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from fast_hamer_core.evaluation.hand_labels import KIND_TITLES, KINDS, LabelledImage
from fast_hamer_core.types import Detection

#: Default IoU a detection needs with a label box to count as that hand (see the module docstring).
DEFAULT_IOU_THRESHOLD: float = 0.3
#: An unmatched detection whose area lies this much inside a label box is a duplicate of that hand.
DUPLICATE_MIN_COVER: float = 0.5


# -------------------------------------------------------------------------------------------- matching
def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in ``a`` (N, 4) with every box in ``b`` (M, 4) -> (N, M)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    inter = _intersection(a, b)  # (N, M)
    union = _area(a)[:, None] + _area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _area(boxes: np.ndarray) -> np.ndarray:
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas (N, M) of boxes a (N, 4) and b (M, 4)."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.clip(w, 0, None) * np.clip(h, 0, None)


def match_boxes(iou: np.ndarray, iou_threshold: float) -> list[tuple[int, int]]:
    """One-to-one matching on an IoU matrix (labels x detections): most matches, then most total IoU.

    Returns ``(label index, detection index)`` pairs, each with IoU >= ``iou_threshold``.
    """
    iou = np.asarray(iou, dtype=np.float64)
    if iou.size == 0:
        return []
    valid = iou >= iou_threshold
    # An invalid pair costs more than any set of valid ones, so the solver first maximises the number
    # of valid pairs, then their total IoU; invalid pairs it still had to assign are dropped.
    cost = np.where(valid, 1.0 - iou, 1e6)
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if valid[r, c]]


# ------------------------------------------------------------------------------------------ per image
@dataclass
class ImageScore:
    """How one image's detections compare to its labels."""

    image: LabelledImage
    detections: list[Detection]
    matches: list[tuple[int, int]]  #: (label index, detection index)
    ious: list[float]  #: IoU of each match
    duplicates: dict[int, int]  #: unmatched detection index -> label index of the matched hand it repeats
    misplaced: dict[int, int] = field(default_factory=dict)  #: detection -> unmatched hand it is on
    ignored: dict[int, int] = field(default_factory=dict)  #: detection index -> ignored label it is on
    elapsed_ms: float = float("nan")

    @property
    def counted(self) -> list[int]:
        """Indices of the labelled hands that count (not marked ``ignore``)."""
        return [i for i, hand in enumerate(self.image.hands) if not hand.ignore]

    @property
    def counted_detections(self) -> int:
        """Detections that count for precision: all but those on ignored hands."""
        return len(self.detections) - len(self.ignored)

    @property
    def found(self) -> set[int]:
        """Indices of the labelled hands that a detection matched."""
        return {label for label, _ in self.matches}

    @property
    def false_positives(self) -> list[int]:
        """Indices of unmatched detections (duplicates included, those on ignored hands not)."""
        matched = {det for _, det in self.matches}
        return [j for j in range(len(self.detections)) if j not in matched and j not in self.ignored]

    def to_dict(self) -> dict:
        by_det = {det: (label, iou) for (label, det), iou in zip(self.matches, self.ious, strict=True)}
        detections = []
        for j, det in enumerate(self.detections):
            label, iou = by_det.get(j, (None, None))
            detections.append(
                {
                    "box": [round(float(v), 1) for v in det.box],
                    "score": float(det.score),
                    "side": det.side,
                    "side_score": float(det.side_score),
                    "label": label,
                    "iou": None if iou is None else round(iou, 3),
                    "duplicate_of": self.duplicates.get(j),
                    "misplaced_on": self.misplaced.get(j),
                    "on_ignored": self.ignored.get(j),
                }
            )
        return {
            "file": self.image.file,
            "elapsed_ms": self.elapsed_ms,
            "hands": [
                {**hand.to_dict(), "all_kinds": sorted(self.image.hand_kinds(i)), "found": i in self.found}
                for i, hand in enumerate(self.image.hands)
            ],
            "detections": detections,
        }


def score_image(
    image: LabelledImage,
    detections: Sequence[Detection],
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    elapsed_ms: float = float("nan"),
) -> ImageScore:
    """Match ``detections`` to ``image``'s labelled hands, find duplicates and detections on ignored
    hands (module docstring)."""
    detections = list(detections)
    labels = np.array([hand.box for hand in image.hands]).reshape(-1, 4)
    dets = np.array([det.box for det in detections]).reshape(-1, 4)
    iou = box_iou(labels, dets)  # (L, D)
    counted = np.array([not hand.ignore for hand in image.hands], dtype=bool)  # (L,)
    rows = np.flatnonzero(counted)
    matches = [(int(rows[i]), j) for i, j in match_boxes(iou[rows], iou_threshold)]
    matched_dets = {det for _, det in matches}
    matched_labels = np.zeros(len(labels), dtype=bool)  # (L,)
    matched_labels[[label for label, _ in matches]] = True
    duplicates: dict[int, int] = {}
    misplaced: dict[int, int] = {}
    ignored: dict[int, int] = {}
    if len(labels) and len(dets):
        cover = _intersection(labels, dets) / np.maximum(_area(dets)[None, :], 1e-12)  # (L, D)
        for j in range(len(dets)):
            if j in matched_dets:
                continue
            on_hand = (iou[:, j] >= iou_threshold) | (cover[:, j] >= DUPLICATE_MIN_COVER)  # (L,)
            closeness = iou[:, j] + cover[:, j]
            for kind, where in (
                (duplicates, on_hand & matched_labels),
                (misplaced, on_hand & counted & ~matched_labels),
                (ignored, on_hand & ~counted),
            ):
                if where.any():
                    kind[j] = int(np.argmax(np.where(where, closeness, -1.0)))
                    break
    return ImageScore(
        image=image,
        detections=detections,
        matches=matches,
        ious=[float(iou[i, j]) for i, j in matches],
        duplicates=duplicates,
        misplaced=misplaced,
        ignored=ignored,
        elapsed_ms=float(elapsed_ms),
    )


# ------------------------------------------------------------------------------------------- summary
def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


def summarise(scores: Sequence[ImageScore]) -> dict:
    """Totals over images: recall overall and per kind, precision, side accuracy, duplicates, timing."""
    per_kind = {kind: {"hands": 0, "found": 0} for kind in KINDS}
    hands = found = detections = duplicates = misplaced = sided = side_right = 0
    iou_sum = 0.0
    for score in scores:
        hit = score.found
        hands += len(score.counted)
        found += len(hit)
        detections += score.counted_detections
        duplicates += len(score.duplicates)
        misplaced += len(score.misplaced)
        for i in score.counted:
            for kind in score.image.hand_kinds(i):
                per_kind[kind]["hands"] += 1
                per_kind[kind]["found"] += int(i in hit)
        for (label, det), iou in zip(score.matches, score.ious, strict=True):
            iou_sum += iou
            truth = score.image.hands[label].side
            if truth is not None:
                sided += 1
                side_right += int(score.detections[det].side == truth)
    times = [s.elapsed_ms for s in scores if np.isfinite(s.elapsed_ms)]
    for row in per_kind.values():
        row["recall"] = _ratio(row["found"], row["hands"])
    return {
        "images": len(scores),
        "hands": hands,
        "found": found,
        "recall": _ratio(found, hands),
        "detections": detections,
        "true_positives": found,
        "false_positives": detections - found,
        #: false positives on no labelled hand at all (not a duplicate, not a misplaced box)
        "false_hands": detections - found - duplicates - misplaced,
        "duplicates": duplicates,
        "misplaced": misplaced,
        "precision": _ratio(found, detections),
        "hands_with_side": sided,
        "side_correct": side_right,
        "side_accuracy": _ratio(side_right, sided),
        "mean_iou": iou_sum / found if found else None,
        "ms_per_image_mean": statistics.fmean(times) if times else None,
        "ms_per_image_median": statistics.median(times) if times else None,
        "kinds": per_kind,
    }


def fraction_text(num: int, den: int) -> str:
    """``"num/den (pct %)"``, or ``"-"`` when there is nothing to count (the tables' cells)."""
    return f"{num}/{den} ({100.0 * num / den:.0f} %)" if den else "-"


def format_summary(summary: dict, title: str = "") -> str:
    """A plain-text table of :func:`summarise`'s result (kinds without hands are left out)."""

    def ms(key: str) -> str:
        value = summary[key]
        return "-" if value is None else f"{value:.1f}"

    rows = [
        ("recall, all hands", fraction_text(summary["found"], summary["hands"])),
        ("precision", fraction_text(summary["true_positives"], summary["detections"])),
        ("duplicates (one hand twice)", str(summary["duplicates"])),
        ("misplaced (on a hand, IoU too low)", str(summary["misplaced"])),
        ("false hands (on no hand)", str(summary["false_hands"])),
        ("side accuracy (side known)", fraction_text(summary["side_correct"], summary["hands_with_side"])),
        ("mean IoU of matches", "-" if summary["mean_iou"] is None else f"{summary['mean_iou']:.2f}"),
        ("ms per image, mean / median", f"{ms('ms_per_image_mean')} / {ms('ms_per_image_median')}"),
    ]
    for kind in KINDS:
        row = summary["kinds"][kind]
        if row["hands"]:
            rows.append((f"recall: {KIND_TITLES[kind]}", fraction_text(row["found"], row["hands"])))
    width = max(len(name) for name, _ in rows)
    lines = [title] if title else []
    lines.append(f"{'':{width}}  {summary['images']} images, {summary['hands']} hands")
    lines += [f"{name:{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- runner
def evaluate_detector(
    detector,
    images: Sequence[LabelledImage],
    image_dir: str | os.PathLike,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    warmup: int = 1,
    progress: bool = True,
) -> list[ImageScore]:
    """Run ``detector`` (a :class:`~fast_hamer_core.detection.HandDetector`) on every labelled image.

    Only ``detector.detect`` is timed (not reading the file). ``warmup`` untimed runs on the first image
    come first, so that one-off start-up costs do not count. An image whose size differs from its label
    raises ``ValueError`` (the labels would not fit it).
    """
    from tqdm import tqdm

    image_dir = Path(image_dir)
    scores: list[ImageScore] = []
    bar: Iterable[LabelledImage] = tqdm(
        images, desc="detect-eval", unit="image", disable=None if progress else True
    )
    for index, labelled in enumerate(bar):
        rgb = read_labelled_image(image_dir, labelled)
        if index == 0:
            for _ in range(warmup):
                detector.detect(rgb)
        scores.append(detect_and_score(detector, rgb, labelled, iou_threshold))
    return scores


def read_labelled_image(image_dir: Path, labelled: LabelledImage) -> np.ndarray:
    """The RGB photo of ``labelled`` in ``image_dir``; ValueError if its size is not the label's (the
    labels would not fit it)."""
    from fast_hamer_core.preprocess import read_rgb

    rgb = read_rgb(image_dir / labelled.file)
    if rgb.shape[:2] != (labelled.height, labelled.width):
        raise ValueError(
            f"{image_dir / labelled.file} is {rgb.shape[1]}x{rgb.shape[0]}, its label says "
            f"{labelled.width}x{labelled.height}"
        )
    return rgb


def detect_and_score(detector, rgb: np.ndarray, labels: LabelledImage, iou_threshold: float) -> ImageScore:
    """``detector.detect(rgb)`` (alone timed) scored against ``labels``."""
    start = time.perf_counter()
    detections = detector.detect(rgb)
    elapsed_ms = 1000.0 * (time.perf_counter() - start)
    return score_image(labels, detections, iou_threshold, elapsed_ms)
