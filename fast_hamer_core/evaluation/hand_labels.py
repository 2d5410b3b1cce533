"""Box + side labels of hand photos: the label file format, its kinds of hand, reading and writing.

Label file (JSON, one per set of photos; ``file`` is relative to the folder of the images)::

    {"images": [
      {"file": "x.jpg", "width": 848, "height": 565,
       "kinds": ["several_people"],                      # optional: kinds of every hand in the image
       "hands": [
         {"box": [x0, y0, x1, y1],                       # whole-hand box, pixels, xyxy
          "side": "left" | "right" | null,               # anatomical side; null = not known
          "kinds": ["holding_object", "occluded"],        # optional, see KINDS
          "ignore": true}]}]}                             # optional: neither counted nor a false positive

Kinds of a hand (a hand can have several): the ``kinds`` written in the file for it and its image, plus
the size kinds computed from its box, ``max(box w, box h) / max(image w, image h)``: ``small`` under
:data:`SMALL_REL`, ``tiny`` under :data:`TINY_REL` (tiny hands are small too), ``close_up`` over
:data:`CLOSE_UP_REL`; and ``at_border`` when the box reaches within :data:`AT_BORDER_REL` of the image's
longer side of its border (a hand reaching into view, as a robot's or a first-person camera sees it). A
size kind written in the file is kept even if the box says otherwise. ``clear``
means none of the other kinds and is never written in the file. A hand marked ``ignore`` is neither a
hand to find nor a false positive when detected (e.g. one that a crop cut so that little of it is left).

The scoring against these labels is :mod:`fast_hamer_core.evaluation.detection`; harder copies of a
labelled set are made by :mod:`fast_hamer_core.evaluation.hard_cases`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: Kinds a label file may name (``clear`` is derived: none of the others).
LABEL_KINDS: tuple[str, ...] = (
    "holding_object",
    "small",
    "tiny",
    "close_up",
    "occluded",
    "first_person",
    "gloved",
    "several_people",
    "low_light",
    "at_border",
)
#: Every kind a report has a row for, in table order.
KINDS: tuple[str, ...] = ("clear", *LABEL_KINDS)
#: What each kind means, for tables and ``--help``.
KIND_TITLES: dict[str, str] = {
    "clear": "clear (none of the kinds below)",
    "holding_object": "holding an object",
    "small": "small (< 10 % of the longer side)",
    "tiny": "tiny (< 5 % of the longer side)",
    "close_up": "close-up (> 60 % of the longer side)",
    "occluded": "occluded",
    "first_person": "first-person view",
    "gloved": "gloved",
    "several_people": "several people in the image",
    "low_light": "dark / low contrast",
    "at_border": "cut by the image border",
}
SIDES: tuple[str, ...] = ("left", "right")

#: Size kinds, as a fraction of the image's longer side taken by the box's longer side.
SMALL_REL: float = 0.10
TINY_REL: float = 0.05
CLOSE_UP_REL: float = 0.60
#: A box this close to the image's border (fraction of the image's longer side) is a hand cut by it.
AT_BORDER_REL: float = 0.01

#: The labels of the five shared photos (../shared/data/hands), installed with the package.
SHARED_LABELS_PATH: Path = Path(__file__).resolve().parent / "labels" / "shared_hands.json"


@dataclass
class LabelledHand:
    """One labelled hand: whole-hand box (xyxy pixels), anatomical side or ``None``, written kinds."""

    box: np.ndarray  #: (4,) xyxy pixels
    side: str | None = None
    kinds: frozenset[str] = frozenset()
    ignore: bool = False  #: neither a hand to find nor a false positive when detected

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float64).reshape(4)
        self.kinds = frozenset(self.kinds)

    def to_dict(self) -> dict:
        out = {"box": [round(float(v), 2) for v in self.box], "side": self.side, "kinds": sorted(self.kinds)}
        if self.ignore:
            out["ignore"] = True
        return out


@dataclass
class LabelledImage:
    """One image of a label file: its file name (relative to the images folder), size and hands."""

    file: str
    width: int
    height: int
    hands: list[LabelledHand] = field(default_factory=list)
    kinds: frozenset[str] = frozenset()  #: kinds of every hand in this image

    def to_dict(self) -> dict:
        out: dict = {"file": self.file, "width": self.width, "height": self.height}
        if self.kinds:
            out["kinds"] = sorted(self.kinds)
        out["hands"] = [hand.to_dict() for hand in self.hands]
        return out

    def hand_kinds(self, index: int) -> frozenset[str]:
        """All kinds of hand ``index``: written (hand and image) + size kinds, or ``{"clear"}``."""
        hand = self.hands[index]
        kinds = set(hand.kinds) | set(self.kinds) | size_kinds(hand.box, self.width, self.height)
        if at_border(hand.box, self.width, self.height):
            kinds.add("at_border")
        return frozenset(kinds) if kinds else frozenset({"clear"})


def relative_size(box: np.ndarray, width: int, height: int) -> float:
    """The box's longer side over the image's longer side."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    return float(max(x1 - x0, y1 - y0) / max(width, height))


def size_kinds(box: np.ndarray, width: int, height: int) -> set[str]:
    """``small`` / ``tiny`` / ``close_up`` from the box size (thresholds in the module docstring)."""
    rel = relative_size(box, width, height)
    kinds = set()
    if rel < SMALL_REL:
        kinds.add("small")
    if rel < TINY_REL:
        kinds.add("tiny")
    if rel > CLOSE_UP_REL:
        kinds.add("close_up")
    return kinds


def at_border(box: np.ndarray, width: int, height: int) -> bool:
    """Whether the box reaches within :data:`AT_BORDER_REL` of the image's longer side of its border."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    margin = AT_BORDER_REL * max(width, height)
    return bool(min(x0, y0, width - x1, height - y1) <= margin)


def _check_kinds(kinds: object, where: str) -> frozenset[str]:
    if not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds):
        raise ValueError(f"{where}: 'kinds' must be a list of names, got {kinds!r}")
    unknown = sorted(set(kinds) - set(LABEL_KINDS))
    if unknown:
        raise ValueError(f"{where}: unknown kind(s) {unknown}; known: {', '.join(LABEL_KINDS)}")
    return frozenset(kinds)


def _parse_hand(raw: object, width: int, height: int, where: str) -> LabelledHand:
    if not isinstance(raw, dict) or "box" not in raw:
        raise ValueError(f"{where}: a hand must be an object with a 'box'")
    box = raw["box"]
    if not isinstance(box, list) or len(box) != 4 or not all(isinstance(v, int | float) for v in box):
        raise ValueError(f"{where}: 'box' must be [x0, y0, x1, y1] in pixels, got {box!r}")
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"{where}: box {box} is empty (need x1 > x0 and y1 > y0)")
    if x0 < -1 or y0 < -1 or x1 > width + 1 or y1 > height + 1:
        raise ValueError(f"{where}: box {box} lies outside the {width}x{height} image")
    side = raw.get("side")
    if side not in (None, *SIDES):
        raise ValueError(f"{where}: 'side' must be 'left', 'right' or null, got {side!r}")
    ignore = raw.get("ignore", False)
    if not isinstance(ignore, bool):
        raise ValueError(f"{where}: 'ignore' must be true or false, got {ignore!r}")
    kinds = _check_kinds(raw.get("kinds", []), where)
    return LabelledHand(box=np.array([x0, y0, x1, y1]), side=side, kinds=kinds, ignore=ignore)


def parse_labels(payload: object, source: str = "labels") -> list[LabelledImage]:
    """Label-file contents (see the module docstring) -> images; ``ValueError`` naming what is wrong."""
    if not isinstance(payload, dict) or not isinstance(payload.get("images"), list):
        raise ValueError(f"{source}: expected an object with an 'images' list")
    images, seen = [], set()
    for i, raw in enumerate(payload["images"]):
        where = f"{source}: images[{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: expected an object")
        missing = [key for key in ("file", "width", "height", "hands") if key not in raw]
        if missing:
            raise ValueError(f"{where}: missing {', '.join(missing)}")
        file, width, height = raw["file"], raw["width"], raw["height"]
        if not isinstance(file, str) or not file:
            raise ValueError(f"{where}: 'file' must be a file name")
        if file in seen:
            raise ValueError(f"{where}: {file} is labelled twice")
        seen.add(file)
        if not all(isinstance(v, int) and v > 0 for v in (width, height)):
            raise ValueError(f"{where}: width and height must be positive integers")
        if not isinstance(raw["hands"], list):
            raise ValueError(f"{where}: 'hands' must be a list")
        where = f"{source}: {file}"
        hands = [_parse_hand(h, width, height, f"{where}: hands[{j}]") for j, h in enumerate(raw["hands"])]
        kinds = _check_kinds(raw.get("kinds", []), where)
        images.append(LabelledImage(file=file, width=width, height=height, hands=hands, kinds=kinds))
    return images


def load_labels(path: str | os.PathLike) -> list[LabelledImage]:
    """Read a label file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label file not found: {path}")
    try:
        payload = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    return parse_labels(payload, source=str(path))


def save_labels(images: Sequence[LabelledImage], path: str | os.PathLike) -> Path:
    """Write ``images`` as a label file that :func:`load_labels` reads back unchanged."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"images": [image.to_dict() for image in images]}, indent=1) + "\n")
    return path
